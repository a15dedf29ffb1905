package resp

// Helpers over one complete reply (as delimited by ReplyScanner), used to
// merge the replies of a command split over several servers. The results
// are views into reply, valid as long as reply is.

// ReplyKind returns the type byte of reply ('+', '-', ':', '$', '*', ...),
// or 0 if reply is empty.
func ReplyKind(reply []byte) byte {
	if len(reply) == 0 {
		return 0
	}
	return reply[0]
}

// IsError reports whether reply is an error: a simple error ("-...") or a
// RESP3 blob error ("!...").
func IsError(reply []byte) bool {
	return len(reply) > 0 && (reply[0] == '-' || reply[0] == '!')
}

// ParseIntegerReply returns the value of an integer reply (":<n>\r\n") at
// the start of reply; bytes after its CRLF are ignored.
func ParseIntegerReply(reply []byte) (int64, bool) {
	if len(reply) < 4 || reply[0] != ':' {
		return 0, false
	}
	for i := 1; i+1 < len(reply); i++ {
		if reply[i] == '\r' {
			if reply[i+1] != '\n' {
				return 0, false
			}
			return parseInt(reply[1:i])
		}
	}
	return 0, false
}

// ArrayLen parses the header of an array reply ("*<count>\r\n", also the
// RESP3 set "~" and push ">" aggregates, which have the same layout). It
// returns the element count (-1 for the RESP2 null array "*-1\r\n") and
// the header's length: the first element starts at reply[headerLen].
func ArrayLen(reply []byte) (count, headerLen int, ok bool) {
	if len(reply) == 0 {
		return 0, 0, false
	}
	switch t := reply[0]; t {
	case '*', '~', '>':
		v, next, st := parseLen(reply, 0, maxReplyLen, t == '*')
		if st != lenOK {
			return 0, 0, false
		}
		return int(v), next, true
	}
	return 0, 0, false
}

// ArrayIter walks the elements of one complete array reply without
// allocating:
//
//	it, ok := resp.IterArray(reply)
//	for elem, ok := it.Next(); ok; elem, ok = it.Next() { ... }
//	if it.Err() != nil { ... }
type ArrayIter struct {
	rest []byte
	left int
	err  error
}

// IterArray returns an iterator over the elements of the array reply
// (see ArrayLen for the accepted types). ok is false if reply does not
// start with an array header; a null array has no elements.
func IterArray(reply []byte) (it ArrayIter, ok bool) {
	count, h, ok := ArrayLen(reply)
	if !ok {
		return ArrayIter{}, false
	}
	return ArrayIter{rest: reply[h:], left: max(count, 0)}, true
}

// Len returns how many elements are left.
func (it *ArrayIter) Len() int { return it.left }

// Next returns the next element's bytes (a complete reply of its own,
// a view into the array reply), or ok == false at the end or on error.
func (it *ArrayIter) Next() (elem []byte, ok bool) {
	if it.left == 0 || it.err != nil {
		return nil, false
	}
	n, _, err := ScanReply(it.rest)
	if err != nil {
		it.err = err
		if err == ErrIncomplete {
			it.err = ErrInvalidReply // the array was supposed to be complete
		}
		return nil, false
	}
	elem, it.rest = it.rest[:n:n], it.rest[n:]
	it.left--
	return elem, true
}

// Err returns ErrInvalidReply if the elements did not parse.
func (it *ArrayIter) Err() error { return it.err }
