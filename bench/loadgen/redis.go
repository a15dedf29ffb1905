package loadgen

import (
	"bufio"
	"errors"
	"strconv"
	"strings"
)

// redisCodec speaks RESP2 (and skips RESP3 types in generic replies).
type redisCodec struct {
	prefix   []byte
	setHead  []byte // "*3\r\n$3\r\nSET\r\n"
	dataArg  []byte // "$<n>\r\n<data>\r\n"
	getHead  []byte // "*2\r\n$3\r\nGET\r\n"
	mgetHead []byte // "*<n+1>\r\n$4\r\nMGET\r\n"
	tmpl     []tmplPart
}

// tmplPart is one piece of a --command template: a pre-encoded literal run,
// a key argument or the data argument.
type tmplPart struct {
	lit  []byte
	kind byte // 'l' literal, 'k' key, 'd' data
}

// parseTemplate splits a command template into parts; the first literal
// carries the RESP array header. It returns an error for an empty template.
func parseTemplate(s string) ([]tmplPart, error) {
	args := strings.Fields(s)
	if len(args) == 0 {
		return nil, errors.New("--command: empty command")
	}
	var parts []tmplPart
	lit := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	flush := func() {
		if len(lit) > 0 {
			parts = append(parts, tmplPart{lit: lit, kind: 'l'})
			lit = nil
		}
	}
	for _, a := range args {
		switch a {
		case "__key__":
			flush()
			parts = append(parts, tmplPart{kind: 'k'})
		case "__data__":
			flush()
			parts = append(parts, tmplPart{kind: 'd'})
		default:
			lit = appendBulk(lit, []byte(a))
		}
	}
	flush()
	return parts, nil
}

// templateKeys is the number of __key__ placeholders in a command template.
func templateKeys(s string) int {
	n := 0
	for _, a := range strings.Fields(s) {
		if a == "__key__" {
			n++
		}
	}
	return n
}

// templateName is the command name used to label --command results.
func templateName(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return "OTHER"
	}
	return strings.ToUpper(f[0])
}

func appendBulk(b, s []byte) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

func newRedisCodec(prefix string, data []byte, multi int, command string) (*redisCodec, error) {
	c := &redisCodec{
		prefix:  []byte(prefix),
		setHead: []byte("*3\r\n$3\r\nSET\r\n"),
		dataArg: appendBulk(nil, data),
		getHead: []byte("*2\r\n$3\r\nGET\r\n"),
	}
	c.mgetHead = []byte("*" + strconv.Itoa(multi+1) + "\r\n$4\r\nMGET\r\n")
	if command != "" {
		t, err := parseTemplate(command)
		if err != nil {
			return nil, err
		}
		c.tmpl = t
	}
	return c, nil
}

func (c *redisCodec) appendKey(b []byte, key uint64) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(c.prefix)+decDigits(key)), 10)
	b = append(b, '\r', '\n')
	b = append(b, c.prefix...)
	b = strconv.AppendUint(b, key, 10)
	return append(b, '\r', '\n')
}

func (c *redisCodec) appendSet(b []byte, key uint64) []byte {
	b = append(b, c.setHead...)
	b = c.appendKey(b, key)
	return append(b, c.dataArg...)
}

func (c *redisCodec) appendGet(b []byte, keys []uint64) []byte {
	if len(keys) == 1 {
		b = append(b, c.getHead...)
	} else {
		b = append(b, c.mgetHead...)
	}
	for _, k := range keys {
		b = c.appendKey(b, k)
	}
	return b
}

func (c *redisCodec) appendCommand(b []byte, keys []uint64) []byte {
	ki := 0
	for i := range c.tmpl {
		p := &c.tmpl[i]
		switch p.kind {
		case 'l':
			b = append(b, p.lit...)
		case 'k':
			b = c.appendKey(b, keys[ki])
			ki++
		case 'd':
			b = append(b, c.dataArg...)
		}
	}
	return b
}

func (c *redisCodec) readReply(r *bufio.Reader, k Kind, nkeys int) (reply, error) {
	line, err := readLine(r, ProtoRedis)
	if err != nil {
		return reply{}, err
	}
	if len(line) == 0 {
		return reply{}, desync(ProtoRedis, "RESP type byte", line)
	}
	if line[0] == '-' {
		return reply{isErr: true, errLine: line}, nil
	}
	switch k {
	case KindSet:
		if line[0] != '+' {
			return reply{}, desync(ProtoRedis, "+OK for SET", line)
		}
		return reply{}, nil
	case KindGet:
		if nkeys == 1 {
			if line[0] != '$' {
				return reply{}, desync(ProtoRedis, "bulk string for GET", line)
			}
			hit, err := readBulkBody(r, line)
			if err != nil {
				return reply{}, err
			}
			if hit {
				return reply{hits: 1}, nil
			}
			return reply{misses: 1}, nil
		}
		if line[0] != '*' {
			return reply{}, desync(ProtoRedis, "array for MGET", line)
		}
		n, ok := parseInt(line[1:])
		if !ok || n != int64(nkeys) {
			return reply{}, desync(ProtoRedis, "array of "+strconv.Itoa(nkeys)+" for MGET", line)
		}
		var rep reply
		for range n {
			el, err := readLine(r, ProtoRedis)
			if err != nil {
				return reply{}, err
			}
			if len(el) == 0 || el[0] != '$' {
				return reply{}, desync(ProtoRedis, "bulk string in MGET array", el)
			}
			hit, err := readBulkBody(r, el)
			if err != nil {
				return reply{}, err
			}
			if hit {
				rep.hits++
			} else {
				rep.misses++
			}
		}
		return rep, nil
	default:
		return reply{}, skipValue(r, line, 0)
	}
}

// readBulkBody consumes the body announced by a "$<n>" header line and
// reports whether it was a non-nil value.
func readBulkBody(r *bufio.Reader, line []byte) (bool, error) {
	n, ok := parseInt(line[1:])
	if !ok || n < -1 || n > maxPayload {
		return false, desync(ProtoRedis, "bulk length", line)
	}
	if n == -1 {
		return false, nil
	}
	return true, discardPayload(r, n, ProtoRedis)
}

// skipValue consumes the rest of any RESP2/RESP3 value whose first line has
// been read.
func skipValue(r *bufio.Reader, line []byte, depth int) error {
	if depth > 32 {
		return desync(ProtoRedis, "nesting depth <= 32", line)
	}
	if len(line) == 0 {
		return desync(ProtoRedis, "RESP type byte", line)
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '=', '!':
		_, err := readBulkBody(r, line)
		return err
	case '*', '~', '>', '%':
		n, ok := parseInt(line[1:])
		if !ok || n < -1 || n > maxPayload {
			return desync(ProtoRedis, "aggregate length", line)
		}
		if line[0] == '%' {
			n *= 2
		}
		for range max(n, 0) {
			el, err := readLine(r, ProtoRedis)
			if err != nil {
				return err
			}
			if err := skipValue(r, el, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return desync(ProtoRedis, "RESP type byte", line)
}
