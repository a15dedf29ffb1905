package memcache

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// textReplyGolden: replies as memcached 1.6 sends them (see
// TestMemcachedTextGolden, which checks the shapes against a live server).
var textReplyGolden = []struct {
	cmd TextCmd
	in  string
}{
	{CmdGet, "END\r\n"},
	{CmdGet, "VALUE k 0 5\r\nhello\r\nEND\r\n"},
	{CmdGet, "VALUE a 1 1\r\nx\r\nVALUE b 4294967295 0\r\n\r\nEND\r\n"},
	{CmdGet, "VALUE k 0 4\r\na\r\nb\r\nEND\r\n"},
	{CmdGets, "VALUE k 0 1 12\r\nx\r\nEND\r\n"},
	{CmdGat, "VALUE k 0 1\r\nx\r\nEND\r\n"},
	{CmdGats, "VALUE k 0 1 18446744073709551615\r\nx\r\nEND\r\n"},
	{CmdGet, "SERVER_ERROR out of memory\r\n"},
	{CmdGet, "VALUE k 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n"},
	{CmdGet, "CLIENT_ERROR bad command line format\r\n"},
	{CmdGet, "ERROR\r\n"},
	{CmdSet, "STORED\r\n"},
	{CmdAdd, "NOT_STORED\r\n"},
	{CmdCas, "EXISTS\r\n"},
	{CmdCas, "NOT_FOUND\r\n"},
	{CmdAppend, "STORED\r\n"},
	{CmdPrepend, "NOT_STORED\r\n"},
	{CmdReplace, "SERVER_ERROR object too large for cache\r\n"},
	{CmdIncr, "18446744073709551615\r\n"},
	{CmdDecr, "0\r\n"},
	{CmdIncr, "9 \r\n"},
	{CmdIncr, "NOT_FOUND\r\n"},
	{CmdIncr, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"},
	{CmdDelete, "DELETED\r\n"},
	{CmdDelete, "NOT_FOUND\r\n"},
	{CmdTouch, "TOUCHED\r\n"},
	{CmdTouch, "NOT_FOUND\r\n"},
	{CmdVersion, "VERSION 1.6.18\r\n"},
	{CmdVersion, "ERROR\r\n"},
}

func TestScanTextReplyGolden(t *testing.T) {
	for _, g := range textReplyGolden {
		in := []byte(g.in)
		n, need, err := ScanTextReply(g.cmd, in)
		require.NoError(t, err, "%v %q", g.cmd, g.in)
		require.Equal(t, len(in), n, "%v %q", g.cmd, g.in)
		require.Zero(t, need)
		// Pipelined.
		n, _, err = ScanTextReply(g.cmd, append(append([]byte{}, in...), "STORED\r\n"...))
		require.NoError(t, err)
		require.Equal(t, len(in), n)

		// Growing prefixes with one scanner, and a fresh scan split at
		// every offset.
		var s TextReplyScanner
		for i := 0; i < len(in); i++ {
			n, need, err := s.Scan(g.cmd, append([]byte{}, in[:i]...))
			require.Equal(t, ErrIncomplete, err, "%v %q at %d", g.cmd, g.in, i)
			require.Zero(t, n)
			require.Greater(t, need, i)
			require.LessOrEqual(t, need, len(in))
			n, _, err = ScanTextReply(g.cmd, in[:i])
			require.Equal(t, ErrIncomplete, err)
			require.Zero(t, n)
		}
		n, _, err = s.Scan(g.cmd, in)
		require.NoError(t, err)
		require.Equal(t, len(in), n)
	}
}

func TestScanTextReplyNeedSkipsValue(t *testing.T) {
	in := []byte("VALUE a 0 1\r\nx\r\nVALUE big 0 1000000\r\n" + strings.Repeat("v", 1000000) + "\r\nEND\r\n")
	var s TextReplyScanner
	_, need, err := s.Scan(CmdGet, in[:100])
	require.Equal(t, ErrIncomplete, err)
	require.Equal(t, len(in)-5, need, "to the end of the big block")
	_, need, err = s.Scan(CmdGet, in[:need])
	require.Equal(t, ErrIncomplete, err)
	require.Equal(t, len(in)-4, need)
	n, _, err := s.Scan(CmdGet, in)
	require.NoError(t, err)
	require.Equal(t, len(in), n)
}

func TestScanTextReplyBad(t *testing.T) {
	f := func(cmd TextCmd, in string) {
		t.Helper()
		n, _, err := ScanTextReply(cmd, []byte(in))
		require.Equal(t, ErrBadReply, err, "%v %q", cmd, in)
		require.Zero(t, n)
		require.True(t, ErrBadReply.Close())
	}
	f(CmdGet, "STORED\r\n")
	f(CmdGet, "VALUE k 0 2\r\nabc\r\nEND\r\n")
	f(CmdGet, "VALUE k 0\r\n\r\nEND\r\n")
	f(CmdGet, "VALUE k 0 x\r\n\r\nEND\r\n")
	f(CmdGet, "VALUE k 0 -1\r\n\r\nEND\r\n")
	f(CmdGet, "VALUE k 0 1 x\r\na\r\nEND\r\n")
	f(CmdGet, "VALUE k 0 1 1 1\r\na\r\nEND\r\n")
	f(CmdGet, "VALUE k 0 2000000000\r\n")
	f(CmdGet, "END\n")
	f(CmdGet, "\r\n")
	f(CmdSet, "DELETED\r\n")
	f(CmdSet, "STORED\n")
	f(CmdIncr, "x\r\n")
	f(CmdIncr, "-1\r\n")
	f(CmdDelete, "STORED\r\n")
	f(CmdTouch, "DELETED\r\n")
	f(CmdVersion, "VERSION\r\n")
	f(CmdQuit, "ERROR\r\n")
	f(CmdSet, strings.Repeat("S", maxReplyLine+1))
}

func TestTextValues(t *testing.T) {
	in := []byte("VALUE a 1 1 5\r\nx\r\nVALUE bb 0 0\r\n\r\nEND\r\n")
	n, _, err := ScanTextReply(CmdGets, in)
	require.NoError(t, err)
	require.Equal(t, len(in), n)
	it := NewTextValues(in)
	var v TextValue
	require.True(t, it.Next(&v))
	require.Equal(t, TextValue{Key: []byte("a"), Flags: 1, Cas: 5, HasCas: true, Data: []byte("x"), Block: []byte("VALUE a 1 1 5\r\nx\r\n")}, v)
	require.True(t, it.Next(&v))
	require.Equal(t, "bb", string(v.Key))
	require.False(t, v.HasCas)
	require.Equal(t, "VALUE bb 0 0\r\n\r\n", string(v.Block))
	require.Empty(t, v.Data)
	require.False(t, it.Next(&v))
	require.Equal(t, "END\r\n", string(it.Rest()))

	it = NewTextValues([]byte("SERVER_ERROR x\r\n"))
	require.False(t, it.Next(&v))
	require.Equal(t, "SERVER_ERROR x\r\n", string(it.Rest()))
}

// TestMergeSplitGet shows how the engine merges the replies of a get split
// over two servers back into the order the keys were asked.
func TestMergeSplitGet(t *testing.T) {
	var p TextParser
	var r TextRequest
	_, err := p.Parse([]byte("get k1 k2 k3\r\n"), &r)
	require.NoError(t, err)
	// k1, k3 -> server A; k2 -> server B.
	reqA := AppendGet(nil, r.Cmd, r.Exptime, r.Keys[0], r.Keys[2])
	reqB := AppendGet(nil, r.Cmd, r.Exptime, r.Keys[1])
	require.Equal(t, "get k1 k3\r\n", string(reqA))
	require.Equal(t, "get k2\r\n", string(reqB))
	replyA := []byte("VALUE k1 0 1\r\na\r\nVALUE k3 0 1\r\nc\r\nEND\r\n")
	replyB := []byte("END\r\n")
	blocks := map[string][]byte{}
	for _, rep := range [][]byte{replyA, replyB} {
		it := NewTextValues(rep)
		var v TextValue
		for it.Next(&v) {
			blocks[string(v.Key)] = v.Block
		}
	}
	var out []byte
	for _, k := range r.Keys {
		out = append(out, blocks[string(k)]...)
	}
	out = AppendEnd(out)
	require.Equal(t, "VALUE k1 0 1\r\na\r\nVALUE k3 0 1\r\nc\r\nEND\r\n", string(out))
}

func TestTextEncoders(t *testing.T) {
	k := [][]byte{[]byte("a"), []byte("b")}
	require.Equal(t, "get a b\r\n", string(AppendGet(nil, CmdGet, 0, k...)))
	require.Equal(t, "gets a\r\n", string(AppendGet(nil, CmdGets, 0, k[0])))
	require.Equal(t, "gat -5 a b\r\n", string(AppendGet(nil, CmdGat, -5, k...)))
	require.Equal(t, "gats 10 b\r\n", string(AppendGet(nil, CmdGats, 10, k[1])))
	require.Equal(t, "END\r\n", string(AppendEnd(nil)))
	require.Equal(t, "VALUE a 3 2 9\r\nxy\r\n", string(AppendValue(nil, k[0], 3, []byte("xy"), 9, true)))
	require.Equal(t, "VALUE a 3 0\r\n\r\n", string(AppendValue(nil, k[0], 3, nil, 9, false)))
	require.Equal(t, "set a 1 2 2 noreply\r\nxy\r\n", string(AppendStore(nil, CmdSet, k[0], 1, 2, []byte("xy"), 0, true)))
	require.Equal(t, "cas a 1 -1 1 77\r\nx\r\n", string(AppendStore(nil, CmdCas, k[0], 1, -1, []byte("x"), 77, false)))
	require.Equal(t, "SERVER_ERROR timeout\r\n", string(AppendServerError(nil, "timeout")))
	require.Equal(t, "CLIENT_ERROR x\r\n", string(AppendClientError(nil, "x")))
	require.Panics(t, func() { AppendGetHeader(nil, CmdSet, 0) })
	require.Panics(t, func() { AppendStore(nil, CmdGet, nil, 0, 0, nil, 0, false) })

	// Round trip through the parser.
	var p TextParser
	var r TextRequest
	in := AppendStore(nil, CmdCas, []byte("key"), 7, 100, []byte("val\r\n"), 42, true)
	n, err := p.Parse(in, &r)
	require.NoError(t, err)
	require.Equal(t, len(in), n)
	checkTextReq(t, string(in), &r, want{cmd: CmdCas, keys: []string{"key"}, flags: 7, exptime: 100, cas: 42, noreply: true, data: "val\r\n"})
}
