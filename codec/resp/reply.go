package resp

import "bytes"

// MaxReplyDepth is the deepest nesting of aggregates ReplyScanner accepts.
// Redis itself nests a handful of levels (COMMAND DOCS, XINFO STREAM FULL);
// scripts can return deeper tables, but not this deep in practice.
const MaxReplyDepth = 64

// maxReplyLen bounds lengths and counts read from a server (1 TiB), so
// offsets cannot overflow.
const maxReplyLen = 1 << 40

// ReplyScanner finds the end of each reply a server sends: RESP2 (+ - : $ *)
// and RESP3 (_ , # ! = ( % ~ > |, streamed strings "$?" and streamed
// aggregates "*?" "%?" "~?"), nested up to MaxReplyDepth, without
// allocating. It is resumable: after ErrIncomplete it keeps the offset of
// the first element not yet complete and the counts of the aggregates it is
// inside, so a reply arriving over many reads is scanned once. One scanner
// per server connection; not safe for concurrent use. The zero value is
// ready.
type ReplyScanner struct {
	pos    int                // offset of the next unscanned element
	line   int                // for a line element at pos: how far "\r" was searched
	depth  int                // aggregates open
	left   [MaxReplyDepth]int // elements still expected at each depth
	attr   uint64             // bit d: depth d is an attribute map (does not count as a value)
	stream uint64             // bit d: depth d is a streamed aggregate (ends with ".\r\n")
	strm   bool               // inside a streamed string: expecting ";len" chunks
	need   int
	err    error
}

// Reset forgets any partial reply and sticky error.
func (s *ReplyScanner) Reset() { *s = ReplyScanner{} }

// Need returns, after Scan returned ErrIncomplete, the total len(b) below
// which calling Scan again is useless (always > len(b) of that call).
func (s *ReplyScanner) Need() int { return s.need }

// Scan returns the length n of the first complete reply in b; b[:n] is the
// reply. b must start at the first byte of a reply not yet returned, and
// after ErrIncomplete the next call must pass the same bytes plus more.
// After success the scanner is ready for the next reply (pass b[n:]). On a
// *ProtocolError the connection's stream is lost; the error is sticky
// until Reset.
func (s *ReplyScanner) Scan(b []byte) (n int, err error) {
	if s.err != nil {
		return 0, s.err
	}
	if len(b) < s.pos {
		panic("BUG: resp.ReplyScanner.Scan called with fewer bytes than the previous call")
	}
	for {
		pos := s.pos
		if pos >= len(b) {
			return s.incomplete(len(b) + 1)
		}
		if s.strm {
			if b[pos] != ';' {
				return s.fail(ErrInvalidReply)
			}
			v, start, st := parseLen(b, pos, maxReplyLen, false)
			if st != lenOK {
				return s.lenFail(st, len(b))
			}
			if v == 0 {
				s.strm = false
				s.pos = start
				if s.done() {
					return s.finish()
				}
				continue
			}
			if err := s.skipBulk(b, start, int(v)); err != nil {
				return s.retErr(err)
			}
			continue
		}
		switch t := b[pos]; t {
		case '+', '-', ':', ',', '(', '_', '#':
			end := s.scanLine(b, pos)
			if end < 0 {
				if end == -2 {
					return s.fail(ErrInvalidReply)
				}
				return s.incomplete(len(b) + 1)
			}
			if !validLine(t, b[pos+1:end-2]) {
				return s.fail(ErrInvalidReply)
			}
			s.pos = end
		case '$', '!', '=':
			if pos+1 < len(b) && b[pos+1] == '?' && t == '$' {
				if pos+3 >= len(b) {
					return s.incomplete(pos + 4)
				}
				if b[pos+2] != '\r' || b[pos+3] != '\n' {
					return s.fail(ErrInvalidReply)
				}
				s.strm = true
				s.pos = pos + 4
				continue
			}
			v, start, st := parseLen(b, pos, maxReplyLen, t == '$')
			if st != lenOK {
				return s.lenFail(st, len(b))
			}
			if v < 0 {
				s.pos = start
			} else if err := s.skipBulk(b, start, int(v)); err != nil {
				return s.retErr(err)
			}
		case '*', '%', '~', '>', '|':
			if pos+1 < len(b) && b[pos+1] == '?' && (t == '*' || t == '%' || t == '~') {
				if pos+3 >= len(b) {
					return s.incomplete(pos + 4)
				}
				if b[pos+2] != '\r' || b[pos+3] != '\n' {
					return s.fail(ErrInvalidReply)
				}
				if s.depth == MaxReplyDepth {
					return s.fail(ErrReplyTooDeep)
				}
				s.stream |= 1 << s.depth
				s.left[s.depth] = 0
				s.depth++
				s.pos = pos + 4
				continue
			}
			v, start, st := parseLen(b, pos, maxReplyLen, t == '*')
			if st != lenOK {
				return s.lenFail(st, len(b))
			}
			s.pos = start
			if t == '%' || t == '|' {
				v *= 2
			}
			if v > 0 {
				if s.depth == MaxReplyDepth {
					return s.fail(ErrReplyTooDeep)
				}
				if t == '|' {
					s.attr |= 1 << s.depth
				}
				s.left[s.depth] = int(v)
				s.depth++
				continue
			}
			if t == '|' { // empty attribute: the value it decorates follows
				continue
			}
		case '.':
			// end of a streamed aggregate: "."CRLF
			if s.depth == 0 || s.stream&(1<<(s.depth-1)) == 0 {
				return s.fail(ErrInvalidReply)
			}
			if pos+2 >= len(b) {
				return s.incomplete(pos + 3)
			}
			if b[pos+1] != '\r' || b[pos+2] != '\n' {
				return s.fail(ErrInvalidReply)
			}
			s.depth--
			s.stream &^= 1 << s.depth
			s.pos = pos + 3
		default:
			return s.fail(ErrInvalidReply)
		}
		if s.done() {
			return s.finish()
		}
	}
}

// done records that a value ended at s.pos and reports whether it
// completes the top-level reply.
func (s *ReplyScanner) done() bool {
	for s.depth > 0 {
		top := s.depth - 1
		if s.stream&(1<<top) != 0 {
			return false
		}
		if s.left[top]--; s.left[top] > 0 {
			return false
		}
		s.depth--
		if s.attr&(1<<top) != 0 {
			// An attribute is not a value: the one it decorates follows.
			s.attr &^= 1 << top
			return false
		}
	}
	return true
}

// skipBulk moves past "<v bytes>\r\n" that starts at b[start].
func (s *ReplyScanner) skipBulk(b []byte, start, v int) error {
	end := start + v + 2
	if end > len(b) {
		s.need = end
		return ErrIncomplete
	}
	if b[end-2] != '\r' || b[end-1] != '\n' {
		return ErrInvalidReply
	}
	s.pos = end
	return nil
}

// scanLine returns the offset just past the CRLF of the line that starts
// at b[pos], -1 if it is not complete, -2 if a CR is not followed by LF.
// A partial line's scan resumes where it stopped.
func (s *ReplyScanner) scanLine(b []byte, pos int) int {
	from := max(s.line, pos+1)
	i := bytes.IndexByte(b[from:], '\r')
	if i < 0 {
		s.line = len(b)
		return -1
	}
	i += from
	if i+1 == len(b) {
		s.line = i
		return -1
	}
	s.line = 0
	if b[i+1] != '\n' {
		return -2
	}
	return i + 2
}

// validLine checks the body of a line element of type t.
func validLine(t byte, body []byte) bool {
	switch t {
	case ':':
		_, ok := parseInt(body)
		return ok
	case '_':
		return len(body) == 0
	case '#':
		return len(body) == 1 && (body[0] == 't' || body[0] == 'f')
	}
	return bytes.IndexByte(body, '\n') < 0
}

func (s *ReplyScanner) finish() (int, error) {
	n := s.pos
	// depth is 0 and the flag words are clear: left[] needs no clearing.
	s.pos, s.line, s.need = 0, 0, 0
	return n, nil
}

func (s *ReplyScanner) incomplete(need int) (int, error) {
	s.need = need
	return 0, ErrIncomplete
}

func (s *ReplyScanner) fail(err error) (int, error) {
	s.err = err
	s.need = 0
	return 0, err
}

func (s *ReplyScanner) retErr(err error) (int, error) {
	if err == ErrIncomplete {
		return 0, err
	}
	return s.fail(err)
}

func (s *ReplyScanner) lenFail(st lenStatus, l int) (int, error) {
	if st == lenIncomplete {
		return s.incomplete(l + 1)
	}
	return s.fail(ErrInvalidReply)
}

// ScanReply returns the length of the first complete reply in b. If b
// holds only part of a reply it returns 0, need, ErrIncomplete, where need
// (> len(b)) is the least len(b) at which another call can succeed. It
// rescans b from the start on every call: a connection that receives large
// aggregates should keep a ReplyScanner instead.
func ScanReply(b []byte) (n int, need int, err error) {
	var s ReplyScanner
	n, err = s.Scan(b)
	return n, s.need, err
}
