package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

const etcdKey = "/ferry/config"

func etcdPut(t *testing.T, endpoint, value string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = cli.Put(ctx, etcdKey, value)
	require.NoError(t, err)
}

// poolYAML is a redis pool on listen over made-up servers: nothing is
// dialled until a client sends a request.
func poolYAML(listen string, servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alpha:\n  listen: %s\n  redis: true\n  servers:\n", listen)
	for _, s := range servers {
		fmt.Fprintf(&b, "   - %s\n", s)
	}
	return b.String()
}

var threeServers = []string{"127.0.0.1:6379:1 r1", "127.0.0.1:6380:1 r2", "127.0.0.1:6381:1 r3"}

func TestTestConfAgainst(t *testing.T) {
	old := writeConf(t, poolYAML("127.0.0.1:22121", threeServers...))
	next := writeConf(t, poolYAML("127.0.0.1:22121", append(threeServers, "127.0.0.1:6382:1 r4")...))
	code, out, errOut := runBinary(t, "-t", "-c", next, "--against", old)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, fmt.Sprintf("ferry: configuration file '%s' syntax is ok\n"+
		"ferry: a reload from '%s' to '%s' would change:\n"+
		"pool alpha: server r4 (127.0.0.1:6382, weight 1) added; 22.5%% of keys move (sampled 100000 keys)\n", next, old, next), out)

	code, out, _ = runBinary(t, "-t", "-c", old, "--against", old)
	require.Equal(t, 0, code)
	assert.Contains(t, out, "pool alpha: unchanged; no key moves (sampled 100000 keys)\n")

	// An invalid new file: its errors, exit 1, no preview.
	bad := writeConf(t, "alpha:\n  listen: 127.0.0.1:22121\n  hash: sha1\n  servers:\n   - 127.0.0.1:6379:1\n")
	code, out, errOut = runBinary(t, "-t", "-c", bad, "--against", old)
	require.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, bad+`:3: pool "alpha": key "hash": unknown hash "sha1"`)
	// An invalid old one: the new one is valid, but there is nothing to
	// compare with.
	code, out, errOut = runBinary(t, "-t", "-c", next, "--against", bad)
	require.Equal(t, 1, code)
	assert.Contains(t, out, "syntax is ok")
	assert.Contains(t, errOut, bad+":3:")
	assert.Contains(t, errOut, "--against needs a valid configuration")
	// --against does not serve.
	code, _, errOut = runBinary(t, "-c", next, "--against", old)
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "--against needs -t")
}

// ferry started from etcd: it serves the key's configuration (shown on
// /config), and each change is applied as a reload; an invalid one is
// logged with the key and line, and changes nothing.
func TestConfigSourceEtcd(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	listen, adminPort := testutil.FreePort(t), testutil.FreePort(t)
	text := poolYAML(loop(listen), threeServers...)
	etcdPut(t, etcd.Endpoint, text)
	src := "etcd://" + etcd.Endpoint + etcdKey

	code, out, errOut := runBinary(t, "-t", "--config-source", src)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "ferry: configuration etcd:/ferry/config syntax is ok\n", out)

	logFile := filepath.Join(t.TempDir(), "ferry.log")
	testutil.StartProcessWith(t, testutil.ProcOptions{
		Path:           ferryBin,
		Args:           []string{"--config-source", src, "--admin", loop(adminPort), "-s", "0", "-o", logFile},
		WaitAddr:       loop(listen),
		ExtraWaitAddrs: []string{loop(adminPort)},
		ExtraLogs:      []string{logFile},
	})
	code, _, body := httpGet(t, "http://"+loop(adminPort)+"/config")
	require.Equal(t, 200, code)
	assert.Equal(t, text, body)
	waitLog(t, logFile, `msg="ferry started"`)
	assert.True(t, fileContains(logFile, "conf=etcd:/ferry/config"))

	next := poolYAML(loop(listen), append(threeServers, "127.0.0.1:6382:1 r4")...)
	etcdPut(t, etcd.Endpoint, next)
	waitLog(t, logFile, `msg="configuration reloaded" trigger="config source" conf=etcd:/ferry/config changes="pool alpha: server r4 (127.0.0.1:6382) added"`)
	code, _, body = httpGet(t, "http://"+loop(adminPort)+"/config")
	require.Equal(t, 200, code)
	assert.Equal(t, next, body, "/config follows the reload")
	etcdPut(t, etcd.Endpoint, "alpha:\n  listen: "+loop(listen)+"\n  servers: []\n")
	waitLog(t, logFile, `configuration from the config source is invalid, nothing changed`)
	waitLog(t, logFile, `etcd:/ferry/config:3: pool \"alpha\": key \"servers\"`)
}

// etcd down at start: with -c ferry serves the file and delivers etcd's
// configuration once etcd is back; without -c it exits 1 and says why.
func TestConfigSourceEtcdDownAtStart(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	listen := testutil.FreePort(t)
	etcdPut(t, etcd.Endpoint, poolYAML(loop(listen), append(threeServers, "127.0.0.1:6382:1 r4")...))
	etcd.Kill()
	src := "etcd://" + etcd.Endpoint + etcdKey

	start := time.Now()
	code, _, errOut := runBinary(t, "--config-source", src, "--admin", "off", "-s", "0")
	require.Equal(t, 1, code)
	assert.Less(t, time.Since(start), 8*time.Second)
	assert.Contains(t, errOut, "ferry: cannot read the configuration: etcd:/ferry/config: no answer from "+etcd.Endpoint+" within 3s\n")
	assert.Contains(t, errOut, "no -c FILE to start from meanwhile")

	conf := writeConf(t, poolYAML(loop(listen), threeServers...))
	logFile := filepath.Join(t.TempDir(), "ferry.log")
	testutil.StartProcessWith(t, testutil.ProcOptions{
		Path:      ferryBin,
		Args:      []string{"--config-source", src, "-c", conf, "--admin", "off", "-s", "0", "-o", logFile},
		WaitAddr:  loop(listen),
		ExtraLogs: []string{logFile},
	})
	waitLog(t, logFile, `msg="config source unreachable at start: serving the -c file until it can be read" source=etcd:/ferry/config file=`+conf)
	waitLog(t, logFile, "conf="+conf)
	etcd.Restart(t)
	waitLog(t, logFile, `msg="config source reachable again"`)
	waitLog(t, logFile, `msg="configuration reloaded" trigger="config source" conf=etcd:/ferry/config changes="pool alpha: server r4 (127.0.0.1:6382) added"`)
}

// Two endpoints, the first dead: ferry starts from the live one.
func TestConfigSourceEtcdEndpoints(t *testing.T) {
	etcd := testutil.StartEtcd(t)
	listen := testutil.FreePort(t)
	etcdPut(t, etcd.Endpoint, poolYAML(loop(listen), threeServers...))
	dead := loop(testutil.FreePort(t))
	code, out, errOut := runBinary(t, "-t", "--config-source", "etcd://"+dead+","+etcd.Endpoint+etcdKey)
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "syntax is ok")
	code, _, errOut = runBinary(t, "-t", "--config-source", "etcd://"+etcd.Endpoint+"/no/such/key")
	require.Equal(t, 1, code)
	assert.Contains(t, errOut, "ferry: cannot read the configuration: etcd:/no/such/key: no such key on "+etcd.Endpoint+" (store the YAML with: etcdctl put /no/such/key < FILE)\n")
}
