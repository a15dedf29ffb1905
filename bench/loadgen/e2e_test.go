package loadgen

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer starts a server binary on a free loopback port and waits until
// it accepts connections. It skips the test when the binary is missing.
func startServer(t *testing.T, bin string, args func(port int) []string) int {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("%s not installed", bin)
	}
	port := freePort(t)
	cmd := exec.Command(path, args(port)...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return port
		}
		select {
		case <-exited:
			t.Fatalf("%s exited before accepting connections", bin)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections on %s: %v", bin, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func startRedis(t *testing.T) int {
	return startServer(t, "redis-server", func(p int) []string {
		return []string{"--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}
	})
}

func startMemcached(t *testing.T) int {
	return startServer(t, "memcached", func(p int) []string {
		return []string{"-l", "127.0.0.1", "-p", strconv.Itoa(p), "-U", "0", "-u", "nobody"}
	})
}

func e2eRun(t *testing.T, cfg Config) *Result {
	t.Helper()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	res, err := Run(context.Background(), cfg, nil)
	runtime.ReadMemStats(&ms1)
	if err != nil {
		t.Fatalf("%s: %v", cfg.Protocol, err)
	}
	if res.Aborted != "" {
		t.Fatalf("%s: aborted: %s", cfg.Protocol, res.Aborted)
	}
	if res.Totals.Ops == 0 {
		t.Fatalf("%s: no operations completed", cfg.Protocol)
	}
	if res.Totals.Errors != 0 {
		t.Fatalf("%s: %d errors: %v", cfg.Protocol, res.Totals.Errors, res.ErrorSamples)
	}
	t.Logf("%s: %.0f ops/s, %d hits, %d misses, p99 %.0f µs, client CPU %.2f µs/req, %.4f mallocs/req (setup included)",
		cfg.Protocol, res.Totals.OpsPerSec, res.Totals.Hits, res.Totals.Misses, res.Totals.Latency.P99,
		res.ClientCPU.MicrosPerOp, float64(ms1.Mallocs-ms0.Mallocs)/float64(res.Totals.Ops))
	return res
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	for _, proto := range []Protocol{ProtoRedis, ProtoMemcache, ProtoMemcacheBinary} {
		t.Run(string(proto), func(t *testing.T) {
			var port int
			if proto == ProtoRedis {
				port = startRedis(t)
			} else {
				port = startMemcached(t)
			}
			cfg := DefaultConfig()
			cfg.Protocol = proto
			cfg.Port = port
			cfg.Threads, cfg.Clients, cfg.Pipeline = 2, 4, 4
			cfg.KeyMax = 999
			cfg.RatioSet, cfg.RatioGet = 1, 1

			// Fill the key space sequentially, so the timed run below must hit.
			fill := cfg
			fill.SetPattern = PatternSequential
			fill.RatioSet, fill.RatioGet = 1, 0
			fill.Requests = 125
			if r := e2eRun(t, fill); r.Commands["SET"].Ops != 1000 {
				t.Fatalf("fill: %d sets, want 1000", r.Commands["SET"].Ops)
			}

			cfg.TestTime = time.Second
			res := e2eRun(t, cfg)
			get := res.Commands["GET"]
			if get.Ops == 0 || res.Commands["SET"].Ops == 0 {
				t.Fatalf("want sets and gets, got %v", res.Order)
			}
			if get.Misses != 0 || get.Hits != get.Ops {
				t.Fatalf("gets over a filled key space: %d hits, %d misses for %d gets", get.Hits, get.Misses, get.Ops)
			}
			if res.Duration < 0.9 || res.Duration > 3 {
				t.Errorf("duration %.2f s for a 1 s run", res.Duration)
			}
			if res.BytesIn == 0 || res.BytesOut == 0 || res.Totals.Latency.P50 <= 0 {
				t.Errorf("missing counters: %+v", res)
			}

			// Multi-key gets, half of them over keys that do not exist.
			multi := cfg
			multi.TestTime = 0
			multi.Requests = 50
			multi.RatioSet, multi.RatioGet = 0, 1
			multi.MultiKeyGet = 5
			multi.KeyMax = 1999
			res = e2eRun(t, multi)
			get = res.Commands["GET"]
			if get.Ops != 400 || get.Hits+get.Misses != 2000 || get.Hits == 0 || get.Misses == 0 {
				t.Fatalf("multi-get: %d ops, %d hits, %d misses", get.Ops, get.Hits, get.Misses)
			}
		})
	}
}

func TestEndToEndCommandTemplate(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	cfg := DefaultConfig()
	cfg.Port = startRedis(t)
	cfg.Threads, cfg.Clients, cfg.Pipeline, cfg.Requests = 1, 2, 8, 100
	cfg.Command = "MSET __key__ __data__ __key__ __data__"
	res := e2eRun(t, cfg)
	if res.Commands["MSET"].Ops != 200 {
		t.Fatalf("MSET ops: %+v", res.Commands)
	}
}

// TestDesyncFailsLoudly points a redis run at a server that answers every
// request with a bulk string, which is wrong for SET.
func TestDesyncFailsLoudly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadSlice('\n'); err != nil {
						return
					}
					if _, err := c.Write([]byte("$1\r\nx\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	cfg := DefaultConfig()
	cfg.Port = l.Addr().(*net.TCPAddr).Port
	cfg.Threads, cfg.Clients, cfg.Requests = 1, 1, 10
	cfg.RatioSet, cfg.RatioGet = 1, 0
	res, err := Run(context.Background(), cfg, nil)
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("want a ProtocolError, got %v", err)
	}
	if res == nil || res.Aborted == "" {
		t.Fatalf("want a partial result marked aborted, got %+v", res)
	}
}
