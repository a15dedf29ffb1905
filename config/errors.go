package config

import (
	"fmt"
	"strings"
)

// Error is one problem found in a configuration file. Its text is
//
//	FILE:LINE: pool "NAME": key "KEY": reason
//
// where the pool and key parts are left out when the problem is not about a
// pool or one of its keys, and LINE is left out when the problem has no line
// (Line == 0).
type Error struct {
	File   string
	Line   int    // 1-based; 0 when unknown
	Pool   string // "" when the problem is not about one pool
	Key    string // "" when the problem is not about one key
	Reason string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Pool != "" {
		fmt.Fprintf(&b, "pool %q: ", e.Pool)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Errors is every problem found in one file, ordered by line. Parse returns
// an Errors (never an empty one) when a file is invalid; use errors.As to get
// at the individual problems.
type Errors []*Error

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap gives errors.Is and errors.As access to every problem.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
