package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/engine"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// A reload that changes a pool's protocol (memcache text -> binary): its
// connected clients speak the old one, so they are closed as those of a
// removed pool; new clients speak the new one. (The text client's get used
// to go to a binary backend connection and never got an answer.)
func TestReloadProtocolChangeClosesOldClients(t *testing.T) {
	servers := startMemcacheds(t, 1)
	listen := freeAddr(t)
	p := startProxyYAML(t, mcPoolYAML(listen, "memcache", servers), servers)
	old := testutil.RawConn(t, p.addr)
	old.SendString("set k 0 0 1\r\nv\r\n")
	line, err := old.ReadLine()
	require.NoError(t, err)
	require.Equal(t, "STORED", line)

	_, err = p.srv.Reload(mustParse(t, mcPoolYAML(listen, "memcache_binary", servers)))
	require.NoError(t, err)
	old.ExpectClosed(2 * time.Second)

	c, err := net.DialTimeout("tcp", listen, 5*time.Second)
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Write(encodeBin(0x0c, 7, nil, []byte("k"), nil)) // getk
	require.NoError(t, err)
	r := readBin(t, c)
	require.EqualValues(t, 7, r.opaque)
	require.EqualValues(t, 0, r.status)
}

// memcache noreply sets are done once queued for their server: a reload
// that retires the connection must still write them (they were reset with
// the write buffer when the connection closed before the loop's flush:
// 174 to 1848 of ~100k keys lost over 30 reloads).
func TestReloadKeepsNoreplySets(t *testing.T) {
	servers := []*testutil.Proc{testutil.StartMemcached(t, "-m", "1024"), testutil.StartMemcached(t, "-m", "1024")}
	listen := freeAddr(t)
	both := mcPoolYAML(listen, "memcache", servers)
	one := mcPoolYAML(listen, "memcache", servers[:1])
	p := startProxyOpts(t, engine.Options{Threads: 1}, both, servers)
	const clients = 4
	stop := make(chan struct{})
	var mu sync.Mutex
	var keys []string
	var wg sync.WaitGroup
	for id := 0; id < clients; id++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", p.addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for n := 0; ; n++ {
				var b []byte
				var sent []string
				for j := 0; j < 50; j++ {
					k := fmt.Sprintf("nr%d-%d-%d", id, n, j)
					sent = append(sent, k)
					b = append(b, fmt.Sprintf("set %s 0 0 1 noreply\r\nv\r\n", k)...)
				}
				b = append(b, "version\r\n"...) // paces the client: one batch at a time
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Write(b); err != nil {
					t.Error(err)
					return
				}
				if _, err := br.ReadString('\n'); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				keys = append(keys, sent...)
				mu.Unlock()
				select {
				case <-stop:
					return
				default:
				}
			}
		}(id)
	}
	for i := 0; i < 30; i++ {
		y := one
		if i%2 == 1 {
			y = both
		}
		_, err := p.srv.Reload(mustParse(t, y))
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond) // traffic between reloads
	}
	close(stop)
	wg.Wait()
	missing := func() []string {
		found := map[string]bool{}
		for _, s := range servers {
			for k := range mcHave(t, s.Addr, keys) {
				found[k] = true
			}
		}
		var out []string
		for _, k := range keys {
			if !found[k] {
				out = append(out, k)
			}
		}
		return out
	}
	// noreply sets may still be on their way to a server: wait, not sleep
	lost := missing()
	for deadline := time.Now().Add(10 * time.Second); len(lost) > 0 && time.Now().Before(deadline); {
		lost = missing()
	}
	require.Empty(t, lost, "%d of %d noreply sets lost over reloads (first: %v)", len(lost), len(keys), first(lost, 3))
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// mcHave returns which of keys the memcached at addr holds (multi-key gets
// of 500 keys on one connection).
func mcHave(t *testing.T, addr string, keys []string) map[string]bool {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer c.Close()
	br := bufio.NewReader(c)
	have := map[string]bool{}
	for i := 0; i < len(keys); i += 500 {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Write([]byte("get " + strings.Join(keys[i:min(i+500, len(keys))], " ") + "\r\n"))
		require.NoError(t, err)
		for {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			if line == "END\r\n" {
				break
			}
			if f := strings.Fields(line); len(f) == 4 && f[0] == "VALUE" {
				have[f[1]] = true
				_, err = br.ReadString('\n') // the value
				require.NoError(t, err)
			}
		}
	}
	return have
}

// A pool removed by a reload while its clients wait on a stalled server:
// after the grace limit the open client and the half-closed one are both
// closed (the half-closed one was not: it is not among the loop's clients).
func TestReloadGraceClosesHalfClosedClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c) }() // never answers
		}
	}()
	other := startRedises(t, 1)
	la, lb := freeAddr(t), freeAddr(t)
	yaml := func(withA bool) string {
		s := ""
		if withA {
			s += fmt.Sprintf("alpha:\n  listen: %s\n  redis: true\n  servers:\n    - %s:1 stall\n", la, ln.Addr())
		}
		return s + fmt.Sprintf("beta:\n  listen: %s\n  redis: true\n  servers:\n    - %s:1 r\n", lb, other[0].Addr)
	}
	srv, err := engine.New(mustParse(t, yaml(true)), engine.Options{Threads: 1, Version: "t",
		ReloadGrace: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	go func() { _ = srv.Serve() }()
	<-srv.Ready()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
	})
	open, err := net.Dial("tcp", la)
	require.NoError(t, err)
	defer open.Close()
	half, err := net.Dial("tcp", la)
	require.NoError(t, err)
	defer half.Close()
	_, _ = open.Write(testutil.Command("GET", "k"))
	_, _ = half.Write(testutil.Command("GET", "k"))
	require.NoError(t, half.(*net.TCPConn).CloseWrite())
	require.Eventually(t, func() bool {
		st := srv.Stats()
		return st.Pools[0].Servers[0].InQueue == 2 && st.CurrConnections == 1 // the half-closed one left gnet
	}, 5*time.Second, time.Millisecond)

	_, err = srv.Reload(mustParse(t, yaml(false)))
	require.NoError(t, err)
	for name, c := range map[string]net.Conn{"open": open, "half-closed": half} {
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := io.ReadAll(c)
		require.NoError(t, err, "the %s client of a removed pool is closed after the grace limit", name)
	}
}
