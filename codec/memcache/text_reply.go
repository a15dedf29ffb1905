package memcache

import "bytes"

// Bounds on server replies.
const (
	maxReplyLine      = 8 << 10 // a reply line other than data
	MaxTextReplyValue = 1 << 30 // largest VALUE data block accepted from a server
)

// TextReplyScanner finds where the reply of a memcached server to one text
// request ends. For retrieval replies it remembers the VALUE blocks already
// checked, so a reply arriving in pieces is not rescanned from its start.
// The zero value is ready; it is not safe for concurrent use.
type TextReplyScanner struct {
	off int // start of the first unchecked line of a retrieval reply
}

// Reset forgets a partial reply.
func (s *TextReplyScanner) Reset() { s.off = 0 }

// ScanTextReply is TextReplyScanner.Scan without saved progress.
func ScanTextReply(cmd TextCmd, b []byte) (n, need int, err error) {
	var s TextReplyScanner
	return s.Scan(cmd, b)
}

// Scan finds the end of the reply to cmd at the start of b. It returns the
// reply's length n; or 0, the minimum total length of b that can make
// progress, and ErrIncomplete; or ErrBadReply when b is not a valid reply to
// cmd (the server connection cannot be resynced). Between calls that return
// ErrIncomplete, b must keep the same prefix (it may move in memory).
//
// Replies: get/gets/gat/gats: VALUE blocks then END; storage commands:
// STORED, NOT_STORED, EXISTS or NOT_FOUND; incr/decr: a number or NOT_FOUND;
// delete: DELETED or NOT_FOUND; touch: TOUCHED or NOT_FOUND; version:
// VERSION x. Any of them may instead be ERROR, CLIENT_ERROR msg or
// SERVER_ERROR msg, which also ends a retrieval reply after VALUE blocks.
// quit has no reply: Scan returns ErrBadReply.
func (s *TextReplyScanner) Scan(cmd TextCmd, b []byte) (n, need int, err error) {
	if cmd == CmdNone || cmd >= CmdQuit {
		return 0, 0, ErrBadReply // no reply expected
	}
	if !cmd.IsRetrieval() {
		s.off = 0
		line, n, need, err := replyLine(b, 0)
		if err != nil {
			return 0, need, err
		}
		if !isErrorLine(line) && !validSingleLine(cmd, line) {
			return 0, 0, ErrBadReply
		}
		return n, 0, nil
	}
	off := s.off
	if off > len(b) {
		off = 0
	}
	for {
		if len(b)-off >= 6 && string(b[off:off+6]) == "VALUE " {
			var v TextValue
			end, need, err := parseValue(b, off, &v)
			if err != nil {
				s.off = off
				if err != ErrIncomplete {
					s.off = 0
				}
				return 0, need, err
			}
			off = end
			continue
		}
		line, end, need, err := replyLine(b, off)
		if err != nil {
			s.off = off
			if err != ErrIncomplete {
				s.off = 0
			}
			return 0, need, err
		}
		s.off = 0
		if string(line) == "END" || isErrorLine(line) {
			return end, 0, nil
		}
		return 0, 0, ErrBadReply
	}
}

// replyLine returns the CRLF terminated line at b[off:] without its CRLF and
// the offset after it.
func replyLine(b []byte, off int) (line []byte, end, need int, err error) {
	rest := b[off:]
	if len(rest) > maxReplyLine {
		rest = rest[:maxReplyLine]
	}
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		if len(rest) == maxReplyLine {
			return nil, 0, 0, ErrBadReply
		}
		return nil, 0, len(b) + 1, ErrIncomplete
	}
	if i == 0 || rest[i-1] != '\r' {
		return nil, 0, 0, ErrBadReply
	}
	return rest[: i-1 : i-1], off + i + 1, 0, nil
}

func isErrorLine(line []byte) bool {
	return string(line) == "ERROR" ||
		bytes.HasPrefix(line, []byte("CLIENT_ERROR")) ||
		bytes.HasPrefix(line, []byte("SERVER_ERROR"))
}

func validSingleLine(cmd TextCmd, line []byte) bool {
	switch cmd {
	case CmdSet, CmdAdd, CmdReplace, CmdAppend, CmdPrepend, CmdCas:
		switch string(line) {
		case "STORED", "NOT_STORED", "EXISTS", "NOT_FOUND":
			return true
		}
	case CmdIncr, CmdDecr:
		if string(line) == "NOT_FOUND" {
			return true
		}
		// memcached may pad the number with spaces.
		_, ok := parseUint(bytes.TrimRight(line, " "), 1<<64-1)
		return ok
	case CmdDelete:
		return string(line) == "DELETED" || string(line) == "NOT_FOUND"
	case CmdTouch:
		return string(line) == "TOUCHED" || string(line) == "NOT_FOUND"
	case CmdVersion:
		return bytes.HasPrefix(line, []byte("VERSION "))
	}
	return false
}

// TextValue is one VALUE block of a retrieval reply. Key, Data and Block are
// views into the reply bytes (see the package doc).
type TextValue struct {
	Key    []byte
	Flags  uint32
	Cas    uint64
	HasCas bool   // the line carried a cas unique (gets, gats)
	Data   []byte // the value without its CRLF
	Block  []byte // the whole block: "VALUE ...\r\n<data>\r\n"
}

// parseValue parses the VALUE block at b[off:] (which starts with "VALUE ")
// and returns the offset after it.
func parseValue(b []byte, off int, v *TextValue) (end, need int, err error) {
	line, dataOff, need, err := replyLine(b, off)
	if err != nil {
		return 0, need, err
	}
	key, _, pos := token(line, len("VALUE "))
	flagsTok, _, pos := token(line, pos)
	bytesTok, _, pos := token(line, pos)
	casTok, _, pos := token(line, pos)
	extra, _, _ := token(line, pos)
	if len(key) == 0 || len(extra) != 0 {
		return 0, 0, ErrBadReply
	}
	flags, ok1 := parseUint(flagsTok, 1<<32-1)
	size, ok2 := parseUint(bytesTok, MaxTextReplyValue)
	if !ok1 || !ok2 {
		return 0, 0, ErrBadReply
	}
	*v = TextValue{Key: key, Flags: uint32(flags)}
	if len(casTok) != 0 {
		if v.Cas, ok1 = parseUint(casTok, 1<<64-1); !ok1 {
			return 0, 0, ErrBadReply
		}
		v.HasCas = true
	}
	dataEnd := dataOff + int(size)
	end = dataEnd + 2
	if len(b) < end {
		return 0, end, ErrIncomplete
	}
	if b[dataEnd] != '\r' || b[dataEnd+1] != '\n' {
		return 0, 0, ErrBadReply
	}
	v.Data = b[dataOff:dataEnd:dataEnd]
	v.Block = b[off:end:end]
	return end, 0, nil
}

// TextValues iterates the VALUE blocks of a complete retrieval reply, e.g.
// to merge the replies of a split get in the order the keys were asked:
//
//	it := NewTextValues(reply)
//	for it.Next(&v) { ... v.Key, v.Block ... }
//	tail := it.Rest() // "END\r\n", or an error line
type TextValues struct {
	b   []byte
	off int
}

// NewTextValues returns an iterator over reply, a complete reply that
// ScanTextReply accepted.
func NewTextValues(reply []byte) TextValues { return TextValues{b: reply} }

// Next fills v with the next VALUE block and reports whether there was one.
func (it *TextValues) Next(v *TextValue) bool {
	if len(it.b)-it.off < 6 || string(it.b[it.off:it.off+6]) != "VALUE " {
		return false
	}
	end, _, err := parseValue(it.b, it.off, v)
	if err != nil {
		return false
	}
	it.off = end
	return true
}

// Rest returns the bytes after the VALUE blocks Next has returned.
func (it *TextValues) Rest() []byte { return it.b[it.off:] }
