package main

import (
	"math"
	"slices"
	"strings"
	"testing"
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
	if err != nil || o.reps != 1 || o.duration.Seconds() != 2 || o.idleConns != 2000 {
		t.Fatalf("%+v %v", o, err)
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
	r := poolConfig(famRedis, 22121, 6379)
	for _, want := range []string{"listen: 127.0.0.1:22121", "redis: true", "- 127.0.0.1:6379:1 backend1"} {
		if !strings.Contains(r, want) {
			t.Errorf("redis config lacks %q:\n%s", want, r)
		}
	}
	if m := poolConfig(famMemcache, 1, 2); strings.Contains(m, "redis:") || strings.Contains(m, "protocol:") {
		t.Errorf("memcache config must be plain twemproxy:\n%s", m)
	}
	if b := poolConfig(famBinary, 1, 2); !strings.Contains(b, "protocol: memcache_binary") {
		t.Errorf("binary config:\n%s", b)
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
	res.set("redis GET 32B -P1", "direct", Agg{N: 3, OpsSec: 150000, P99us: 400, CPUus: math.NaN()})
	res.set("redis GET 32B -P1", "nutcracker", Agg{N: 3, OpsSec: 130000, P99us: 600, CPUus: 5})
	res.set("redis GET 32B -P1", "ferry-t1", Agg{N: 3, OpsSec: 140000, P99us: 500, CPUus: 4})
	res.set("memcache text get 32B", "direct", Agg{N: 3, OpsSec: 200000, P99us: 300, CPUus: math.NaN()})
	res.set("memcache text get 32B", "nutcracker", Agg{N: 3, OpsSec: 120000, P99us: 500, CPUus: 5})
	res.set("memcache text get 32B", "ferry-t1", Agg{NA: "ferry-t1 refused the config: not served yet"})
	tab := mainTable(res, []string{"redis GET 32B -P1", "memcache text get 32B"}, "ferry-t1", []string{"nutcracker"})
	lines := strings.Split(strings.TrimSpace(tab), "\n")
	if len(lines) != 4 {
		t.Fatalf("table:\n%s", tab)
	}
	want := "| redis GET 32B -P1 | 150.0k | 400 | 130.0k | 600 | 5.00 | 140.0k | 500 | 4.00 | **0.80×** | 1.08× | 0.93× | 0.50× |"
	if lines[2] != want {
		t.Fatalf("row:\n got %s\nwant %s", lines[2], want)
	}
	if !strings.Contains(lines[3], "| n/a | n/a | n/a | **–** |") {
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
