// Package preview tells what a reload from one configuration to another
// would change, pool by pool (`ferry -t -c new.yml --against old.yml`):
// pools added and removed, listen addresses, servers added, removed,
// re-weighted or moved, every other key that differs, and the share of keys
// that would land on another server. Placement is computed by building each
// pool as the proxy does (backend.NewPool: twemproxy's server order, hash,
// hash tag and distribution), so the figure is what routing would do, on a
// sample of synthetic keys.
package preview

import (
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/config"
)

// DefaultSampleKeys is how many synthetic keys Compare places when asked
// for none: enough that the share moved is stable to about 0.3 points.
const DefaultSampleKeys = 100_000

// Change is the kind of change to one pool.
type Change string

const (
	Added     Change = "added"
	Removed   Change = "removed"
	Changed   Change = "changed"
	Unchanged Change = "unchanged"
)

// Pool is what a reload would do to one pool.
type Pool struct {
	Name    string
	Change  Change
	Details []string // what differs: listen, servers, then the other keys (config.DiffPool's order)

	// Placement, for a pool in both configurations with deterministic
	// distributions on both sides (Sampled > 0).
	Sampled int // keys placed
	Moved   int // keys that land on another server
	// Random: either side distributes with `random`, so keys have no
	// fixed server to move from or to.
	Random bool
	// Cluster: either side is a redis_cluster pool, whose keys the
	// cluster's slot map places.
	Cluster bool
}

// MovedShare is Moved/Sampled, 0 when nothing was sampled.
func (p *Pool) MovedShare() float64 {
	if p.Sampled == 0 {
		return 0
	}
	return float64(p.Moved) / float64(p.Sampled)
}

// Compare returns, for every pool of next (in its order) and then every pool
// only in prev (in prev's order), what a reload from prev to next changes.
// samples is how many keys to place per pool (DefaultSampleKeys when 0).
func Compare(prev, next *config.Config, samples int) ([]Pool, error) {
	if samples <= 0 {
		samples = DefaultSampleKeys
	}
	var out []Pool
	for _, np := range next.Pools {
		op := prev.Pool(np.Name)
		if op == nil {
			out = append(out, Pool{Name: np.Name, Change: Added, Details: []string{
				fmt.Sprintf("listen %s, %s", np.Listen, plural(len(np.Servers), "server")),
			}})
			continue
		}
		p, err := comparePool(op, np, samples)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	for _, op := range prev.Pools {
		if next.Pool(op.Name) == nil {
			out = append(out, Pool{Name: op.Name, Change: Removed, Details: []string{
				fmt.Sprintf("stops listening on %s", op.Listen),
			}})
		}
	}
	return out, nil
}

func comparePool(op, np *config.Pool, samples int) (Pool, error) {
	p := Pool{Name: np.Name, Change: Unchanged}
	if op.Listen != np.Listen || op.ListenPerm != np.ListenPerm {
		p.Details = append(p.Details, fmt.Sprintf("listen %s -> %s", listenText(op), listenText(np)))
	}
	p.Details = append(p.Details, serverChanges(op.Servers, np.Servers)...)
	for _, k := range config.DiffPool(op, np) {
		if show, ok := display[k]; ok && k != "redis_auth" {
			p.Details = append(p.Details, fmt.Sprintf("%s %s -> %s", k, show(op), show(np)))
		} else {
			p.Details = append(p.Details, k+" changed")
		}
	}
	if len(p.Details) > 0 {
		p.Change = Changed
	}
	if op.Distribution == "random" || np.Distribution == "random" {
		p.Random = true
		return p, nil
	}
	if op.IsRedisCluster() || np.IsRedisCluster() {
		p.Cluster = true // the cluster's slot map, not the file, places keys
		return p, nil
	}
	moved, err := movedKeys(op, np, samples)
	if err != nil {
		return p, err
	}
	p.Sampled, p.Moved = samples, moved
	return p, nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

func listenText(p *config.Pool) string {
	if p.ListenPerm != 0 {
		return fmt.Sprintf("%s %04o", p.Listen, p.ListenPerm)
	}
	return p.Listen
}

// identity is how a server is recognised across the two configurations:
// its name when it has one, else its address, as twemproxy's ketama names
// its points.
func identity(s config.Server) string {
	if s.Name != "" {
		return s.Name
	}
	return s.Addr
}

func serverChanges(prev, next []config.Server) []string {
	old := map[string]config.Server{}
	for _, s := range prev {
		old[identity(s)] = s
	}
	inNext := map[string]bool{}
	var out []string
	for _, s := range next {
		id := identity(s)
		inNext[id] = true
		o, ok := old[id]
		switch {
		case !ok:
			out = append(out, "server "+serverText(s)+" added")
			continue
		case o.Addr != s.Addr || o.Network != s.Network:
			out = append(out, fmt.Sprintf("server %s address %s -> %s", id, o.Addr, s.Addr))
		}
		if o.Weight != s.Weight {
			out = append(out, fmt.Sprintf("server %s weight %d -> %d", id, o.Weight, s.Weight))
		}
	}
	for _, s := range prev {
		if !inNext[identity(s)] {
			out = append(out, "server "+serverText(s)+" removed")
		}
	}
	return out
}

func serverText(s config.Server) string {
	if s.Name != "" {
		return fmt.Sprintf("%s (%s, weight %d)", s.Name, s.Addr, s.Weight)
	}
	return fmt.Sprintf("%s (weight %d)", s.Addr, s.Weight)
}

// SampleKey appends the i-th synthetic key to dst: "key:" and a 64-bit
// number in hex, drawn from a fixed-seed generator, so every run places the same
// keys. Sequential keys ("key:1", "key:2", ...) would not do: fnv1a and
// other hashes keep the regularity of their last bytes in the low bits, and
// modula, which uses those bits, then looks far more even (or uneven) than
// with keys in use.
func SampleKey(dst []byte, rng *rand.PCG) []byte {
	dst = append(dst, "key:"...)
	return strconv.AppendUint(dst, rng.Uint64(), 16)
}

// newSampleRNG is the generator of SampleKey's sequence.
func newSampleRNG() *rand.PCG { return rand.NewPCG(0x666572727970, 0x7265766965770a) }

// movedKeys places samples synthetic keys (SampleKey) with the proxy's own
// routing under both pools and counts those whose server differs: another
// server, or the same name at another address (its data is not there).
func movedKeys(op, np *config.Pool, samples int) (int, error) {
	before, err := backend.NewPool(op, 1)
	if err != nil {
		return 0, fmt.Errorf("pool %q in the current configuration: %w", op.Name, err)
	}
	defer before.Close()
	after, err := backend.NewPool(np, 1)
	if err != nil {
		return 0, fmt.Errorf("pool %q in the new configuration: %w", np.Name, err)
	}
	defer after.Close()
	key := make([]byte, 0, 32)
	rng := newSampleRNG()
	moved := 0
	for range samples {
		key = SampleKey(key[:0], rng)
		a, b := before.Servers[before.Pick(key)], after.Servers[after.Pick(key)]
		if backend.Identity(a.Network, a.Addr, a.Name) != backend.Identity(b.Network, b.Addr, b.Name) {
			moved++
		}
	}
	return moved, nil
}

// Write prints one line per pool:
//
//	pool alpha: server r4 (127.0.0.1:6382, weight 1) added; 20.1% of keys move (sampled 100000 keys)
func Write(w io.Writer, pools []Pool) error {
	for _, p := range pools {
		var b strings.Builder
		fmt.Fprintf(&b, "pool %s: ", p.Name)
		switch p.Change {
		case Added, Removed:
			fmt.Fprintf(&b, "%s (%s)", p.Change, strings.Join(p.Details, ", "))
		case Unchanged:
			b.WriteString("unchanged")
		default:
			b.WriteString(strings.Join(p.Details, ", "))
		}
		switch {
		case p.Random:
			b.WriteString("; keys are not placed deterministically (distribution: random)")
		case p.Cluster:
			b.WriteString("; keys are placed by the cluster's slot map (distribution: redis_cluster)")
		case p.Sampled > 0 && p.Moved == 0:
			fmt.Fprintf(&b, "; no key moves (sampled %d keys)", p.Sampled)
		case p.Sampled > 0:
			fmt.Fprintf(&b, "; %.1f%% of keys move (sampled %d keys)", 100*p.MovedShare(), p.Sampled)
		}
		b.WriteByte('\n')
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}

// display shows a key's value in a pool, for the keys config.DiffPool
// reports; a key without one (and redis_auth, a secret) is said to have
// changed, without values. A test checks that every key has one.
var display = map[string]func(*config.Pool) string{
	"protocol":                 func(p *config.Pool) string { return p.Protocol },
	"hash":                     func(p *config.Pool) string { return p.Hash },
	"hash_tag":                 func(p *config.Pool) string { return strconv.Quote(p.HashTag) },
	"distribution":             func(p *config.Pool) string { return p.Distribution },
	"timeout":                  func(p *config.Pool) string { return ms(p.Timeout) },
	"backlog":                  func(p *config.Pool) string { return strconv.Itoa(p.Backlog) },
	"client_connections":       func(p *config.Pool) string { return strconv.Itoa(p.ClientConnections) },
	"tcpkeepalive":             func(p *config.Pool) string { return strconv.FormatBool(p.TCPKeepalive) },
	"reuseport":                func(p *config.Pool) string { return strconv.FormatBool(p.ReusePort) },
	"redis_db":                 func(p *config.Pool) string { return strconv.Itoa(p.RedisDB) },
	"preconnect":               func(p *config.Pool) string { return strconv.FormatBool(p.Preconnect) },
	"auto_eject_hosts":         func(p *config.Pool) string { return strconv.FormatBool(p.AutoEjectHosts) },
	"server_connections":       func(p *config.Pool) string { return strconv.Itoa(p.ServerConnections) },
	"server_connections_scope": func(p *config.Pool) string { return p.ServerConnectionsScope },
	"server_retry_timeout":     func(p *config.Pool) string { return ms(p.ServerRetryTimeout) },
	"server_failure_limit":     func(p *config.Pool) string { return strconv.Itoa(p.ServerFailureLimit) },
	"max_request_bytes":        func(p *config.Pool) string { return strconv.FormatInt(p.Limits.MaxRequestBytes, 10) },
	"max_inflight":             func(p *config.Pool) string { return strconv.Itoa(p.Limits.MaxInflight) },
	"max_output_bytes":         func(p *config.Pool) string { return strconv.FormatInt(p.Limits.MaxOutputBytes, 10) },
	"client_idle_timeout":      func(p *config.Pool) string { return ms(p.Limits.ClientIdleTimeout) },
	"max_multibulk_len":        func(p *config.Pool) string { return strconv.Itoa(p.Limits.MaxArrayLen) },
	"max_value_bytes":          func(p *config.Pool) string { return strconv.Itoa(p.Limits.MaxValueBytes) },
	"slowlog_threshold_ms":     func(p *config.Pool) string { return ms(p.SlowlogThreshold) },
	"cluster_emulation":        func(p *config.Pool) string { return strconv.FormatBool(p.ClusterEmulation) },
	"announce":                 func(p *config.Pool) string { return strconv.Quote(p.Announce) },
	"cluster_peers":            func(p *config.Pool) string { return "[" + strings.Join(p.ClusterPeers, ", ") + "]" },
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }
