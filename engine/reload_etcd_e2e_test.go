package engine_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/config/source"
	"github.com/ferry-proxy/ferry/internal/testutil"
)

// Reloads pushed through etcd under 20 pipelining clients, with etcd
// stopped and started again in the middle: every change is applied once
// etcd answers, and no client sees an error.
func TestReloadThroughEtcdUnderLoad(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	servers := startRedises(t, 3)
	setConsts(t, servers...)
	listen := freeAddr(t)
	a := reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers})
	b := reloadYAML(reloadPool{name: "alpha", listen: listen, servers: servers[:2]})
	put := func(v string) {
		t.Helper()
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + etcd.Endpoint},
			DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		require.NoError(t, err)
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = cli.Put(ctx, "/ferry/config", v)
		require.NoError(t, err)
	}
	put(a)
	src, err := source.Open("etcd://"+etcd.Endpoint+"/ferry/config", source.Options{ProbeInterval: 200 * time.Millisecond})
	require.NoError(t, err)
	cfg, _, err := src.Load(context.Background())
	require.NoError(t, err)
	require.Len(t, cfg.Pools[0].Servers, 3)
	p := startProxyYAML(t, a, servers)
	ctx, cancel := context.WithCancel(context.Background())
	applied := make(chan int, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Watch(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), func(cfg *config.Config, _ []byte, err error) {
			if err != nil {
				t.Errorf("watch: %v", err)
				return
			}
			if _, err := p.srv.Reload(cfg); err != nil {
				t.Errorf("reload: %v", err)
				return
			}
			applied <- len(cfg.Pools[0].Servers)
		})
	}()
	t.Cleanup(func() { cancel(); <-done; _ = src.Close() })
	pl := startPipeliners(t, p.addr, 20)
	pl.waitRequests(t, 1000)
	servercount := func() int { return len(p.srv.Stats().Pools[0].Servers) }
	expect := func(n int) {
		t.Helper()
		select {
		case got := <-applied:
			require.Equal(t, n, got)
		case <-time.After(15 * time.Second):
			t.Fatalf("the change to %d servers was not applied", n)
		}
		require.Equal(t, n, servercount())
		pl.waitRequests(t, 500)
	}
	for i := 0; i < 5; i++ {
		put(b)
		expect(2)
		put(a)
		expect(3)
	}
	etcd.Kill()
	pl.waitRequests(t, 1000) // serving on while etcd is down
	etcd.Restart(t)
	put(b)
	expect(2)
	pl.check(t)
}
