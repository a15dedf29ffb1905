package engine_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// redis_auth set while the servers have no password yet (a password being
// rolled out): twemproxy ignores the reply to its AUTH, so this works; the
// server was marked down and every request refused.
func TestRedisAuthWithoutServerPassword(t *testing.T) {
	servers := startRedises(t, 1)
	p := startProxy(t, servers, "redis_auth: newpass", "timeout: 1000")
	c := redis.NewClient(&redis.Options{Addr: p.addr, Protocol: 2, DisableIndentity: true, Password: "newpass", MaxRetries: -1})
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, "v", c.Get(ctx, "k").Val())
}

// One script running 500 ms on a server with timeout 200 and
// server_failure_limit 2 is one timed-out request: twemproxy counts one
// failure and ejects nothing. The prober's PING queued behind the script
// and timed out too, and that second "failure" ejected the server.
func TestOneSlowRequestDoesNotEject(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "timeout: 200", "auto_eject_hosts: true",
		"server_failure_limit: 2", "server_retry_timeout: 30000")
	k := keyOn(t, p, 0, "slow")
	c := p.client(t)
	script := `local t=redis.call('TIME'); local s=t[1]*1000000+t[2]
while true do local n=redis.call('TIME'); if n[1]*1000000+n[2]-s > 500000 then break end end
return 1`
	require.ErrorContains(t, c.Eval(ctx, script, []string{k}).Err(), "timed out")
	// the script ends, a probe succeeds, the server is up again
	require.Eventually(t, func() bool {
		for _, s := range p.srv.Stats().Pools[0].Servers {
			if s.Addr == servers[0].Addr {
				return !s.Down
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	require.Zero(t, p.srv.Stats().Pools[0].ServerEjects, "a single slow request ejected the server")
	require.NoError(t, c.Set(ctx, k, "back", 0).Err())
}
