package resp

import "bytes"

// Limits bound what one client request may make the proxy hold. A zero (or
// negative) field means the DefaultLimits value.
type Limits struct {
	MaxArgs         int // most elements in a multibulk or inline request
	MaxBulkLen      int // longest single argument, in bytes
	MaxRequestBytes int // longest whole request, in bytes, framing included
	MaxInlineLen    int // longest inline request line, without its line ending
}

// DefaultLimits follow redis: proto-max-bulk-len 512 MiB,
// client-query-buffer-limit 1 GiB, PROTO_INLINE_MAX_SIZE 64 KiB; MaxArgs is
// 1Mi (redis takes up to INT_MAX, but no real command needs more).
func DefaultLimits() Limits {
	return Limits{
		MaxArgs:         1 << 20,
		MaxBulkLen:      512 << 20,
		MaxRequestBytes: 1 << 30,
		MaxInlineLen:    64 << 10,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxArgs <= 0 {
		l.MaxArgs = d.MaxArgs
	}
	if l.MaxBulkLen <= 0 {
		l.MaxBulkLen = d.MaxBulkLen
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxInlineLen <= 0 {
		l.MaxInlineLen = d.MaxInlineLen
	}
	return l
}

// minArgBytes is the size of the smallest multibulk argument, "$0\r\n\r\n";
// it lets a declared count be checked against MaxRequestBytes at once.
const minArgBytes = 6

// Request is one parsed client request. Reuse one Request per connection:
// Parse overwrites it and reuses the Args backing array, so steady-state
// parsing does not allocate.
type Request struct {
	// Args holds the command name and its arguments. Each element is a view
	// into the b given to Parse (or, for quoted inline arguments, into the
	// Parser's scratch buffer), capped so that appending to it cannot
	// overwrite its neighbours. Valid while b is unmodified and until the
	// next Parse or Reset on the same Parser. Copy what must live longer.
	Args [][]byte
	// Inline is set for an inline request ("GET foo\r\n"). Its raw bytes are
	// not RESP: encode Args as a multibulk before forwarding it.
	Inline bool
	// Cmd is Lookup(Args[0]): nil for an unknown command.
	Cmd *Command
}

// Reset clears r, keeping the Args backing array.
func (r *Request) Reset() {
	clear(r.Args)
	r.Args = r.Args[:0]
	r.Inline = false
	r.Cmd = nil
}

// parser states
const (
	stStart  uint8 = iota // nothing of the request seen
	stMulti               // count read; reading "$len\r\ndata\r\n" elements
	stInline              // looking for the end of an inline line
	stError               // a protocol error was returned; sticky until Reset
)

// Parser parses client requests. One Parser per client connection; it
// holds the position reached in a partial request so that a request
// arriving over many reads is scanned once. It is not safe for concurrent
// use. The zero value is usable and has DefaultLimits.
type Parser struct {
	lim     Limits
	limSet  bool
	state   uint8
	pos     int    // next unparsed offset in b (start of a header, or the inline scan point)
	argc    int    // declared element count of the multibulk being parsed
	offs    []int  // start,end pairs of the arguments parsed so far; inline: negative = scratch
	need    int    // see Need
	err     error  // sticky protocol error
	scratch []byte // decoded quoted inline arguments
}

// NewParser returns a Parser with l (zero fields take their defaults).
func NewParser(l Limits) *Parser {
	p := &Parser{}
	p.SetLimits(l)
	return p
}

// SetLimits changes the limits; zero fields take their defaults. Call it
// between requests, not while one is partially parsed.
func (p *Parser) SetLimits(l Limits) {
	p.lim = l.withDefaults()
	p.limSet = true
}

// Reset forgets any partial request and any sticky error. Use it when the
// connection is reused for a new client.
func (p *Parser) Reset() {
	p.state = stStart
	p.pos = 0
	p.argc = 0
	p.offs = p.offs[:0]
	p.need = 0
	p.err = nil
}

// Need returns, after Parse returned ErrIncomplete, the total len(b) below
// which calling Parse again is useless. It is always greater than the len(b)
// of that call; for a bulk argument it is the offset just past the
// argument's data and CRLF, so a large value is not rescanned per read.
func (p *Parser) Need() int { return p.need }

// Parse parses the first request in b, which must start at the first byte
// of a request that has not been returned yet.
//
//   - Complete: n > 0, err == nil. b[:n] is the whole request, to forward
//     as it is (unless r.Inline). r is filled; see Request.Args for how long
//     its views are valid. If len(r.Args) == 0, b[:n] held only an empty
//     request that redis ignores ("*0\r\n", "*-1\r\n", or a blank inline
//     line): discard the n bytes and call again.
//   - Incomplete: 0, ErrIncomplete. Keep b and call again with the same
//     bytes plus more once len(b) >= Need(). The Parser remembers how far
//     it got; r is left untouched.
//   - Bad input: 0, a *ProtocolError. Send its Reply and close the
//     connection; the Parser returns the same error until Reset.
//
// Errors are reported as soon as the offending bytes are seen: a count over
// MaxArgs or a bulk length over MaxBulkLen is refused before its CRLF
// arrives, and a declared size over MaxRequestBytes before its data.
func (p *Parser) Parse(b []byte, r *Request) (n int, err error) {
	if !p.limSet {
		p.SetLimits(Limits{})
	}
	if len(b) < p.pos {
		panic("BUG: resp.Parser.Parse called with fewer bytes than the previous call")
	}
	switch p.state {
	case stStart:
		if len(b) == 0 {
			p.need = 1
			return 0, ErrIncomplete
		}
		p.pos = 0
		p.offs = p.offs[:0]
		if b[0] == '*' {
			return p.parseCount(b, r)
		}
		p.state = stInline
		return p.parseInline(b, r)
	case stMulti:
		return p.parseArgs(b, r)
	case stInline:
		return p.parseInline(b, r)
	default:
		return 0, p.err
	}
}

func (p *Parser) fail(err error) (int, error) {
	p.state = stError
	p.err = err
	p.need = 0
	return 0, err
}

func (p *Parser) incomplete(need int) (int, error) {
	p.need = need
	return 0, ErrIncomplete
}

// parseCount reads "*<count>\r\n" at b[0].
func (p *Parser) parseCount(b []byte, r *Request) (int, error) {
	v, next, st := parseLen(b, 0, int64(p.lim.MaxArgs), true)
	switch st {
	case lenIncomplete:
		return p.incomplete(len(b) + 1)
	case lenInvalid:
		return p.fail(ErrInvalidMultibulkLength)
	case lenTooBig:
		return p.fail(ErrTooManyArgs)
	}
	if v <= 0 { // "*0\r\n" and "*-1\r\n": redis ignores them
		r.Reset()
		p.Reset()
		return next, nil
	}
	if int64(next)+v*minArgBytes > int64(p.lim.MaxRequestBytes) {
		return p.fail(ErrRequestTooLarge)
	}
	p.argc = int(v)
	p.pos = next
	p.state = stMulti
	return p.parseArgs(b, r)
}

// parseArgs reads "$<len>\r\n<data>\r\n" elements from p.pos until argc
// are read. On ErrIncomplete p.pos stays at the start of the element that
// is not complete: its header (a few bytes) is read again on the next call,
// its data is not scanned at all.
func (p *Parser) parseArgs(b []byte, r *Request) (int, error) {
	maxBulk := int64(p.lim.MaxBulkLen)
	maxReq := p.lim.MaxRequestBytes
	for pos := p.pos; len(p.offs) < 2*p.argc; pos = p.pos {
		if pos >= len(b) {
			return p.incomplete(len(b) + 1)
		}
		if b[pos] != '$' {
			return p.fail(ErrExpectedBulk)
		}
		v, start, st := parseLen(b, pos, maxBulk, false)
		switch st {
		case lenIncomplete:
			return p.incomplete(len(b) + 1)
		case lenInvalid:
			return p.fail(ErrInvalidBulkLength)
		case lenTooBig:
			return p.fail(ErrBulkTooLong)
		}
		end := start + int(v)
		left := 2*p.argc - len(p.offs) - 2 // arguments after this one, times 2
		if end+2+left/2*minArgBytes > maxReq {
			return p.fail(ErrRequestTooLarge)
		}
		if end+2 > len(b) {
			return p.incomplete(end + 2)
		}
		if b[end] != '\r' || b[end+1] != '\n' {
			return p.fail(ErrBulkMissingCRLF)
		}
		p.offs = append(p.offs, start, end)
		p.pos = end + 2
	}
	return p.finish(b, r, false)
}

// finish fills r from p.offs and readies p for the next request.
func (p *Parser) finish(b []byte, r *Request, inline bool) (int, error) {
	n := p.pos
	r.Args = r.Args[:0]
	for i := 0; i < len(p.offs); i += 2 {
		s, e := p.offs[i], p.offs[i+1]
		if s < 0 {
			r.Args = append(r.Args, p.scratch[^s:^e:^e])
		} else {
			r.Args = append(r.Args, b[s:e:e])
		}
	}
	r.Inline = inline
	r.Cmd = nil
	if len(r.Args) > 0 {
		r.Cmd = Lookup(r.Args[0])
	}
	p.Reset()
	return n, nil
}

// parseInline finds the end of an inline line ("\n", with an optional
// "\r" before it) and splits it into arguments. p.pos is where the search
// for "\n" resumes.
func (p *Parser) parseInline(b []byte, r *Request) (int, error) {
	i := bytes.IndexByte(b[p.pos:], '\n')
	if i < 0 {
		p.pos = len(b)
		l := len(b)
		if b[l-1] == '\r' {
			l--
		}
		if l > p.lim.MaxInlineLen {
			return p.fail(ErrInlineTooLong)
		}
		if l > p.lim.MaxRequestBytes {
			return p.fail(ErrRequestTooLarge)
		}
		return p.incomplete(len(b) + 1)
	}
	n := p.pos + i + 1
	line := b[:n-1]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > p.lim.MaxInlineLen {
		return p.fail(ErrInlineTooLong)
	}
	if n > p.lim.MaxRequestBytes {
		return p.fail(ErrRequestTooLarge)
	}
	if err := p.splitInline(line); err != nil {
		return p.fail(err)
	}
	p.pos = n
	return p.finish(b, r, true)
}
