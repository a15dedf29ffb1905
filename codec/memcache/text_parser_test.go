package memcache

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// want describes the expected parse of a text request.
type want struct {
	cmd     TextCmd
	keys    []string
	noreply bool
	flags   uint32
	exptime int64
	cas     uint64
	delta   uint64
	data    string // checked for storage commands
}

func checkTextReq(t *testing.T, in string, r *TextRequest, w want) {
	t.Helper()
	require.Equal(t, w.cmd, r.Cmd, "%q", in)
	keys := make([]string, len(r.Keys))
	for i, k := range r.Keys {
		keys[i] = string(k)
	}
	if len(w.keys) == 0 {
		require.Empty(t, keys, "%q", in)
	} else {
		require.Equal(t, w.keys, keys, "%q", in)
	}
	require.Equal(t, w.noreply, r.NoReply, "%q noreply", in)
	require.Equal(t, w.flags, r.Flags, "%q flags", in)
	require.Equal(t, w.exptime, r.Exptime, "%q exptime", in)
	require.Equal(t, w.cas, r.Cas, "%q cas", in)
	require.Equal(t, w.delta, r.Delta, "%q delta", in)
	if w.cmd.IsStorage() {
		require.Equal(t, w.data, string(r.Data), "%q data", in)
		require.Equal(t, len(w.data), r.Bytes, "%q bytes", in)
	} else {
		require.Nil(t, r.Data, "%q data", in)
	}
}

// textGolden holds every request form the parser accepts. Each is complete;
// the whole string is one request.
var textGolden = []struct {
	in string
	w  want
}{
	{"get k\r\n", want{cmd: CmdGet, keys: []string{"k"}}},
	{"get k\n", want{cmd: CmdGet, keys: []string{"k"}}}, // memcached accepts a bare LF
	{"get a bb ccc\r\n", want{cmd: CmdGet, keys: []string{"a", "bb", "ccc"}}},
	{"get  a   b  \r\n", want{cmd: CmdGet, keys: []string{"a", "b"}}},
	{"gets k1 k2\r\n", want{cmd: CmdGets, keys: []string{"k1", "k2"}}},
	{"gat 100 k1 k2\r\n", want{cmd: CmdGat, exptime: 100, keys: []string{"k1", "k2"}}},
	{"gats -1 k\r\n", want{cmd: CmdGats, exptime: -1, keys: []string{"k"}}},
	{"get " + strings.Repeat("k", 250) + "\r\n", want{cmd: CmdGet, keys: []string{strings.Repeat("k", 250)}}},
	{"get k\xc3\xa9\r\n", want{cmd: CmdGet, keys: []string{"k\xc3\xa9"}}},
	{"set k 0 0 5\r\nhello\r\n", want{cmd: CmdSet, keys: []string{"k"}, data: "hello"}},
	{"set k 4294967295 3600 2 noreply\r\nab\r\n", want{cmd: CmdSet, keys: []string{"k"}, flags: 4294967295, exptime: 3600, noreply: true, data: "ab"}},
	{"set k 1 -1 0\r\n\r\n", want{cmd: CmdSet, keys: []string{"k"}, flags: 1, exptime: -1, data: ""}},
	{"set k 0 0 4\r\na\r\nb\r\n", want{cmd: CmdSet, keys: []string{"k"}, data: "a\r\nb"}},
	{"set k 0 0 1 whatever\r\nx\r\n", want{cmd: CmdSet, keys: []string{"k"}, data: "x"}}, // memcached ignores a last token other than noreply
	{"add k 2 3 1\r\nx\r\n", want{cmd: CmdAdd, keys: []string{"k"}, flags: 2, exptime: 3, data: "x"}},
	{"replace k 0 0 1\r\nx\r\n", want{cmd: CmdReplace, keys: []string{"k"}, data: "x"}},
	{"append k 0 0 1\r\nx\r\n", want{cmd: CmdAppend, keys: []string{"k"}, data: "x"}},
	{"prepend k 0 0 1 noreply\r\nx\r\n", want{cmd: CmdPrepend, keys: []string{"k"}, noreply: true, data: "x"}},
	{"cas k 0 0 1 18446744073709551615\r\nx\r\n", want{cmd: CmdCas, keys: []string{"k"}, cas: 1<<64 - 1, data: "x"}},
	{"cas k 0 0 1 7 noreply\r\nx\r\n", want{cmd: CmdCas, keys: []string{"k"}, cas: 7, noreply: true, data: "x"}},
	{"incr k 1\r\n", want{cmd: CmdIncr, keys: []string{"k"}, delta: 1}},
	{"incr k 18446744073709551615 noreply\r\n", want{cmd: CmdIncr, keys: []string{"k"}, delta: 1<<64 - 1, noreply: true}},
	{"decr k 10\r\n", want{cmd: CmdDecr, keys: []string{"k"}, delta: 10}},
	{"delete k\r\n", want{cmd: CmdDelete, keys: []string{"k"}}},
	{"delete k noreply\r\n", want{cmd: CmdDelete, keys: []string{"k"}, noreply: true}},
	{"delete k 0\r\n", want{cmd: CmdDelete, keys: []string{"k"}}},
	{"delete k 0 noreply\r\n", want{cmd: CmdDelete, keys: []string{"k"}, noreply: true}},
	{"touch k 10\r\n", want{cmd: CmdTouch, keys: []string{"k"}, exptime: 10}},
	{"touch k 10 noreply\r\n", want{cmd: CmdTouch, keys: []string{"k"}, exptime: 10, noreply: true}},
	{"version\r\n", want{cmd: CmdVersion}},
	{"version x\r\n", want{cmd: CmdVersion}}, // memcached 1.6.18 answers it
	{"quit\r\n", want{cmd: CmdQuit}},
}

func TestTextParseGolden(t *testing.T) {
	var p TextParser
	var r TextRequest
	for _, g := range textGolden {
		in := []byte(g.in)
		// Twice into the same objects: the second parse proves the reset.
		for range 2 {
			n, err := p.Parse(in, &r)
			require.NoError(t, err, "%q", g.in)
			require.Equal(t, len(in), n, "%q", g.in)
			checkTextReq(t, g.in, &r, g.w)
		}
		// Pipelined: the request is followed by another one.
		piped := append(append([]byte{}, in...), "get next\r\n"...)
		n, err := p.Parse(piped, &r)
		require.NoError(t, err)
		require.Equal(t, len(in), n)
		checkTextReq(t, g.in, &r, g.w)
		n, err = p.Parse(piped[n:], &r)
		require.NoError(t, err)
		require.Equal(t, 10, n)
	}
}

// TestTextParseSplit feeds every golden request in growing prefixes, as the
// engine does, and splits it once at every offset.
func TestTextParseSplit(t *testing.T) {
	for _, g := range textGolden {
		in := []byte(g.in)
		var p TextParser
		var r TextRequest
		// Byte by byte; each call gets a fresh copy so views into an old
		// buffer cannot leak into the result.
		for i := 0; i < len(in); i++ {
			buf := append([]byte{}, in[:i]...)
			n, err := p.Parse(buf, &r)
			require.Equal(t, ErrIncomplete, err, "%q at %d", g.in, i)
			require.Zero(t, n)
			require.Greater(t, p.Need(), i, "%q at %d", g.in, i)
			require.LessOrEqual(t, p.Need(), len(in), "%q at %d", g.in, i)
		}
		n, err := p.Parse(append([]byte{}, in...), &r)
		require.NoError(t, err, "%q", g.in)
		require.Equal(t, len(in), n)
		checkTextReq(t, g.in, &r, g.w)

		for i := 1; i < len(in); i++ {
			var p TextParser
			_, err := p.Parse(in[:i], &r)
			require.Equal(t, ErrIncomplete, err, "%q at %d", g.in, i)
			n, err := p.Parse(in, &r)
			require.NoError(t, err, "%q at %d", g.in, i)
			require.Equal(t, len(in), n)
			checkTextReq(t, g.in, &r, g.w)
		}
	}
}

func TestTextParseNeedSkipsValue(t *testing.T) {
	var p TextParser
	var r TextRequest
	val := bytes.Repeat([]byte("v"), 1<<20)
	in := append([]byte("set big 0 0 1048576\r\n"), val...)
	in = append(in, "\r\n"...)
	_, err := p.Parse(in[:100], &r)
	require.Equal(t, ErrIncomplete, err)
	require.Equal(t, len(in), p.Need(), "the whole request once the line is read")
	_, err = p.Parse(in[:len(in)-1], &r)
	require.Equal(t, ErrIncomplete, err)
	n, err := p.Parse(in, &r)
	require.NoError(t, err)
	require.Equal(t, len(in), n)
	require.Equal(t, "big", string(r.Key()))
	require.Len(t, r.Data, 1<<20)
}

func TestTextParseShorterPrefixRestarts(t *testing.T) {
	var p TextParser
	var r TextRequest
	_, err := p.Parse([]byte("set k 0 0 5\r\nhe"), &r)
	require.Equal(t, ErrIncomplete, err)
	// A caller that did not keep the prefix: the parser starts over.
	n, err := p.Parse([]byte("get x\r\n"), &r)
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Equal(t, CmdGet, r.Cmd)
}

func TestTextParseMalformed(t *testing.T) {
	long := strings.Repeat("k", 251)
	f := func(in string, wantErr *Error, wantN int) {
		t.Helper()
		var p TextParser
		var r TextRequest
		n, err := p.Parse([]byte(in), &r)
		require.Equal(t, wantErr, err, "%q: %v", in, err)
		if wantN < 0 {
			wantN = len(in)
		}
		if !wantErr.Close() {
			require.Equal(t, wantN, n, "%q skip", in)
		}
		require.NotEmpty(t, wantErr.Reply())
	}
	f("foo\r\n", ErrUnknownCommand, -1)
	f("GET k\r\n", ErrUnknownCommand, -1)
	f("\r\n", ErrUnknownCommand, -1)
	f("get\r\n", ErrArity, -1)
	f("gat 10\r\n", ErrArity, -1)
	f("gat x k\r\n", ErrBadTouchTime, -1)
	f("get "+long+"\r\n", ErrKeyTooLong, -1)
	f("get a\tb\r\n", ErrBadKey, -1)
	f("get k\r\r\n", ErrBadKey, -1)
	f("get a\x7f\r\n", ErrBadKey, -1)
	f("stats\r\n", ErrUnsupported, -1)
	f("flush_all 10\r\n", ErrUnsupported, -1)
	f("verbosity 1\r\n", ErrUnsupported, -1)
	f("ms k 2 T0\r\nab\r\n", ErrUnsupported, -1)
	f("ms k x\r\n", ErrBadLength, -1)
	f("mg k v\r\n", ErrUnsupported, -1)
	f("set k 0 0\r\n", ErrStorageArity, -1)
	f("set k 0 0 1 2 3\r\nx\r\n", ErrStorageArity, 17)
	f("cas k 0 0 1\r\nx\r\n", ErrStorageArity, 13)
	f("set k 0 0 -1\r\n", ErrBadLength, -1)
	f("set k 0 0 x\r\n", ErrBadLength, -1)
	f("set k 0 0 99999999999\r\n", ErrBadLength, -1)
	f("set k 0 0 1048577\r\n", ErrValueTooLarge, 19+1048577+2)
	f("set "+long+" 0 0 1\r\nx\r\n", ErrKeyTooLong, -1)
	f("set k 4294967296 0 1\r\nx\r\n", ErrBadFlags, -1)
	f("set k -1 0 1\r\nx\r\n", ErrBadFlags, -1)
	f("set k 0 x 1\r\nx\r\n", ErrBadExptime, -1)
	f("cas k 0 0 1 x\r\nx\r\n", ErrBadCas, -1)
	f("cas k 0 0 1 18446744073709551616\r\nx\r\n", ErrBadCas, -1)
	f("set k 0 0 2\r\nabc\r\n", ErrBadDataChunk, 0)
	f("set k 0 0 2\r\nab\n\n", ErrBadDataChunk, 0)
	f("incr k x\r\n", ErrBadDelta, -1)
	f("incr k -1\r\n", ErrBadDelta, -1)
	f("incr k 18446744073709551616\r\n", ErrBadDelta, -1)
	f("incr k\r\n", ErrArity, -1)
	f("incr k 1 noreply x\r\n", ErrArity, -1)
	f("delete\r\n", ErrArity, -1)
	f("delete k 1\r\n", ErrBadDeleteTime, -1)
	f("delete k 0 x\r\n", ErrBadDeleteTime, -1)
	f("touch k\r\n", ErrArity, -1)
	f("touch k x\r\n", ErrBadTouchTime, -1)
	f(strings.Repeat("x", DefaultMaxLineLen), ErrLineTooLong, 0)
	f(strings.Repeat("x", DefaultMaxLineLen)+"\r\n", ErrLineTooLong, 0)

	// Limits.
	p := TextParser{Limits: Limits{MaxKeys: 2, MaxKeyLen: 3, MaxValueLen: 4, MaxLineLen: 16}}
	var r TextRequest
	n, err := p.Parse([]byte("get a b c\r\n"), &r)
	require.Equal(t, ErrTooManyKeys, err)
	require.Equal(t, 11, n)
	_, err = p.Parse([]byte("get abcd\r\n"), &r)
	require.Equal(t, ErrKeyTooLong, err)
	n, err = p.Parse([]byte("set a 0 0 5\r\n"), &r)
	require.Equal(t, ErrValueTooLarge, err)
	require.Equal(t, 13+5+2, n)
	_, err = p.Parse([]byte("get a b c d e f g\r\n"), &r)
	require.Equal(t, ErrLineTooLong, err)
	// The parser is usable after errors.
	n, err = p.Parse([]byte("get a b\r\n"), &r)
	require.NoError(t, err)
	require.Equal(t, 9, n)
}

// TestTextParseErrorThenResync checks the skip length by parsing on after it.
func TestTextParseErrorThenResync(t *testing.T) {
	in := []byte("set k 0 0 1048577\r\n" + strings.Repeat("v", 1048577) + "\r\nset k x 0 2\r\nab\r\nget k\r\n")
	var p TextParser
	var r TextRequest
	n, err := p.Parse(in, &r)
	require.Equal(t, ErrValueTooLarge, err)
	in = in[n:]
	n, err = p.Parse(in, &r)
	require.Equal(t, ErrBadFlags, err)
	in = in[n:]
	n, err = p.Parse(in, &r)
	require.NoError(t, err)
	require.Equal(t, len(in), n)
	require.Equal(t, CmdGet, r.Cmd)
}
