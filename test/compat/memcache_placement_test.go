package compat

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestMemcachePlacementMatchesNutcracker is TestPlacementMatchesNutcracker
// for memcache text pools (redis: false, twemproxy's default): for every
// hash function × distribution, under several server-list shapes (named and
// unnamed servers, equal and unequal weights, different server order, two
// hash tags, and — where 127.0.0.2 and 127.0.0.3 can be bound — unnamed
// servers on port 11211, whose ketama name twemproxy reduces to the bare
// host), keys stored through nutcracker with pipelined "set" are read back
// through ferry with single-key "get" and with multi-key "get k1 k2 ..."
// (every VALUE present, in key order), and the other way round; direct
// multi-key gets on the backends show that both proxies put every key on the
// same single server.
//
// One nutcracker and one in-process ferry serve all pools from the same
// configuration text, differing only in the listen addresses; the memcached
// backends are shared by all pools and flushed before each direction of each
// combination.
func TestMemcachePlacementMatchesNutcracker(t *testing.T) {
	testutil.RequireBinary(t, "nutcracker")
	testutil.RequireBinary(t, "memcached")
	start := time.Now()

	var trios [2][]*testutil.Proc
	for range 3 {
		trios[0] = append(trios[0], testutil.StartMemcached(t))
	}
	// Ascending ports make "host:port" names sort like the backend index.
	slices.SortFunc(trios[0], func(a, b *testutil.Proc) int { return a.Port - b.Port })
	if len(trios[0][0].Addr) != len(trios[0][2].Addr) {
		t.Skipf("backend addresses of different lengths: %v %v", trios[0][0].Addr, trios[0][2].Addr)
	}
	shapes := slices.Clone(mcShapes)
	if trio, why := startMemcached11211(t); trio != nil {
		trios[1] = trio
		shapes = append(shapes, mcShapes11211...)
	} else {
		t.Logf("NOT covering servers on port 11211 (twemproxy's host-only ketama names): %s", why)
	}

	var combos []mcCombo
	for _, h := range placementHashes {
		for _, d := range placementDists {
			for _, s := range shapes {
				combos = append(combos, mcCombo{hash: h, dist: d, shape: s})
			}
		}
	}
	ncListen := make([]string, len(combos))
	feListen := make([]string, len(combos))
	for i := range combos {
		ncListen[i] = fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
		feListen[i] = fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
	}
	ncYAML := mcPlacementYAML(combos, trios, ncListen)
	feYAML := mcPlacementYAML(combos, trios, feListen)
	if a, b := stripListen(ncYAML), stripListen(feYAML); a != b {
		t.Fatalf("config texts differ beyond listen lines:\n%s\n---\n%s", a, b)
	}

	testutil.StartNutcracker(t, ncYAML)
	startFerry(t, feYAML)
	keys := mcPlacementKeys()
	t.Logf("%d pools, %d keys each; setup took %v", len(combos), len(keys), time.Since(start).Round(time.Millisecond))

	var bad []string
	for i, c := range combos {
		ok := t.Run(c.name(), func(t *testing.T) {
			checkMCPlacement(t, c, trios[c.shape.trio], keys, ncListen[i], feListen[i])
		})
		if !ok {
			bad = append(bad, c.name())
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d combinations differ from nutcracker: %s", len(bad), len(combos), strings.Join(bad, ", "))
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// mcShape is how a pool lists three memcached backends.
type mcShape struct {
	serverShape
	trio int // 0: random ports on 127.0.0.1; 1: 127.0.0.{1,2,3}:11211
}

var mcShapes = []mcShape{
	{serverShape: serverShape{tag: "unnamed_sorted", order: [3]int{0, 1, 2}, weights: [3]int{1, 1, 1}}},
	{serverShape: serverShape{tag: "named", named: true, order: [3]int{0, 1, 2}, weights: [3]int{1, 1, 1}}},
	{serverShape: serverShape{tag: "unnamed_weighted", order: [3]int{2, 0, 1}, weights: [3]int{3, 7, 11}}},
	{serverShape: serverShape{tag: "named_weighted_tag{}", named: true, order: [3]int{1, 2, 0}, weights: [3]int{2, 1, 5}, hashTag: "{}"}},
	{serverShape: serverShape{tag: "unnamed_tag::", order: [3]int{0, 2, 1}, weights: [3]int{1, 1, 1}, hashTag: "::"}},
}

// mcShapes11211 put the servers on port 11211 of three loopback hosts:
// unnamed, twemproxy names them (for ketama and for its sort) by the host
// alone, "127.0.0.2", not "127.0.0.2:11211".
var mcShapes11211 = []mcShape{
	{trio: 1, serverShape: serverShape{tag: "port11211_unnamed", order: [3]int{2, 0, 1}, weights: [3]int{1, 1, 1}}},
	{trio: 1, serverShape: serverShape{tag: "port11211_unnamed_weighted_tag{}", order: [3]int{1, 2, 0}, weights: [3]int{5, 2, 3}, hashTag: "{}"}},
	{trio: 1, serverShape: serverShape{tag: "port11211_named", named: true, order: [3]int{0, 1, 2}, weights: [3]int{1, 1, 1}}},
}

// startMemcached11211 starts memcached on 127.0.0.1:11211, 127.0.0.2:11211
// and 127.0.0.3:11211, or returns nil and the reason it cannot. An flock on
// a file next to testutil's port locks keeps concurrent runs of this test
// from fighting over the port (it waits up to 30s for another run).
func startMemcached11211(t *testing.T) ([]*testutil.Proc, string) {
	hosts := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}
	dir := filepath.Join(os.TempDir(), "ferry-testutil-ports")
	if err := os.MkdirAll(dir, 0o777); err == nil {
		f, err := os.OpenFile(filepath.Join(dir, "compat-11211"), os.O_CREATE|os.O_RDWR, 0o666)
		if err == nil {
			deadline := time.Now().Add(30 * time.Second)
			for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
				if time.Now().After(deadline) {
					f.Close()
					return nil, "another test run holds the port-11211 lock"
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Cleanup(func() { f.Close() })
		}
	}
	for _, h := range hosts {
		ln, err := net.Listen("tcp", net.JoinHostPort(h, "11211"))
		if err != nil {
			return nil, err.Error()
		}
		ln.Close()
	}
	testutil.RequireBinary(t, "memcached")
	var trio []*testutil.Proc
	for _, h := range hosts {
		a := []string{"-l", h, "-p", "11211", "-U", "0"}
		if os.Geteuid() == 0 {
			a = append(a, "-u", "root")
		}
		trio = append(trio, testutil.StartProcessWith(t, testutil.ProcOptions{
			Path: "memcached", Args: a, WaitAddr: net.JoinHostPort(h, "11211"),
		}))
	}
	return trio, ""
}

type mcCombo struct {
	hash, dist string
	shape      mcShape
}

func (c mcCombo) name() string { return c.hash + "/" + c.dist + "/" + c.shape.tag }

func (c mcCombo) pool() string {
	return "mc_" + c.hash + "_" + c.dist + "_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return -1
	}, c.shape.tag)
}

func mcPlacementYAML(combos []mcCombo, trios [2][]*testutil.Proc, listen []string) string {
	var b strings.Builder
	for i, c := range combos {
		fmt.Fprintf(&b, "%s:\n", c.pool())
		fmt.Fprintf(&b, "  listen: %s\n", listen[i])
		fmt.Fprintf(&b, "  hash: %s\n", c.hash)
		fmt.Fprintf(&b, "  distribution: %s\n", c.dist)
		if c.shape.hashTag != "" {
			fmt.Fprintf(&b, "  hash_tag: %q\n", c.shape.hashTag)
		}
		b.WriteString("  redis: false\n")
		b.WriteString("  auto_eject_hosts: false\n")
		b.WriteString("  timeout: 2000\n")
		b.WriteString("  preconnect: false\n")
		b.WriteString("  servers:\n")
		trio := trios[c.shape.trio]
		for pos, bi := range c.shape.order {
			fmt.Fprintf(&b, "   - %s:%d", trio[bi].Addr, c.shape.weights[pos])
			if c.shape.named {
				fmt.Fprintf(&b, " %s", serverNames[bi])
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// mcPlacementKeys returns ~300 distinct valid memcache keys (1..250 bytes,
// no whitespace or control characters): plain, random printable, random
// with high bytes (not UTF-8), long (up to the 250-byte limit), keys that
// differ only in their last byte, keys with "{}" and "::" hash tags (empty,
// unclosed, nested, repeated), UTF-8, and protocol-looking words. The set is
// the same on every call.
func mcPlacementKeys() []string {
	rng := rand.New(rand.NewPCG(0x3c3c, 0xfe77))
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	randKey := func(n int, lo, hi int) string {
		b := make([]byte, n)
		for i := range b {
			for {
				c := byte(lo + rng.IntN(hi-lo+1))
				if c != 0x7f { // DEL is a control character
					b[i] = c
					break
				}
			}
		}
		return string(b)
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if k != "" && len(k) <= 250 && !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for i := range 40 {
		add("key:" + strconv.Itoa(i))
	}
	for range 40 {
		b := make([]byte, 1+rng.IntN(48))
		for i := range b {
			b[i] = alnum[rng.IntN(len(alnum))]
		}
		add(string(b))
	}
	for range 30 {
		add(randKey(1+rng.IntN(32), 0x21, 0x7e))
	}
	for range 20 {
		add(randKey(1+rng.IntN(32), 0x21, 0xff))
	}
	for range 12 {
		add(randKey(100+rng.IntN(150), 0x21, 0x7e))
	}
	add(strings.Repeat("L", 250))
	add(strings.Repeat("x", 249) + "y")
	for c := byte('a'); c < 'a'+20; c++ {
		add("same-prefix-" + string([]byte{c}))
	}
	for i := range 12 {
		n := strconv.Itoa(i)
		add("user:{" + n + "}:name")
		add("user:{" + n + "}:email")
		add("{" + n + "}")
		add("{}" + n)
		add("x{" + n)
		add("x}" + n + "{y")
		add("{a}{b" + n + "}")
		add("{{" + n + "}}")
		add("pre{tag" + n + "}post")
	}
	for i := range 10 {
		n := strconv.Itoa(i)
		add("user:" + n + ":profile")
		add("user:" + n + ":settings")
		add("obj::" + n)
		add(":" + n)
		add("a:b:c" + n + ":d")
	}
	for i := range 8 {
		n := strconv.Itoa(i)
		add("ключ-" + n)
		add("键" + n)
		add("🔑:" + n + ":✓")
	}
	for _, s := range []string{"VALUE", "END", "STORED", "get", "gets", "ERROR", "noreply",
		"%", "{", "}", "::", ":::", `"q"`, "\xc2\x85", "\xc2\xa0nbsp"} {
		add(s)
	}
	return keys
}

// mcGetBatchSizes are the key counts of the multi-key gets, used in turn;
// the final batch is all keys at once.
var mcGetBatchSizes = []int{1, 2, 3, 5, 8, 13, 21, 34, 55, 89}

func checkMCPlacement(t *testing.T, c mcCombo, trio []*testutil.Proc, keys []string, ncAddr, feAddr string) {
	nc := testutil.RawConn(t, ncAddr)
	fe := testutil.RawConn(t, feAddr)
	direct := make([]*testutil.Raw, len(trio))
	for i, b := range trio {
		direct[i] = testutil.RawConn(t, b.Addr)
	}
	server := func(i int) string {
		if i < 0 {
			return "nowhere"
		}
		if c.shape.named {
			return fmt.Sprintf("%s (%s)", trio[i].Addr, serverNames[i])
		}
		return trio[i].Addr
	}

	// nutcracker writes, ferry reads.
	mcFlushAll(t, direct)
	ncVal := func(i int) string { return "nc|" + c.pool() + "|" + strconv.Itoa(i) }
	mcSetAll(t, "nutcracker", nc, keys, ncVal)
	ncLoc := mcLocate(t, "nutcracker", direct, keys, server)
	missFe := mcGetAll(t, "ferry", fe, keys, ncVal)

	// ferry writes, nutcracker reads.
	mcFlushAll(t, direct)
	feVal := func(i int) string { return "fe|" + c.pool() + "|" + strconv.Itoa(i) }
	mcSetAll(t, "ferry", fe, keys, feVal)
	feLoc := mcLocate(t, "ferry", direct, keys, server)
	missNc := mcGetAll(t, "nutcracker", nc, keys, feVal)

	label := fmt.Sprintf("hash %s, distribution %s, shape %s", c.hash, c.dist, c.shape.tag)
	reportPlacement(t, label, keys, ncLoc, feLoc, missFe, missNc, len(trio), server, nil)
}

func mcFlushAll(t *testing.T, direct []*testutil.Raw) {
	t.Helper()
	for _, d := range direct {
		d.SendString("flush_all\r\n")
		if l, err := d.ReadLine(); err != nil || l != "OK" {
			t.Fatalf("flush_all on %s: %q %v", d.Conn.RemoteAddr(), l, err)
		}
	}
}

// mcPipeline writes cmds over r in batches of 100 and calls read once per
// command, in order, to consume its reply.
func mcPipeline(t *testing.T, who string, r *testutil.Raw, cmds [][]byte, read func(i int) error) {
	t.Helper()
	const batch = 100
	for lo := 0; lo < len(cmds); lo += batch {
		hi := min(lo+batch, len(cmds))
		var buf bytes.Buffer
		for _, c := range cmds[lo:hi] {
			buf.Write(c)
		}
		if _, err := r.Write(buf.Bytes()); err != nil {
			t.Fatalf("%s: write commands %d..%d: %v", who, lo, hi-1, err)
		}
		for i := lo; i < hi; i++ {
			if err := read(i); err != nil {
				t.Fatalf("%s: reply to command %d %.200q: %v", who, i, cmds[i], err)
			}
		}
	}
}

func mcSetAll(t *testing.T, who string, r *testutil.Raw, keys []string, val func(int) string) {
	t.Helper()
	cmds := make([][]byte, len(keys))
	for i, k := range keys {
		v := val(i)
		cmds[i] = []byte("set " + k + " 0 0 " + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n")
	}
	mcPipeline(t, who, r, cmds, func(i int) error {
		l, err := r.ReadLine()
		if err != nil {
			return err
		}
		if l != "STORED" {
			return fmt.Errorf("got %q, want STORED", l)
		}
		return nil
	})
}

type mcValue struct {
	key, flags, data string
}

// mcReadGet reads one retrieval reply: VALUE entries up to END. Any other
// line (an error reply) is returned as an error.
func mcReadGet(r *testutil.Raw) ([]mcValue, error) {
	var out []mcValue
	for {
		l, err := r.ReadLine()
		if err != nil {
			return out, fmt.Errorf("after %d values: %v", len(out), err)
		}
		if l == "END" {
			return out, nil
		}
		// Split on ' ' only: keys may hold bytes strings.Fields treats as
		// white space (U+0085, U+00A0).
		f := strings.Split(l, " ")
		if len(f) < 4 || len(f) > 5 || f[0] != "VALUE" {
			return out, fmt.Errorf("after %d values: unexpected line %q", len(out), l)
		}
		n, err := strconv.Atoi(f[3])
		if err != nil || n < 0 {
			return out, fmt.Errorf("bad length in %q", l)
		}
		data, err := r.ReadN(n + 2)
		if err != nil {
			return out, fmt.Errorf("data of %q: %v", l, err)
		}
		if !bytes.HasSuffix(data, []byte("\r\n")) {
			return out, fmt.Errorf("data of %q not followed by CRLF: %q", l, data)
		}
		out = append(out, mcValue{key: f[1], flags: f[2], data: string(data[:n])})
	}
}

// mcGetAll reads every key through r, first with pipelined single-key gets,
// then with multi-key gets of mcGetBatchSizes keys, then with one get of all
// keys, and describes every key whose value is missing or wrong and every
// multi-key reply that is not exactly the keys in order.
func mcGetAll(t *testing.T, who string, r *testutil.Raw, keys []string, val func(int) string) []string {
	t.Helper()
	var bad []string
	cmds := make([][]byte, len(keys))
	for i, k := range keys {
		cmds[i] = []byte("get " + k + "\r\n")
	}
	mcPipeline(t, who, r, cmds, func(i int) error {
		vs, err := mcReadGet(r)
		if err != nil {
			return err
		}
		want := mcValue{key: keys[i], flags: "0", data: val(i)}
		if len(vs) != 1 || vs[0] != want {
			bad = append(bad, fmt.Sprintf("get %q: got %q, want [%q]", keys[i], vs, want))
		}
		return nil
	})

	// Multi-key gets: batches[j] holds the key indexes of the j-th get.
	var batches [][]int
	for lo, j := 0, 0; lo < len(keys); j++ {
		hi := min(lo+mcGetBatchSizes[j%len(mcGetBatchSizes)], len(keys))
		var b []int
		for i := lo; i < hi; i++ {
			b = append(b, i)
		}
		batches = append(batches, b)
		lo = hi
	}
	all := make([]int, len(keys))
	for i := range all {
		all[i] = i
	}
	batches = append(batches, all)
	cmds = cmds[:0]
	for _, b := range batches {
		var line strings.Builder
		line.WriteString("get")
		for _, i := range b {
			line.WriteString(" " + keys[i])
		}
		line.WriteString("\r\n")
		cmds = append(cmds, []byte(line.String()))
	}
	mcPipeline(t, who, r, cmds, func(j int) error {
		vs, err := mcReadGet(r)
		if err != nil {
			return err
		}
		want := make([]mcValue, len(batches[j]))
		for n, i := range batches[j] {
			want[n] = mcValue{key: keys[i], flags: "0", data: val(i)}
		}
		if !slices.Equal(vs, want) {
			msg := fmt.Sprintf("get of %d keys (%q ...): %d values back", len(want), want[0].key, len(vs))
			for n := range max(len(vs), len(want)) {
				var g, w mcValue
				if n < len(vs) {
					g = vs[n]
				}
				if n < len(want) {
					w = want[n]
				}
				if g != w {
					msg += fmt.Sprintf("; first difference at #%d: got %q, want %q", n, g, w)
					break
				}
			}
			bad = append(bad, msg)
		}
		return nil
	})
	return bad
}

// mcLocate asks every backend directly (multi-key gets of 50 keys) which
// keys it holds and returns, per key, the index of the one backend holding
// it. A key held by no backend or by several fails the test.
func mcLocate(t *testing.T, who string, direct []*testutil.Raw, keys []string, server func(int) string) []int {
	t.Helper()
	loc := make([]int, len(keys))
	for i := range loc {
		loc[i] = -1
	}
	index := make(map[string]int, len(keys))
	for i, k := range keys {
		index[k] = i
	}
	var cmds [][]byte
	for lo := 0; lo < len(keys); lo += 50 {
		cmds = append(cmds, []byte("get "+strings.Join(keys[lo:min(lo+50, len(keys))], " ")+"\r\n"))
	}
	var bad []string
	for bi, d := range direct {
		mcPipeline(t, "backend "+server(bi), d, cmds, func(int) error {
			vs, err := mcReadGet(d)
			if err != nil {
				return err
			}
			for _, v := range vs {
				i, ok := index[v.key]
				if !ok {
					return fmt.Errorf("VALUE for a key not asked for: %q", v.key)
				}
				if loc[i] >= 0 {
					bad = append(bad, fmt.Sprintf("key %q written via %s is on both %s and %s",
						keys[i], who, server(loc[i]), server(bi)))
				}
				loc[i] = bi
			}
			return nil
		})
	}
	for i, l := range loc {
		if l < 0 {
			bad = append(bad, fmt.Sprintf("key %q written via %s is on no backend", keys[i], who))
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d keys not on exactly one backend:\n  %s", len(bad), strings.Join(bad[:min(10, len(bad))], "\n  "))
	}
	return loc
}

// TestMemcacheLargeMultiGetMatchesNutcracker sends one text "get" with more
// keys than ferry's codec default (memcache.DefaultMaxKeys = 1024) through
// nutcracker and through ferry. memcached and nutcracker 0.5.0 put no limit
// on the number of keys of a get, and libmemcached's memcached_mget (used by
// memcslap --test=mget) sends all keys of a call in one line, so ferry must
// answer it like nutcracker does: every VALUE, in key order, then END.
func TestMemcacheLargeMultiGetMatchesNutcracker(t *testing.T) {
	testutil.RequireBinary(t, "nutcracker")
	testutil.RequireBinary(t, "memcached")
	var servers []string
	for range 3 {
		servers = append(servers, testutil.StartMemcached(t).Addr)
	}
	ncAddr := fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
	feAddr := fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
	testutil.StartNutcracker(t, testutil.NutcrackerYAML("big", ncAddr, false, servers))
	startFerry(t, testutil.NutcrackerYAML("big", feAddr, false, servers))

	keys := make([]string, 2000)
	for i := range keys {
		keys[i] = "big:" + strconv.Itoa(i)
	}
	val := func(i int) string { return "v" + strconv.Itoa(i) }
	mcSetAll(t, "nutcracker", testutil.RawConn(t, ncAddr), keys, val)

	for _, n := range []int{1024, 1025, 2000} {
		line := "get " + strings.Join(keys[:n], " ") + "\r\n"
		want := make([]mcValue, n)
		for i := range want {
			want[i] = mcValue{key: keys[i], flags: "0", data: val(i)}
		}
		for _, p := range []struct{ who, addr string }{{"nutcracker", ncAddr}, {"ferry", feAddr}} {
			r := testutil.RawConn(t, p.addr)
			r.SendString(line)
			got, err := mcReadGet(r)
			switch {
			case err != nil:
				t.Errorf("%s: get of %d keys (%d-byte line): %v", p.who, n, len(line), err)
			case !slices.Equal(got, want):
				t.Errorf("%s: get of %d keys: %d values back, want all %d in order", p.who, n, len(got), n)
			default:
				t.Logf("%s: get of %d keys: all %d values, in order", p.who, n, n)
			}
			r.Close()
		}
	}
}
