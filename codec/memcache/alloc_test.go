package memcache

import "testing"

func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	get := []byte("get key1 key2 key3 key4\r\n")
	set := []byte("set key 0 0 5\r\nhello\r\n")
	var tp TextParser
	var tr TextRequest
	tp.Parse(get, &tr) // grow Keys once
	check := func(name string, f func()) {
		t.Helper()
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocs, want 0", name, a)
		}
	}
	check("text get", func() { tp.Parse(get, &tr) })
	check("text set", func() { tp.Parse(set, &tr) })
	check("text set in two reads", func() {
		tp.Parse(set[:17], &tr)
		tp.Parse(set, &tr)
	})
	bad := []byte("set k x 0 1\r\na\r\n")
	check("text error", func() { tp.Parse(bad, &tr) })

	var bp BinaryParser
	var br BinaryRequest
	bget := binReq(OpGetK, "", "key", "", 1, 0)
	bset := binReq(OpSet, "\x00\x00\x00\x00\x00\x00\x00\x00", "key", "hello", 1, 0)
	check("binary get", func() { bp.Parse(bget, &br) })
	check("binary set", func() { bp.Parse(bset, &br) })

	getReply := []byte("VALUE key1 0 5\r\nhello\r\nVALUE key2 0 5 7\r\nworld\r\nEND\r\n")
	var s TextReplyScanner
	check("text get reply", func() { s.Scan(CmdGet, getReply) })
	stored := []byte("STORED\r\n")
	check("text set reply", func() { ScanTextReply(CmdSet, stored) })
	check("text values", func() {
		it := NewTextValues(getReply)
		var v TextValue
		for it.Next(&v) {
		}
	})
	bGetReply := binResp(OpGetK, 0, "\x00\x00\x00\x00", "key", "hello", 1, 9)
	check("binary reply", func() { ScanBinaryReply(bGetReply) })

	dst := make([]byte, 0, 256)
	tp.Parse(get, &tr)
	keys := tr.Keys
	check("encode get", func() {
		dst = AppendGet(dst[:0], CmdGat, 100, keys...)
		dst = AppendEnd(dst)
		dst = AppendBinaryError(dst, OpGet, StatusUnknownCommand, 1, "unknown command")
	})
}
