package engine_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Output produced by a task that gnet runs on the loop (EventLoop.Execute or
// Enroll), not by a connection's callback, reaches its client: with more
// than one client on the loop the writes wait for OnIterationEnd, which
// gnet runs after the tasks of the poll too. Were they left dirty, nothing
// would write them (a tick flushes nothing while clients share the loop),
// and these requests would never be answered. The tasks: a backend dial
// completing (Enroll's task opens the connection and sends the requests
// that waited for it), a dial failing (a task fails them), and a tick
// (Execute) timing requests out. With NoCoalesce every write is made at
// once, by the callback or task that produced it.
func TestTaskWritesAreFlushed(t *testing.T) {
	for _, noCoalesce := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoCoalesce=%v", noCoalesce), func(t *testing.T) { testTaskWritesAreFlushed(t, noCoalesce) })
	}
}

func testTaskWritesAreFlushed(t *testing.T, noCoalesce bool) {
	opts := engine.Options{Threads: 1, NoCoalesce: noCoalesce}
	for _, n := range []int{2, 50} {
		t.Run(fmt.Sprintf("clients=%d/dial", n), func(t *testing.T) {
			servers := []*testutil.Proc{testutil.StartRedis(t)}
			p := startLoopProxy(t, opts, servers)
			cs := loopClients(t, p, n)
			sendAll(cs, "GET", "k") // the first dial of the pool's connection
			for _, c := range cs {
				requireReply(t, c, "$-1\r\n")
			}
		})
		t.Run(fmt.Sprintf("clients=%d/dial-failed", n), func(t *testing.T) {
			refused := &testutil.Proc{Addr: "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))}
			p := startLoopProxy(t, opts, []*testutil.Proc{refused})
			cs := loopClients(t, p, n)
			sendAll(cs, "GET", "k")
			for _, c := range cs {
				requireReply(t, c, "-ERR")
			}
		})
		t.Run(fmt.Sprintf("clients=%d/tick-timeout", n), func(t *testing.T) {
			servers := []*testutil.Proc{testutil.StartRedis(t)}
			p := startLoopProxy(t, opts, servers, "timeout: 200")
			cs := loopClients(t, p, n)
			sendAll(cs, "GET", "k")
			for _, c := range cs {
				requireReply(t, c, "$-1\r\n")
			}
			servers[0].Stop()
			t.Cleanup(servers[0].Cont)
			sendAll(cs, "GET", "k")
			for _, c := range cs {
				reply := requireReply(t, c, "-ERR")
				require.Contains(t, reply, "timed out")
			}
		})
	}
}

// startLoopProxy is a proxy with opts (one event loop) over servers.
func startLoopProxy(t *testing.T, opts engine.Options, servers []*testutil.Proc, extra ...string) *proxy {
	t.Helper()
	listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	return startProxyOpts(t, opts, poolYAML(listen, servers, extra...), servers)
}

// loopClients connects n raw clients and waits until the proxy has them all.
func loopClients(t *testing.T, p *proxy, n int) []*testutil.Raw {
	t.Helper()
	cs := make([]*testutil.Raw, n)
	for i := range cs {
		cs[i] = testutil.RawConn(t, p.addr)
	}
	require.Eventually(t, func() bool { return p.srv.Stats().CurrConnections == int64(n) },
		5*time.Second, time.Millisecond)
	return cs
}

// sendAll sends one command on every client before any reply is read.
func sendAll(cs []*testutil.Raw, args ...string) {
	for _, c := range cs {
		c.SendCmd(args...)
	}
}

func requireReply(t *testing.T, c *testutil.Raw, prefix string) string {
	t.Helper()
	reply, err := c.ReadReply()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(reply), prefix), "reply %q, want %q...", reply, prefix)
	return string(reply)
}
