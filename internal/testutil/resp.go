package testutil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// DefaultIOTimeout is the deadline Raw applies to every read and write.
const DefaultIOTimeout = 5 * time.Second

// Raw is a plain TCP connection for tests that must send exact bytes (RESP
// or memcached text) and inspect exact replies. Every read and write gets a
// deadline of Timeout.
type Raw struct {
	Conn    net.Conn
	R       *bufio.Reader
	Timeout time.Duration
	t       testing.TB
}

// RawConn dials addr (failing the test on error) and closes the connection
// at the end of the test.
func RawConn(t testing.TB, addr string) *Raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, DefaultIOTimeout)
	if err != nil {
		t.Fatalf("testutil.RawConn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &Raw{Conn: c, R: bufio.NewReader(c), Timeout: DefaultIOTimeout, t: t}
}

// Write writes b with a deadline; it is safe to use from any goroutine.
func (r *Raw) Write(b []byte) (int, error) {
	_ = r.Conn.SetWriteDeadline(time.Now().Add(r.Timeout))
	return r.Conn.Write(b)
}

// Send writes b, failing the test on error. Like t.Fatal, call it from the
// test goroutine only (use Write elsewhere).
func (r *Raw) Send(b []byte) {
	r.t.Helper()
	if _, err := r.Write(b); err != nil {
		r.t.Fatalf("testutil.Raw.Send: %v", err)
	}
}

// SendString is Send([]byte(s)).
func (r *Raw) SendString(s string) {
	r.t.Helper()
	r.Send([]byte(s))
}

// SendCmd sends args as one RESP array of bulk strings.
func (r *Raw) SendCmd(args ...string) {
	r.t.Helper()
	r.Send(Command(args...))
}

// Do sends args as a RESP command and reads one reply.
func (r *Raw) Do(args ...string) ([]byte, error) {
	if _, err := r.Write(Command(args...)); err != nil {
		return nil, err
	}
	return r.ReadReply()
}

// ReadReply reads exactly one complete RESP2/RESP3 reply (aggregates read
// recursively) and returns its raw bytes, CRLFs included.
func (r *Raw) ReadReply() ([]byte, error) {
	_ = r.Conn.SetReadDeadline(time.Now().Add(r.Timeout))
	return ReadReply(r.R)
}

// ReadLine reads one line and returns it without its "\r\n" (or "\n").
func (r *Raw) ReadLine() (string, error) {
	_ = r.Conn.SetReadDeadline(time.Now().Add(r.Timeout))
	l, err := r.R.ReadString('\n')
	if err != nil {
		return l, err
	}
	return strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r"), nil
}

// ReadN reads exactly n bytes.
func (r *Raw) ReadN(n int) ([]byte, error) {
	_ = r.Conn.SetReadDeadline(time.Now().Add(r.Timeout))
	b := make([]byte, n)
	_, err := io.ReadFull(r.R, b)
	return b, err
}

// Closed waits up to timeout for the peer to close the connection. It
// returns nil on EOF or reset, and an error if data arrives (the data is in
// the message) or the connection is still open at the deadline.
func (r *Raw) Closed(timeout time.Duration) error {
	if n := r.R.Buffered(); n > 0 {
		b, _ := r.R.Peek(n)
		return fmt.Errorf("connection not closed: %d unread bytes %q", n, b)
	}
	_ = r.Conn.SetReadDeadline(time.Now().Add(timeout))
	b := make([]byte, 4096)
	n, err := r.R.Read(b)
	switch {
	case n > 0:
		return fmt.Errorf("connection not closed: got %q", b[:n])
	case err == io.EOF, errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("connection still open after %v", timeout)
	default:
		return nil // any other read error: the connection is unusable
	}
}

// ExpectClosed fails the test unless the peer closes the connection within
// timeout without sending anything first.
func (r *Raw) ExpectClosed(timeout time.Duration) {
	r.t.Helper()
	if err := r.Closed(timeout); err != nil {
		r.t.Fatalf("testutil.Raw.ExpectClosed: %v", err)
	}
}

// Close closes the connection (it is also closed at the end of the test).
func (r *Raw) Close() error { return r.Conn.Close() }

// RedisDo is a one-shot raw command: dial addr, send args as RESP, read one
// reply with a DefaultIOTimeout deadline, close. It returns the raw reply.
func RedisDo(addr string, args ...string) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, DefaultIOTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(DefaultIOTimeout))
	if _, err := c.Write(Command(args...)); err != nil {
		return nil, err
	}
	return ReadReply(bufio.NewReader(c))
}

// Command encodes args as a RESP array of bulk strings.
func Command(args ...string) []byte {
	var b bytes.Buffer
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.Bytes()
}

const maxRESPLen = 512 << 20

// ReadReply reads exactly one complete RESP2/RESP3 value from br, nested
// aggregates included, and returns its raw bytes. A RESP3 attribute ("|")
// is returned together with the value it annotates.
func ReadReply(br *bufio.Reader) ([]byte, error) {
	var out []byte
	err := readValue(br, &out, 0)
	return out, err
}

func readValue(br *bufio.Reader, out *[]byte, depth int) error {
	if depth > 64 {
		return errors.New("resp: nesting too deep")
	}
	start := len(*out)
	for {
		frag, err := br.ReadSlice('\n')
		*out = append(*out, frag...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(*out)-start > maxRESPLen {
				return errors.New("resp: line too long")
			}
			continue
		}
		if err == io.EOF && len(*out) > start {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	line := (*out)[start:]
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("resp: malformed line %q", line)
	}
	typ, body := line[0], string(line[1:len(line)-2])
	switch typ {
	case '+', '-', ':', '_', '#', ',', '(':
		return nil
	case '$', '!', '=':
		n, err := respLen(body)
		if err != nil || n < 0 {
			return err
		}
		bstart := len(*out)
		*out = append(*out, make([]byte, n+2)...)
		if _, err := io.ReadFull(br, (*out)[bstart:]); err != nil {
			return err
		}
		if string((*out)[len(*out)-2:]) != "\r\n" {
			return fmt.Errorf("resp: bulk of %d bytes not followed by CRLF", n)
		}
		return nil
	case '*', '~', '>', '%', '|':
		n, err := respLen(body)
		if err != nil || n < 0 {
			return err
		}
		if typ == '%' || typ == '|' {
			n *= 2
		}
		for range n {
			if err := readValue(br, out, depth+1); err != nil {
				return err
			}
		}
		if typ == '|' { // an attribute precedes the actual reply
			return readValue(br, out, depth+1)
		}
		return nil
	default:
		return fmt.Errorf("resp: unknown type byte %q in %q", typ, line)
	}
}

func respLen(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > maxRESPLen {
		return 0, fmt.Errorf("resp: bad length %q", s)
	}
	return n, nil
}
