package resp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func strs(args [][]byte) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = string(a)
	}
	return out
}

// checkSplits replays b split at every offset: the prefix must be
// incomplete (or, if wantErr, incomplete or wantErr), and the whole must
// give wantN and wantArgs. It also feeds b one byte at a time.
func checkSplits(t *testing.T, lim Limits, b []byte, wantN int, wantArgs []string, wantErr error) {
	t.Helper()
	var r Request
	for k := 0; k < len(b); k++ {
		p := NewParser(lim)
		n, err := p.Parse(b[:k], &r)
		if wantErr != nil && err == wantErr {
			require.Zero(t, n)
			n, err = p.Parse(b, &r)
			require.Equal(t, wantErr, err, "sticky error after split at %d", k)
			require.Zero(t, n)
			continue
		}
		if k < wantN || wantErr != nil {
			require.ErrorIs(t, err, ErrIncomplete, "prefix %d of %q", k, b)
			require.Zero(t, n)
			require.Greater(t, p.Need(), k)
		} else {
			require.NoError(t, err)
			require.Equal(t, wantN, n)
			continue
		}
		n, err = p.Parse(b, &r)
		if wantErr != nil {
			require.Equal(t, wantErr, err, "split at %d", k)
			continue
		}
		require.NoError(t, err, "split at %d of %q", k, b)
		require.Equal(t, wantN, n)
		require.Equal(t, wantArgs, strs(r.Args))
	}
	// byte by byte, calling only when Need says so
	p := NewParser(lim)
	calls := 0
	for k := 1; k <= len(b); k++ {
		if k < p.Need() {
			continue
		}
		calls++
		n, err := p.Parse(b[:k], &r)
		if err == ErrIncomplete {
			require.Greater(t, p.Need(), k)
			continue
		}
		if wantErr != nil {
			require.Equal(t, wantErr, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, wantN, n)
		require.Equal(t, wantArgs, strs(r.Args))
		return
	}
	t.Fatalf("byte-by-byte: %q never completed", b)
}

func encodeReq(args ...string) []byte {
	b := AppendArrayHeader(nil, len(args))
	for _, a := range args {
		b = AppendBulkString(b, a)
	}
	return b
}

func TestParseMultibulkGolden(t *testing.T) {
	f := func(want string, args ...string) {
		t.Helper()
		b := encodeReq(args...)
		require.Equal(t, want, string(b), "encoding")
		// parse twice into the same Request and Parser to prove reset
		p := NewParser(Limits{})
		var r Request
		for range 2 {
			n, err := p.Parse(b, &r)
			require.NoError(t, err)
			require.Equal(t, len(b), n)
			require.Equal(t, args, strs(r.Args))
			require.False(t, r.Inline)
			require.Equal(t, Lookup([]byte(args[0])), r.Cmd)
		}
		// pipelined: the first request only
		two := append(append([]byte(nil), b...), b...)
		n, err := p.Parse(two, &r)
		require.NoError(t, err)
		require.Equal(t, len(b), n)
		checkSplits(t, Limits{}, b, len(b), args, nil)
	}
	f("*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n", "GET", "foo")
	f("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", "SET", "k", "")
	f("*4\r\n$4\r\nmget\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", "mget", "a", "b", "c")
	f("*1\r\n$4\r\nPING\r\n", "PING")
	f("*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\r\n\r\n", "ECHO", "\r\n\r\n")
	f("*2\r\n$3\r\nGET\r\n$11\r\n*1\r\n$1\r\nx\r\n\r\n", "GET", "*1\r\n$1\r\nx\r\n")
	f("*1\r\n$11\r\nunknown-cmd\r\n", "unknown-cmd")
	long := strings.Repeat("v", 300)
	f("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$300\r\n"+long+"\r\n", "SET", "k", long)
}

func TestParseArgsAreCappedViews(t *testing.T) {
	b := encodeReq("SET", "k", "v")
	var r Request
	p := NewParser(Limits{})
	_, err := p.Parse(b, &r)
	require.NoError(t, err)
	require.Equal(t, len(r.Args[1]), cap(r.Args[1]))
	_ = append(r.Args[1], 'X') // must not clobber the following bytes
	require.Equal(t, encodeReq("SET", "k", "v"), b)
	// views alias b
	b[len(b)-3] = 'w'
	require.Equal(t, "w", string(r.Args[2]))
}

func TestParseInline(t *testing.T) {
	f := func(in string, want ...string) {
		t.Helper()
		b := []byte(in)
		p := NewParser(Limits{})
		var r Request
		for range 2 {
			n, err := p.Parse(b, &r)
			require.NoError(t, err, "%q", in)
			require.Equal(t, len(b), n)
			require.True(t, r.Inline)
			require.Equal(t, want, strs(r.Args), "%q", in)
		}
		checkSplits(t, Limits{}, b, len(b), want, nil)
	}
	f("GET foo\r\n", "GET", "foo")
	f("GET foo\n", "GET", "foo")
	f("  set\tk  v \r\n", "set", "k", "v")
	f("SET k \"a b\"\r\n", "SET", "k", "a b")
	f("SET k \"\\x41\\x4a\\n\\r\\t\\b\\a\\\"\\\\\\q\"\n", "SET", "k", "AJ\n\r\t\b\a\"\\q")
	f("SET k \"\\x4g\"\n", "SET", "k", "x4g")
	f("SET k 'it\\'s \"x\" \\n'\n", "SET", "k", "it's \"x\" \\n")
	f("SET a\"b c\"  x\n", "SET", "ab c", "x")
	f("SET \"\" ''\n", "SET", "", "")
	f("ECHO a\rb\r\n", "ECHO", "a", "b")
	f("SET \"k1\" v \"k2\"\n", "SET", "k1", "v", "k2")
	f("PING\r\n", "PING")
}

func TestParseEmptyRequests(t *testing.T) {
	for _, in := range []string{"*0\r\n", "*-1\r\n", "\r\n", "\n", "   \t \r\n"} {
		var r Request
		r.Args = append(r.Args, []byte("stale"))
		p := NewParser(Limits{})
		n, err := p.Parse([]byte(in+"*1\r\n$4\r\nPING\r\n"), &r)
		require.NoError(t, err, "%q", in)
		require.Equal(t, len(in), n, "%q", in)
		require.Empty(t, r.Args)
		require.Nil(t, r.Cmd)
		checkSplits(t, Limits{}, []byte(in), len(in), []string{}, nil)
	}
}

func TestParseMalformed(t *testing.T) {
	small := Limits{MaxArgs: 4, MaxBulkLen: 16, MaxRequestBytes: 64, MaxInlineLen: 16}
	f := func(lim Limits, in string, want error) {
		t.Helper()
		p := NewParser(lim)
		var r Request
		n, err := p.Parse([]byte(in), &r)
		require.Zero(t, n)
		require.Equal(t, want, err, "%q", in) // immediately, with no more bytes
		var pe *ProtocolError
		require.True(t, errors.As(err, &pe))
		require.True(t, strings.HasPrefix(err.Error(), "ferry: "))
		require.True(t, bytes.HasPrefix(pe.Reply(), []byte("-ERR Protocol error: ")))
		require.True(t, bytes.HasSuffix(pe.Reply(), []byte("\r\n")))
		// sticky
		_, err2 := p.Parse([]byte(in+"*1\r\n$4\r\nPING\r\n"), &r)
		require.Equal(t, want, err2)
		// reported at the first byte that makes it wrong, whatever the split
		checkSplits(t, lim, []byte(in), 0, nil, want)
		p.Reset()
		n, err = p.Parse([]byte("*1\r\n$4\r\nPING\r\n"), &r)
		require.NoError(t, err)
		require.Equal(t, 14, n)
	}
	d := Limits{}
	f(d, "*1\r\n$-2\r\n", ErrInvalidBulkLength)
	f(d, "*1\r\n$-1\r\n", ErrInvalidBulkLength)
	f(d, "*1\r\n$-", ErrInvalidBulkLength)
	f(d, "*999999999999\r\n", ErrTooManyArgs)
	f(d, "*99999999", ErrTooManyArgs)
	f(d, "*1\r\n$99999999999999999999999", ErrBulkTooLong)
	f(d, "*2\r\n3\r\nGET\r\n", ErrExpectedBulk)
	f(d, "*2\r\n$3\r\nGET\r\n:1\r\n", ErrExpectedBulk)
	f(d, "*2\r\n*1\r\n$1\r\nx\r\n", ErrExpectedBulk) // nested array
	f(d, "*1\n$4\r\nPING\r\n", ErrInvalidMultibulkLength)
	f(d, "*1\r\r", ErrInvalidMultibulkLength)
	f(d, "*1\r\n$4\nPING\r\n", ErrInvalidBulkLength)
	f(d, "*1\r\n$4\r\nPINGx\n", ErrBulkMissingCRLF)
	f(d, "*1\r\n$4\r\nPING\rx", ErrBulkMissingCRLF)
	f(d, "*1\r\n$4\r\nPING\n\n", ErrBulkMissingCRLF)
	f(d, "*-2\r\n", ErrInvalidMultibulkLength)
	f(d, "*-10\r\n", ErrInvalidMultibulkLength)
	f(d, "*-0\r\n", ErrInvalidMultibulkLength)
	f(d, "*01\r\n", ErrInvalidMultibulkLength)
	f(d, "*+1\r\n", ErrInvalidMultibulkLength)
	f(d, "*\r\n", ErrInvalidMultibulkLength)
	f(d, "*1x\r\n", ErrInvalidMultibulkLength)
	f(d, "* 1\r\n", ErrInvalidMultibulkLength)
	f(d, "*1\r\n$\r\n", ErrInvalidBulkLength)
	f(d, "*1\r\n$01\r\n", ErrInvalidBulkLength)
	f(d, "*1\r\n$1a\r\n", ErrInvalidBulkLength)
	f(d, "*1\r\n$ 1\r\n", ErrInvalidBulkLength)
	f(d, "SET k \"v\n", ErrUnbalancedQuotes)
	f(d, "SET k 'v\n", ErrUnbalancedQuotes)
	f(d, "SET k \"v\"x\n", ErrUnbalancedQuotes)
	f(d, "SET k 'v'x\n", ErrUnbalancedQuotes)
	f(d, "SET k \"v\\\n", ErrUnbalancedQuotes)
	f(d, "SET a\"b\"c\n", ErrUnbalancedQuotes)
	f(small, "*5\r\n", ErrTooManyArgs)
	f(small, "*1\r\n$17\r\n", ErrBulkTooLong)
	f(small, "*4\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n$16\r\n", ErrRequestTooLarge)
	f(small, "*4\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n$6\r\n", ErrRequestTooLarge)
	f(small, "a b c d e\r\n", ErrTooManyArgs)
	f(small, "GET 0123456789abcdef\r\n", ErrInlineTooLong)
	f(small, "GET 0123456789abcd", ErrInlineTooLong)
	f(Limits{MaxRequestBytes: 20}, "*4\r\n", ErrRequestTooLarge) // 4 + 4*6 > 20
}

func TestParseInlineLimitExact(t *testing.T) {
	lim := Limits{MaxInlineLen: 8}
	var r Request
	// 8 bytes of line, with and without CR, complete and partial
	for _, in := range []string{"GET 1234", "GET 1234\r"} {
		p := NewParser(lim)
		_, err := p.Parse([]byte(in), &r)
		require.ErrorIs(t, err, ErrIncomplete, "%q", in)
		n, err := p.Parse([]byte(in+"\n"), &r)
		require.NoError(t, err)
		require.Equal(t, len(in)+1, n)
	}
}

func TestParseLargeBulkLinear(t *testing.T) {
	const size = 16 << 20
	const chunk = 64 << 10
	b := AppendArrayHeader(nil, 3)
	b = AppendBulkString(b, "SET")
	b = AppendBulkString(b, "key")
	b = append(b, "$16777216\r\n"...)
	b = append(b, bytes.Repeat([]byte{'x'}, size)...)
	b = append(b, "\r\n"...)

	// As the engine drives it: call only when len(buf) >= Need().
	p := NewParser(Limits{})
	var r Request
	calls := 0
	for got := chunk; ; got += chunk {
		got = min(got, len(b))
		if got < p.Need() {
			continue
		}
		calls++
		n, err := p.Parse(b[:got], &r)
		if err == ErrIncomplete {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, len(b), n)
		require.Len(t, r.Args[2], size)
		break
	}
	require.LessOrEqual(t, calls, 2)

	// Called on every chunk anyway: each call must cost O(header), not
	// O(len(b)). 257 rescans of up to 16 MiB would take far longer.
	// Timed three times, the fastest counts: a loaded machine only makes
	// a run slower, never a quadratic rescan faster.
	best := time.Hour
	for range 3 {
		p.Reset()
		start := time.Now()
		for got := chunk; got <= len(b)+chunk; got += chunk {
			_, err := p.Parse(b[:min(got, len(b))], &r)
			if err == nil {
				break
			}
			require.ErrorIs(t, err, ErrIncomplete)
		}
		best = min(best, time.Since(start))
	}
	require.Less(t, best, 50*time.Millisecond)
	require.Len(t, r.Args[2], size)
}

func TestParseManyArgsResume(t *testing.T) {
	// A large MGET arriving in small pieces is scanned once: count the
	// calls the Need protocol allows and check the result.
	args := []string{"MGET"}
	for i := range 1000 {
		args = append(args, strings.Repeat("k", i%50))
	}
	b := encodeReq(args...)
	p := NewParser(Limits{})
	var r Request
	for k := 7; ; k += 7 {
		n, err := p.Parse(b[:min(k, len(b))], &r)
		if err == ErrIncomplete {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, len(b), n)
		require.Equal(t, args, strs(r.Args))
		break
	}
}

func TestParseShorterInputPanics(t *testing.T) {
	p := NewParser(Limits{})
	var r Request
	_, err := p.Parse([]byte("*2\r\n$3\r\nGET\r\n$3"), &r)
	require.ErrorIs(t, err, ErrIncomplete)
	require.Panics(t, func() { _, _ = p.Parse([]byte("*2\r\n"), &r) })
}

func TestParseZeroValueParser(t *testing.T) {
	var p Parser
	var r Request
	n, err := p.Parse([]byte("*1\r\n$4\r\nPING\r\n"), &r)
	require.NoError(t, err)
	require.Equal(t, 14, n)
	_, err = p.Parse(nil, &r)
	require.ErrorIs(t, err, ErrIncomplete)
	require.Equal(t, 1, p.Need())
}

func TestParseAllocs(t *testing.T) {
	for _, b := range [][]byte{
		encodeReq("GET", "foo"),
		encodeReq("SET", "foo", "bar"),
		encodeReq("MGET", "a", "b", "c", "d", "e", "f", "g", "h"),
		[]byte("GET foo\r\n"),
		[]byte("SET foo \"a b\"\r\n"),
	} {
		p := NewParser(Limits{})
		var r Request
		_, err := p.Parse(b, &r) // warm: grows Args and offsets once
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(100, func() {
			// partial first, then complete: the resumable path too
			_, _ = p.Parse(b[:len(b)-1], &r)
			if _, err := p.Parse(b, &r); err != nil {
				panic(err)
			}
		})
		require.Zero(t, allocs, "%q", b)
	}
}
