package memcache

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"
)

func textSeeds(f *testing.F) {
	for _, g := range textGolden {
		f.Add([]byte(g.in))
	}
	for _, s := range []string{
		"", "\n", "\r\n", " \r\n", "get", "get \r\n", "get k", "get k\r", "set k 0 0 -1\r\n",
		"set k 0 0 -2\r\nxx\r\n", "set k 0 0 99999999999999999999\r\n", "set k 0 0 2147483647\r\n",
		"set k 0 0 1048576\r\n", "set k 0 0 0\r\n", "set k 0 0 0\r\nxx", "set k 0 0 1\r\nx\n\n",
		"cas k 0 0 1 -1\r\nx\r\n", "incr k 99999999999999999999\r\n", "gat -9223372036854775808 k\r\n",
		"gat 9223372036854775808 k\r\n", "get " + strings.Repeat("k", 251) + "\r\n", "ms k 5 T\r\nhello\r\n",
		"ms k -1\r\n", "delete k 0 noreply\r\n", "get a\x00b\r\n", "set k 0 0 1\r\n\r\n\r\n",
		"get k\r\nset k 0 0 1\r\nx\r\nget k\r\n", "\x80\x00\x00\x01",
	} {
		f.Add([]byte(s))
	}
}

// FuzzTextParse checks the parser's contract on any input: no panic, sane
// lengths, views inside b, the same result whether b arrives at once or in
// growing prefixes, a skip length that moves forward, and a round trip
// through the encoders.
func FuzzTextParse(f *testing.F) {
	textSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		lim := Limits{MaxLineLen: 4096, MaxValueLen: 4096, MaxKeys: 64}
		p := TextParser{Limits: lim}
		var r TextRequest
		n, err := p.Parse(b, &r)
		switch {
		case err == nil:
			if n <= 0 || n > len(b) {
				t.Fatalf("n=%d len=%d", n, len(b))
			}
			for _, k := range r.Keys {
				if !within(b[:n], k) || len(k) == 0 || len(k) > DefaultMaxKeyLen {
					t.Fatalf("bad key %q", k)
				}
			}
			if r.Cmd.IsStorage() {
				if len(r.Data) != r.Bytes || !within(b[:n], r.Data) || n != r.LineLen+r.Bytes+2 {
					t.Fatalf("bad data %d %d", len(r.Data), r.Bytes)
				}
			}
			roundTrip(t, &r)
		case err == ErrIncomplete:
			if n != 0 || p.Need() <= len(b) {
				t.Fatalf("incomplete: n=%d need=%d len=%d", n, p.Need(), len(b))
			}
		default:
			e := err.(*Error)
			if !e.Close() && n <= 0 {
				t.Fatalf("%v: skip %d does not move forward", e, n)
			}
			if len(e.Reply()) == 0 {
				t.Fatalf("%v: no reply", e)
			}
		}
		if len(b) > 256 {
			return
		}
		// Growing prefixes into one parser: the same outcome.
		q := TextParser{Limits: lim}
		var r2 TextRequest
		var n2 int
		var err2 error
		for i := 0; i <= len(b); i++ {
			n2, err2 = q.Parse(append([]byte(nil), b[:i]...), &r2)
			if err2 != ErrIncomplete {
				break
			}
			if q.Need() <= i {
				t.Fatalf("need %d at %d", q.Need(), i)
			}
		}
		if err2 != err || n2 != n {
			t.Fatalf("whole: %d %v, growing: %d %v", n, err, n2, err2)
		}
		if err == nil && !sameTextReq(&r, &r2) {
			t.Fatalf("whole %+v, growing %+v", r, r2)
		}
	})
}

func within(b, v []byte) bool {
	if len(v) == 0 {
		return true
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	return at >= base && at+uintptr(len(v)) <= base+uintptr(len(b))
}

func sameTextReq(a, b *TextRequest) bool {
	if a.Cmd != b.Cmd || a.NoReply != b.NoReply || a.Flags != b.Flags || a.Exptime != b.Exptime ||
		a.Bytes != b.Bytes || a.Cas != b.Cas || a.Delta != b.Delta || !bytes.Equal(a.Data, b.Data) ||
		len(a.Keys) != len(b.Keys) || a.LineLen != b.LineLen {
		return false
	}
	for i := range a.Keys {
		if !bytes.Equal(a.Keys[i], b.Keys[i]) {
			return false
		}
	}
	return true
}

// roundTrip re-encodes a parsed retrieval or storage request and parses it
// again.
func roundTrip(t *testing.T, r *TextRequest) {
	var enc []byte
	switch {
	case r.Cmd.IsRetrieval():
		enc = AppendGet(nil, r.Cmd, r.Exptime, r.Keys...)
	case r.Cmd.IsStorage():
		enc = AppendStore(nil, r.Cmd, r.Keys[0], r.Flags, r.Exptime, r.Data, r.Cas, r.NoReply)
	default:
		return
	}
	p := TextParser{Limits: Limits{MaxLineLen: 1 << 20, MaxKeys: 1 << 10}}
	var r2 TextRequest
	n, err := p.Parse(enc, &r2)
	if err != nil || n != len(enc) {
		t.Fatalf("re-encoded %q: %d %v", enc, n, err)
	}
	r2.LineLen = r.LineLen
	if !sameTextReq(r, &r2) {
		t.Fatalf("round trip %q: %+v != %+v", enc, r, r2)
	}
}

// FuzzBinaryParse: no panic, sane lengths, errors decided from the header,
// the same outcome for the whole packet and growing prefixes.
func FuzzBinaryParse(f *testing.F) {
	for _, g := range binaryGolden() {
		f.Add(g.in)
	}
	f.Add([]byte{})
	f.Add(AppendBinaryHeader(nil, MagicRequest, OpSet, 1, 8, 0, 0xffffffff, 0, 0))
	f.Add(AppendBinaryHeader(nil, MagicRequest, OpGet, 0xffff, 0xff, 0, 3, 0, 0))
	f.Add(AppendBinaryHeader(nil, MagicRequest, 0xff, 0, 0, 0, 0, 0, 0))
	f.Add(AppendBinaryHeader(nil, MagicResponse, OpGet, 0, 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := BinaryParser{Limits: Limits{MaxValueLen: 4096}}
		var r BinaryRequest
		n, err := p.Parse(b, &r)
		switch {
		case err == nil:
			if n < BinaryHeaderLen || n > len(b) {
				t.Fatalf("n=%d", n)
			}
			if BinaryHeaderLen+len(r.Extras)+len(r.Key)+len(r.Value) != n || !r.Op.Supported() {
				t.Fatalf("lengths %d %d %d n=%d", len(r.Extras), len(r.Key), len(r.Value), n)
			}
			if r.Op.HasKey() && !bytes.Equal(BinaryKeyOf(b[:n]), r.Key) {
				t.Fatal("BinaryKeyOf")
			}
		case err == ErrIncomplete:
			if p.Need() <= len(b) {
				t.Fatalf("need %d len %d", p.Need(), len(b))
			}
		default:
			e := err.(*Error)
			if !e.Close() && n < BinaryHeaderLen {
				t.Fatalf("%v: skip %d", e, n)
			}
			resp := e.AppendBinary(nil, r.Op, r.Opaque)
			if m, _, err := ScanBinaryReply(resp); err != nil || m != len(resp) {
				t.Fatalf("error response does not scan: %v", err)
			}
		}
		var q BinaryParser
		q.Limits = p.Limits
		var n2 int
		var err2 error
		for i := 0; i <= len(b); i++ {
			if n2, err2 = q.Parse(b[:i], &r); err2 != ErrIncomplete {
				break
			}
		}
		if n2 != n || err2 != err {
			t.Fatalf("whole %d %v, growing %d %v", n, err, n2, err2)
		}
	})
}

// FuzzScanTextReply: the scanner with saved progress over growing prefixes
// agrees with one scan of the whole; complete retrieval replies iterate.
func FuzzScanTextReply(f *testing.F) {
	for _, g := range textReplyGolden {
		f.Add(uint8(g.cmd), []byte(g.in))
	}
	for _, s := range []string{"", "VALUE k 0 -1\r\n", "VALUE k 0 1 2 3\r\nx\r\nEND\r\n", "VALUE  k  0  1 \r\nx\r\nEND\r\n",
		"VALUE k 0 1\r\nxx\r\nEND\r\n", "END\n", "VALUE k 0 1073741824\r\n", "VALUE \r\n", "VALUE k 0 1\r\n"} {
		f.Add(uint8(CmdGet), []byte(s))
	}
	f.Fuzz(func(t *testing.T, c uint8, b []byte) {
		cmd := TextCmd(c % uint8(numTextCmds+1))
		n, need, err := ScanTextReply(cmd, b)
		switch {
		case err == nil:
			if n <= 0 || n > len(b) || need != 0 {
				t.Fatalf("n=%d need=%d", n, need)
			}
			if cmd.IsRetrieval() {
				it := NewTextValues(b[:n])
				var v TextValue
				for it.Next(&v) {
				}
				rest := it.Rest()
				if string(rest) != "END\r\n" && !isErrorLine(rest[:len(rest)-2]) {
					t.Fatalf("rest %q", rest)
				}
			}
		case err == ErrIncomplete:
			if need <= len(b) {
				t.Fatalf("need %d len %d", need, len(b))
			}
		case err != ErrBadReply:
			t.Fatalf("err %v", err)
		}
		if len(b) > 256 {
			return
		}
		var s TextReplyScanner
		var n2 int
		var err2 error
		for i := 0; i <= len(b); i++ {
			if n2, _, err2 = s.Scan(cmd, append([]byte(nil), b[:i]...)); err2 != ErrIncomplete {
				break
			}
		}
		if n2 != n || err2 != err {
			t.Fatalf("whole %d %v, growing %d %v", n, err, n2, err2)
		}
	})
}

// FuzzScanBinaryReply: sane lengths, and agreement between the whole and
// its prefixes.
func FuzzScanBinaryReply(f *testing.F) {
	for _, b := range binaryReplyGolden() {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{MagicResponse})
	f.Add(AppendBinaryHeader(nil, MagicResponse, OpGet, 0xffff, 0xff, 0, 0xffffffff, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, need, err := ScanBinaryReply(b)
		switch {
		case err == nil:
			if n < BinaryHeaderLen || n > len(b) {
				t.Fatalf("n=%d", n)
			}
		case err == ErrIncomplete:
			if need <= len(b) {
				t.Fatalf("need %d", need)
			}
		case err != ErrBadReply:
			t.Fatal(err)
		}
		for i := 0; i < len(b) && i < n; i++ {
			if _, _, err := ScanBinaryReply(b[:i]); err != ErrIncomplete {
				t.Fatalf("prefix %d of a complete reply: %v", i, err)
			}
		}
	})
}
