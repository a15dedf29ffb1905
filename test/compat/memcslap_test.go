package compat

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestMemcslapThroughFerry runs libmemcached's load generator memcslap
// (libmemcached-tools) against ferry in front of three memcached: its set,
// get and mget tests, 10 threads × 2000 operations each, over the text
// protocol against a memcache pool and with --binary against a
// memcache_binary pool. memcslap exits 0 even when operations fail (it
// prints "Fatal error for key ..." and counts only what succeeded), so the
// test also checks its output for errors, the number of keys it reports, and
// the backends' own counters: every set and get reached a backend, every
// get hit, and the stored keys are spread over all three backends.
func TestMemcslapThroughFerry(t *testing.T) {
	memcslap, err := testutil.LookBinary("memcslap")
	if err != nil {
		t.Skipf("memcslap (libmemcached-tools) not installed: %v", err)
	}
	backends := make([]*testutil.Proc, 3)
	for i := range backends {
		backends[i] = testutil.StartMemcached(t)
	}
	textAddr := fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
	binAddr := fmt.Sprintf("%s:%d", testutil.Loopback, testutil.FreePort(t))
	var yaml strings.Builder
	for _, p := range []struct{ name, listen, protocol string }{
		{"text", textAddr, ""}, {"binary", binAddr, "memcache_binary"},
	} {
		fmt.Fprintf(&yaml, "%s:\n  listen: %s\n  hash: fnv1a_64\n  distribution: ketama\n", p.name, p.listen)
		if p.protocol != "" {
			fmt.Fprintf(&yaml, "  protocol: %s\n", p.protocol)
		}
		yaml.WriteString("  auto_eject_hosts: false\n  timeout: 5000\n  servers:\n")
		for i, b := range backends {
			fmt.Fprintf(&yaml, "   - %s:1 mc%d\n", b.Addr, i)
		}
	}
	startFerry(t, yaml.String())

	const threads, ops = 10, 2000
	for _, mode := range []struct {
		name, addr string
		args       []string
	}{
		{"text", textAddr, nil},
		{"binary", binAddr, []string{"--binary"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			for _, test := range []string{"set", "get", "mget"} {
				t.Run(test, func(t *testing.T) {
					// No flush_all: memcached reclaims flushed items
					// lazily, so curr_items would not drop; every run
					// stores fresh random keys instead.
					before := memcachedStats(t, backends)
					args := append([]string{
						"--servers=" + mode.addr,
						"--concurrency=" + strconv.Itoa(threads),
						"--execute-number=" + strconv.Itoa(ops),
						"--test=" + test,
					}, mode.args...)
					out := runMemcslap(t, memcslap, args)
					after := memcachedStats(t, backends)

					// memcslap's own account of what succeeded.
					want := fmt.Sprintf(`Time to %s\s+%d keys by\s+%d threads`, test, threads*ops, threads)
					if !regexp.MustCompile(want).MatchString(out) {
						t.Errorf("memcslap output lacks /%s/:\n%s", want, out)
					}
					if test != "set" {
						if want := fmt.Sprintf(`Time to set\s+%d keys:`, ops); !regexp.MustCompile(want).MatchString(out) {
							t.Errorf("memcslap output lacks /%s/ (initial load):\n%s", want, out)
						}
					}

					// The backends' account. memcslap sets ops fresh random
					// keys (each thread sets all of them for "set"; they are
					// loaded once for "get" / "mget"), then each thread gets
					// every key once.
					delta := func(stat string) (sum int, per []int) {
						for i := range backends {
							d := after[i][stat] - before[i][stat]
							per = append(per, d)
							sum += d
						}
						return sum, per
					}
					wantSets, wantGets := threads*ops, 0
					if test != "set" {
						wantSets, wantGets = ops, threads*ops
					}
					items, itemsPer := delta("curr_items")
					sets, setsPer := delta("cmd_set")
					gets, getsPer := delta("cmd_get")
					hits, _ := delta("get_hits")
					misses, _ := delta("get_misses")
					t.Logf("backends: curr_items %v, cmd_set %v, cmd_get %v; get_hits %d, get_misses %d",
						itemsPer, setsPer, getsPer, hits, misses)
					if items != ops {
						t.Errorf("backends hold %d items in all (%v), want %d", items, itemsPer, ops)
					}
					for i, n := range itemsPer {
						if n == 0 {
							t.Errorf("backend %d (%s) holds none of the %d keys: %v", i, backends[i].Addr, ops, itemsPer)
						}
					}
					if sets != wantSets {
						t.Errorf("backends saw %d sets (%v), want %d", sets, setsPer, wantSets)
					}
					if gets != wantGets || hits != wantGets || misses != 0 {
						t.Errorf("backends saw %d key lookups (%v), %d hits, %d misses; want %d, all hits",
							gets, getsPer, hits, misses, wantGets)
					}
				})
			}
		})
	}
}

// runMemcslap runs memcslap with args under a 60s bound and fails the test
// unless it exits 0 with no error in its output. It returns the output.
func runMemcslap(t *testing.T, path string, args []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	outb, err := cmd.CombinedOutput()
	out := string(outb)
	t.Logf("memcslap %s: %v, %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond), err)
	if ctx.Err() != nil {
		t.Fatalf("memcslap %s did not finish within 60s; output:\n%s", strings.Join(args, " "), tail(out, 40))
	}
	if err != nil {
		t.Fatalf("memcslap %s: %v; output:\n%s", strings.Join(args, " "), err, tail(out, 40))
	}
	lower := strings.ToLower(out)
	for _, bad := range []string{"error", "fail", "timeout", "timed out"} {
		if strings.Contains(lower, bad) {
			t.Fatalf("memcslap %s output mentions %q:\n%s", strings.Join(args, " "), bad, tail(out, 40))
		}
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// memcachedStats returns the numeric "stats" of each backend.
func memcachedStats(t *testing.T, backends []*testutil.Proc) []map[string]int {
	t.Helper()
	out := make([]map[string]int, len(backends))
	for i, b := range backends {
		r := testutil.RawConn(t, b.Addr)
		r.SendString("stats\r\n")
		out[i] = map[string]int{}
		for {
			l, err := r.ReadLine()
			if err != nil {
				t.Fatalf("stats on %s: %v", b.Addr, err)
			}
			if l == "END" {
				break
			}
			f := strings.Split(l, " ")
			if len(f) != 3 || f[0] != "STAT" {
				t.Fatalf("stats on %s: unexpected line %q", b.Addr, l)
			}
			if n, err := strconv.Atoi(f[2]); err == nil {
				out[i][f[1]] = n
			}
		}
		r.Close()
	}
	return out
}
