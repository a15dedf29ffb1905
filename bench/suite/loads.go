package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Protocol families. Each family has its own backend and its own proxy
// processes, so a proxy that does not serve one family yet (ferry and
// memcache, nutcracker and memcache binary) leaves the others measurable.
const (
	famRedis    = "redis"
	famMemcache = "memcache"
	famBinary   = "memcache_binary"
)

var families = []string{famRedis, famMemcache, famBinary}

// Load is one ferry-bench workload.
type Load struct {
	Name     string
	Family   string
	Pipeline int
	Ratio    string // ferry-bench --ratio SET:GET
	Multi    int    // --multi-key-get
	Command  string // --command template (redis)
	Size     int    // value bytes
	// Keys are Prefix + 0..KeyMax; sizes get their own prefixes so a GET
	// of the 16 KiB load returns 16 KiB values.
	Prefix string
	KeyMax int
	// Gets reads keys a prefill must have written.
	Gets bool
	// RSS marks the load whose proxy RSS the memory section reports.
	RSS bool
}

// keySpace returns the key prefix and largest key number for a value size:
// at most ~16 MiB of values per size, and 100,000 keys like redis-benchmark -r.
func keySpace(size int) (string, int) {
	n := 100000
	if size >= 1024 {
		n = 10000
	}
	if size >= 16*1024 {
		n = 1000
	}
	return "b" + strconv.Itoa(size) + ":", n - 1
}

func newLoad(fam, name string, pipeline int, ratio string, size int) Load {
	p, k := keySpace(size)
	return Load{Name: name, Family: fam, Pipeline: pipeline, Ratio: ratio, Size: size,
		Prefix: p, KeyMax: k, Gets: ratio == "0:1"}
}

// defaultLoads is the suite's workload list, in run order.
func defaultLoads() []Load {
	mset := "MSET" + strings.Repeat(" __key__ __data__", 10)
	ls := []Load{
		newLoad(famRedis, "redis SET 32B -P1", 1, "1:0", 32),
		newLoad(famRedis, "redis GET 32B -P1", 1, "0:1", 32),
		newLoad(famRedis, "redis SET 32B -P16", 16, "1:0", 32),
		newLoad(famRedis, "redis GET 32B -P16", 16, "0:1", 32),
		newLoad(famRedis, "redis MSET 10 keys", 1, "", 32),
		newLoad(famRedis, "redis MGET 10 keys", 1, "0:1", 32),
		newLoad(famRedis, "redis SET 1KiB -P1", 1, "1:0", 1024),
		newLoad(famRedis, "redis GET 1KiB -P1", 1, "0:1", 1024),
		newLoad(famRedis, "redis SET 16KiB -P1", 1, "1:0", 16384),
		newLoad(famRedis, "redis GET 16KiB -P1", 1, "0:1", 16384),
		newLoad(famMemcache, "memcache text set 32B", 1, "1:0", 32),
		newLoad(famMemcache, "memcache text get 32B", 1, "0:1", 32),
		newLoad(famBinary, "memcache binary set 32B", 1, "1:0", 32),
		newLoad(famBinary, "memcache binary get 32B", 1, "0:1", 32),
	}
	ls[3].RSS = true
	ls[4].Command = mset
	ls[5].Multi = 10
	return ls
}

// selectLoads keeps the loads whose name matches re (all when re is empty).
func selectLoads(ls []Load, re string) ([]Load, error) {
	if re == "" {
		return ls, nil
	}
	r, err := regexp.Compile(re)
	if err != nil {
		return nil, fmt.Errorf("--only: %w", err)
	}
	var out []Load
	for _, l := range ls {
		if r.MatchString(l.Name) {
			out = append(out, l)
		}
	}
	return out, nil
}

// Clients: 50 connections, in 2 ferry-bench threads of 25.
const (
	benchThreads = 2
	benchClients = 25
)

// benchArgs is the ferry-bench command line for one run of l against port.
func benchArgs(l Load, port int, seconds int, label, jsonPath string) []string {
	a := []string{
		"--server", "127.0.0.1", "--port", strconv.Itoa(port),
		"--protocol", l.Family,
		"--threads", strconv.Itoa(benchThreads), "--clients", strconv.Itoa(benchClients),
		"--pipeline", strconv.Itoa(l.Pipeline),
		"--test-time", strconv.Itoa(seconds),
		"--data-size", strconv.Itoa(l.Size),
		"--key-prefix", l.Prefix, "--key-minimum", "0", "--key-maximum", strconv.Itoa(l.KeyMax),
		"--label", label, "--json", jsonPath, "-q", "--progress=false",
	}
	if l.Command != "" {
		a = append(a, "--command", l.Command)
	} else {
		a = append(a, "--ratio", l.Ratio)
	}
	if l.Multi > 1 {
		a = append(a, "--multi-key-get", strconv.Itoa(l.Multi))
	}
	return a
}

// prefillArgs writes every key of l's key space once, sequentially.
func prefillArgs(l Load, port int, jsonPath string) []string {
	const conns = 10
	per := (l.KeyMax + conns) / conns // ceil((KeyMax+1)/conns)
	return []string{
		"--server", "127.0.0.1", "--port", strconv.Itoa(port),
		"--protocol", l.Family, "--threads", "1", "--clients", strconv.Itoa(conns),
		"--pipeline", "16", "--requests", strconv.Itoa(per),
		"--data-size", strconv.Itoa(l.Size),
		"--key-prefix", l.Prefix, "--key-minimum", "0", "--key-maximum", strconv.Itoa(l.KeyMax),
		"--key-pattern", "S:S", "--ratio", "1:0",
		"--label", "prefill", "--json", jsonPath, "-q", "--progress=false",
	}
}

// poolConfig is the twemproxy-format pool both proxies serve for a family;
// only the listen address differs between the proxy processes. Memcache
// binary needs ferry's "protocol" key, which nutcracker does not know.
// scope, when not empty, is ferry's server_connections_scope: "process"
// makes server_connections count per server for the whole process, as in
// twemproxy, instead of per event loop (the hand-off variant).
func poolConfig(fam string, listen, backend int, scope string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bench_%s:\n", fam)
	fmt.Fprintf(&b, "  listen: 127.0.0.1:%d\n", listen)
	b.WriteString("  hash: fnv1a_64\n  distribution: ketama\n  timeout: 2000\n")
	b.WriteString("  preconnect: true\n  auto_eject_hosts: false\n  server_connections: 1\n")
	if scope != "" {
		fmt.Fprintf(&b, "  server_connections_scope: %s\n", scope)
	}
	switch fam {
	case famRedis:
		b.WriteString("  redis: true\n")
	case famBinary:
		b.WriteString("  protocol: memcache_binary\n")
	}
	fmt.Fprintf(&b, "  servers:\n    - 127.0.0.1:%d:1 backend1\n", backend)
	return b.String()
}
