// Package backend holds what is shared about a pool of servers across event
// loops: the key -> server mapping (twemproxy's hashing and distributions),
// and each server's health (down or up, failure counts, ejection), kept by
// a prober per server that is down (health.go). The per-loop backend
// connections live in the engine; they report failures to this package and
// read its current selector with one atomic load per request, and a
// server's health only when they would dial it.
package backend

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/backend/hash"
	"github.com/ferry-proxy/ferry/config"
	"github.com/ferry-proxy/ferry/worker"
)

// Server is one configured backend server and its health, shared by every
// event loop. The loops read it with single atomic loads, and only when a
// connection has to be dialled or has failed; the prober (health.go) is the
// only writer while the server is down.
type Server struct {
	Addr    string // dial address: host:port or unix path
	Network string // "tcp" or "unix"
	Name    string // configured name, else Addr

	// Shards are the server's counters, one per event loop. A server that
	// stays through a reload keeps them, and its health.
	Shards []worker.ServerStats

	// owner is the pool the server belongs to now: a reload that keeps the
	// server moves it to the new pool (Activate), and its prober follows.
	owner   atomic.Pointer[Pool]
	probing sync.WaitGroup // its prober, while one runs

	down      atomic.Bool             // a connection failed and no probe has succeeded since
	cause     atomic.Pointer[Failure] // why it is down (nil while up)
	downSince atomic.Int64            // unix nanos
	lastProbe atomic.Int64            // unix nanos of the last probe's start
	failures  atomic.Int32            // consecutive failures (outages and failed probes) since the last success
	ejected   atomic.Bool             // out of the ring
	retryAt   atomic.Int64            // unix nanos: an ejected server may return from then
	ejectedAt atomic.Int64            // unix micros of the last ejection (twemproxy's server_ejected_at)
	failedReq atomic.Uint64           // requests failed on this server, all loops (counted on failure paths only)
	reqAtDown atomic.Uint64           // failedReq when the current outage began

	logMu  sync.Mutex // the prober's log rate limit, off the loops
	logged logState

	// Counters read by the stats endpoints.
	Ejects        atomic.Uint64 // ejections (once each, however many loops saw the failure)
	ProbeErrors   atomic.Uint64 // failed probes, counted in server_err
	ProbeTimeouts atomic.Uint64 // probes that timed out, counted in server_timedout
}

// Ejected reports whether the server is out of the ring. now is unused: an
// ejected server returns when a probe succeeds after server_retry_timeout.
func (s *Server) Ejected(now int64) bool { return s.ejected.Load() }

// EjectedAt is when the server was last ejected, in unix microseconds (0 if never).
func (s *Server) EjectedAt() int64 { return s.ejectedAt.Load() }

// Down reports whether the server is down: a connection to it failed and no
// probe has succeeded since. Connections that need a dial refuse requests
// meanwhile instead of dialling.
func (s *Server) Down() bool { return s.down.Load() }

// Cause is why the server is down, nil while it is up (or in the instant
// between being marked down and the cause being stored).
func (s *Server) Cause() *Failure {
	if !s.down.Load() {
		return nil
	}
	return s.cause.Load()
}

// Failures is the count of consecutive failures that server_failure_limit
// is checked against.
func (s *Server) Failures() int { return int(s.failures.Load()) }

// RequestFailed counts a request that failed on this server (for the
// recovery log line). Called on failure paths only: it is a shared atomic.
func (s *Server) RequestFailed() { s.failedReq.Add(1) }

// Pool is a configured server pool: immutable config plus live selector.
// A reload that changes a pool builds a new Pool (NewPool with the old one
// as prev) that keeps the servers, health and stats of what stayed.
type Pool struct {
	Cfg     *config.Pool
	Servers []*Server
	// Shards are the pool's counters and latency histograms, one per event
	// loop; kept by the pools that follow it under the same name.
	Shards []worker.PoolShard
	// Clients counts the pool's client connections, all loops (for
	// client_connections); kept like Shards.
	Clients *atomic.Int64

	hashFn hash.Func
	nodes  []hash.Node
	sel    atomic.Pointer[hash.Selector]

	// A redis_cluster pool (cluster.go): Servers are the masters of slots,
	// which owns each slot (nil until the first map is learned), the map
	// it came from, and the refresh requests shared by the pools that
	// follow it under the same name.
	cluster bool
	slots   *[cluster.Slots]uint16
	slotMap *cluster.Map
	refresh chan struct{}

	mu     sync.Mutex // serialises selector rebuilds and prober starts (never taken per request)
	closed bool
	ctx    context.Context // cancelled by Close: stops the probers
	cancel context.CancelFunc
	log    *slog.Logger
	nowFn  func() time.Time
}

// NewPool builds a pool from its config for the given number of event
// loops, and activates it: every server live.
func NewPool(cfg *config.Pool, loops int) (*Pool, error) {
	p, err := NextPool(cfg, loops, nil)
	if err != nil {
		return nil, err
	}
	p.Activate()
	return p, nil
}

// NextPool builds the pool that follows prev (nil: a new pool) after a
// reload. The servers of prev that stay, by identity (Identity), are the
// same *Server: their health, ejection and counters carry over, and the
// engine keeps its connections to them. Nothing changes for prev's users
// until Activate.
func NextPool(cfg *config.Pool, loops int, prev *Pool) (*Pool, error) {
	if cfg.IsRedisCluster() {
		return nextClusterPool(cfg, loops, prev, nil)
	}
	fn, ok := hash.Lookup(cfg.Hash)
	if !ok {
		return nil, fmt.Errorf("pool %q: unknown hash %q", cfg.Name, cfg.Hash)
	}
	p := &Pool{Cfg: cfg, hashFn: fn, nowFn: time.Now, log: slog.New(slog.DiscardHandler)}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	kept := map[string]*Server{}
	if prev != nil {
		p.Shards, p.Clients, p.log = prev.Shards, prev.Clients, prev.log
		if SameConnections(prev.Cfg, cfg) {
			for _, s := range prev.Servers {
				kept[Identity(s.Network, s.Addr, s.Name)] = s
			}
		}
	}
	if p.Shards == nil {
		p.Shards, p.Clients = make([]worker.PoolShard, loops), new(atomic.Int64)
	}
	for _, s := range twemproxyOrder(cfg.Servers) {
		name := s.Name
		if name == "" {
			name = s.Addr
		}
		srv := kept[Identity(s.Network, s.Addr, name)]
		if srv == nil {
			srv = &Server{Addr: s.Addr, Network: s.Network, Name: name, Shards: make([]worker.ServerStats, loops)}
		}
		p.Servers = append(p.Servers, srv)
		p.nodes = append(p.nodes, hash.Node{Name: s.Name, Host: s.Host, Port: s.Port, Addr: s.Addr, Weight: s.Weight})
	}
	if err := p.rebuild(); err != nil {
		return nil, err
	}
	return p, nil
}

// Identity is what makes two configured servers the same server across a
// reload: its address and its name (the name places keys with ketama).
func Identity(network, addr, name string) string { return network + "|" + addr + "|" + name }

// SameConnections reports whether connections made for pool a serve pool b
// as they are: same protocol, credentials and database.
func SameConnections(a, b *config.Pool) bool {
	return a.Redis == b.Redis && a.Protocol == b.Protocol && a.RedisAuth == b.RedisAuth &&
		a.RedisDB == b.RedisDB && a.TCPKeepalive == b.TCPKeepalive
}

// Activate makes p the owner of its servers: their failures count against
// p's limits and their probers use p's settings. A server that is down
// keeps being probed.
func (p *Pool) Activate() {
	for _, s := range p.Servers {
		s.owner.Store(p)
	}
	p.mu.Lock()
	_ = p.rebuild() // ejections made while p was being built
	p.mu.Unlock()
}

// Pick returns the index of the server that owns key (hash tag applied), or
// -1 when no server is live. It does not allocate and takes no lock.
func (p *Pool) Pick(key []byte) int {
	if p.cluster {
		return p.pickSlot(key)
	}
	if p.Cfg.HashTag != "" {
		key = hash.HashTag(key, p.Cfg.HashTag)
	}
	return p.sel.Load().Pick(key)
}

// SetLogger sets where server failures, recoveries and ejections are
// logged (by default nowhere). Call it before the pool is used.
func (p *Pool) SetLogger(l *slog.Logger) { p.log = l }

// ReportSuccess clears a server's consecutive failure count: a connection
// to it got replies (twemproxy's server_ok, on a response).
func (s *Server) ReportSuccess() {
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
}

// ReportFailure reports that a connection to server i failed with err (a
// refused or timed-out dial, a reset, a timeout, a broken reply). Failures
// are counted per server, as twemproxy does, not per connection: the first
// report of an outage marks the server down, counts one failure against
// server_failure_limit and starts its prober; the reports of the other
// loops' connections that saw the same outage are not counted. The prober
// counts each failed probe, ejects the server (with auto_eject_hosts) once
// the limit is reached, and marks it up when a probe succeeds. It returns
// whether this call marked the server down.
func (s *Server) ReportFailure(err error) bool {
	p := s.owner.Load()
	if p == nil || !s.down.CompareAndSwap(false, true) {
		return false
	}
	f := NewFailure(err)
	s.cause.Store(f)
	s.downSince.Store(p.nowFn().UnixNano())
	s.reqAtDown.Store(s.failedReq.Load())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return true
	}
	s.probing.Add(1)
	go s.probeLoop(f)
	return true
}

// countFailure counts one failure of s and ejects it when auto_eject_hosts
// is set and server_failure_limit is reached. The ejection is a CAS, so it
// happens, and is counted, once however many goroutines count at once.
func (p *Pool) countFailure(s *Server) {
	n := s.failures.Add(1)
	if !p.Cfg.AutoEjectHosts || int(n) < p.Cfg.ServerFailureLimit || !s.ejected.CompareAndSwap(false, true) {
		return
	}
	now := p.nowFn()
	s.failures.Store(0)
	s.retryAt.Store(now.Add(p.Cfg.ServerRetryTimeout).UnixNano())
	s.ejectedAt.Store(now.UnixMicro())
	s.Ejects.Add(1)
	p.rebuildFor(s)
	p.logEject(s, int(n))
}

// readmit puts an ejected server back into the ring.
func (p *Pool) readmit(s *Server) {
	if !s.ejected.CompareAndSwap(true, false) {
		return
	}
	p.rebuildFor(s)
}

// rebuildFor rebuilds the rings that hold s after its ejection changed:
// p's, and that of the pool s has moved to if a reload handed it over
// meanwhile (the prober may have read its owner before the hand-over).
func (p *Pool) rebuildFor(s *Server) {
	p.mu.Lock()
	_ = p.rebuild()
	p.mu.Unlock()
	if o := s.owner.Load(); o != nil && o != p {
		o.mu.Lock()
		_ = o.rebuild()
		o.mu.Unlock()
	}
}

// Close stops the probers of the servers p still owns (those that did not
// move to a pool that follows it) and waits for them.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closed = true
	p.cancel()
	p.mu.Unlock()
	for _, s := range p.Servers {
		if s.owner.Load() == p {
			s.probing.Wait()
		}
	}
}

// LiveCount returns the number of servers currently in the ring.
func (p *Pool) LiveCount() int {
	n := 0
	for _, s := range p.Servers {
		if !s.ejected.Load() {
			n++
		}
	}
	return n
}

// rebuild publishes a selector over the servers that are not ejected.
func (p *Pool) rebuild() error {
	if p.cluster {
		return nil // the cluster's slot map places keys, not ejections
	}
	live := make([]bool, len(p.Servers))
	for i, s := range p.Servers {
		live[i] = !s.ejected.Load()
	}
	sel, err := hash.NewSelector(p.Cfg.Distribution, p.hashFn, p.nodes, live)
	if err != nil {
		return fmt.Errorf("pool %q: %w", p.Cfg.Name, err)
	}
	p.sel.Store(sel)
	return nil
}

// twemproxyOrder returns the servers in the order twemproxy keeps them:
// it sorts a pool's servers by name (the configured name, else host:port,
// else host for port 11211) while checking for duplicates, shorter names
// first, then bytewise, and builds its distributions over that order. With
// modula (and on ketama ties) the order decides where keys go, so ferry must
// use the same one, not the file's.
func twemproxyOrder(servers []config.Server) []config.Server {
	out := slices.Clone(servers)
	slices.SortStableFunc(out, func(a, b config.Server) int {
		if len(a.Ident) != len(b.Ident) {
			return len(a.Ident) - len(b.Ident)
		}
		switch {
		case a.Ident < b.Ident:
			return -1
		case a.Ident > b.Ident:
			return 1
		}
		return 0
	})
	return out
}
