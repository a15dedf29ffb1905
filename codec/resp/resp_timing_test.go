package resp

import (
	"bytes"
	"testing"
)

func benchParse(b *testing.B, req []byte) {
	p := NewParser(Limits{})
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		if n, err := p.Parse(req, &r); err != nil || n != len(req) {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseGET(b *testing.B) { benchParse(b, encodeReq("GET", "key:000000000001")) }
func BenchmarkParseSET(b *testing.B) {
	benchParse(b, encodeReq("SET", "key:000000000001", string(bytes.Repeat([]byte{'v'}, 100))))
}
func BenchmarkParseMGET16(b *testing.B) {
	args := []string{"MGET"}
	for range 16 {
		args = append(args, "key:000000000001")
	}
	benchParse(b, encodeReq(args...))
}
func BenchmarkParseInlineGET(b *testing.B) { benchParse(b, []byte("GET key:000000000001\r\n")) }

// BenchmarkParsePipeline parses 64 pipelined GETs from one buffer, as
// OnTraffic does.
func BenchmarkParsePipeline64(b *testing.B) {
	one := encodeReq("GET", "key:000000000001")
	buf := bytes.Repeat(one, 64)
	p := NewParser(Limits{})
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		for rest := buf; len(rest) > 0; {
			n, err := p.Parse(rest, &r)
			if err != nil {
				b.Fatal(err)
			}
			rest = rest[n:]
		}
	}
}

// BenchmarkParseLargeBulk16MiB feeds a 16 MiB SET in 64 KiB reads, calling
// Parse on every read (the worst an engine could do).
func BenchmarkParseLargeBulk16MiB(b *testing.B) {
	req := encodeReq("SET", "k", string(bytes.Repeat([]byte{'x'}, 16<<20)))
	p := NewParser(Limits{})
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		for got := 64 << 10; ; got += 64 << 10 {
			if _, err := p.Parse(req[:min(got, len(req))], &r); err == nil {
				break
			}
		}
	}
}

func benchScan(b *testing.B, reply []byte) {
	b.ReportAllocs()
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		if n, _, err := ScanReply(reply); err != nil || n != len(reply) {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkScanReplyOK(b *testing.B) { benchScan(b, []byte("+OK\r\n")) }
func BenchmarkScanReplyBulk(b *testing.B) {
	benchScan(b, AppendBulk(nil, bytes.Repeat([]byte{'v'}, 100)))
}
func BenchmarkScanReplyMGET16(b *testing.B) {
	reply := AppendArrayHeader(nil, 16)
	for range 16 {
		reply = AppendBulk(reply, bytes.Repeat([]byte{'v'}, 100))
	}
	benchScan(b, reply)
}

func BenchmarkLookup(b *testing.B) {
	names := [][]byte{[]byte("get"), []byte("SET"), []byte("mget"), []byte("ZREVRANGEBYSCORE"), []byte("nosuch")}
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			_ = Lookup(n)
		}
	}
}

func BenchmarkEncodeMGETReply(b *testing.B) {
	dst := make([]byte, 0, 4096)
	val := bytes.Repeat([]byte{'v'}, 100)
	b.ReportAllocs()
	for b.Loop() {
		d := AppendArrayHeader(dst[:0], 16)
		for range 16 {
			d = AppendBulk(d, val)
		}
		dst = d
	}
}
