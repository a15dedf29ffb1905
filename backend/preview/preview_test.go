package preview

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/config"
)

func parse(t *testing.T, name, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(name, []byte(text))
	require.NoError(t, err)
	return cfg
}

// pool is a one-pool file with the given distribution and servers.
func pool(dist string, servers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  hash: fnv1a_64\n  distribution: %s\n  servers:\n", dist)
	for _, s := range servers {
		fmt.Fprintf(&b, "   - %s\n", s)
	}
	return b.String()
}

var (
	four       = []string{"127.0.0.1:6379:1 r1", "127.0.0.1:6380:1 r2", "127.0.0.1:6381:1 r3", "127.0.0.1:6382:1 r4"}
	three      = four[:3]
	reweighted = append([]string{"127.0.0.1:6379:2 r1"}, four[1:]...)
	r4Added    = []string{"server r4 (127.0.0.1:6382, weight 1) added"}
)

func preview(t *testing.T, prev, next string) (Pool, string) {
	t.Helper()
	pools, err := Compare(parse(t, "old.yml", prev), parse(t, "new.yml", next), 0)
	require.NoError(t, err)
	require.Len(t, pools, 1)
	var b strings.Builder
	require.NoError(t, Write(&b, pools))
	return pools[0], b.String()
}

// The sample is fixed (SampleKey) and so is the hashing, so each
// figure is exact; a change in placement code shows here.
func TestPreviewGolden(t *testing.T) {
	f := func(name, prev, next string, want Pool, wantLine string) {
		t.Helper()
		got, line := preview(t, prev, next)
		require.Equal(t, want, got, name)
		require.Equal(t, wantLine+"\n", line, name)
	}
	// ketama: a fourth equal server takes about a quarter of the keys
	// (its 160 points cover 22.5% of the continuum here).
	f("ketama add 4th", pool("ketama", three...), pool("ketama", four...),
		Pool{Name: "alpha", Change: Changed, Details: r4Added, Sampled: 100000, Moved: 22480},
		"pool alpha: server r4 (127.0.0.1:6382, weight 1) added; 22.5% of keys move (sampled 100000 keys)")
	f("ketama remove 4th", pool("ketama", four...), pool("ketama", three...),
		Pool{Name: "alpha", Change: Changed, Details: []string{"server r4 (127.0.0.1:6382, weight 1) removed"}, Sampled: 100000, Moved: 22480},
		"pool alpha: server r4 (127.0.0.1:6382, weight 1) removed; 22.5% of keys move (sampled 100000 keys)")
	// modula: three keys in four move (h%3 and h%4 agree on a quarter).
	f("modula add 4th", pool("modula", three...), pool("modula", four...),
		Pool{Name: "alpha", Change: Changed, Details: r4Added, Sampled: 100000, Moved: 75005},
		"pool alpha: server r4 (127.0.0.1:6382, weight 1) added; 75.0% of keys move (sampled 100000 keys)")
	f("no change", pool("ketama", four...), pool("ketama", four...),
		Pool{Name: "alpha", Change: Unchanged, Sampled: 100000},
		"pool alpha: unchanged; no key moves (sampled 100000 keys)")
	f("weight", pool("ketama", four...), pool("ketama", reweighted...),
		Pool{Name: "alpha", Change: Changed, Details: []string{"server r1 weight 1 -> 2"}, Sampled: 100000, Moved: 15960},
		"pool alpha: server r1 weight 1 -> 2; 16.0% of keys move (sampled 100000 keys)")
	f("random", pool("random", three...), pool("random", four...),
		Pool{Name: "alpha", Change: Changed, Details: r4Added, Random: true},
		"pool alpha: server r4 (127.0.0.1:6382, weight 1) added; keys are not placed deterministically (distribution: random)")
	f("distribution", pool("ketama", four...), pool("modula", four...),
		Pool{Name: "alpha", Change: Changed, Details: []string{"distribution ketama -> modula"}, Sampled: 100000, Moved: 74756},
		"pool alpha: distribution ketama -> modula; 74.8% of keys move (sampled 100000 keys)")
}

// The ketama figure checked against a model: adding r4 moves a key only
// onto r4, and every key r4 gets was moved there.
func TestPreviewKetamaMovesOnlyToNewServer(t *testing.T) {
	before, err := backend.NewPool(parse(t, "old.yml", pool("ketama", three...)).Pools[0], 1)
	require.NoError(t, err)
	defer before.Close()
	after, err := backend.NewPool(parse(t, "new.yml", pool("ketama", four...)).Pools[0], 1)
	require.NoError(t, err)
	defer after.Close()
	onR4 := 0
	rng := newSampleRNG()
	for range DefaultSampleKeys {
		key := SampleKey(nil, rng)
		a, b := before.Servers[before.Pick(key)], after.Servers[after.Pick(key)]
		if b.Name == "r4" {
			onR4++
		} else {
			require.Equal(t, a.Name, b.Name, "key %s moved between old servers", key)
		}
	}
	require.Equal(t, 22480, onR4)
}

func TestPreviewPools(t *testing.T) {
	prev := `alpha:
  listen: 127.0.0.1:22121
  redis: true
  redis_auth: old-secret
  timeout: 100
  servers:
   - 127.0.0.1:6379:1 r1
   - 127.0.0.1:6380:1 r2
beta:
  listen: 127.0.0.1:22122
  servers:
   - 127.0.0.1:11211:1
   - 127.0.0.1:11212:1
gone:
  listen: 127.0.0.1:22123
  servers:
   - 127.0.0.1:11213:1
`
	next := `alpha:
  listen: 127.0.0.1:22131
  redis: true
  redis_auth: new-secret
  timeout: 250
  hash_tag: "{}"
  servers:
   - 127.0.0.1:6389:1 r1
   - 127.0.0.1:6380:1 r2
beta:
  listen: 127.0.0.1:22122
  servers:
   - 127.0.0.1:11211:1
   - 127.0.0.1:11214:3
fresh:
  listen: 127.0.0.1:22124
  servers:
   - 127.0.0.1:11215:1
`
	pools, err := Compare(parse(t, "old.yml", prev), parse(t, "new.yml", next), 1000)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, Write(&b, pools))
	out := b.String()
	require.NotContains(t, out, "secret")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 4, out)
	// r1 keeps its name (so its ketama points) but not its address: its
	// keys are counted as moved, as its data is not at the new address.
	require.Regexp(t, `^pool alpha: listen 127.0.0.1:22121 -> 127.0.0.1:22131, server r1 address 127.0.0.1:6379 -> 127.0.0.1:6389, `+
		`hash_tag "" -> "\{\}", timeout 100ms -> 250ms, redis_auth changed; (4\d|5\d)\.\d% of keys move \(sampled 1000 keys\)$`, lines[0])
	require.Regexp(t, `^pool beta: server 127.0.0.1:11214 \(weight 3\) added, server 127.0.0.1:11212 \(weight 1\) removed; \d+\.\d% of keys move \(sampled 1000 keys\)$`, lines[1])
	require.Equal(t, "pool fresh: added (listen 127.0.0.1:22124, 1 server)", lines[2])
	require.Equal(t, "pool gone: removed (stops listening on 127.0.0.1:22123)", lines[3])
}

// Every key a pool accepts that config.DiffPool reports can be shown with
// its values: all but listen and servers (said by the preview itself),
// redis (protocol says it) and redis_auth (a secret).
func TestPreviewShowsEveryKey(t *testing.T) {
	for _, k := range config.Keys() {
		switch k {
		case "listen", "servers", "redis", "redis_auth":
			continue
		}
		require.Contains(t, display, k, "backend/preview cannot show key %q", k)
	}
}
