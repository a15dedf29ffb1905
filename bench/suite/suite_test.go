package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Field 2 with spaces and a ')' must not shift the count.
	stat := "1234 (we) ird) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 42 1000 200 18446744073709551615\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 325 {
		t.Fatalf("parseStatCPU = %d, %v; want 325", got, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short stat: no error")
	}
}

func TestParseStatusKiB(t *testing.T) {
	st := "Name:\tferry\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n"
	if v, err := parseStatusKiB([]byte(st), "VmRSS"); err != nil || v != 10240 {
		t.Fatalf("VmRSS = %d, %v", v, err)
	}
	if v, err := parseStatusKiB([]byte(st), "VmHWM"); err != nil || v != 20480 {
		t.Fatalf("VmHWM = %d, %v", v, err)
	}
	if _, err := parseStatusKiB([]byte(st), "VmSwap"); err == nil {
		t.Fatal("missing key: no error")
	}
}

func TestCPUModel(t *testing.T) {
	ci := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n"
	if got := cpuModel([]byte(ci)); got != "AMD EPYC 7B13" {
		t.Fatalf("cpuModel = %q", got)
	}
}

func TestMedianAndAggregate(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Fatalf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, math.NaN(), 2, 3}); m != 2.5 {
		t.Fatalf("median even, NaN skipped = %v", m)
	}
	if !math.IsNaN(median(nil)) {
		t.Fatal("median of nothing is not NaN")
	}
	a := aggregate([]Run{
		{OpsSec: 100, P99us: 10, CPUus: 5},
		{Err: "boom"},
		{OpsSec: 300, P99us: 30, CPUus: 7},
		{OpsSec: 200, P99us: 20, CPUus: 6},
	})
	if a.N != 3 || a.OpsSec != 200 || a.P99us != 20 || a.CPUus != 6 || a.Err != "" {
		t.Fatalf("aggregate = %+v", a)
	}
	if a := aggregate([]Run{{Err: "x"}}); a.N != 0 || a.Err != "x" {
		t.Fatalf("all failed = %+v", a)
	}
}

func TestRatios(t *testing.T) {
	if r := ratio(1, 2); r != 0.5 {
		t.Fatal(r)
	}
	if !math.IsNaN(ratio(1, 0)) || !math.IsNaN(ratio(math.NaN(), 1)) {
		t.Fatal("ratio of missing values is not NaN")
	}
	// direct 100, nutcracker adds 200, ferry adds 100.
	if r := addedP99Ratio(200, 300, 100); r != 0.5 {
		t.Fatalf("addedP99Ratio = %v", r)
	}
	if !math.IsNaN(addedP99Ratio(200, 90, 100)) {
		t.Fatal("nutcracker faster than direct: ratio should be undefined")
	}
	if fmtRatio(0.456) != "0.46×" || fmtRatio(math.NaN()) != "–" {
		t.Fatal(fmtRatio(0.456))
	}
	for x, want := range map[float64]string{1234567: "1.23M", 152345: "152.3k", 999: "999"} {
		if got := fmtOps(x); got != want {
			t.Errorf("fmtOps(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestParseThreads(t *testing.T) {
	got, err := parseThreads("1,all", 8)
	if err != nil || !slices.Equal(got, []int{1, 8}) {
		t.Fatalf("%v %v", got, err)
	}
	if got, _ := parseThreads("1,all", 1); !slices.Equal(got, []int{1}) {
		t.Fatalf("duplicates kept: %v", got)
	}
	if _, err := parseThreads("0", 2); err == nil {
		t.Fatal("0 threads accepted")
	}
}

func TestParseFlagsQuick(t *testing.T) {
	o, err := parseFlags([]string{"--quick"}, &strings.Builder{})
	if err != nil || o.reps != 1 || o.duration.Seconds() != 2 || o.idleConns != 2000 || !o.syscallsInRuns {
		t.Fatalf("%+v %v", o, err)
	}
	if o, err := parseFlags([]string{"--quick", "--syscalls-in-runs=false"}, &strings.Builder{}); err != nil || o.syscallsInRuns {
		t.Fatalf("--quick --syscalls-in-runs=false: %+v %v", o, err)
	}
	if _, err := parseFlags([]string{"--syscall-duration", "500ms"}, &strings.Builder{}); err == nil {
		t.Fatal("fractional --syscall-duration accepted")
	}
	if _, err := parseFlags([]string{"--duration", "1500ms"}, &strings.Builder{}); err == nil {
		t.Fatal("fractional duration accepted")
	}
}

func TestLoads(t *testing.T) {
	ls := defaultLoads()
	names := map[string]bool{}
	fams := map[string]int{}
	for _, l := range ls {
		if names[l.Name] {
			t.Fatalf("duplicate load %q", l.Name)
		}
		names[l.Name] = true
		fams[l.Family]++
		a := strings.Join(benchArgs(l, 1234, 5, "x", "/tmp/j"), " ")
		if !strings.Contains(a, "--port 1234") || !strings.Contains(a, "--test-time 5") || !strings.Contains(a, "--protocol "+l.Family) {
			t.Fatalf("%s: args %s", l.Name, a)
		}
		if (l.Command == "") == strings.Contains(a, "--command") {
			t.Fatalf("%s: --command mismatch: %s", l.Name, a)
		}
	}
	if fams[famRedis] == 0 || fams[famMemcache] == 0 || fams[famBinary] == 0 {
		t.Fatalf("families covered: %v", fams)
	}
	for _, want := range []string{"redis GET 32B -P1", "redis GET 32B -P16", "redis MGET 10 keys", "redis MSET 10 keys", "redis GET 1KiB -P1", "redis GET 16KiB -P1"} {
		if !names[want] {
			t.Errorf("missing load %q", want)
		}
	}
	got, err := selectLoads(ls, "GET 32B")
	if err != nil || len(got) != 2 {
		t.Fatalf("selectLoads: %d %v", len(got), err)
	}
	if _, err := selectLoads(ls, "("); err == nil {
		t.Fatal("bad regexp accepted")
	}
	// A prefill covers the whole key space: 10 connections × per ≥ KeyMax+1.
	p := strings.Join(prefillArgs(ls[1], 1, "/j"), " ")
	if !strings.Contains(p, "--requests 10000") || !strings.Contains(p, "--key-pattern S:S") {
		t.Fatalf("prefill args: %s", p)
	}
}

func TestPoolConfig(t *testing.T) {
	r := poolConfig(famRedis, 22121, 6379, "")
	for _, want := range []string{"listen: 127.0.0.1:22121", "redis: true", "- 127.0.0.1:6379:1 backend1"} {
		if !strings.Contains(r, want) {
			t.Errorf("redis config lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r, "server_connections_scope") {
		t.Errorf("per-loop config names a scope:\n%s", r)
	}
	if m := poolConfig(famMemcache, 1, 2, ""); strings.Contains(m, "redis:") || strings.Contains(m, "protocol:") {
		t.Errorf("memcache config must be plain twemproxy:\n%s", m)
	}
	if b := poolConfig(famBinary, 1, 2, ""); !strings.Contains(b, "protocol: memcache_binary") {
		t.Errorf("binary config:\n%s", b)
	}
}

// The hand-off variant's config is the per-loop one plus exactly one line,
// server_connections_scope: process, in the pool's mapping after
// server_connections: 1.
func TestHandoffConfig(t *testing.T) {
	for _, fam := range families {
		base := poolConfig(fam, 22121, 6379, "")
		ho := poolConfig(fam, 22121, 6379, handoffScope)
		bl, hl := strings.Split(base, "\n"), strings.Split(ho, "\n")
		i := slices.Index(hl, "  server_connections_scope: process")
		if i < 1 || hl[i-1] != "  server_connections: 1" {
			t.Fatalf("%s: scope line not after server_connections: 1:\n%s", fam, ho)
		}
		if !slices.Equal(slices.Delete(slices.Clone(hl), i, i+1), bl) {
			t.Fatalf("%s: hand-off config differs from the per-loop one beyond the scope line:\n%s\nvs\n%s", fam, ho, base)
		}
		if j := slices.Index(hl, "  servers:"); j < i {
			t.Fatalf("%s: scope after the server list:\n%s", fam, ho)
		}
	}
}

func TestFerryTargets(t *testing.T) {
	names := func(ts []*Target) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Name)
		}
		return out
	}
	// 1,all on 2 cores: the per-loop ferry-t2 is already there.
	ts := ferryTargets([]int{1, 2}, true)
	if got := names(ts); !slices.Equal(got, []string{"ferry-t1", "ferry-t2", handoffName}) {
		t.Fatalf("targets %v", got)
	}
	ho := ts[2]
	if ho.Threads != 2 || ho.Scope != "process" || ho.base != ts[1] || ho.base.Scope != "" || ho.label() != "ferry t2 hand-off (1 conn/server)" {
		t.Fatalf("hand-off target %+v", ho)
	}
	// 1,all on 8 cores: a per-loop --threads 2 is added beside it.
	ts = ferryTargets([]int{1, 8}, true)
	if got := names(ts); !slices.Equal(got, []string{"ferry-t1", "ferry-t8", "ferry-t2", handoffName}) || ts[3].base != ts[2] {
		t.Fatalf("targets %v", got)
	}
	if got := names(ferryTargets([]int{1, 8}, false)); !slices.Equal(got, []string{"ferry-t1", "ferry-t8"}) {
		t.Fatalf("--no-handoff: %v", got)
	}
	// Its command line: --threads 2; the config carries the scope.
	s := &suite{opt: &options{ferry: "bin/ferry"}, ferryHelp: "no extra flags "}
	s.ferryArgv(ho)
	if a := strings.Join(ho.argv("c.yml", "x"), " "); a != "bin/ferry -c c.yml --threads 2 -v 4" {
		t.Fatalf("argv %s", a)
	}
	if !strings.Contains(ho.Desc, "server_connections_scope: process") {
		t.Fatalf("desc %s", ho.Desc)
	}
}

func TestParseFlagsHandoffSyscalls(t *testing.T) {
	o, err := parseFlags(nil, &strings.Builder{})
	if err != nil || o.noHandoff || o.noSyscalls || o.perf != "perf" || o.syscallsInRuns || o.syscallDuration.Seconds() != 1 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	o, err = parseFlags([]string{"--no-handoff", "--no-syscalls", "--perf", "/usr/bin/perf"}, &strings.Builder{})
	if err != nil || !o.noHandoff || !o.noSyscalls || o.perf != "/usr/bin/perf" {
		t.Fatalf("%+v %v", o, err)
	}
}

// testdata/perf-stat-ferry.csv is perf 6.1's stat -x, -o output for ferry
// --threads 2 under a 1 s redis GET -P1 load of 50 connections.
func TestParsePerfCSV(t *testing.T) {
	b, err := os.ReadFile("testdata/perf-stat-ferry.csv")
	if err != nil {
		t.Fatal(err)
	}
	vals, err := parsePerfCSV(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 17 || vals[totalEvent].Count != 185124 || vals["syscalls:sys_enter_epoll_pwait"].Count != 31464 {
		t.Fatalf("parsed %v", vals)
	}
	c, err := sysCountOf(vals)
	if err != nil {
		t.Fatal(err)
	}
	if c.Total != 185124 || c.ByCall["read"] != 64429 || c.ByCall["write"] != 80013 || c.ByCall["writev"] != 0 || c.ByCall["futex"] != 3940 {
		t.Fatalf("count %+v", c)
	}
	per, by := c.perRequest(40000)
	if math.Abs(per-4.6281) > 1e-4 || math.Abs(by["read"]-1.610725) > 1e-6 {
		t.Fatalf("per request %v %v", per, by)
	}
	g := sysGroupValues(per, by)
	if math.Abs(g["read"]-64429.0/40000) > 1e-9 || math.Abs(g["write(v)"]-80013.0/40000) > 1e-9 ||
		math.Abs(g["epoll_wait"]-31464.0/40000) > 1e-9 || math.Abs(g["epoll_ctl"]-200.0/40000) > 1e-9 ||
		math.Abs(g["sleep/yield"]-4712.0/40000) > 1e-9 {
		t.Fatalf("groups %v", g)
	}
	// other = total - listed calls = 185124 - 184758.
	if math.Abs(g[sysOther]-366.0/40000) > 1e-9 {
		t.Fatalf("other %v", g[sysOther])
	}
	if p, _ := c.perRequest(0); !math.IsNaN(p) {
		t.Fatal("no requests: not NaN")
	}

	// A process that never ran while counted, a tracepoint this kernel
	// lacks, and perf's own messages mixed in.
	idle := "# started on Tue Dec  1 12:01:09 2026\n\n" +
		"<not counted>,,raw_syscalls:sys_enter,0,100.00,,\n" +
		"<not counted>,,syscalls:sys_enter_read,0,100.00,,\n" +
		"<not supported>,,syscalls:sys_enter_epoll_pwait2,0,100.00,,\n" +
		"Events disabled\n"
	vals, err = parsePerfCSV([]byte(idle))
	if err != nil || len(vals) != 2 || !vals[totalEvent].NotCounted || vals[totalEvent].Count != 0 {
		t.Fatalf("idle: %v %v", vals, err)
	}
	c, err = sysCountOf(vals)
	if err != nil || c.Total != 0 || len(c.ByCall) != 1 {
		t.Fatalf("idle count %+v %v", c, err)
	}
	g = sysGroupValues(0, c.ByCall)
	if g["read"] != 0 || !math.IsNaN(g["write(v)"]) {
		t.Fatalf("idle groups %v", g)
	}
	if _, err := sysCountOf(map[string]perfValue{"syscalls:sys_enter_read": {Count: 1}}); err == nil {
		t.Fatal("no total: no error")
	}
	if _, err := parsePerfCSV([]byte("event syntax error: 'raw_syscalls:sys_enterx'\n")); err == nil {
		t.Fatal("perf's error message parsed as counts")
	}
	if _, err := parsePerfCSV([]byte("12x,,raw_syscalls:sys_enter,1,100.00,,\n")); err == nil {
		t.Fatal("bad count accepted")
	}
}

func TestSysCounterNA(t *testing.T) {
	if sc := newSysCounter(t.Context(), ""); sc.available() || !strings.Contains(sc.reason(), "--no-syscalls") {
		t.Fatalf("%+v", sc)
	}
	if sc := newSysCounter(t.Context(), "/nonexistent/perf"); sc.available() || !strings.Contains(sc.reason(), "perf not installed") {
		t.Fatalf("%+v", sc)
	}
	var sc *sysCounter
	if sc.available() {
		t.Fatal("nil counter available")
	}
	sc = &sysCounter{perf: "perf", events: []string{totalEvent}}
	for range 3 {
		sc.failed(os.ErrDeadlineExceeded)
	}
	if sc.available() || !strings.Contains(sc.reason(), "3 times") {
		t.Fatalf("after 3 failures: %+v", sc.reason())
	}
}

func TestParseRBCSV(t *testing.T) {
	out := "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"\"GET\",\"54406.96\",\"9.260\",\"0.384\",\"2.727\",\"18.111\",\"219.775\",\"589.311\"\n"
	rows, err := parseRBCSV([]byte(out))
	if err != nil || len(rows) != 1 || rows[0].Test != "GET" || rows[0].RPS != 54406.96 || rows[0].P99ms != 219.775 {
		t.Fatalf("%+v %v", rows, err)
	}
	old, err := parseRBCSV([]byte("\"SET\",\"1000.00\"\n"))
	if err != nil || old[0].RPS != 1000 || !math.IsNaN(old[0].P99ms) {
		t.Fatalf("old format: %+v %v", old, err)
	}
	if _, err := parseRBCSV([]byte("Could not connect to Redis at 127.0.0.1:1: Connection refused\n")); err == nil {
		t.Fatal("no rows: no error")
	}
}

func TestParseBenchJSON(t *testing.T) {
	r, err := parseBenchJSON([]byte(`{"duration_s":2.0,"totals":{"ops":1000,"ops_per_sec":500.5,"errors":0,"latency_us":{"p99":123.4}}}`))
	if err != nil || r.Totals.Ops != 1000 || r.Totals.OpsPerSec != 500.5 || r.Totals.Latency.P99 != 123.4 {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestMainTable(t *testing.T) {
	res := Results{}
	res.set("redis GET 32B -P1", "direct", Agg{N: 3, OpsSec: 150000, P99us: 400, CPUus: math.NaN(), Sys: 2.6})
	res.set("redis GET 32B -P1", "nutcracker", Agg{N: 3, OpsSec: 130000, P99us: 600, CPUus: 5, Sys: 4.4})
	res.set("redis GET 32B -P1", "ferry-t1", Agg{N: 3, OpsSec: 140000, P99us: 500, CPUus: 4, Sys: 3.3})
	res.set("memcache text get 32B", "direct", Agg{N: 3, OpsSec: 200000, P99us: 300, CPUus: math.NaN(), Sys: math.NaN()})
	res.set("memcache text get 32B", "nutcracker", Agg{N: 3, OpsSec: 120000, P99us: 500, CPUus: 5, Sys: math.NaN()})
	res.set("memcache text get 32B", "ferry-t1", Agg{NA: "ferry-t1 refused the config: not served yet"})
	tab := mainTable(res, []string{"redis GET 32B -P1", "memcache text get 32B"}, "ferry-t1", []string{"nutcracker"})
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", tab)
	}
	if !strings.HasPrefix(lines[0], "| load | direct ops/s | direct p99 µs | direct syscalls/req | nutcracker ops/s | nutcracker p99 µs | nutcracker CPU µs/req | nutcracker syscalls/req | ferry ops/s | ferry p99 µs | ferry CPU µs/req | ferry syscalls/req | **ferry/nc CPU** | ferry/nc syscalls |") {
		t.Fatalf("header: %s", lines[0])
	}
	want := "| redis GET 32B -P1 | 150.0k | 400 | 2.60 | 130.0k | 600 | 5.00 | 4.40 | 140.0k | 500 | 4.00 | 3.30 | **0.80×** | 0.75× | 1.08× | 0.93× | 0.50× |"
	if lines[2] != want {
		t.Fatalf("row:\n got %s\nwant %s", lines[2], want)
	}
	// Syscalls not counted: n/a beside measured figures.
	if !strings.HasPrefix(lines[3], "| memcache text get 32B | 200.0k | 300 | n/a | 120.0k | 500 | 5.00 | n/a | n/a | n/a | n/a | n/a | **–** | – |") {
		t.Fatalf("n/a row: %s", lines[3])
	}
	notes := naNotes(res, []string{"redis GET 32B -P1", "memcache text get 32B"}, []string{"direct", "nutcracker", "ferry-t1"})
	if !strings.Contains(notes, "ferry-t1, memcache pools: ferry-t1 refused") {
		t.Fatalf("notes: %s", notes)
	}
}

func TestShellQuote(t *testing.T) {
	got := commandLine([]string{"bin/ferry-suite", "--only", "GET 32B", "--out=x.md", "it's"})
	want := `bin/ferry-suite --only 'GET 32B' --out=x.md 'it'\''s'`
	if got != want {
		t.Fatalf("%s", got)
	}
}

func TestRefusal(t *testing.T) {
	for msg, want := range map[string]bool{
		`ferry: ferry: pool "bench_memcache": protocol "memcache" is not served yet (only redis pools)`: true,
		`ferry: configuration file 'x.yml' syntax is invalid`:                                           true,
		`ferry: cannot start: admin HTTP: listen tcp 127.0.0.1:22223: bind: address already in use`:     false,
	} {
		if got := refusal.MatchString(msg); got != want {
			t.Errorf("refusal(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestHandoffRefusalAndTables(t *testing.T) {
	ts := ferryTargets([]int{1, 2}, true)
	perLoop, ho := ts[1], ts[2]
	msg := "ferry-t2-handoff refused the config: ferry: configuration file 'x.yml' syntax is invalid | x.yml:8: pool \"bench_redis\": key \"server_connections_scope\": unknown key"
	perLoop.eps = map[string]*endpoint{famRedis: {port: 1}, famMemcache: {na: "ferry-t2 refused the config: not served"}}
	ho.eps = map[string]*endpoint{famRedis: {na: msg}, famMemcache: {na: "ferry-t2-handoff refused the config: not served"}}
	variantRefusal(ho, famRedis)
	variantRefusal(ho, famMemcache)
	if ep := ho.eps[famRedis]; ep.fail != msg || ep.na != "" {
		t.Fatalf("redis: refusal of the hand-off key is not a failure: %+v", ep)
	}
	if ep := ho.eps[famMemcache]; ep.fail != "" || ep.na == "" {
		t.Fatalf("memcache: a family the per-loop twin does not serve stays n/a: %+v", ep)
	}
	variantRefusal(perLoop, famMemcache) // no base: unchanged
	if perLoop.eps[famMemcache].na == "" {
		t.Fatal("per-loop target changed")
	}

	loads := []string{"redis GET 32B -P1", "redis GET 32B -P16"}
	res := Results{}
	for _, l := range loads {
		res.set(l, "nutcracker", Agg{N: 1, OpsSec: 100000, P99us: 600, CPUus: 5, Sys: 4})
		res.set(l, perLoop.Name, Agg{N: 1, OpsSec: 120000, P99us: 500, CPUus: 4, Sys: 3})
		res.set(l, ho.Name, Agg{Err: msg, StartFail: true})
	}
	tab := handoffTable(res, loads, *perLoop, *ho, "nutcracker")
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 6 {
		t.Fatalf("table:\n%s", tab)
	}
	if lines[2] != "| redis GET 32B -P1 | ferry-t2 | 120.0k | 500 | 4.00 | 3.00 | **0.80×** | 0.75× | 1.20× |  |  |  |" {
		t.Fatalf("per-loop row: %s", lines[2])
	}
	if lines[3] != "| redis GET 32B -P1 | ferry t2 hand-off (1 conn/server) | err | err | err | err | **–** | – | – | – | – | – |" {
		t.Fatalf("hand-off row: %s", lines[3])
	}
	notes := naNotes(res, loads, []string{"nutcracker", perLoop.Name, ho.Name})
	if strings.Count(notes, "\n") != 1 || !strings.Contains(notes, "- err: ferry-t2-handoff, redis pools: "+msg) {
		t.Fatalf("notes (one line for the start failure):\n%s", notes)
	}
	if measured(res, loads, ho.Name) || !measured(res, loads, perLoop.Name) {
		t.Fatal("measured")
	}

	// Measured: ratios to per-loop on the hand-off row.
	res.set(loads[0], ho.Name, Agg{N: 1, OpsSec: 90000, P99us: 700, CPUus: 5, Sys: 4.5})
	lines = strings.Split(strings.TrimSpace(handoffTable(res, loads, *perLoop, *ho, "nutcracker")), "\n")
	if lines[3] != "| redis GET 32B -P1 | ferry t2 hand-off (1 conn/server) | 90.0k | 700 | 5.00 | 4.50 | **1.00×** | 1.12× | 0.90× | 1.25× | 1.50× | 0.75× |" {
		t.Fatalf("hand-off row: %s", lines[3])
	}
}

func TestSysTable(t *testing.T) {
	res := Results{}
	a := aggregate([]Run{
		{OpsSec: 1, Syscalls: 4, SyscallsByCall: map[string]float64{"read": 1, "write": 1, "epoll_pwait": 0.5, "futex": 0.25}},
		{OpsSec: 1, Syscalls: 4.2, SyscallsByCall: map[string]float64{"read": 1.1, "writev": 1.1, "epoll_pwait": 0.5, "futex": 0.25}},
		{OpsSec: 1, Syscalls: 4.4, SyscallsByCall: map[string]float64{"read": 1.2, "write": 1.2, "epoll_pwait": 0.5, "futex": 0.25}},
	})
	if a.Sys != 4.2 || a.SysGroups["read"] != 1.1 || a.SysGroups["write(v)"] != 1.1 || !math.IsNaN(a.SysGroups["epoll_ctl"]) {
		t.Fatalf("aggregate %+v", a)
	}
	res.set("l", "ferry-t1", a)
	res.set("l", "direct", aggregate([]Run{{OpsSec: 1, Syscalls: math.NaN()}}))
	res.set("l", "nc", Agg{NA: "no"})
	tab := sysTable(res, []string{"l"}, []Target{{Name: "direct"}, {Name: "nc"}, {Name: "ferry-t1"}})
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if lines[0] != "| load | target | syscalls/req | read | write(v) | epoll_wait | epoll_ctl | futex | sleep/yield | other |" || len(lines) != 4 {
		t.Fatalf("table:\n%s", tab)
	}
	if lines[2] != "| l | direct | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" {
		t.Fatalf("direct row: %s", lines[2])
	}
	if lines[3] != "| l | ferry-t1 | 4.20 | 1.10 | 1.10 | 0.50 | n/a | 0.25 | n/a | 1.25 |" {
		t.Fatalf("ferry row: %s", lines[3])
	}
}

// Syscalls counted in runs of their own do not touch the CPU and ops/s
// medians of the measured runs.
func TestAddSyscalls(t *testing.T) {
	cpuRuns := []Run{
		{OpsSec: 100, CPUus: 5, Syscalls: math.NaN()},
		{OpsSec: 110, CPUus: 6, Syscalls: math.NaN()},
		{OpsSec: 120, CPUus: 7, Syscalls: math.NaN()},
	}
	a := aggregate(cpuRuns)
	if !math.IsNaN(a.Sys) || !math.IsNaN(a.SysGroups["read"]) {
		t.Fatalf("not counted: %+v", a)
	}
	a.addSyscalls([]Run{{OpsSec: 90, CPUus: 9, SyscallRun: true, Syscalls: 2.5, SyscallsByCall: map[string]float64{"read": 1, "writev": 1, "epoll_wait": 0.5}}})
	if a.OpsSec != 110 || a.CPUus != 6 || a.N != 3 || a.Sys != 2.5 || a.SysGroups["write(v)"] != 1 || a.SysGroups[sysOther] != 0 {
		t.Fatalf("with a syscall run: %+v", a)
	}
	a.addSyscalls([]Run{{Err: "perf failed", Syscalls: math.NaN()}})
	if !math.IsNaN(a.Sys) {
		t.Fatalf("failed syscall run counted: %+v", a)
	}
}

// With a real perf that can count syscall tracepoints (root, or
// perf_event_paranoid -1), a window over a process that reads and writes
// one byte at a time counts about as many reads as writes.
func TestSysWindowPerf(t *testing.T) {
	sc := newSysCounter(t.Context(), "perf")
	if !sc.available() {
		t.Skipf("perf cannot count syscalls here: %s", sc.reason())
	}
	dd := exec.Command("dd", "if=/dev/zero", "of=/dev/null", "bs=1")
	if err := dd.Start(); err != nil {
		t.Skip(err)
	}
	defer func() { _ = dd.Process.Kill(); _ = dd.Wait() }()
	w, err := sc.startWindow(dd.Process.Pid, filepath.Join(t.TempDir(), "perf.csv"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	c, err := w.stop()
	if err != nil {
		t.Fatal(err)
	}
	r, wr := c.ByCall["read"], c.ByCall["write"]
	if c.Total < 1000 || r < 0.4*c.Total || math.Abs(r-wr) > 0.05*c.Total {
		t.Fatalf("dd bs=1: %+v", c)
	}
}

func TestSysCounterBrokenPerf(t *testing.T) {
	f, err := exec.LookPath("false")
	if err != nil {
		t.Skip(err)
	}
	sc := newSysCounter(t.Context(), f)
	if sc.available() || !strings.Contains(sc.reason(), "perf cannot count raw_syscalls:sys_enter") {
		t.Fatalf("%q", sc.reason())
	}
}
