package resp

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Naive reference parsers, written for clarity and independently of the
// state machines under test: whole-input, recursive, strconv-based.

var refIntRe = regexp.MustCompile(`^(0|-?[1-9][0-9]*)$`)

func refInt(b []byte) (int64, bool) {
	if !refIntRe.Match(b) {
		return 0, false
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	return v, err == nil
}

type refOutcome int

const (
	refOK refOutcome = iota
	refIncomplete
	refError
)

type refReq struct {
	out    refOutcome
	n      int
	args   []string
	inline bool
}

func refParseRequest(b []byte, lim Limits) refReq {
	lim = lim.withDefaults()
	if len(b) == 0 {
		return refReq{out: refIncomplete}
	}
	if b[0] != '*' {
		return refParseInline(b, lim)
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return refReq{out: refIncomplete}
	}
	count, ok := refInt(b[1:i])
	if !ok || count < -1 || count > int64(lim.MaxArgs) {
		return refReq{out: refError}
	}
	if count <= 0 {
		return refReq{out: refOK, n: i + 2, args: []string{}}
	}
	if int64(i+2)+count*6 > int64(lim.MaxRequestBytes) {
		return refReq{out: refError}
	}
	pos := i + 2
	args := []string{}
	for k := 0; k < int(count); k++ {
		if pos >= len(b) {
			return refReq{out: refIncomplete}
		}
		if b[pos] != '$' {
			return refReq{out: refError}
		}
		j := bytes.Index(b[pos:], []byte("\r\n"))
		if j < 0 {
			return refReq{out: refIncomplete}
		}
		l, ok := refInt(b[pos+1 : pos+j])
		if !ok || l < 0 || l > int64(lim.MaxBulkLen) {
			return refReq{out: refError}
		}
		start := pos + j + 2
		end := start + int(l)
		if end+2+(int(count)-k-1)*6 > lim.MaxRequestBytes {
			return refReq{out: refError}
		}
		if end+2 > len(b) {
			return refReq{out: refIncomplete}
		}
		if string(b[end:end+2]) != "\r\n" {
			return refReq{out: refError}
		}
		args = append(args, string(b[start:end]))
		pos = end + 2
	}
	return refReq{out: refOK, n: pos, args: args}
}

func refParseInline(b []byte, lim Limits) refReq {
	j := bytes.IndexByte(b, '\n')
	if j < 0 {
		if len(strings.TrimSuffix(string(b), "\r")) > lim.MaxInlineLen {
			return refReq{out: refError}
		}
		return refReq{out: refIncomplete}
	}
	line := bytes.TrimSuffix(b[:j], []byte("\r"))
	if len(line) > lim.MaxInlineLen || j+1 > lim.MaxRequestBytes {
		return refReq{out: refError}
	}
	args, ok := refSplitArgs(line)
	if !ok || len(args) > lim.MaxArgs {
		return refReq{out: refError}
	}
	return refReq{out: refOK, n: j + 1, args: args, inline: true}
}

// refSplitArgs follows the shape of redis' sdssplitargs (inq/insq/done).
func refSplitArgs(line []byte) ([]string, bool) {
	out := []string{}
	at := func(p int) byte { // C string semantics: 0 past the end
		if p < len(line) {
			return line[p]
		}
		return 0
	}
	end := func(p int) bool { return p >= len(line) }
	space := func(c byte) bool { return strings.IndexByte(" \t\n\r\v\f", c) >= 0 && c != 0 }
	hex := func(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 && c != 0 }
	p := 0
	for {
		for !end(p) && space(at(p)) {
			p++
		}
		if end(p) {
			return out, true
		}
		inq, insq, done := false, false, false
		cur := []byte{}
		for !done {
			switch {
			case inq:
				switch {
				case at(p) == '\\' && at(p+1) == 'x' && !end(p+3) && hex(at(p+2)) && hex(at(p+3)):
					v, _ := strconv.ParseUint(string(line[p+2:p+4]), 16, 8)
					cur = append(cur, byte(v))
					p += 3
				case at(p) == '\\' && !end(p+1):
					p++
					c := at(p)
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					cur = append(cur, c)
				case end(p):
					return nil, false
				case at(p) == '"':
					if !end(p+1) && !space(at(p+1)) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, at(p))
				}
			case insq:
				switch {
				case at(p) == '\\' && at(p+1) == '\'' && !end(p+1):
					p++
					cur = append(cur, '\'')
				case end(p):
					return nil, false
				case at(p) == '\'':
					if !end(p+1) && !space(at(p+1)) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, at(p))
				}
			default:
				switch {
				case end(p), space(at(p)):
					done = true
				case at(p) == '"':
					inq = true
				case at(p) == '\'':
					insq = true
				default:
					cur = append(cur, at(p))
				}
			}
			if !end(p) {
				p++
			}
		}
		out = append(out, string(cur))
	}
}

var fuzzLimits = Limits{MaxArgs: 8, MaxBulkLen: 64, MaxRequestBytes: 256, MaxInlineLen: 64}

var requestSeeds = []string{
	"*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n",
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n",
	"*0\r\n", "*-1\r\n", "*-2\r\n", "*1\r\n$-2\r\n", "*1\r\n$-1\r\n",
	"*999999999999\r\n", "*1\r\n$99999999999999999999\r\n",
	"*2\r\n$3\r\nGET\r\n:1\r\n", "*1\r\n$3\r\nGETxx", "*1\n", "*1\r\r",
	"*2\r\n*1\r\n$1\r\nx\r\n", "*01\r\n", "*1\r\n$01\r\nx\r\n",
	"GET foo\r\n", "GET foo\n", "\r\n", "\n", " \t\n",
	"SET k \"a\\x41\\n\"\r\n", "SET k 'it\\'s'\n", "SET k \"v\"x\n", "SET k \"v\n",
	"a b c d e f g h i j\n",
	"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\nPING\r\n",
}

func FuzzParseRequest(f *testing.F) {
	for i, s := range requestSeeds {
		f.Add([]byte(s), uint16(i*3))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		p := NewParser(fuzzLimits)
		var r Request
		for iter := 0; iter < 8 && len(data) > 0; iter++ {
			want := refParseRequest(data, fuzzLimits)

			// one shot
			q := NewParser(fuzzLimits)
			var r1 Request
			n1, err1 := q.Parse(data, &r1)

			// split: a prefix, then the whole, through a reused Parser
			k := int(split) % (len(data) + 1)
			n, err := p.Parse(data[:k], &r)
			if err == ErrIncomplete {
				if p.Need() <= k {
					t.Fatalf("Need %d <= len %d", p.Need(), k)
				}
				n, err = p.Parse(data, &r)
			}
			if err != err1 || n != n1 {
				t.Fatalf("split at %d: (%d, %v), one shot: (%d, %v) for %q", k, n, err, n1, err1, data)
			}
			switch want.out {
			case refOK:
				if err != nil || n != want.n || !slices.Equal(strs(r.Args), want.args) ||
					r.Inline != want.inline || !slices.Equal(strs(r1.Args), want.args) {
					t.Fatalf("%q: got (%d, %v, %q, inline %v), want (%d, %q, inline %v)",
						data, n, err, strs(r.Args), r.Inline, want.n, want.args, want.inline)
				}
				if len(r.Args) > 0 && r.Cmd != Lookup(r.Args[0]) {
					t.Fatalf("Cmd mismatch")
				}
			case refError:
				if _, ok := err.(*ProtocolError); !ok {
					t.Fatalf("%q: got (%d, %v), want a protocol error", data, n, err)
				}
				return
			case refIncomplete:
				if err == nil {
					t.Fatalf("%q: got (%d, %q), want incomplete", data, n, strs(r.Args))
				}
				if err == ErrIncomplete && q.Need() <= len(data) {
					t.Fatalf("Need %d <= len %d", q.Need(), len(data))
				}
				return
			}
			data = data[n:]
		}
	})
}

// refScanReply returns the end of the value at b[pos], nested at depth
// aggregates.
func refScanReply(b []byte, pos, depth int) (int, refOutcome) {
	for {
		end, out, attr := refScanValue(b, pos, depth)
		if out != refOK || !attr {
			return end, out
		}
		pos = end // an attribute: the value it decorates follows
	}
}

func refLine(b []byte, pos int) ([]byte, int, refOutcome) {
	cr := bytes.IndexByte(b[pos:], '\r')
	if cr < 0 {
		return nil, 0, refIncomplete
	}
	cr += pos
	if cr+1 >= len(b) {
		return nil, 0, refIncomplete
	}
	if b[cr+1] != '\n' {
		return nil, 0, refError
	}
	return b[pos+1 : cr], cr + 2, refOK
}

func refScanValue(b []byte, pos, depth int) (end int, out refOutcome, attr bool) {
	if pos >= len(b) {
		return 0, refIncomplete, false
	}
	t := b[pos]
	if strings.IndexByte("+-:,(_#", t) >= 0 {
		body, end, out := refLine(b, pos)
		if out != refOK {
			return 0, out, false
		}
		ok := !bytes.Contains(body, []byte("\n"))
		switch t {
		case ':':
			_, ok = refInt(body)
		case '_':
			ok = len(body) == 0
		case '#':
			ok = string(body) == "t" || string(body) == "f"
		}
		if !ok {
			return 0, refError, false
		}
		return end, refOK, false
	}
	streamed := pos+1 < len(b) && b[pos+1] == '?'
	if streamed && strings.IndexByte("$*%~", t) >= 0 {
		body, p, out := refLine(b, pos)
		if out != refOK {
			return 0, out, false
		}
		if len(body) != 1 {
			return 0, refError, false
		}
		if t == '$' {
			for {
				if p >= len(b) {
					return 0, refIncomplete, false
				}
				if b[p] != ';' {
					return 0, refError, false
				}
				hdr, q, out := refLine(b, p)
				if out != refOK {
					return 0, out, false
				}
				l, ok := refInt(hdr)
				if !ok || l < 0 || l > maxReplyLen {
					return 0, refError, false
				}
				if l == 0 {
					return q, refOK, false
				}
				if q+int(l)+2 > len(b) {
					return 0, refIncomplete, false
				}
				if string(b[q+int(l):q+int(l)+2]) != "\r\n" {
					return 0, refError, false
				}
				p = q + int(l) + 2
			}
		}
		if depth >= MaxReplyDepth {
			return 0, refError, false
		}
		for {
			if p >= len(b) {
				return 0, refIncomplete, false
			}
			if b[p] == '.' {
				body, q, out := refLine(b, p)
				if out != refOK {
					return 0, out, false
				}
				if len(body) != 0 {
					return 0, refError, false
				}
				return q, refOK, false
			}
			q, out := refScanReply(b, p, depth+1)
			if out != refOK {
				return 0, out, false
			}
			p = q
		}
	}
	switch t {
	case '$', '!', '=':
		hdr, p, out := refLine(b, pos)
		if out != refOK {
			return 0, out, false
		}
		l, ok := refInt(hdr)
		if !ok || l < -1 || (l == -1 && t != '$') || l > maxReplyLen {
			return 0, refError, false
		}
		if l == -1 {
			return p, refOK, false
		}
		if p+int(l)+2 > len(b) {
			return 0, refIncomplete, false
		}
		if string(b[p+int(l):p+int(l)+2]) != "\r\n" {
			return 0, refError, false
		}
		return p + int(l) + 2, refOK, false
	case '*', '%', '~', '>', '|':
		hdr, p, out := refLine(b, pos)
		if out != refOK {
			return 0, out, false
		}
		n, ok := refInt(hdr)
		if !ok || n < -1 || (n == -1 && t != '*') || n > maxReplyLen {
			return 0, refError, false
		}
		if t == '%' || t == '|' {
			n *= 2
		}
		if n > 0 && depth >= MaxReplyDepth {
			return 0, refError, false
		}
		for range n {
			q, out := refScanReply(b, p, depth+1)
			if out != refOK {
				return 0, out, false
			}
			p = q
		}
		return p, refOK, t == '|'
	}
	return 0, refError, false
}

var replySeeds = []string{
	"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nfoo\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
	"*2\r\n$1\r\na\r\n*1\r\n:1\r\n", "$-2\r\n", "*-2\r\n", "$99999999999999999999\r\n",
	"_\r\n", ",1.5\r\n", "#t\r\n", "!3\r\nerr\r\n", "=7\r\ntxt:abc\r\n", "(123\r\n",
	"%1\r\n+a\r\n:1\r\n", "~1\r\n+a\r\n", ">2\r\n+a\r\n+b\r\n", "|1\r\n+a\r\n:1\r\n+OK\r\n",
	"$?\r\n;2\r\nab\r\n;0\r\n", "*?\r\n:1\r\n.\r\n", "+OK\rx", "$3\r\nfooXY",
	strings.Repeat("*1\r\n", 70) + ":1\r\n",
}

func FuzzScanReply(f *testing.F) {
	for i, s := range replySeeds {
		f.Add([]byte(s), uint16(i*5))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		var s ReplyScanner
		for iter := 0; iter < 8 && len(data) > 0; iter++ {
			wantN, want := refScanReply(data, 0, 0)
			n1, need1, err1 := ScanReply(data)

			k := int(split) % (len(data) + 1)
			n, err := s.Scan(data[:k])
			if err == ErrIncomplete {
				if s.Need() <= k {
					t.Fatalf("Need %d <= len %d", s.Need(), k)
				}
				n, err = s.Scan(data)
			}
			if n != n1 || err != err1 {
				t.Fatalf("split at %d: (%d, %v), one shot (%d, %v) for %q", k, n, err, n1, err1, data)
			}
			switch want {
			case refOK:
				if err != nil || n != wantN {
					t.Fatalf("%q: got (%d, %v), want %d", data, n, err, wantN)
				}
			case refError:
				if _, ok := err.(*ProtocolError); !ok {
					t.Fatalf("%q: got (%d, %v), want a protocol error", data, n, err)
				}
				return
			case refIncomplete:
				if err == nil {
					t.Fatalf("%q: got %d, want incomplete", data, n)
				}
				if err == ErrIncomplete && need1 <= len(data) {
					t.Fatalf("need %d <= len %d", need1, len(data))
				}
				return
			}
			data = data[n:]
		}
	})
}
