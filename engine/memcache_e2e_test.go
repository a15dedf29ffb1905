package engine_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

func startMemcacheds(t *testing.T, n int) []*testutil.Proc {
	out := make([]*testutil.Proc, n)
	for i := range out {
		out[i] = testutil.StartMemcached(t)
	}
	return out
}

func mcPoolYAML(listen, protocol string, servers []*testutil.Proc, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mc:\n  listen: %s\n  protocol: %s\n  hash: murmur\n", listen, protocol)
	for _, e := range extra {
		fmt.Fprintf(&b, "  %s\n", e)
	}
	b.WriteString("  servers:\n")
	for i, s := range servers {
		fmt.Fprintf(&b, "    - %s:1 mc%d\n", s.Addr, i)
	}
	return b.String()
}

func startMCProxy(t *testing.T, protocol string, servers []*testutil.Proc, extra ...string) *proxy {
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	return startProxyYAML(t, mcPoolYAML(listen, protocol, servers, extra...), servers)
}

func TestMemcacheTextCommands(t *testing.T) {
	servers := startMemcacheds(t, 3)
	p := startMCProxy(t, "memcache", servers)
	c := memcache.New(p.addr)
	c.Timeout = 5 * time.Second

	require.NoError(t, c.Set(&memcache.Item{Key: "a", Value: []byte("1"), Flags: 7}))
	it, err := c.Get("a")
	require.NoError(t, err)
	require.Equal(t, "1", string(it.Value))
	require.EqualValues(t, 7, it.Flags)
	_, err = c.Get("missing")
	require.ErrorIs(t, err, memcache.ErrCacheMiss)
	require.ErrorIs(t, c.Add(&memcache.Item{Key: "a", Value: []byte("x")}), memcache.ErrNotStored)
	require.NoError(t, c.Add(&memcache.Item{Key: "b", Value: []byte("2")}))
	require.NoError(t, c.Replace(&memcache.Item{Key: "b", Value: []byte("3")}))
	require.NoError(t, c.Append(&memcache.Item{Key: "b", Value: []byte("4")}))
	require.NoError(t, c.Prepend(&memcache.Item{Key: "b", Value: []byte("2")}))
	it, _ = c.Get("b")
	require.Equal(t, "234", string(it.Value))
	// cas through gets
	it.Value = []byte("cas-ok")
	require.NoError(t, c.CompareAndSwap(it))
	require.ErrorIs(t, c.CompareAndSwap(it), memcache.ErrCASConflict)
	require.NoError(t, c.Set(&memcache.Item{Key: "n", Value: []byte("10")}))
	v, err := c.Increment("n", 5)
	require.NoError(t, err)
	require.EqualValues(t, 15, v)
	v, err = c.Decrement("n", 3)
	require.NoError(t, err)
	require.EqualValues(t, 12, v)
	require.NoError(t, c.Touch("n", 100))
	require.NoError(t, c.Delete("n"))
	require.ErrorIs(t, c.Delete("n"), memcache.ErrCacheMiss)

	// multi-get across servers, hits in key order, misses skipped
	keys := []string{}
	for i := 0; i < 30; i++ {
		k := "mk" + strconv.Itoa(i)
		keys = append(keys, k)
		if i%3 != 0 {
			require.NoError(t, c.Set(&memcache.Item{Key: k, Value: []byte("v" + k)}))
		}
	}
	got, err := c.GetMulti(keys)
	require.NoError(t, err)
	require.Len(t, got, 20)
	for k, it := range got {
		require.Equal(t, "v"+k, string(it.Value))
	}
	for _, s := range servers { // the keys really were spread
		conn := testutil.RawConn(t, s.Addr)
		conn.SendString("stats\r\n")
		var items int
		for {
			line, err := conn.ReadLine()
			require.NoError(t, err)
			if line == "END" {
				break
			}
			if strings.HasPrefix(line, "STAT curr_items ") {
				items, _ = strconv.Atoi(strings.TrimPrefix(line, "STAT curr_items "))
			}
		}
		require.Greater(t, items, 0)
	}

	// the raw wire: order kept with noreply interleaved, and one END
	conn := testutil.RawConn(t, p.addr)
	var req bytes.Buffer
	req.WriteString("set q1 0 0 1 noreply\r\nA\r\n")
	req.WriteString("get q1\r\n")
	req.WriteString("delete nothing noreply\r\n")
	req.WriteString("set q2 0 0 1\r\nB\r\n")
	req.WriteString("get q1 q2 nope q1\r\n")
	req.WriteString("version\r\n")
	conn.Send(req.Bytes())
	want := []string{"VALUE q1 0 1", "A", "END", "STORED", "VALUE q1 0 1", "A", "VALUE q2 0 1", "B", "VALUE q1 0 1", "A", "END"}
	for _, w := range want {
		line, err := conn.ReadLine()
		require.NoError(t, err)
		require.Equal(t, w, line)
	}
	line, err := conn.ReadLine()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "VERSION "), line)

	// errors keep the connection usable
	for _, tc := range []struct{ in, want string }{
		{"bogus\r\n", "ERROR"},
		{"get " + strings.Repeat("k", 251) + "\r\n", "CLIENT_ERROR"},
		{"stats\r\n", "SERVER_ERROR"},
		{"flush_all\r\n", "SERVER_ERROR"},
		{"incr q1 notanumber\r\n", "CLIENT_ERROR"},
		{"set big 0 0 2000000\r\n", "SERVER_ERROR"}, // last: its 2 MB follow
	} {
		conn.SendString(tc.in)
		line, err := conn.ReadLine()
		require.NoError(t, err, tc.in)
		require.True(t, strings.HasPrefix(line, tc.want), "%q -> %q", tc.in, line)
	}
	// the refused 2 MB value's bytes are swallowed, then the stream goes on
	conn.Send(bytes.Repeat([]byte("z"), 2000000))
	conn.SendString("\r\nget q2\r\n")
	for _, w := range []string{"VALUE q2 0 1", "B", "END"} {
		line, err := conn.ReadLine()
		require.NoError(t, err)
		require.Equal(t, w, line)
	}
	// a data block without its CRLF cannot be resynced: closed
	conn.SendString("set x 0 0 1\r\nABC\r\n")
	line, _ = conn.ReadLine()
	require.True(t, strings.HasPrefix(line, "CLIENT_ERROR"), line)
	conn.ExpectClosed(2 * time.Second)

	q := testutil.RawConn(t, p.addr)
	q.SendString("quit\r\n")
	q.ExpectClosed(2 * time.Second)
}

func TestMemcacheTextLargeValues(t *testing.T) {
	servers := startMemcacheds(t, 2)
	p := startMCProxy(t, "memcache", servers)
	c := memcache.New(p.addr)
	c.Timeout = 5 * time.Second
	big := bytes.Repeat([]byte("0123456789abcdef"), (1<<20-512)/16) // just under memcached's 1 MiB item limit
	for i := 0; i < 5; i++ {
		k := "big" + strconv.Itoa(i)
		require.NoError(t, c.Set(&memcache.Item{Key: k, Value: big}))
		it, err := c.Get(k)
		require.NoError(t, err)
		require.True(t, bytes.Equal(big, it.Value))
	}
}

func TestMemcacheDeadServer(t *testing.T) {
	servers := startMemcacheds(t, 2)
	p := startMCProxy(t, "memcache", servers, "timeout: 1000")
	c := memcache.New(p.addr)
	c.Timeout = 5 * time.Second
	var on0, on1 []string
	for i := 0; len(on0) < 5 || len(on1) < 5; i++ {
		k := "k" + strconv.Itoa(i)
		require.NoError(t, c.Set(&memcache.Item{Key: k, Value: []byte(k)}))
		d := memcache.New(servers[0].Addr)
		if _, err := d.Get(k); err == nil {
			on0 = append(on0, k)
		} else {
			on1 = append(on1, k)
		}
	}
	servers[1].Kill()
	err := c.Set(&memcache.Item{Key: on1[0], Value: []byte("x")})
	require.Error(t, err)
	require.Contains(t, err.Error(), "SERVER_ERROR")
	// multi-get: the live server's hits come back, the dead one's keys are misses
	got, err := c.GetMulti(append(append([]string{}, on0...), on1...))
	require.NoError(t, err)
	require.Len(t, got, len(on0))
	for _, k := range on0 {
		require.Equal(t, k, string(got[k].Value))
	}
	servers[1].Restart(t)
	require.Eventually(t, func() bool { return c.Set(&memcache.Item{Key: on1[0], Value: []byte("y")}) == nil },
		10*time.Second, 20*time.Millisecond)
}

// --- binary protocol: a small client ---

type binPkt struct {
	op     byte
	status uint16
	opaque uint32
	cas    uint64
	extras []byte
	key    []byte
	value  []byte
}

func encodeBin(op byte, opaque uint32, extras, key, value []byte) []byte {
	b := make([]byte, 24, 24+len(extras)+len(key)+len(value))
	b[0] = 0x80
	b[1] = op
	binary.BigEndian.PutUint16(b[2:], uint16(len(key)))
	b[4] = byte(len(extras))
	binary.BigEndian.PutUint32(b[8:], uint32(len(extras)+len(key)+len(value)))
	binary.BigEndian.PutUint32(b[12:], opaque)
	b = append(b, extras...)
	b = append(b, key...)
	return append(b, value...)
}

func setExtras(flags, exp uint32) []byte {
	e := make([]byte, 8)
	binary.BigEndian.PutUint32(e, flags)
	binary.BigEndian.PutUint32(e[4:], exp)
	return e
}

func readBin(t *testing.T, r io.Reader) binPkt {
	t.Helper()
	h := make([]byte, 24)
	_, err := io.ReadFull(r, h)
	require.NoError(t, err)
	require.EqualValues(t, 0x81, h[0], "response magic")
	body := make([]byte, binary.BigEndian.Uint32(h[8:]))
	_, err = io.ReadFull(r, body)
	require.NoError(t, err)
	kl, el := int(binary.BigEndian.Uint16(h[2:])), int(h[4])
	return binPkt{op: h[1], status: binary.BigEndian.Uint16(h[6:]), opaque: binary.BigEndian.Uint32(h[12:]),
		cas: binary.BigEndian.Uint64(h[16:]), extras: body[:el], key: body[el : el+kl], value: body[el+kl:]}
}

func TestMemcacheBinary(t *testing.T) {
	servers := startMemcacheds(t, 3)
	p := startMCProxy(t, "memcache_binary", servers)
	conn, err := net.Dial("tcp", p.addr)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))

	// set + get with opaque echoed
	_, _ = conn.Write(encodeBin(0x01, 11, setExtras(5, 0), []byte("bk"), []byte("bv")))
	r := readBin(t, conn)
	require.EqualValues(t, 0x01, r.op)
	require.EqualValues(t, 0, r.status)
	require.EqualValues(t, 11, r.opaque)
	_, _ = conn.Write(encodeBin(0x0c, 12, nil, []byte("bk"), nil)) // getk
	r = readBin(t, conn)
	require.EqualValues(t, 0, r.status)
	require.Equal(t, "bk", string(r.key))
	require.Equal(t, "bv", string(r.value))
	require.EqualValues(t, 5, binary.BigEndian.Uint32(r.extras))

	// quiet sets then a pipelined getkq multi-get across servers ending in noop
	var batch bytes.Buffer
	for i := 0; i < 40; i++ {
		if i%4 == 0 {
			continue // leave some misses
		}
		k := "q" + strconv.Itoa(i)
		batch.Write(encodeBin(0x11, uint32(1000+i), setExtras(0, 0), []byte(k), []byte("v"+k))) // setq: silent
	}
	for i := 0; i < 40; i++ {
		batch.Write(encodeBin(0x0d, uint32(i), nil, []byte("q"+strconv.Itoa(i)), nil)) // getkq
	}
	batch.Write(encodeBin(0x0a, 999, nil, nil, nil)) // noop
	_, _ = conn.Write(batch.Bytes())
	for i := 0; i < 40; i++ {
		if i%4 == 0 {
			continue
		}
		r := readBin(t, conn)
		require.EqualValues(t, 0x0d, r.op, "the client's quiet opcode comes back")
		require.EqualValues(t, i, r.opaque, "hits in request order")
		require.Equal(t, "vq"+strconv.Itoa(i), string(r.value))
	}
	r = readBin(t, conn)
	require.EqualValues(t, 0x0a, r.op)
	require.EqualValues(t, 999, r.opaque)

	// a failing quiet command does answer; delete, incr, version
	_, _ = conn.Write(encodeBin(0x13, 50, setExtras(0, 0), []byte("absent"), []byte("x"))) // replaceq on a miss
	_, _ = conn.Write(encodeBin(0x04, 51, nil, []byte("q1"), nil))                         // delete
	ie := make([]byte, 20)
	binary.BigEndian.PutUint64(ie, 5)
	binary.BigEndian.PutUint64(ie[8:], 100)
	_, _ = conn.Write(encodeBin(0x05, 52, ie, []byte("ctr"), nil)) // incr: initial 100
	_, _ = conn.Write(encodeBin(0x05, 53, ie, []byte("ctr"), nil)) // incr by 5
	_, _ = conn.Write(encodeBin(0x0b, 54, nil, nil, nil))          // version
	r = readBin(t, conn)
	require.EqualValues(t, 50, r.opaque)
	require.EqualValues(t, 0x13, r.op)
	require.EqualValues(t, 1, r.status, "replaceq miss -> key not found")
	r = readBin(t, conn)
	require.EqualValues(t, 51, r.opaque)
	require.EqualValues(t, 0, r.status)
	r = readBin(t, conn)
	require.EqualValues(t, 100, binary.BigEndian.Uint64(r.value))
	r = readBin(t, conn)
	require.EqualValues(t, 105, binary.BigEndian.Uint64(r.value))
	r = readBin(t, conn)
	require.EqualValues(t, 54, r.opaque)
	require.True(t, strings.HasPrefix(string(r.value), "ferry-"))

	// unknown opcode: error status, stream goes on
	_, _ = conn.Write(encodeBin(0x60, 77, nil, nil, nil))
	r = readBin(t, conn)
	require.EqualValues(t, 77, r.opaque)
	require.EqualValues(t, 0x81, r.status)
	// a 1 MiB-ish value
	big := bytes.Repeat([]byte("x"), 1<<20-1024)
	_, _ = conn.Write(encodeBin(0x01, 80, setExtras(0, 0), []byte("big"), big))
	r = readBin(t, conn)
	require.EqualValues(t, 0, r.status)
	_, _ = conn.Write(encodeBin(0x00, 81, nil, []byte("big"), nil))
	r = readBin(t, conn)
	require.True(t, bytes.Equal(big, r.value))

	// bad magic: the stream cannot be resynced, the connection is closed
	_, _ = conn.Write([]byte{0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "closed by the proxy (EOF), not timed out")
}
