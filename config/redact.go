package config

import (
	"bytes"
	"log/slog"
	"regexp"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Redacted replaces a secret wherever ferry shows or logs configuration.
const Redacted = "<redacted>"

// secretKeys are the pool keys whose values are never shown.
var secretKeys = map[string]bool{"redis_auth": true}

// IsSecretKey reports whether a pool key's value is a secret.
func IsSecretKey(key string) bool { return secretKeys[key] }

// Redact returns a copy of a configuration file's text with the value of
// every secret key (redis_auth) replaced by "<redacted>" (quoted), keeping
// every other byte and the line structure: line N of the result is line N
// of the file, so line numbers in errors and logs still match. It finds the
// values with the YAML parser, so flow style and quoting are handled; text
// that does not parse is redacted line by line instead.
func Redact(text []byte) []byte {
	lines := bytes.SplitAfter(text, []byte("\n"))
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil || len(doc.Content) == 0 {
		return redactLines(lines)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return redactLines(lines)
	}
	for i := 1; i < len(root.Content); i += 2 {
		pool := root.Content[i]
		if pool.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(pool.Content); j += 2 {
			if k := pool.Content[j]; k.Kind == yaml.ScalarNode && secretKeys[k.Value] {
				next := 0 // the line of the next key: a multi-line value ends before it
				if j+2 < len(pool.Content) {
					next = pool.Content[j+2].Line
				} else if i+1 < len(root.Content) {
					next = root.Content[i+1].Line
				}
				redactValue(lines, pool.Content[j+1], pool.Style&yaml.FlowStyle != 0, next)
			}
		}
	}
	return bytes.Join(lines, nil)
}

// redactValue replaces the scalar v in lines (1-based v.Line and v.Column)
// by the quoted placeholder. A value that continues past its first line (a
// block scalar, a quoted string over several lines) has its other lines,
// up to the line of the next key, emptied.
func redactValue(lines [][]byte, v *yaml.Node, flow bool, next int) {
	if v.Kind != yaml.ScalarNode || v.Value == "" || v.Line < 1 || v.Line > len(lines) {
		return
	}
	line := lines[v.Line-1]
	start := runeOffset(line, v.Column-1)
	body, eol := trimEOL(line)
	if start > len(body) {
		return
	}
	end, closed := scalarEnd(body, start, flow)
	if closed && v.Style == 0 && string(body[start:end]) != v.Value {
		closed = false // a plain scalar continued on the next lines (folded)
	}
	out := append([]byte(nil), body[:start]...)
	out = append(out, '"')
	out = append(out, Redacted...)
	out = append(out, '"')
	out = append(out, body[end:]...)
	lines[v.Line-1] = append(out, eol...)
	if closed {
		return
	}
	for n := v.Line; n < len(lines) && (next == 0 || n < next-1); n++ {
		_, eol := trimEOL(lines[n])
		lines[n] = eol
	}
}

// scalarEnd finds where the scalar starting at body[start] ends on its
// line, and whether it ends there.
func scalarEnd(body []byte, start int, flow bool) (int, bool) {
	if start >= len(body) {
		return start, true
	}
	switch q := body[start]; q {
	case '"', '\'':
		for i := start + 1; i < len(body); i++ {
			switch {
			case q == '"' && body[i] == '\\':
				i++
			case body[i] == q && q == '\'' && i+1 < len(body) && body[i+1] == '\'':
				i++
			case body[i] == q:
				return i + 1, true
			}
		}
		return len(body), false
	case '|', '>':
		return len(body), false
	}
	end := len(body)
	for i := start; i < len(body); i++ {
		if (flow && (body[i] == ',' || body[i] == '}' || body[i] == ']')) ||
			(body[i] == '#' && i > start && (body[i-1] == ' ' || body[i-1] == '\t')) {
			end = i
			break
		}
	}
	for end > start && (body[end-1] == ' ' || body[end-1] == '\t') {
		end--
	}
	return end, true
}

var secretLineRE = regexp.MustCompile(`^(\s*(?:-\s+)?["']?redis_auth["']?\s*:[ \t]*)(.*?)(\r?\n?)$`)

// redactLines is the fallback for text the YAML parser rejects.
func redactLines(lines [][]byte) []byte {
	for i, l := range lines {
		if m := secretLineRE.FindSubmatchIndex(l); m != nil && m[5] > m[4] {
			out := append([]byte(nil), l[:m[3]]...)
			out = append(out, `"`+Redacted+`"`...)
			lines[i] = append(out, l[m[6]:]...)
		}
	}
	return bytes.Join(lines, nil)
}

func trimEOL(line []byte) (body, eol []byte) {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
		if n > 0 && line[n-1] == '\r' {
			n--
		}
	}
	return line[:n], line[n:]
}

// runeOffset converts a 0-based column in characters to a byte offset.
func runeOffset(line []byte, col int) int {
	off := 0
	for ; col > 0 && off < len(line); col-- {
		_, size := utf8.DecodeRune(line[off:])
		off += size
	}
	return off
}

// LogValue keeps a pool's secrets out of structured logs: a *Pool logged
// with slog shows its name, listen address, protocol and server count, and
// redis_auth only as "<redacted>" when set.
func (p *Pool) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("name", p.Name),
		slog.String("listen", p.Listen),
		slog.String("protocol", p.Protocol),
		slog.Int("servers", len(p.Servers)),
	}
	if p.RedisAuth != "" {
		attrs = append(attrs, slog.String("redis_auth", Redacted))
	}
	return slog.GroupValue(attrs...)
}
