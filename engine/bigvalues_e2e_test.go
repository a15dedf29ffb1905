package engine_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// What Redis and twemproxy accept passes with ferry's defaults: an MSET of
// five values of 16 MiB + 1 KiB and five empty ones, then an MGET of the
// same keys, through two servers with `timeout: 400` (nutcracker: ~0.2 s).
// ferry reset the connection at its old 64 MiB request limit.
func TestMSetMGetOf16MiBValuesWithDefaults(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "timeout: 400")
	c := p.client(t)
	var args []any
	vals := map[string][]byte{}
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("big%d", i)
		v := []byte{}
		if i < 5 {
			v = bytes.Repeat([]byte{byte('a' + i)}, 16<<20+1<<10)
		}
		vals[k] = v
		args = append(args, k, v)
	}
	began := time.Now()
	require.NoError(t, c.MSet(ctx, args...).Err())
	keys := make([]string, 0, 10)
	for i := 0; i < 10; i++ {
		keys = append(keys, fmt.Sprintf("big%d", i))
	}
	got, err := c.MGet(ctx, keys...).Result()
	require.NoError(t, err)
	require.Len(t, got, 10)
	for i, k := range keys {
		s, ok := got[i].(string)
		require.True(t, ok, "%s: %T", k, got[i])
		require.True(t, bytes.Equal(vals[k], []byte(s)), "%s: %d bytes, want %d", k, len(s), len(vals[k]))
	}
	t.Logf("MSET + MGET of %d MiB: %v", 5*(16<<20+1<<10)>>20, time.Since(began))
}
