package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// Kind is the command type a request is accounted under.
type Kind uint8

// Command kinds.
const (
	KindSet Kind = iota
	KindGet
	KindOther
	numKinds
)

var kindNames = [numKinds]string{"SET", "GET", "OTHER"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// reply is the accounting outcome of one parsed reply.
type reply struct {
	hits, misses int32
	isErr        bool   // the server answered with an error (counted, not fatal)
	errLine      []byte // the error line, valid until the next read; only when isErr
}

// ProtocolError reports a reply that does not fit the protocol or the request
// it answers: the stream is out of sync and the run must stop.
type ProtocolError struct {
	Proto  Protocol
	Expect string
	Got    []byte
}

func (e *ProtocolError) Error() string {
	got := e.Got
	if len(got) > 64 {
		got = got[:64]
	}
	return fmt.Sprintf("%s protocol desync: expected %s, got %q", e.Proto, e.Expect, got)
}

func desync(p Protocol, expect string, got []byte) error {
	return &ProtocolError{Proto: p, Expect: expect, Got: bytes.Clone(got)}
}

// codec encodes requests and parses replies for one connection. Encoding
// appends to a caller-owned buffer; parsing reads in place from r. Neither
// allocates in the steady state.
type codec interface {
	appendSet(b []byte, key uint64) []byte
	appendGet(b []byte, keys []uint64) []byte
	appendCommand(b []byte, keys []uint64) []byte
	readReply(r *bufio.Reader, k Kind, nkeys int) (reply, error)
}

func newCodec(cfg *Config, data []byte) (codec, error) {
	switch cfg.Protocol {
	case ProtoRedis:
		return newRedisCodec(cfg.KeyPrefix, data, cfg.MultiKeyGet, cfg.Command)
	case ProtoMemcache:
		return newMemcacheCodec(cfg.KeyPrefix, data), nil
	case ProtoMemcacheBinary:
		return newBinaryCodec(cfg.KeyPrefix, data), nil
	}
	return nil, fmt.Errorf("unknown protocol %q", cfg.Protocol)
}

// makeData returns the value payload written by SET requests.
func makeData(size int) []byte {
	const pattern = "abcdefghijklmnopqrstuvwxyz0123456789"
	d := make([]byte, size)
	for i := range d {
		d[i] = pattern[i%len(pattern)]
	}
	return d
}

// decDigits is the number of decimal digits of n.
func decDigits(n uint64) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// --- line helpers shared by the text protocols ---

var errLineTooLong = errors.New("reply line longer than the read buffer")

// readLine returns the next CRLF-terminated line without the CRLF. The slice
// is only valid until the next read from r.
func readLine(r *bufio.Reader, p Protocol) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errLineTooLong
		}
		return nil, err
	}
	n := len(line)
	if n < 2 || line[n-2] != '\r' {
		return nil, desync(p, "CRLF-terminated line", line)
	}
	return line[:n-2], nil
}

// parseInt parses a signed decimal without allocating.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// maxPayload bounds a declared value length; anything larger is treated as a
// desync rather than trusted.
const maxPayload = 1 << 30

// discardPayload skips n bytes plus the CRLF that must follow them.
func discardPayload(r *bufio.Reader, n int64, p Protocol) error {
	if n > 0 {
		if _, err := r.Discard(int(n)); err != nil {
			return err
		}
	}
	crlf, err := r.Peek(2)
	if err != nil {
		return err
	}
	if crlf[0] != '\r' || crlf[1] != '\n' {
		return desync(p, "CRLF after payload", crlf)
	}
	_, err = r.Discard(2)
	return err
}
