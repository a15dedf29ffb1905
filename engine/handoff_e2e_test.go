package engine_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Scope "process": the process opens server_connections to each server, as
// twemproxy does, whatever the number of loops; the loops that own none
// hand their requests to one that does, and every client still gets every
// reply, in order.
func TestHandoffConnectionsPerProcess(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("server_connections=%d", n), func(t *testing.T) {
			servers := startRedises(t, 3)
			p := startProxy(t, servers, "hash: murmur", "timeout: 5000",
				fmt.Sprintf("server_connections: %d", n), "server_connections_scope: process")
			const clients, rounds = 8, 150
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for c := range clients {
				raw := testutil.RawConn(t, p.addr) // accepted round robin: both loops get clients
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- pipelineRounds(raw, fmt.Sprintf("c%d", c), rounds)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			for i, s := range servers {
				admin := testutil.RawConn(t, s.Addr)
				assert.Equal(t, n, edgeBackendClients(t, admin), "connections ferry keeps to server %d with 2 loops", i)
			}
			for i, s := range p.srv.Stats().Pools[0].Servers {
				assert.EqualValues(t, n, s.ServerConnections, "server_connections of server %d in the stats", i)
			}
		})
	}
}

// pipelineRounds sends rounds batches of SET, GET, MGET (keys on every
// server) and INCR on raw, without waiting between the commands of a
// batch, and checks every reply.
func pipelineRounds(raw *testutil.Raw, prefix string, rounds int) error {
	for i := range rounds {
		k := fmt.Sprintf("%s:%d", prefix, i)
		var b []byte
		b = append(b, testutil.Command("SET", k, k+"v")...)
		b = append(b, testutil.Command("GET", k)...)
		b = append(b, testutil.Command("MGET", k, prefix+":x", k, prefix+":y:"+k)...)
		b = append(b, testutil.Command("INCR", prefix+":n")...)
		if _, err := raw.Write(b); err != nil {
			return err
		}
		want := []string{
			"+OK\r\n",
			fmt.Sprintf("$%d\r\n%sv\r\n", len(k)+1, k),
			fmt.Sprintf("*4\r\n$%d\r\n%sv\r\n$-1\r\n$%d\r\n%sv\r\n$-1\r\n", len(k)+1, k, len(k)+1, k),
			fmt.Sprintf(":%d\r\n", i+1),
		}
		for j, w := range want {
			got, err := raw.ReadReply()
			if err != nil {
				return fmt.Errorf("%s round %d reply %d: %w", prefix, i, j, err)
			}
			if string(got) != w {
				return fmt.Errorf("%s round %d reply %d: got %q, want %q", prefix, i, j, got, w)
			}
		}
	}
	return nil
}

// A loop that stalls while it owns a server's connection: the requests the
// other loop handed it fail within the pool's timeout (they do not wait
// for the stalled loop), and the stalled loop's own clients get their
// replies once it runs again.
func TestHandoffStalledOwnerLoop(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "timeout: 300", "server_connections: 1", "server_connections_scope: process")
	owner := engine.ConnOwner(servers[0].Addr, 2)
	// Two clients: one on each loop (accepted round robin).
	a, b := testutil.RawConn(t, p.addr), testutil.RawConn(t, p.addr)
	for _, c := range []*testutil.Raw{a, b} {
		r, err := c.Do("SET", "k", "v")
		require.NoError(t, err)
		require.Equal(t, "+OK\r\n", string(r))
	}
	p.srv.StallLoop(owner, 1500*time.Millisecond)
	start := time.Now()
	a.SendCmd("GET", "k")
	b.SendCmd("GET", "k")
	type answer struct {
		reply string
		after time.Duration
	}
	answers := make(chan answer, 2)
	for _, c := range []*testutil.Raw{a, b} {
		go func() {
			r, err := c.ReadReply()
			if err != nil {
				r = []byte(err.Error())
			}
			answers <- answer{string(r), time.Since(start)}
		}()
	}
	first, second := <-answers, <-answers
	assert.Contains(t, first.reply, "has not run for", "the request handed to the stalled loop fails")
	assert.Less(t, first.after, time.Second, "within the timeout (300 ms) and a tick, not after the stall (1.5 s)")
	assert.Equal(t, "$1\r\nv\r\n", second.reply, "the stalled loop's own client is answered once it runs")
	assert.Greater(t, second.after, time.Second)
	// The relay works again once the owner does.
	for _, c := range []*testutil.Raw{a, b} {
		r, err := c.Do("GET", "k")
		require.NoError(t, err)
		assert.Equal(t, "$1\r\nv\r\n", string(r))
	}
	assert.True(t, strings.HasPrefix(first.reply, "-ERR ferry: server "), first.reply)
}

// The scope and server_connections changed by reloads under 20 pipelining
// clients: not one client-visible error, and after each reload the servers
// see the number of connections the new settings give (the connections no
// longer wanted drain and close, relays come and go).
func TestReloadConnectionScopeUnderLoad(t *testing.T) {
	servers := startRedises(t, 3)
	setConsts(t, servers...)
	listen := freeAddr(t)
	parse := func(extra ...string) *config.Config {
		cfg, err := config.Parse("reload.yml", []byte(reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers, extra: extra})))
		require.NoError(t, err)
		return cfg // not applyTestScope: the scope is this test's subject
	}
	p := startProxyOpts(t, engine.Options{}, reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers, extra: []string{"preconnect: true"}}), servers)
	pl := startPipeliners(t, p.addr, 20)
	pl.waitRequests(t, 2000)
	admins := make([]*testutil.Raw, len(servers))
	for i, s := range servers {
		admins[i] = testutil.RawConn(t, s.Addr)
	}
	steps := []struct {
		scope string
		n     int
		want  int // connections per server with 2 loops
	}{
		{"process", 1, 1},
		{"process", 3, 3},
		{"loop", 1, 2},
		{"process", 2, 2},
		{"process", 1, 1},
	}
	for i, st := range steps {
		_, err := p.srv.Reload(parse("preconnect: true", "server_connections_scope: "+st.scope, fmt.Sprintf("server_connections: %d", st.n)))
		require.NoError(t, err, "step %d", i)
		pl.waitRequests(t, 2000)
		for si, a := range admins {
			require.Eventually(t, func() bool { return edgeBackendClients(t, a) == st.want }, 5*time.Second, 10*time.Millisecond,
				"step %d (%s, %d): connections to server %d", i, st.scope, st.n, si)
		}
	}
	pl.check(t)
}

// One write of thousands of requests from a client on each loop: a relay's
// requests of one read fill several tickets (ticketMaxItems, and
// ticketMaxBytes with values of 40 KB), MGETs split into fragments over
// three servers, owned by different loops. Every reply comes back, in order.
func TestHandoffLongPipelineSpansTickets(t *testing.T) {
	servers := startRedises(t, 3)
	p := startProxy(t, servers, "server_connections: 1", "server_connections_scope: process")
	loops := map[int]*testutil.Raw{}
	for len(loops) < 2 {
		r := testutil.RawConn(t, p.addr)
		_, err := r.Do("PING")
		require.NoError(t, err)
		loops[p.srv.ClientLoops()[r.Conn.LocalAddr().String()]] = r
	}
	big := strings.Repeat("b", 40_000)
	errs := make(chan error, len(loops))
	for idx, raw := range loops {
		go func() {
			const n = 1500
			var b []byte
			var want []string
			for i := range n {
				k := fmt.Sprintf("long%d:%d", idx, i)
				v := k
				if i%100 == 7 {
					v = big
				}
				b = append(b, testutil.Command("SET", k, v)...)
				b = append(b, testutil.Command("GET", k)...)
				b = append(b, testutil.Command("MGET", k, fmt.Sprintf("long%d:missing:%d", idx, i), k)...)
				bulk := fmt.Sprintf("$%d\r\n%s\r\n", len(v), v)
				want = append(want, "+OK\r\n", bulk, "*3\r\n"+bulk+"$-1\r\n"+bulk)
			}
			go func() { _, _ = raw.Write(b) }()
			for j, w := range want {
				got, err := raw.ReadReply()
				if err != nil {
					errs <- fmt.Errorf("loop %d reply %d: %w", idx, j, err)
					return
				}
				if string(got) != w {
					errs <- fmt.Errorf("loop %d reply %d: got %.60q, want %.60q", idx, j, got, w)
					return
				}
			}
			errs <- nil
		}()
	}
	for range loops {
		require.NoError(t, <-errs)
	}
}
