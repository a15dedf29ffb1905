package memcache

import "bytes"

// TextRequest is one parsed text protocol request. Slices are views into the
// parsed bytes (see the package doc for how long they stay valid).
type TextRequest struct {
	Cmd     TextCmd
	Keys    [][]byte // one key, or the keys of get/gets/gat/gats in order
	NoReply bool     // "noreply": the server sends nothing back on success
	Flags   uint32   // storage commands
	Exptime int64    // storage commands, touch, gat, gats
	Bytes   int      // storage commands: len(Data)
	Cas     uint64   // cas
	Delta   uint64   // incr, decr
	Data    []byte   // storage commands: the value, without its CRLF
	LineLen int      // length of the command line including its line end
}

// Key returns the first key, or nil when the command has none.
func (r *TextRequest) Key() []byte {
	if len(r.Keys) == 0 {
		return nil
	}
	return r.Keys[0]
}

func (r *TextRequest) reset() {
	keys := r.Keys[:0]
	*r = TextRequest{Keys: keys}
}

type textState uint8

const (
	textLine textState = iota // looking for the end of the command line
	textData                  // line parsed, waiting for the data block
)

// TextParser parses text protocol requests. The zero value is ready to use
// with default Limits. It keeps the progress of one partial request between
// calls; it is not safe for concurrent use.
type TextParser struct {
	Limits Limits

	state textState
	scan  int // textLine: bytes already searched for '\n'
	need  int // minimum len(b) for the next call to make progress

	// textData: the parsed command line of a storage command.
	hdr textHeader
}

type textHeader struct {
	cmd     TextCmd
	noreply bool
	flags   uint32
	exptime int64
	cas     uint64
	keyOff  int
	keyLen  int
	lineLen int
	bytes   int
}

// Reset forgets a partial request. Call it when the next Parse will not get
// the same prefix as the last one that returned ErrIncomplete.
func (p *TextParser) Reset() {
	p.state, p.scan, p.need = textLine, 0, 0
}

// Need returns, after ErrIncomplete, the minimum total length of b the next
// call needs to make progress (for a storage command whose line has been
// read: the whole request).
func (p *TextParser) Need() int { return p.need }

// Parse parses the request at the start of b into r.
//
// On success it returns the request's length n (b[:n] is the raw request,
// forwardable as is). If b holds only part of a request it returns 0 and
// ErrIncomplete; Need tells how long b must be for progress. Otherwise err is
// an *Error: write its Reply; if it says Close, close the connection,
// otherwise n is the length of the bad request, which may exceed len(b) when
// its data block has not arrived: discard n bytes in all and parse on.
func (p *TextParser) Parse(b []byte, r *TextRequest) (n int, err error) {
	if p.state == textData {
		if len(b) >= p.hdr.lineLen {
			return p.parseData(b, r)
		}
		p.Reset() // not the same prefix: start over
	}
	maxLine := p.Limits.lineLen()
	start := p.scan
	if start > len(b) {
		start = 0
	}
	i := bytes.IndexByte(b[start:], '\n')
	if i < 0 {
		if len(b) >= maxLine {
			p.Reset()
			return 0, ErrLineTooLong
		}
		p.scan = len(b)
		p.need = len(b) + 1
		return 0, ErrIncomplete
	}
	p.scan = 0
	eol := start + i
	n = eol + 1
	if n > maxLine {
		p.Reset()
		return 0, ErrLineTooLong
	}
	if eol > 0 && b[eol-1] == '\r' {
		eol--
	}
	r.reset()
	r.LineLen = n
	return p.parseLine(b, eol, r)
}

// token returns the next space separated token of line at or after pos and
// the position after it. Runs of spaces separate tokens, as in memcached.
func token(line []byte, pos int) (tok []byte, start, next int) {
	for pos < len(line) && line[pos] == ' ' {
		pos++
	}
	start = pos
	for pos < len(line) && line[pos] != ' ' {
		pos++
	}
	return line[start:pos], start, pos
}

// parseLine parses the command line b[:eol]; n = r.LineLen.
func (p *TextParser) parseLine(b []byte, eol int, r *TextRequest) (int, error) {
	line := b[:eol]
	n := r.LineLen
	name, _, pos := token(line, 0)
	cmd, unsupported := lookupTextCmd(name)
	if cmd == CmdNone {
		if unsupported {
			return p.unsupported(name, line, pos, n)
		}
		return n, ErrUnknownCommand
	}
	r.Cmd = cmd
	switch {
	case cmd.IsRetrieval():
		return p.parseRetrieval(line, pos, n, r)
	case cmd.IsStorage():
		return p.parseStorage(b, line, pos, n, r)
	}
	// Up to three arguments after the command.
	var args [3][]byte
	nargs, ok := splitArgs(line, pos, args[:])
	if !ok {
		return n, ErrArity
	}
	switch cmd {
	case CmdVersion, CmdQuit:
		return n, nil // memcached ignores arguments here
	case CmdIncr, CmdDecr:
		if nargs < 2 {
			return n, ErrArity
		}
		if err := p.checkKey(args[0]); err != nil {
			return n, err
		}
		d, ok := parseUint(args[1], 1<<64-1)
		if !ok {
			return n, ErrBadDelta
		}
		r.Delta = d
		r.NoReply = nargs == 3 && isNoReply(args[2])
	case CmdTouch:
		if nargs < 2 {
			return n, ErrArity
		}
		if err := p.checkKey(args[0]); err != nil {
			return n, err
		}
		t, ok := parseInt(args[1])
		if !ok {
			return n, ErrBadTouchTime
		}
		r.Exptime = t
		r.NoReply = nargs == 3 && isNoReply(args[2])
	case CmdDelete:
		// delete <key> [0] [noreply], as memcached 1.6 accepts it.
		if nargs == 0 {
			return n, ErrArity
		}
		if err := p.checkKey(args[0]); err != nil {
			return n, err
		}
		switch nargs {
		case 2:
			r.NoReply = isNoReply(args[1])
			if !r.NoReply && string(args[1]) != "0" {
				return n, ErrBadDeleteTime
			}
		case 3:
			if string(args[1]) != "0" || !isNoReply(args[2]) {
				return n, ErrBadDeleteTime
			}
			r.NoReply = true
		}
	default:
		panic("BUG: memcache: unhandled text command " + cmd.String())
	}
	r.Keys = append(r.Keys, args[0])
	return n, nil
}

func (p *TextParser) parseRetrieval(line []byte, pos, n int, r *TextRequest) (int, error) {
	if r.Cmd == CmdGat || r.Cmd == CmdGats {
		tok, _, next := token(line, pos)
		if len(tok) == 0 {
			return n, ErrArity
		}
		t, ok := parseInt(tok)
		if !ok {
			return n, ErrBadTouchTime
		}
		r.Exptime = t
		pos = next
	}
	maxKeys := p.Limits.keys()
	for {
		tok, _, next := token(line, pos)
		if len(tok) == 0 {
			break
		}
		if len(r.Keys) == maxKeys {
			return n, ErrTooManyKeys
		}
		if err := p.checkKey(tok); err != nil {
			return n, err
		}
		r.Keys = append(r.Keys, tok)
		pos = next
	}
	if len(r.Keys) == 0 {
		return n, ErrArity
	}
	return n, nil
}

// splitArgs puts the tokens of line from pos on into args; ok is false when
// there are more than len(args).
func splitArgs(line []byte, pos int, args [][]byte) (nargs int, ok bool) {
	for {
		tok, _, next := token(line, pos)
		if len(tok) == 0 {
			return nargs, true
		}
		if nargs == len(args) {
			return nargs, false
		}
		args[nargs] = tok
		nargs++
		pos = next
	}
}

// parseStorage parses "<cmd> <key> <flags> <exptime> <bytes> [<cas>] [noreply]".
// The value length is checked first: once it is known, every other error can
// skip the data block and keep the connection.
func (p *TextParser) parseStorage(b, line []byte, pos, n int, r *TextRequest) (int, error) {
	var args [6][]byte
	nargs, ok := splitArgs(line, pos, args[:])
	if !ok {
		return n, ErrStorageArity
	}
	want := 4
	if r.Cmd == CmdCas {
		want = 5
	}
	if nargs != want && nargs != want+1 {
		return n, ErrStorageArity
	}
	size, ok := parseUint(args[3], 1<<31-1)
	if !ok {
		return n, ErrBadLength
	}
	bytes := int(size)
	skip := n + bytes + 2
	if bytes > p.Limits.valueLen() {
		return skip, ErrValueTooLarge
	}
	if err := p.checkKey(args[0]); err != nil {
		return skip, err
	}
	flags, ok := parseUint(args[1], 1<<32-1)
	if !ok {
		return skip, ErrBadFlags
	}
	exptime, ok := parseInt(args[2])
	if !ok {
		return skip, ErrBadExptime
	}
	var cas uint64
	if r.Cmd == CmdCas {
		if cas, ok = parseUint(args[4], 1<<64-1); !ok {
			return skip, ErrBadCas
		}
	}
	keyOff := cap(b) - cap(args[0])
	p.hdr = textHeader{
		cmd:     r.Cmd,
		noreply: nargs == want+1 && isNoReply(args[want]),
		flags:   uint32(flags),
		exptime: exptime,
		cas:     cas,
		keyOff:  keyOff,
		keyLen:  len(args[0]),
		lineLen: n,
		bytes:   bytes,
	}
	p.state = textData
	return p.parseData(b, r)
}

// parseData completes a storage request whose line is in p.hdr.
func (p *TextParser) parseData(b []byte, r *TextRequest) (int, error) {
	h := &p.hdr
	total := h.lineLen + h.bytes + 2
	if len(b) < total {
		p.need = total
		return 0, ErrIncomplete
	}
	p.Reset()
	if b[total-2] != '\r' || b[total-1] != '\n' {
		return 0, ErrBadDataChunk
	}
	r.reset()
	r.Cmd = h.cmd
	r.Keys = append(r.Keys, b[h.keyOff:h.keyOff+h.keyLen:h.keyOff+h.keyLen])
	r.NoReply = h.noreply
	r.Flags = h.flags
	r.Exptime = h.exptime
	r.Bytes = h.bytes
	r.Cas = h.cas
	r.Data = b[h.lineLen : h.lineLen+h.bytes : h.lineLen+h.bytes]
	r.LineLen = h.lineLen
	return total, nil
}

// unsupported answers a memcache command the proxy does not serve. "ms"
// carries a data block: skip it too when its length is readable.
func (p *TextParser) unsupported(name, line []byte, pos, n int) (int, error) {
	if string(name) != "ms" {
		return n, ErrUnsupported
	}
	_, _, pos = token(line, pos) // key
	tok, _, _ := token(line, pos)
	size, ok := parseUint(tok, 1<<31-1)
	if !ok {
		return n, ErrBadLength
	}
	return n + int(size) + 2, ErrUnsupported
}

// checkKey rejects keys that are too long or hold control characters.
func (p *TextParser) checkKey(k []byte) error {
	if len(k) > p.Limits.keyLen() {
		return ErrKeyTooLong
	}
	for _, c := range k {
		if c < ' ' || c == 0x7f {
			return ErrBadKey
		}
	}
	return nil
}

func isNoReply(tok []byte) bool { return string(tok) == "noreply" }

// parseUint parses a non-empty run of decimal digits no greater than max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, false
		}
		if v > (max-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// parseInt parses an optionally negative decimal int64.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if neg {
		v, ok := parseUint(b, 1<<63)
		return -int64(v), ok
	}
	v, ok := parseUint(b, 1<<63-1)
	return int64(v), ok
}
