package compat

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// TestRedisBenchmarkThroughFerry is the core issue's acceptance load:
// redis-benchmark's set, get, incr, lpush, lpop, sadd, hset and mset with
// 50 clients pipelining 16 deep, through ferry to 3 redis-servers, must
// finish with every test reported and no error.
func TestRedisBenchmarkThroughFerry(t *testing.T) {
	bin := testutil.RequireBinary(t, "redis-benchmark")
	servers := []*testutil.Proc{testutil.StartRedis(t), testutil.StartRedis(t), testutil.StartRedis(t)}
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "alpha:\n  listen: %s\n  redis: true\n  timeout: 5000\n  servers:\n", listen)
	for _, s := range servers {
		fmt.Fprintf(&yaml, "    - %s:1\n", s.Addr)
	}
	startFerry(t, yaml.String())
	_, port, _ := strings.Cut(listen, ":")

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", "127.0.0.1", "-p", port,
		"-t", "set,get,incr,lpush,lpop,sadd,hset,mset", "-P", "16", "-c", "50", "-n", "20000", "-r", "10000", "--csv")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	text := string(out)
	for _, test := range []string{"SET", "GET", "INCR", "LPUSH", "LPOP", "SADD", "HSET", "MSET"} {
		if !strings.Contains(text, "\""+test) {
			t.Errorf("redis-benchmark printed no %s result:\n%s", test, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		low := strings.ToLower(line)
		// redis-benchmark warns that it cannot read CONFIG: a proxy refuses CONFIG.
		if strings.Contains(low, "config") {
			continue
		}
		if strings.Contains(low, "err") || strings.Contains(low, "error") {
			t.Errorf("redis-benchmark reported an error: %q", line)
		}
	}
	// the keys really went to all three servers
	for _, s := range servers {
		r, err := testutil.RedisDo(s.Addr, "DBSIZE")
		if err != nil || string(r) == ":0\r\n" {
			t.Errorf("server %s holds no key (%q, %v)", s.Addr, r, err)
		}
	}
}
