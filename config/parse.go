package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse parses and validates the contents of a configuration file. file is
// used only in error messages and Config.File. On failure the error is an
// [Errors] holding every problem found, ordered by line.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file, listenLines: map[*Pool]int{}}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	return cfg, nil
}

type parser struct {
	file        string
	errs        Errors
	listenLines map[*Pool]int // line of each pool's listen value
}

func (p *parser) errf(line int, pool, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Pool: pool, Key: key, Reason: fmt.Sprintf(format, args...)})
}

// syntaxError records an error from the YAML parser, with its line.
//
// yaml.v3 reports a parser error at the line where the enclosing construct
// starts (counted from 0), not where the problem is. To point at the right
// line, syntaxError looks for the shortest prefix of the file, in whole lines
// and from a line before the reported one, that fails with the same message:
// a prefix that includes the problem fails like the whole file, a shorter one
// (almost always) parses. The search is binary, so it costs a few parses.
func (p *parser) syntaxError(data []byte, err error) {
	line, msg := splitYAMLError(err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	failsSame := func(n int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:n], nil)))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return false
			}
			_, m := splitYAMLError(err)
			return m == msg
		}
	}
	lo, hi := max(line-1, 1), len(lines)
	if lo <= hi && failsSame(hi) {
		for lo < hi {
			mid := lo + (hi-lo)/2
			if failsSame(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = lo
	}
	p.errf(max(line, 1), "", "", "YAML syntax error: %s", msg)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// splitYAMLError splits "yaml: line N: message" into N and message. N is 0
// when the error has no line.
func splitYAMLError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

func (p *parser) parse(data []byte) *Config {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errf(1, "", "", "no pools defined (the file is empty)")
		} else {
			p.syntaxError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errf(extra.Line, "", "", "more than one YAML document (only one is allowed)")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntaxError(data, err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.errf(1, "", "", "no pools defined")
		return nil
	}
	root := doc.Content[0]
	if p.checkNodes(root); len(p.errs) > 0 {
		return nil
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		p.errf(1, "", "", "no pools defined")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errf(root.Line, "", "", "the file must be a mapping of pool name to pool settings, not %s", kindName(root))
		return nil
	}
	if len(root.Content) == 0 {
		p.errf(root.Line, "", "", "no pools defined")
		return nil
	}

	cfg := &Config{File: p.file}
	names := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errf(k.Line, "", "", "a pool name must be a string, not %s", kindName(k))
			continue
		}
		if k.Value == "" {
			p.errf(k.Line, "", "", "empty pool name")
			continue
		}
		if first, dup := names[k.Value]; dup {
			p.errf(k.Line, k.Value, "", "duplicate pool name (first defined at line %d)", first)
			continue
		}
		names[k.Value] = k.Line
		if pool := p.parsePool(k, v); pool != nil {
			cfg.Pools = append(cfg.Pools, pool)
		}
	}

	// Two pools cannot listen on the same address.
	listens := map[string]*Pool{}
	for _, pool := range cfg.Pools {
		id := pool.ListenNetwork + " " + pool.Listen
		if first, dup := listens[id]; dup {
			p.errf(p.listenLines[pool], pool.Name, "listen", "address %q is already used by pool %q (line %d)", pool.Listen, first.Name, p.listenLines[first])
			continue
		}
		listens[id] = pool
	}
	return cfg
}

// checkNodes rejects the YAML features twemproxy rejects and that would give
// one value two places in the file: anchors, aliases and explicit tags.
func (p *parser) checkNodes(n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode:
		p.errf(n.Line, "", "", "YAML aliases (*%s) are not supported", n.Value)
		return
	case n.Anchor != "":
		p.errf(n.Line, "", "", "YAML anchors (&%s) are not supported", n.Anchor)
	case n.Style&yaml.TaggedStyle != 0:
		p.errf(n.Line, "", "", "explicit YAML tags (%s) are not supported", n.Tag)
	}
	for _, c := range n.Content {
		p.checkNodes(c)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the value %q", n.Value)
	default:
		return "an unexpected YAML node"
	}
}
