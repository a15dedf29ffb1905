package testutil

import (
	"context"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// StartEtcd serves at once; Restart keeps the data; the test's end kills it.
func TestEtcd(t *testing.T) {
	t.Parallel()
	RequireBinary(t, "etcd")
	var pid int
	t.Run("start", func(t *testing.T) {
		e := StartEtcd(t)
		pid = e.Pid()
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + e.Endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, "/k", "v"); err != nil { // no retry: it serves when StartEtcd returns
			t.Fatalf("put right after start: %v", err)
		}
		e.Kill()
		if c, err := net.DialTimeout("tcp", e.Endpoint, time.Second); err == nil {
			c.Close()
			t.Fatalf("killed etcd still accepts on %s", e.Endpoint)
		}
		e.Restart(t)
		resp, err := cli.Get(ctx, "/k")
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
			t.Fatalf("after restart: %v %v", resp, err)
		}
		pid = e.Pid()
	})
	if pid == 0 || !pidGone(pid) {
		t.Errorf("etcd (pid %d) survived its test", pid)
	}
}
