// Package source gives ferry its configuration from where it is kept: a file
// (-c) or an etcd key (--config-source etcd://HOST:PORT[,HOST:PORT...]/KEY).
// Both read twemproxy's YAML and validate it with config.Parse; an etcd
// source also watches its key and delivers each change.
//
// The contract a caller relies on:
//
//   - Load reads the current configuration once. It fails with an error
//     wrapping ErrUnreachable when the store cannot be reached (a caller with
//     a fallback file may start from it), ErrNotFound when the key or file
//     does not exist, or a config.Errors when the text is invalid.
//   - Watch delivers every later change to fn, from one goroutine, in order,
//     until ctx is done. A change that fails validation comes with a nil
//     config and the config.Errors: the caller keeps what it has. Watch
//     never gives up: an unreachable store is retried with backoff, and a
//     broken watch is resumed after re-reading the key, so no change is
//     missed (changes made while the store was unreachable arrive as one,
//     the latest).
//   - Load may also be called while Watch runs (a reload asked for by a
//     signal): Watch does not deliver again a state Load returned, and
//     never one older than the last it saw. A caller applying both must
//     still serialize its applies; an etcd source's Refresh instead makes
//     Watch read now, so every configuration comes through fn, in order.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/config"
)

// Source is where a configuration comes from.
type Source interface {
	// Name identifies the source in logs and in configuration errors: the
	// file's path, or "etcd:/KEY".
	Name() string
	// Load reads, parses and validates the current configuration; raw is
	// its text (for the admin /config page).
	Load(ctx context.Context) (cfg *config.Config, raw []byte, err error)
	// Watch calls fn for each change after the last Load (or, if Load never
	// succeeded, once the store can be read), until ctx is done; it blocks
	// until then. cfg is nil when err is set. fn runs on Watch's goroutine:
	// a slow fn delays the next change, it loses none. log receives the
	// store's failures (rate-limited) and recoveries.
	Watch(ctx context.Context, log *slog.Logger, fn func(cfg *config.Config, raw []byte, err error))
	// Close releases the source's connections; Watch must have returned.
	Close() error
}

// Errors a Load may wrap; test with errors.Is.
var (
	ErrUnreachable = errors.New("ferry: configuration store unreachable")
	ErrNotFound    = errors.New("ferry: configuration not found")
)

// kindError is an error of one of the kinds above (errors.Is(err, kind))
// with a text of its own, so the kind's text is not repeated in messages.
type kindError struct {
	kind error
	text string
	err  error // the cause, if any
}

func (e *kindError) Error() string        { return e.text }
func (e *kindError) Is(target error) bool { return target == e.kind }
func (e *kindError) Unwrap() error        { return e.err }

// Options tune an etcd source; the zero value gives the defaults.
type Options struct {
	// RequestTimeout bounds one read of the key. Default 3s.
	RequestTimeout time.Duration
	// ProbeInterval is how often a watching source checks that etcd
	// answers and that the key's revision is the one it last delivered (a
	// safety net under the watch). Default 1s.
	ProbeInterval time.Duration
	// MaxBackoff bounds the wait between retries while etcd is
	// unreachable; retries start at ProbeInterval/10 and double. Default 5s.
	MaxBackoff time.Duration
	// LogEvery is the least time between two log lines about the same
	// outage (the first failure is logged at once). Default 10s.
	LogEvery time.Duration
}

func (o Options) withDefaults() Options {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 3 * time.Second
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
	return o
}

// Open returns the source spec names: "etcd://HOST:PORT[,HOST:PORT...]/KEY",
// or a file path (with or without "file://"). Nothing is contacted yet.
func Open(spec string, o Options) (Source, error) {
	switch {
	case strings.HasPrefix(spec, "etcd://"):
		endpoints, key, err := ParseEtcd(spec)
		if err != nil {
			return nil, err
		}
		return NewEtcd(endpoints, key, o)
	case strings.HasPrefix(spec, "file://"):
		return File(strings.TrimPrefix(spec, "file://")), nil
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("config source %q: unknown scheme (valid: etcd://HOST:PORT/KEY, or a file path)", spec)
	case spec == "":
		return nil, errors.New("config source: empty")
	}
	return File(spec), nil
}

// ParseEtcd splits "etcd://HOST:PORT[,HOST:PORT...]/KEY" into its endpoints
// and key ("/KEY": etcd keys are conventionally absolute, and the slash is
// part of the key).
func ParseEtcd(spec string) (endpoints []string, key string, err error) {
	rest, ok := strings.CutPrefix(spec, "etcd://")
	if !ok {
		return nil, "", fmt.Errorf("config source %q: not an etcd:// address", spec)
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 || i == len(rest)-1 {
		return nil, "", fmt.Errorf("config source %q: no key: expected etcd://HOST:PORT[,HOST:PORT...]/KEY", spec)
	}
	hosts, key := rest[:i], rest[i:]
	if hosts == "" {
		return nil, "", fmt.Errorf("config source %q: no endpoint: expected etcd://HOST:PORT[,HOST:PORT...]/KEY", spec)
	}
	for _, h := range strings.Split(hosts, ",") {
		j := strings.LastIndexByte(h, ':')
		if j <= 0 || j == len(h)-1 || strings.TrimLeft(h[j+1:], "0123456789") != "" {
			return nil, "", fmt.Errorf("config source %q: endpoint %q: expected HOST:PORT", spec, h)
		}
		endpoints = append(endpoints, h)
	}
	return endpoints, key, nil
}
