package compat

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestPlacementMatchesNutcracker proves that ferry is a drop-in replacement
// for twemproxy as far as key placement goes: for every hash function ×
// distribution, under several server-list shapes (with and without server
// names, equal and unequal weights, different server order, two hash tags),
// keys written through nutcracker are read back through ferry, keys written
// through ferry are read back through nutcracker, and direct EXISTS on the
// backends shows that both proxies put every key on the same single server.
//
// One nutcracker and one in-process ferry serve all pools (one pool per
// combination) from the same configuration text, differing only in the
// listen addresses; three redis-servers are shared by all pools and flushed
// before each direction of each combination.
func TestPlacementMatchesNutcracker(t *testing.T) {
	testutil.RequireBinary(t, "nutcracker")
	start := time.Now()

	backends := make([]*testutil.Proc, 3)
	for i := range backends {
		backends[i] = testutil.StartRedis(t)
	}
	// Ascending ports make "host:port" names sort like the backend index,
	// so every shape below lists the servers in a fixed order relative to
	// the order nutcracker sorts them into.
	slices.SortFunc(backends, func(a, b *testutil.Proc) int { return a.Port - b.Port })
	if len(backends[0].Addr) != len(backends[2].Addr) {
		t.Skipf("backend addresses of different lengths: %v %v", backends[0].Addr, backends[2].Addr)
	}

	combos := placementCombos()
	ncListen := make([]string, len(combos))
	feListen := make([]string, len(combos))
	for i := range combos {
		ncListen[i] = fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
		feListen[i] = fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
	}
	ncYAML := placementYAML(combos, backends, ncListen)
	feYAML := placementYAML(combos, backends, feListen)
	// The configurations differ in nothing but the listen lines.
	if a, b := stripListen(ncYAML), stripListen(feYAML); a != b {
		t.Fatalf("config texts differ beyond listen lines:\n%s\n---\n%s", a, b)
	}

	testutil.StartNutcracker(t, ncYAML)
	startFerry(t, feYAML)
	t.Logf("%d pools, %d keys each; setup took %v", len(combos), len(placementKeys()), time.Since(start).Round(time.Millisecond))

	keys := placementKeys()
	var bad []string
	for i, c := range combos {
		ok := t.Run(c.name(), func(t *testing.T) {
			checkPlacement(t, c, backends, keys, ncListen[i], feListen[i])
		})
		if !ok {
			bad = append(bad, c.name())
		}
	}
	if len(bad) > 0 {
		t.Errorf("%d of %d combinations place keys differently from nutcracker: %s",
			len(bad), len(combos), strings.Join(bad, ", "))
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

var (
	placementHashes = []string{
		"one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64",
		"fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh", "murmur", "jenkins",
	}
	placementDists = []string{"ketama", "modula"}
)

// serverShape is how a pool lists the three backends.
type serverShape struct {
	tag     string // subtest name part
	named   bool   // "host:port:weight name" instead of "host:port:weight"
	order   [3]int // backend index listed at each position
	weights [3]int // weight at each position
	hashTag string // "" = none
}

// nutcracker sorts a pool's servers by name before it builds the modula
// continuum (see twemproxyOrder), so the shapes list them both in that order
// ("unnamed_sorted") and in others.
var placementShapes = []serverShape{
	// Listed in nutcracker's own order (ascending "127.0.0.1:port").
	{tag: "unnamed_sorted", order: [3]int{0, 1, 2}, weights: [3]int{1, 1, 1}},
	// Names of different lengths: nutcracker orders beta, alpha, gamma.
	{tag: "named", named: true, order: [3]int{0, 1, 2}, weights: [3]int{1, 1, 1}},
	// Shares 3/21, 7/21, 11/21 of 120 points are not integers, so
	// twemproxy's floor() rounding of the ketama point counts matters.
	{tag: "unnamed_weighted", order: [3]int{2, 0, 1}, weights: [3]int{3, 7, 11}},
	{tag: "named_weighted_tag{}", named: true, order: [3]int{1, 2, 0}, weights: [3]int{2, 1, 5}, hashTag: "{}"},
	// A tag whose two characters are the same.
	{tag: "unnamed_tag::", order: [3]int{0, 2, 1}, weights: [3]int{1, 1, 1}, hashTag: "::"},
}

// serverNames are the names given to backends 0..2 in named shapes.
var serverNames = [3]string{"cache-alpha", "cache-beta", "cache-gamma"}

type placementCombo struct {
	hash, dist string
	shape      serverShape
}

func (c placementCombo) name() string { return c.hash + "/" + c.dist + "/" + c.shape.tag }

func (c placementCombo) pool() string {
	return "p_" + c.hash + "_" + c.dist + "_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r == '_' {
			return r
		}
		return -1
	}, c.shape.tag)
}

func placementCombos() []placementCombo {
	var out []placementCombo
	for _, h := range placementHashes {
		for _, d := range placementDists {
			for _, s := range placementShapes {
				out = append(out, placementCombo{hash: h, dist: d, shape: s})
			}
		}
	}
	return out
}

// placementYAML is the configuration, one pool per combination; only the
// listen addresses depend on which proxy it is for.
func placementYAML(combos []placementCombo, backends []*testutil.Proc, listen []string) string {
	var b strings.Builder
	for i, c := range combos {
		fmt.Fprintf(&b, "%s:\n", c.pool())
		fmt.Fprintf(&b, "  listen: %s\n", listen[i])
		fmt.Fprintf(&b, "  hash: %s\n", c.hash)
		fmt.Fprintf(&b, "  distribution: %s\n", c.dist)
		if c.shape.hashTag != "" {
			fmt.Fprintf(&b, "  hash_tag: %q\n", c.shape.hashTag)
		}
		b.WriteString("  redis: true\n")
		b.WriteString("  auto_eject_hosts: false\n")
		b.WriteString("  timeout: 2000\n")
		b.WriteString("  preconnect: false\n")
		b.WriteString("  servers:\n")
		for pos, bi := range c.shape.order {
			fmt.Fprintf(&b, "   - %s:%d", backends[bi].Addr, c.shape.weights[pos])
			if c.shape.named {
				fmt.Fprintf(&b, " %s", serverNames[bi])
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

func stripListen(yaml string) string {
	var out []string
	for _, l := range strings.Split(yaml, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "listen:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// startFerry runs ferry in-process on yaml until the end of the test.
func startFerry(t *testing.T, yaml string) {
	t.Helper()
	cfg, err := config.Parse("placement.yml", []byte(yaml))
	if err != nil {
		t.Fatalf("config.Parse: %v\n%s", err, yaml)
	}
	srv, err := engine.New(cfg, engine.Options{Threads: 2, Version: "compat-test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("engine.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("ferry Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("ferry not ready after 10s")
	}
	if err := srv.Err(); err != nil {
		t.Fatalf("ferry Serve: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("ferry Stop: %v", err)
		}
	})
	for _, p := range cfg.Pools {
		if err := testutil.WaitForPort(p.Listen, 5*time.Second); err != nil {
			t.Fatalf("ferry pool %s: %v", p.Name, err)
		}
	}
}

// placementKeys returns ~300 distinct keys: plain, random printable, binary
// (NUL, CR, LF, high bytes), long, keys that differ only in their last byte,
// keys with "{}" and "::" hash tags (empty, unclosed, nested, repeated),
// UTF-8, and RESP-looking keys. The set is the same on every call.
func placementKeys() []string {
	rng := rand.New(rand.NewPCG(0xfe77, 0x7e40))
	const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	printable := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0x20 + rng.IntN(0x7f-0x20))
		}
		return string(b)
	}
	seen := map[string]bool{}
	var keys []string
	add := func(k string) {
		if k != "" && !seen[k] {
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
	for range 30 { // binary-ish
		b := make([]byte, 1+rng.IntN(32))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		add(string(b))
	}
	for _, s := range []string{"\x00", "\r\n", "\n", "\xff\xfe", "a\x00b", "\x00{x}\x00", "\r\n:1:\r\n"} {
		add(s)
	}
	for range 15 { // long
		add(printable(100 + rng.IntN(900)))
	}
	for c := byte('a'); c < 'a'+20; c++ { // differ only in the last byte
		add("same-prefix-" + string([]byte{c}))
	}
	for i := range 6 { // single bytes
		add(string([]byte{byte(rng.IntN(256))}) + strconv.Itoa(i))
	}
	// "{}" hash tags.
	for i := range 12 {
		n := strconv.Itoa(i)
		add("user:{" + n + "}:name")
		add("user:{" + n + "}:email")
		add("{" + n + "}")
		add("{}" + n)        // empty tag: whole key hashed
		add("x{" + n)        // unclosed
		add("x}" + n + "{y") // wrong order
		add("{a}{b" + n + "}")
		add("{{" + n + "}}")
		add("pre{tag" + n + "}post")
	}
	// "::" hash tags.
	for i := range 10 {
		n := strconv.Itoa(i)
		add("user:" + n + ":profile")
		add("user:" + n + ":settings")
		add("obj::" + n) // empty tag
		add(":" + n)     // unclosed
		add("a:b:c" + n + ":d")
	}
	for i := range 8 { // UTF-8
		n := strconv.Itoa(i)
		add("ключ-" + n)
		add("键" + n)
		add("🔑:" + n + ":✓")
	}
	for _, s := range []string{"*3\r\n$3\r\nSET\r\n", "$-1", "+OK", "-ERR x", "with space", " lead", "trail ", "\t{tab}\t", "%", "{", "}", "::", ":::"} {
		add(s)
	}
	return keys
}

// checkPlacement runs both directions for one combination.
func checkPlacement(t *testing.T, c placementCombo, backends []*testutil.Proc, keys []string, ncAddr, feAddr string) {
	nc := testutil.RawConn(t, ncAddr)
	fe := testutil.RawConn(t, feAddr)
	direct := make([]*testutil.Raw, len(backends))
	for i, b := range backends {
		direct[i] = testutil.RawConn(t, b.Addr)
	}
	server := func(i int) string {
		if i < 0 {
			return "nowhere"
		}
		if c.shape.named {
			return fmt.Sprintf("%s (%s)", backends[i].Addr, serverNames[i])
		}
		return backends[i].Addr
	}

	// nutcracker writes, ferry reads.
	flushAll(t, direct)
	ncVal := func(i int) string { return "nc|" + c.pool() + "|" + strconv.Itoa(i) }
	setAll(t, "nutcracker", nc, keys, ncVal)
	ncLoc := locate(t, "nutcracker", direct, keys, server)
	missFe := getAll(t, "ferry", fe, keys, ncVal)

	// ferry writes, nutcracker reads.
	flushAll(t, direct)
	feVal := func(i int) string { return "fe|" + c.pool() + "|" + strconv.Itoa(i) }
	setAll(t, "ferry", fe, keys, feVal)
	feLoc := locate(t, "ferry", direct, keys, server)
	missNc := getAll(t, "nutcracker", nc, keys, feVal)

	label := fmt.Sprintf("hash %s, distribution %s, shape %s", c.hash, c.dist, c.shape.tag)
	reportPlacement(t, label, keys, ncLoc, feLoc, missFe, missNc, len(backends), server, func() string {
		return fmt.Sprintf("config lists the servers as %s; nutcracker sorts them (by name, shorter first) into %s",
			describeOrder(c.shape.order[:], server), describeOrder(twemproxyOrder(c, backends), server))
	})
}

// reportPlacement fails t when ferry placed a key on another server than
// nutcracker (ncLoc/feLoc: backend index per key, -1 nowhere), or when a
// read through one proxy missed what the other wrote; it logs the spread.
// why explains a placement difference.
func reportPlacement(t *testing.T, label string, keys []string, ncLoc, feLoc []int, missFe, missNc []string,
	backends int, server func(int) string, why func() string) {
	t.Helper()
	var diff []string
	for i, k := range keys {
		if ncLoc[i] != feLoc[i] {
			diff = append(diff, fmt.Sprintf("key %q: nutcracker put it on %s, ferry on %s",
				k, server(ncLoc[i]), server(feLoc[i])))
		}
	}
	counts := make([]int, backends)
	for _, l := range ncLoc {
		if l >= 0 {
			counts[l]++
		}
	}
	t.Logf("keys per backend (by nutcracker): %v; placement mismatches: %d; ferry read misses: %d; nutcracker read misses: %d",
		counts, len(diff), len(missFe), len(missNc))
	if len(diff) == 0 && len(missFe) == 0 && len(missNc) == 0 {
		return
	}
	const show = 10
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d keys placed differently from nutcracker", label, len(diff), len(keys))
	for _, d := range diff[:min(show, len(diff))] {
		b.WriteString("\n  " + d)
	}
	if len(diff) > show {
		fmt.Fprintf(&b, "\n  ... and %d more", len(diff)-show)
	}
	if len(diff) > 0 && why != nil {
		b.WriteString("\n  " + why())
	}
	for _, m := range missFe[:min(show, len(missFe))] {
		b.WriteString("\n  written via nutcracker, read via ferry: " + m)
	}
	for _, m := range missNc[:min(show, len(missNc))] {
		b.WriteString("\n  written via ferry, read via nutcracker: " + m)
	}
	t.Error(b.String())
}

// twemproxyOrder returns the backend indexes of c's servers in the order
// nutcracker keeps them: conf_validate_server sorts a pool's servers by name
// with string_compare (shorter names first, then bytewise), the name being
// the configured one, else "host:port" ("host" for port 11211). modula
// indexes that array with hash % total weight, so the order decides where a
// key goes.
func twemproxyOrder(c placementCombo, backends []*testutil.Proc) []int {
	name := func(bi int) string {
		if c.shape.named {
			return serverNames[bi]
		}
		if backends[bi].Port == 11211 {
			return testutil.Loopback
		}
		return backends[bi].Addr
	}
	order := slices.Clone(c.shape.order[:])
	slices.SortFunc(order, func(a, b int) int {
		na, nb := name(a), name(b)
		if len(na) != len(nb) {
			return len(na) - len(nb)
		}
		return strings.Compare(na, nb)
	})
	return order
}

func describeOrder(order []int, server func(int) string) string {
	s := make([]string, len(order))
	for i, bi := range order {
		s[i] = server(bi)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func flushAll(t *testing.T, direct []*testutil.Raw) {
	t.Helper()
	for _, d := range direct {
		r, err := d.Do("FLUSHALL")
		if err != nil || string(r) != "+OK\r\n" {
			t.Fatalf("FLUSHALL on %s: %q %v", d.Conn.RemoteAddr(), r, err)
		}
	}
}

// pipeline sends cmds in batches over r and returns one reply per command.
func pipeline(t *testing.T, who string, r *testutil.Raw, cmds [][]byte) [][]byte {
	t.Helper()
	const batch = 100
	out := make([][]byte, 0, len(cmds))
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
			rep, err := r.ReadReply()
			if err != nil {
				t.Fatalf("%s: reply to command %d %q: %v (after %d replies)", who, i, cmds[i], err, len(out))
			}
			out = append(out, rep)
		}
	}
	return out
}

func setAll(t *testing.T, who string, r *testutil.Raw, keys []string, val func(int) string) {
	t.Helper()
	cmds := make([][]byte, len(keys))
	for i, k := range keys {
		cmds[i] = testutil.Command("SET", k, val(i))
	}
	for i, rep := range pipeline(t, who, r, cmds) {
		if string(rep) != "+OK\r\n" {
			t.Fatalf("%s: SET %q: %q", who, keys[i], rep)
		}
	}
}

// getAll GETs every key through r and describes each key whose value is not
// val(i).
func getAll(t *testing.T, who string, r *testutil.Raw, keys []string, val func(int) string) []string {
	t.Helper()
	cmds := make([][]byte, len(keys))
	for i, k := range keys {
		cmds[i] = testutil.Command("GET", k)
	}
	var miss []string
	for i, rep := range pipeline(t, who, r, cmds) {
		v := val(i)
		if want := "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"; string(rep) != want {
			miss = append(miss, fmt.Sprintf("key %q: got %q, want %q", keys[i], rep, want))
		}
	}
	return miss
}

// locate asks every backend directly which keys it holds and returns, per
// key, the index of the one backend holding it. A key held by no backend or
// by several fails the test.
func locate(t *testing.T, who string, direct []*testutil.Raw, keys []string, server func(int) string) []int {
	t.Helper()
	loc := make([]int, len(keys))
	for i := range loc {
		loc[i] = -1
	}
	cmds := make([][]byte, len(keys))
	for i, k := range keys {
		cmds[i] = testutil.Command("EXISTS", k)
	}
	var bad []string
	for bi, d := range direct {
		for i, rep := range pipeline(t, "backend "+server(bi), d, cmds) {
			switch string(rep) {
			case ":0\r\n":
			case ":1\r\n":
				if loc[i] >= 0 {
					bad = append(bad, fmt.Sprintf("key %q written via %s is on both %s and %s",
						keys[i], who, server(loc[i]), server(bi)))
				}
				loc[i] = bi
			default:
				t.Fatalf("EXISTS %q on %s: %q", keys[i], server(bi), rep)
			}
		}
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
