package memcache

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// binReq builds a request packet.
func binReq(op Opcode, extras, key, value string, opaque uint32, cas uint64) []byte {
	body := len(extras) + len(key) + len(value)
	b := AppendBinaryHeader(nil, MagicRequest, op, uint16(len(key)), uint8(len(extras)), 0, uint32(body), opaque, cas)
	b = append(b, extras...)
	b = append(b, key...)
	return append(b, value...)
}

func TestBinaryHeaderMatchesSpecExamples(t *testing.T) {
	// The binary protocol spec's examples: get "Hello", and add "Hello" =
	// "World" with flags 0xdeadbeef and expiry 7200.
	get := unhex("80 00 0005 00 00 0000 00000005 00000000 0000000000000000 48656c6c6f")
	require.Equal(t, get, binReq(OpGet, "", "Hello", "", 0, 0))
	add := unhex("80 02 0005 08 00 0000 00000012 00000000 0000000000000000 deadbeef 00001c20 48656c6c6f 576f726c64")
	require.Equal(t, add, binReq(OpAdd, "\xde\xad\xbe\xef\x00\x00\x1c\x20", "Hello", "World", 0, 0))
	// The spec's "not found" response to get.
	notFound := unhex("81 00 0000 00 00 0001 00000009 00000000 0000000000000000 4e6f7420666f756e64")
	require.Equal(t, notFound, AppendBinaryError(nil, OpGet, StatusKeyNotFound, 0, "Not found"))
}

type binWant struct {
	op                 Opcode
	key, extras, value string
	opaque             uint32
	cas                uint64
	flags, exptime     uint32
	delta, initial     uint64
	quiet, quietGet    bool
}

func binaryGolden() []struct {
	in []byte
	w  binWant
} {
	ext8 := "\x00\x00\x00\x07\x00\x00\x0e\x10"    // flags 7, exptime 3600
	ext20 := "\x00\x00\x00\x00\x00\x00\x00\x05" + // delta 5
		"\x00\x00\x00\x00\x00\x00\x00\x01" + // initial 1
		"\xff\xff\xff\xff" // exptime: fail if missing
	ext4 := "\x00\x00\x00\x0a"
	type g = struct {
		in []byte
		w  binWant
	}
	gs := []g{}
	for _, op := range []Opcode{OpGet, OpGetQ, OpGetK, OpGetKQ, OpDelete, OpDeleteQ} {
		gs = append(gs, g{binReq(op, "", "key", "", 0xdeadbeef, 0), binWant{op: op, key: "key", opaque: 0xdeadbeef}})
	}
	for _, op := range []Opcode{OpSet, OpAdd, OpReplace, OpSetQ, OpAddQ, OpReplaceQ} {
		gs = append(gs, g{binReq(op, ext8, "k", "value", 1, 99), binWant{op: op, key: "k", extras: ext8, value: "value", opaque: 1, cas: 99, flags: 7, exptime: 3600}})
	}
	gs = append(gs, g{binReq(OpSet, ext8, "k", "", 1, 0), binWant{op: OpSet, key: "k", extras: ext8, opaque: 1, flags: 7, exptime: 3600}})
	for _, op := range []Opcode{OpIncrement, OpDecrement, OpIncrementQ, OpDecrementQ} {
		gs = append(gs, g{binReq(op, ext20, "n", "", 2, 0), binWant{op: op, key: "n", extras: ext20, opaque: 2, delta: 5, initial: 1, exptime: 0xffffffff}})
	}
	for _, op := range []Opcode{OpAppend, OpPrepend, OpAppendQ, OpPrependQ} {
		gs = append(gs, g{binReq(op, "", "k", "tail", 3, 0), binWant{op: op, key: "k", value: "tail", opaque: 3}})
	}
	for _, op := range []Opcode{OpTouch, OpGAT, OpGATQ, OpGATK, OpGATKQ} {
		gs = append(gs, g{binReq(op, ext4, "k", "", 4, 0), binWant{op: op, key: "k", extras: ext4, opaque: 4, exptime: 10}})
	}
	for _, op := range []Opcode{OpQuit, OpQuitQ, OpNoop, OpVersion} {
		gs = append(gs, g{binReq(op, "", "", "", 5, 0), binWant{op: op, opaque: 5}})
	}
	gs = append(gs, g{binReq(OpGet, "", strings.Repeat("k", 250), "", 0, 0), binWant{op: OpGet, key: strings.Repeat("k", 250)}})
	gs = append(gs, g{binReq(OpGet, "", "a b\r\n\x00", "", 0, 0), binWant{op: OpGet, key: "a b\r\n\x00"}}) // binary keys may hold any byte
	for i := range gs {
		op := gs[i].w.op
		gs[i].w.quiet = op == OpGetQ || op == OpGetKQ || op == OpGATQ || op == OpGATKQ || op == OpDeleteQ ||
			op == OpSetQ || op == OpAddQ || op == OpReplaceQ || op == OpIncrementQ || op == OpDecrementQ ||
			op == OpAppendQ || op == OpPrependQ || op == OpQuitQ
		gs[i].w.quietGet = op == OpGetQ || op == OpGetKQ || op == OpGATQ || op == OpGATKQ
	}
	return gs
}

func checkBinReq(t *testing.T, r *BinaryRequest, w binWant) {
	t.Helper()
	require.Equal(t, w.op, r.Op)
	require.Equal(t, w.key, string(r.Key), "%v", w.op)
	require.Equal(t, w.extras, string(r.Extras), "%v", w.op)
	require.Equal(t, w.value, string(r.Value), "%v", w.op)
	require.Equal(t, w.opaque, r.Opaque)
	require.Equal(t, w.cas, r.Cas)
	require.Equal(t, w.flags, r.Flags)
	require.Equal(t, w.exptime, r.Exptime)
	require.Equal(t, w.delta, r.Delta)
	require.Equal(t, w.initial, r.Initial)
	require.Equal(t, w.quiet, r.Quiet(), "%v quiet", w.op)
	require.Equal(t, w.quietGet, r.Op.QuietGet(), "%v quiet get", w.op)
}

func TestBinaryParseGolden(t *testing.T) {
	for _, g := range binaryGolden() {
		var p BinaryParser
		var r BinaryRequest
		for range 2 {
			n, err := p.Parse(g.in, &r)
			require.NoError(t, err, "%v", g.w.op)
			require.Equal(t, len(g.in), n)
			checkBinReq(t, &r, g.w)
		}
		piped := append(append([]byte{}, g.in...), binReq(OpNoop, "", "", "", 0, 0)...)
		n, err := p.Parse(piped, &r)
		require.NoError(t, err)
		require.Equal(t, len(g.in), n)
		checkBinReq(t, &r, g.w)
		require.Equal(t, g.w.key, string(BinaryKeyOf(g.in)))
		require.Equal(t, g.w.opaque, BinaryOpaqueOf(g.in))
		require.Equal(t, g.w.op, BinaryOpcodeOf(g.in))

		for i := 0; i < len(g.in); i++ {
			n, err := p.Parse(append([]byte{}, g.in[:i]...), &r)
			require.Equal(t, ErrIncomplete, err, "%v at %d", g.w.op, i)
			require.Zero(t, n)
			require.Greater(t, p.Need(), i)
			require.LessOrEqual(t, p.Need(), len(g.in))
		}
		n, err = p.Parse(g.in, &r)
		require.NoError(t, err)
		require.Equal(t, len(g.in), n)
		checkBinReq(t, &r, g.w)
	}
}

func TestBinaryParseMalformed(t *testing.T) {
	f := func(in []byte, wantErr *Error, wantN int, wantOp Opcode) {
		t.Helper()
		var p BinaryParser
		var r BinaryRequest
		// The error must come from the header alone.
		n, err := p.Parse(in[:BinaryHeaderLen], &r)
		require.Equal(t, wantErr, err, "%x", in)
		if !wantErr.Close() {
			require.Equal(t, wantN, n)
		}
		require.Equal(t, wantOp, r.Op)
		n2, err := p.Parse(in, &r)
		require.Equal(t, wantErr, err)
		require.Equal(t, n, n2)
	}
	bad := binReq(OpGet, "", "k", "", 0, 0)
	bad[0] = 0x81
	f(bad, ErrBadMagic, 0, OpGet)
	// extras + key longer than the body.
	h := AppendBinaryHeader(nil, MagicRequest, OpGet, 10, 0, 0, 5, 0, 0)
	f(append(h, "12345"...), ErrBinaryLengths, 29, OpGet)
	h = AppendBinaryHeader(nil, MagicRequest, OpSet, 2, 8, 0, 9, 0, 0)
	f(append(h, "123456789"...), ErrBinaryLengths, 33, OpSet)
	f(binReq(0x50, "", "k", "xyz", 7, 0), ErrBinaryUnknown, 28, 0x50)
	f(binReq(0x1f, "", "", "", 7, 0), ErrBinaryUnknown, 24, 0x1f)
	f(binReq(OpFlush, "\x00\x00\x00\x00", "", "", 7, 0), ErrBinaryNotSupp, 28, OpFlush)
	f(binReq(OpStat, "", "items", "", 7, 0), ErrBinaryNotSupp, 29, OpStat)
	f(binReq(OpSASLAuth, "", "PLAIN", "x", 7, 0), ErrBinaryNotSupp, 30, OpSASLAuth)
	f(binReq(OpGet, "", strings.Repeat("k", 251), "", 0, 0), ErrBinaryKeyLength, 24+251, OpGet)
	// A value over the limit is rejected from the header alone.
	huge := AppendBinaryHeader(nil, MagicRequest, OpSet, 1, 8, 0, 9+DefaultMaxValueLen+1, 0, 0)
	f(huge, ErrBinaryTooLarge, 24+9+DefaultMaxValueLen+1, OpSet)
	maxBody := AppendBinaryHeader(nil, MagicRequest, OpSet, 1, 8, 0, 0xffffffff, 0, 0)
	f(maxBody, ErrBinaryTooLarge, 24+0xffffffff, OpSet)
	// Shapes.
	f(binReq(OpGet, "", "", "", 0, 0), ErrBinaryArgs, 24, OpGet)
	f(binReq(OpGet, "x", "k", "", 0, 0), ErrBinaryArgs, 26, OpGet)
	f(binReq(OpGet, "", "k", "v", 0, 0), ErrBinaryArgs, 26, OpGet)
	f(binReq(OpSet, "", "k", "v", 0, 0), ErrBinaryArgs, 26, OpSet)
	f(binReq(OpSet, "1234", "k", "v", 0, 0), ErrBinaryArgs, 30, OpSet)
	f(binReq(OpIncrement, "12345678", "k", "", 0, 0), ErrBinaryArgs, 33, OpIncrement)
	f(binReq(OpDelete, "", "k", "v", 0, 0), ErrBinaryArgs, 26, OpDelete)
	f(binReq(OpTouch, "", "k", "", 0, 0), ErrBinaryArgs, 25, OpTouch)
	f(binReq(OpNoop, "", "k", "", 0, 0), ErrBinaryArgs, 25, OpNoop)
	f(binReq(OpVersion, "", "", "v", 0, 0), ErrBinaryArgs, 25, OpVersion)

	var p BinaryParser
	p.Limits.MaxValueLen = 3
	var r BinaryRequest
	n, err := p.Parse(binReq(OpAppend, "", "k", "four", 0, 0), &r)
	require.Equal(t, ErrBinaryTooLarge, err)
	require.Equal(t, 29, n)
}

func TestBinaryErrorResponse(t *testing.T) {
	var p BinaryParser
	var r BinaryRequest
	_, err := p.Parse(binReq(0x50, "", "", "", 0x01020304, 0), &r)
	require.Equal(t, ErrBinaryUnknown, err)
	resp := ErrBinaryUnknown.AppendBinary(nil, r.Op, r.Opaque)
	require.Equal(t, unhex("81 50 0000 00 00 0081 0000000f 01020304 0000000000000000")[:24], resp[:24])
	require.Equal(t, "unknown command", string(resp[24:]))
	n, need, err := ScanBinaryReply(resp)
	require.NoError(t, err)
	require.Zero(t, need)
	require.Equal(t, len(resp), n)
	require.Equal(t, StatusUnknownCommand, BinaryStatusOf(resp))
	SetBinaryOpaque(resp, 9)
	require.Equal(t, uint32(9), BinaryOpaqueOf(resp))
	require.Equal(t, unhex("80 0a 0000 00 00 0000 00000000 00000007 0000000000000000"), AppendBinaryNoop(nil, 7))
}

func binResp(op Opcode, status uint16, extras, key, value string, opaque uint32, cas uint64) []byte {
	body := len(extras) + len(key) + len(value)
	b := AppendBinaryHeader(nil, MagicResponse, op, uint16(len(key)), uint8(len(extras)), status, uint32(body), opaque, cas)
	b = append(b, extras...)
	b = append(b, key...)
	return append(b, value...)
}

func binaryReplyGolden() [][]byte {
	return [][]byte{
		binResp(OpGet, 0, "\x00\x00\x00\x01", "", "value", 1, 5),
		binResp(OpGetK, 0, "\x00\x00\x00\x01", "key", "value", 1, 5),
		binResp(OpGet, StatusKeyNotFound, "", "", "Not found", 1, 0),
		binResp(OpSet, 0, "", "", "", 2, 77),
		binResp(OpIncrement, 0, "", "", "\x00\x00\x00\x00\x00\x00\x00\x06", 3, 1),
		binResp(OpVersion, 0, "", "", "1.6.18", 4, 0),
		binResp(OpNoop, 0, "", "", "", 5, 0),
	}
}

func TestScanBinaryReply(t *testing.T) {
	for _, in := range binaryReplyGolden() {
		n, need, err := ScanBinaryReply(in)
		require.NoError(t, err)
		require.Equal(t, len(in), n)
		require.Zero(t, need)
		for i := 0; i < len(in); i++ {
			n, need, err := ScanBinaryReply(in[:i])
			require.Equal(t, ErrIncomplete, err)
			require.Zero(t, n)
			require.Greater(t, need, i)
			require.LessOrEqual(t, need, len(in))
		}
	}
	bad := func(in []byte) {
		t.Helper()
		_, _, err := ScanBinaryReply(in)
		require.Equal(t, ErrBadReply, err, "%x", in)
	}
	bad(binReq(OpGet, "", "k", "", 0, 0))
	bad([]byte{0x80})
	bad(AppendBinaryHeader(nil, MagicResponse, OpGet, 5, 4, 0, 8, 0, 0))
	bad(AppendBinaryHeader(nil, MagicResponse, OpGet, 0, 0, 0, MaxBinaryReplyBody+1, 0, 0))
}

func TestOpcodeTable(t *testing.T) {
	for op := 0; op < 256; op++ {
		o := Opcode(op)
		if !o.Known() {
			require.Equal(t, "unknown", o.String())
			require.False(t, o.Supported())
			require.Equal(t, o, o.Loud())
			continue
		}
		require.False(t, o.Loud().Quiet(), "%v", o)
		if o.Quiet() {
			require.NotEqual(t, o, o.Loud())
			require.Equal(t, o.Loud().String()+"q", o.String())
		}
	}
	require.Nil(t, BinaryKeyOf(binReq(OpNoop, "", "", "", 0, 0)))
	require.Nil(t, BinaryKeyOf(binReq(OpGet, "", "key", "", 0, 0)[:25]))
}
