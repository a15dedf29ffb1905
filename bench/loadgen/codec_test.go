package loadgen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func mustRedis(t *testing.T, command string) *redisCodec {
	t.Helper()
	c, err := newRedisCodec("k:", []byte("abc"), 2, command)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRedisEncodingGolden(t *testing.T) {
	c := mustRedis(t, "MSET __key__ __data__ __key__ __data__")
	cases := []struct {
		name string
		got  []byte
		want string
	}{
		{"set", c.appendSet(nil, 42), "*3\r\n$3\r\nSET\r\n$4\r\nk:42\r\n$3\r\nabc\r\n"},
		{"get", c.appendGet(nil, []uint64{7}), "*2\r\n$3\r\nGET\r\n$3\r\nk:7\r\n"},
		{"mget", c.appendGet(nil, []uint64{1, 100}), "*3\r\n$4\r\nMGET\r\n$3\r\nk:1\r\n$5\r\nk:100\r\n"},
		{"command", c.appendCommand(nil, []uint64{1, 22}), "*5\r\n$4\r\nMSET\r\n$3\r\nk:1\r\n$3\r\nabc\r\n$4\r\nk:22\r\n$3\r\nabc\r\n"},
		{"key 0", c.appendSet(nil, 0), "*3\r\n$3\r\nSET\r\n$3\r\nk:0\r\n$3\r\nabc\r\n"},
		{"appends", c.appendGet([]byte("x"), []uint64{9999999999}), "x*2\r\n$3\r\nGET\r\n$12\r\nk:9999999999\r\n"},
	}
	for _, tc := range cases {
		if string(tc.got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	lit := mustRedis(t, "PING")
	if got := string(lit.appendCommand(nil, nil)); got != "*1\r\n$4\r\nPING\r\n" {
		t.Errorf("PING: got %q", got)
	}
}

func TestMemcacheEncodingGolden(t *testing.T) {
	c := newMemcacheCodec("k:", []byte("abc"))
	if got := string(c.appendSet(nil, 42)); got != "set k:42 0 0 3\r\nabc\r\n" {
		t.Errorf("set: %q", got)
	}
	if got := string(c.appendGet(nil, []uint64{42})); got != "get k:42\r\n" {
		t.Errorf("get: %q", got)
	}
	if got := string(c.appendGet(nil, []uint64{1, 100})); got != "get k:1 k:100\r\n" {
		t.Errorf("multi get: %q", got)
	}
}

func binHeader(magic, op byte, keyLen, extLen int, status uint16, body int, opaque uint32) []byte {
	h := make([]byte, binHeaderLen)
	h[0], h[1] = magic, op
	binary.BigEndian.PutUint16(h[2:4], uint16(keyLen))
	h[4] = byte(extLen)
	binary.BigEndian.PutUint16(h[6:8], status)
	binary.BigEndian.PutUint32(h[8:12], uint32(body))
	binary.BigEndian.PutUint32(h[12:16], opaque)
	return h
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBinaryEncodingGolden(t *testing.T) {
	c := newBinaryCodec("k:", []byte("abc"))
	want := cat(binHeader(0x80, binOpSet, 4, 8, 0, 15, 0), make([]byte, 8), []byte("k:42abc"))
	if got := c.appendSet(nil, 42); !bytes.Equal(got, want) {
		t.Errorf("set:\n got %x\nwant %x", got, want)
	}
	want = cat(binHeader(0x80, binOpGet, 3, 0, 0, 3, 1), []byte("k:7"))
	if got := c.appendGet(nil, []uint64{7}); !bytes.Equal(got, want) {
		t.Errorf("get:\n got %x\nwant %x", got, want)
	}
	want = cat(binHeader(0x80, binOpGetKQ, 3, 0, 0, 3, 2), []byte("k:1"),
		binHeader(0x80, binOpGetKQ, 5, 0, 0, 5, 3), []byte("k:100"),
		binHeader(0x80, binOpNoop, 0, 0, 0, 0, 4))
	if got := c.appendGet(nil, []uint64{1, 100}); !bytes.Equal(got, want) {
		t.Errorf("multi get:\n got %x\nwant %x", got, want)
	}
}

type parseCase struct {
	name   string
	kind   Kind
	nkeys  int
	in     string
	want   reply // errLine is ignored
	desync bool  // expect a *ProtocolError
	ioErr  bool  // expect a non-protocol read error (truncation)
}

func runParseCases(t *testing.T, mk func() codec, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		r := bufio.NewReaderSize(strings.NewReader(tc.in), 32)
		got, err := mk().readReply(r, tc.kind, tc.nkeys)
		var pe *ProtocolError
		switch {
		case tc.desync:
			if !errors.As(err, &pe) {
				t.Errorf("%s: want protocol desync, got %v", tc.name, err)
			}
			continue
		case tc.ioErr:
			if err == nil || errors.As(err, &pe) {
				t.Errorf("%s: want read error, got %v", tc.name, err)
			}
			continue
		case err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
			continue
		}
		if got.hits != tc.want.hits || got.misses != tc.want.misses || got.isErr != tc.want.isErr {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
		if rest, _ := io.ReadAll(r); len(rest) != 0 {
			t.Errorf("%s: %q left unread", tc.name, rest)
		}
	}
}

func TestRedisReplyParsing(t *testing.T) {
	mk := func() codec { return mustRedis(t, "") }
	runParseCases(t, mk, []parseCase{
		{name: "set ok", kind: KindSet, nkeys: 1, in: "+OK\r\n"},
		{name: "set err", kind: KindSet, nkeys: 1, in: "-ERR oom\r\n", want: reply{isErr: true}},
		{name: "set bulk", kind: KindSet, nkeys: 1, in: "$2\r\nOK\r\n", desync: true},
		{name: "get nil", kind: KindGet, nkeys: 1, in: "$-1\r\n", want: reply{misses: 1}},
		{name: "get hit", kind: KindGet, nkeys: 1, in: "$3\r\nabc\r\n", want: reply{hits: 1}},
		{name: "get empty", kind: KindGet, nkeys: 1, in: "$0\r\n\r\n", want: reply{hits: 1}},
		{name: "get big", kind: KindGet, nkeys: 1, in: "$40\r\n" + strings.Repeat("x", 40) + "\r\n", want: reply{hits: 1}},
		{name: "get err", kind: KindGet, nkeys: 1, in: "-MOVED 1 x\r\n", want: reply{isErr: true}},
		{name: "get simple", kind: KindGet, nkeys: 1, in: "+OK\r\n", desync: true},
		{name: "get short payload", kind: KindGet, nkeys: 1, in: "$3\r\nabcd\r\n", desync: true},
		{name: "get bad len", kind: KindGet, nkeys: 1, in: "$x\r\n", desync: true},
		{name: "no CR", kind: KindGet, nkeys: 1, in: "$-1\n", desync: true},
		{name: "garbage", kind: KindGet, nkeys: 1, in: "hello\r\n", desync: true},
		{name: "truncated", kind: KindGet, nkeys: 1, in: "$3\r\nab", ioErr: true},
		{name: "empty stream", kind: KindSet, nkeys: 1, in: "", ioErr: true},
		{name: "mget", kind: KindGet, nkeys: 3, in: "*3\r\n$-1\r\n$1\r\nx\r\n$2\r\nyy\r\n", want: reply{hits: 2, misses: 1}},
		{name: "mget count", kind: KindGet, nkeys: 2, in: "*3\r\n$-1\r\n$-1\r\n$-1\r\n", desync: true},
		{name: "mget nil array", kind: KindGet, nkeys: 2, in: "*-1\r\n", desync: true},
		{name: "mget err", kind: KindGet, nkeys: 2, in: "-CROSSSLOT\r\n", want: reply{isErr: true}},
		{name: "mget int elem", kind: KindGet, nkeys: 1 + 1, in: "*2\r\n:1\r\n$-1\r\n", desync: true},
		{name: "other int", kind: KindOther, in: ":12\r\n"},
		{name: "other nested", kind: KindOther, in: "*2\r\n*2\r\n$1\r\na\r\n:1\r\n$-1\r\n"},
		{name: "other resp3 map", kind: KindOther, in: "%1\r\n+a\r\n_\r\n"},
		{name: "other err", kind: KindOther, in: "-WRONGTYPE x\r\n", want: reply{isErr: true}},
		{name: "other bad", kind: KindOther, in: "?\r\n", desync: true},
	})
}

func TestMemcacheReplyParsing(t *testing.T) {
	mk := func() codec { return newMemcacheCodec("k:", []byte("abc")) }
	runParseCases(t, mk, []parseCase{
		{name: "stored", kind: KindSet, nkeys: 1, in: "STORED\r\n"},
		{name: "not stored", kind: KindSet, nkeys: 1, in: "NOT_STORED\r\n", want: reply{isErr: true}},
		{name: "server error", kind: KindSet, nkeys: 1, in: "SERVER_ERROR out of memory\r\n", want: reply{isErr: true}},
		{name: "set END", kind: KindSet, nkeys: 1, in: "END\r\n", desync: true},
		{name: "miss", kind: KindGet, nkeys: 1, in: "END\r\n", want: reply{misses: 1}},
		{name: "hit", kind: KindGet, nkeys: 1, in: "VALUE k:1 0 3\r\nabc\r\nEND\r\n", want: reply{hits: 1}},
		{name: "hit cas", kind: KindGet, nkeys: 1, in: "VALUE k:1 5 3 99\r\nabc\r\nEND\r\n", want: reply{hits: 1}},
		{name: "multi", kind: KindGet, nkeys: 3, in: "VALUE k:1 0 1\r\na\r\nVALUE k:3 0 0\r\n\r\nEND\r\n", want: reply{hits: 2, misses: 1}},
		{name: "too many", kind: KindGet, nkeys: 1, in: "VALUE a 0 1\r\na\r\nVALUE b 0 1\r\nb\r\nEND\r\n", desync: true},
		{name: "bad length", kind: KindGet, nkeys: 1, in: "VALUE k:1 0 2\r\nabc\r\nEND\r\n", desync: true},
		{name: "bad VALUE", kind: KindGet, nkeys: 1, in: "VALUE k:1 x\r\n", desync: true},
		{name: "get error", kind: KindGet, nkeys: 1, in: "SERVER_ERROR backend down\r\n", want: reply{isErr: true}},
		{name: "get STORED", kind: KindGet, nkeys: 1, in: "STORED\r\n", desync: true},
		{name: "truncated", kind: KindGet, nkeys: 1, in: "VALUE k:1 0 3\r\nab", ioErr: true},
	})
}

func TestBinaryReplyParsing(t *testing.T) {
	resp := func(op byte, status uint16, opaque uint32, extras, key, val string) string {
		body := len(extras) + len(key) + len(val)
		return string(cat(binHeader(0x81, op, len(key), len(extras), status, body, opaque), []byte(extras+key+val)))
	}
	mk := func() codec { return newBinaryCodec("k:", []byte("abc")) }
	runParseCases(t, mk, []parseCase{
		{name: "set ok", kind: KindSet, nkeys: 1, in: resp(binOpSet, 0, 0, "", "", "")},
		{name: "set err", kind: KindSet, nkeys: 1, in: resp(binOpSet, 5, 0, "", "", "Not stored"), want: reply{isErr: true}},
		{name: "set wrong opaque", kind: KindSet, nkeys: 1, in: resp(binOpSet, 0, 7, "", "", ""), desync: true},
		{name: "set wrong op", kind: KindSet, nkeys: 1, in: resp(binOpGet, 0, 0, "", "", ""), desync: true},
		{name: "get hit", kind: KindGet, nkeys: 1, in: resp(binOpGet, 0, 0, "\x00\x00\x00\x00", "", "abc"), want: reply{hits: 1}},
		{name: "get miss", kind: KindGet, nkeys: 1, in: resp(binOpGet, 1, 0, "", "", "Not found"), want: reply{misses: 1}},
		{name: "get err", kind: KindGet, nkeys: 1, in: resp(binOpGet, 0x84, 0, "", "", ""), want: reply{isErr: true}},
		{name: "bad magic", kind: KindGet, nkeys: 1, in: strings.Repeat("\x80", 24), desync: true},
		{name: "bad body", kind: KindGet, nkeys: 1, in: string(binHeader(0x81, 0, 10, 0, 0, 2, 0)) + "xx", desync: true},
		{name: "multi", kind: KindGet, nkeys: 3,
			in:   resp(binOpGetKQ, 0, 0, "\x00\x00\x00\x00", "k:1", "a") + resp(binOpGetKQ, 0, 2, "\x00\x00\x00\x00", "k:3", "c") + resp(binOpNoop, 0, 3, "", "", ""),
			want: reply{hits: 2, misses: 1}},
		{name: "multi all miss", kind: KindGet, nkeys: 2, in: resp(binOpNoop, 0, 2, "", "", ""), want: reply{misses: 2}},
		{name: "multi out of order", kind: KindGet, nkeys: 3,
			in: resp(binOpGetKQ, 0, 2, "", "k:3", "c") + resp(binOpGetKQ, 0, 1, "", "k:2", "b") + resp(binOpNoop, 0, 3, "", "", ""), desync: true},
		{name: "multi wrong noop", kind: KindGet, nkeys: 2, in: resp(binOpNoop, 0, 1, "", "", ""), desync: true},
		{name: "truncated", kind: KindGet, nkeys: 1, in: resp(binOpGet, 0, 0, "", "", "abc")[:26], ioErr: true},
	})
}

// repeatReader serves the same bytes forever.
type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// TestSteadyStateZeroAllocs drives encode, parse, key generation and latency
// recording the way a worker does and requires zero allocations.
func TestSteadyStateZeroAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MultiKeyGet = 4
	data := makeData(32)
	type proto struct {
		p       Protocol
		replies string // one SET reply then one 4-key GET reply
	}
	for _, pr := range []proto{
		{ProtoRedis, "+OK\r\n*4\r\n$-1\r\n$3\r\nabc\r\n$-1\r\n$-1\r\n"},
		{ProtoMemcache, "STORED\r\nVALUE k 0 3\r\nabc\r\nEND\r\n"},
	} {
		cfg.Protocol = pr.p
		cd, err := newCodec(&cfg, data)
		if err != nil {
			t.Fatal(err)
		}
		kg := newKeyGen(&cfg, 0, 1)
		r := bufio.NewReaderSize(&repeatReader{b: []byte(pr.replies)}, readBufSize)
		var ks kindStats
		ks.hist = newHist()
		buf := make([]byte, 0, 4096)
		keys := make([]uint64, 4)
		allocs := testing.AllocsPerRun(1000, func() {
			buf = buf[:0]
			buf = cd.appendSet(buf, kg.next(PatternRandom, userSet))
			for i := range keys {
				keys[i] = kg.next(PatternGaussian, userGet)
			}
			buf = cd.appendGet(buf, keys)
			for _, k := range []Kind{KindSet, KindGet} {
				n := 1
				if k == KindGet {
					n = 4
				}
				rep, err := cd.readReply(r, k, n)
				if err != nil || rep.isErr {
					t.Fatalf("%s: %v %+v", pr.p, err, rep)
				}
				ks.record(1234, &rep)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request pair, want 0", pr.p, allocs)
		}
	}
}

func TestKeyGen(t *testing.T) {
	cfg := DefaultConfig()
	cfg.KeyMin, cfg.KeyMax = 10, 19
	g := newKeyGen(&cfg, 1, 2) // second of two connections starts mid-range
	for i, want := range []uint64{15, 16, 17, 18, 19, 10, 11} {
		if got := g.next(PatternSequential, userSet); got != want {
			t.Fatalf("sequential step %d: got %d, want %d", i, got, want)
		}
	}
	for range 10000 {
		for _, p := range []KeyPattern{PatternRandom, PatternGaussian} {
			if v := g.next(p, userGet); v < 10 || v > 19 {
				t.Fatalf("pattern %c: %d out of range", p, v)
			}
		}
	}
}

func TestParseFlagsHelpers(t *testing.T) {
	if s, g, err := ParseRatio("1:10"); err != nil || s != 1 || g != 10 {
		t.Errorf("ParseRatio: %d %d %v", s, g, err)
	}
	for _, bad := range []string{"0:0", "1", "a:1", "-1:2"} {
		if _, _, err := ParseRatio(bad); err == nil {
			t.Errorf("ParseRatio(%q): want error", bad)
		}
	}
	if s, g, err := ParseKeyPattern("s:g"); err != nil || s != PatternSequential || g != PatternGaussian {
		t.Errorf("ParseKeyPattern: %c %c %v", s, g, err)
	}
	if _, _, err := ParseKeyPattern("R"); err == nil {
		t.Error("ParseKeyPattern(R): want error")
	}
}
