package memcache

import (
	"strings"
	"testing"
)

func BenchmarkTextParseGet(b *testing.B) {
	in := []byte("get user:1000:profile\r\n")
	var p TextParser
	var r TextRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTextParseMultiGet(b *testing.B) {
	in := []byte("get" + strings.Repeat(" user:1000:profile", 100) + "\r\n")
	var p TextParser
	var r TextRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTextParseSet(b *testing.B) {
	in := []byte("set user:1000:profile 0 3600 100\r\n" + strings.Repeat("v", 100) + "\r\n")
	var p TextParser
	var r TextRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTextParseSet1MiBIn64KiB feeds a 1 MiB set in 64 KiB reads, as the
// engine does; the value is not rescanned.
func BenchmarkTextParseSet1MiBIn64KiB(b *testing.B) {
	in := []byte("set big 0 0 1048576\r\n" + strings.Repeat("v", 1<<20) + "\r\n")
	var p TextParser
	var r TextRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for end := 64 << 10; ; end += 64 << 10 {
			if end > len(in) {
				end = len(in)
			}
			_, err := p.Parse(in[:end], &r)
			if err == nil {
				break
			}
			if err != ErrIncomplete {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkBinaryParseGet(b *testing.B) {
	in := binReq(OpGetK, "", "user:1000:profile", "", 1, 0)
	var p BinaryParser
	var r BinaryRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBinaryParseSet(b *testing.B) {
	in := binReq(OpSet, "\x00\x00\x00\x00\x00\x00\x0e\x10", "user:1000:profile", strings.Repeat("v", 100), 1, 0)
	var p BinaryParser
	var r BinaryRequest
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := p.Parse(in, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanTextReplyGet(b *testing.B) {
	in := []byte("VALUE user:1000:profile 0 100\r\n" + strings.Repeat("v", 100) + "\r\nEND\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := ScanTextReply(CmdGet, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanTextReplyMultiGet(b *testing.B) {
	in := []byte(strings.Repeat("VALUE user:1000:profile 0 100\r\n"+strings.Repeat("v", 100)+"\r\n", 100) + "END\r\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, _, err := ScanTextReply(CmdGet, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanTextReplyStored(b *testing.B) {
	in := []byte("STORED\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ScanTextReply(CmdSet, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkScanBinaryReply(b *testing.B) {
	in := binResp(OpGetK, 0, "\x00\x00\x00\x00", "user:1000:profile", strings.Repeat("v", 100), 1, 9)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ScanBinaryReply(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMergeSplitGet(b *testing.B) {
	reply := []byte(strings.Repeat("VALUE user:1000:profile 0 100\r\n"+strings.Repeat("v", 100)+"\r\n", 10) + "END\r\n")
	dst := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		dst = dst[:0]
		it := NewTextValues(reply)
		var v TextValue
		for it.Next(&v) {
			dst = append(dst, v.Block...)
		}
		dst = AppendEnd(dst)
	}
}
