// Package backend holds what is shared about a pool of servers across event
// loops: the key -> server mapping (twemproxy's hashing and distributions),
// and each server's health (failure counts, ejection and retry). The
// per-loop backend connections live in the engine; they report to this
// package and read its current selector with one atomic load per request.
package backend

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/backend/hash"
	"github.com/ferry-proxy/ferry/config"
)

// Server is one configured backend server and its shared health.
type Server struct {
	Index   int
	Addr    string // dial address: host:port or unix path
	Network string // "tcp" or "unix"
	Name    string // configured name, else Addr

	failures     atomic.Int32 // consecutive failures since the last success
	ejectedUntil atomic.Int64 // unix nanos; 0 when live
	ejectedAt    atomic.Int64 // unix micros of the last ejection (twemproxy's server_ejected_at)

	// Counters read by the stats endpoints.
	Ejects atomic.Uint64
}

// Ejected reports whether the server is out of the ring at now.
func (s *Server) Ejected(now int64) bool {
	u := s.ejectedUntil.Load()
	return u != 0 && now < u
}

// EjectedAt is when the server was last ejected, in unix microseconds (0 if never).
func (s *Server) EjectedAt() int64 { return s.ejectedAt.Load() }

// ConsecutiveFailures is the number of failures reported since the last
// success (0 while the server works).
func (s *Server) ConsecutiveFailures() int { return int(s.failures.Load()) }

// Pool is a configured server pool: immutable config plus live selector.
type Pool struct {
	Cfg     *config.Pool
	Servers []*Server

	hashFn hash.Func
	nodes  []hash.Node
	sel    atomic.Pointer[hash.Selector]

	mu       sync.Mutex // serialises selector rebuilds (never taken per request)
	retryTmr *time.Timer
	closed   bool
	nowFn    func() time.Time
}

// NewPool builds a pool from its config with every server live.
func NewPool(cfg *config.Pool) (*Pool, error) {
	fn, ok := hash.Lookup(cfg.Hash)
	if !ok {
		return nil, fmt.Errorf("pool %q: unknown hash %q", cfg.Name, cfg.Hash)
	}
	p := &Pool{Cfg: cfg, hashFn: fn, nowFn: time.Now}
	for i, s := range twemproxyOrder(cfg.Servers) {
		name := s.Name
		if name == "" {
			name = s.Addr
		}
		p.Servers = append(p.Servers, &Server{Index: i, Addr: s.Addr, Network: s.Network, Name: name})
		p.nodes = append(p.nodes, hash.Node{Name: s.Name, Host: s.Host, Port: s.Port, Addr: s.Addr, Weight: s.Weight})
	}
	if err := p.rebuild(p.nowFn().UnixNano()); err != nil {
		return nil, err
	}
	return p, nil
}

// Pick returns the index of the server that owns key (hash tag applied), or
// -1 when no server is live. It does not allocate and takes no lock.
func (p *Pool) Pick(key []byte) int {
	if p.Cfg.HashTag != "" {
		key = hash.HashTag(key, p.Cfg.HashTag)
	}
	return p.sel.Load().Pick(key)
}

// ReportSuccess clears a server's consecutive failure count.
func (p *Pool) ReportSuccess(i int) {
	s := p.Servers[i]
	if s.failures.Load() != 0 {
		s.failures.Store(0)
	}
}

// ReportFailure counts a failure (refused connect, timeout, broken
// connection). With auto_eject_hosts, server_failure_limit consecutive
// failures take the server out of the ring for server_retry_timeout, as
// twemproxy does; it returns true when this call ejected the server.
func (p *Pool) ReportFailure(i int) bool {
	s := p.Servers[i]
	n := s.failures.Add(1)
	if !p.Cfg.AutoEjectHosts || int(n) < p.Cfg.ServerFailureLimit {
		return false
	}
	now := p.nowFn()
	if s.Ejected(now.UnixNano()) {
		return false
	}
	s.failures.Store(0)
	s.ejectedUntil.Store(now.Add(p.Cfg.ServerRetryTimeout).UnixNano())
	s.ejectedAt.Store(now.UnixMicro())
	s.Ejects.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.rebuild(now.UnixNano())
	p.scheduleRetryLocked()
	return true
}

// Close stops the pool's retry timer.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.retryTmr != nil {
		p.retryTmr.Stop()
	}
}

// LiveCount returns the number of servers currently in the ring.
func (p *Pool) LiveCount() int {
	now := p.nowFn().UnixNano()
	n := 0
	for _, s := range p.Servers {
		if !s.Ejected(now) {
			n++
		}
	}
	return n
}

// rebuild publishes a selector over the servers that are live at now.
func (p *Pool) rebuild(now int64) error {
	live := make([]bool, len(p.Servers))
	for i, s := range p.Servers {
		live[i] = !s.Ejected(now)
	}
	sel, err := hash.NewSelector(p.Cfg.Distribution, p.hashFn, p.nodes, live)
	if err != nil {
		return fmt.Errorf("pool %q: %w", p.Cfg.Name, err)
	}
	p.sel.Store(sel)
	return nil
}

// scheduleRetryLocked arms a timer for the earliest ejection to expire, when
// the server goes back into the ring (twemproxy re-adds it after
// server_retry_timeout and ejects it again if it still fails).
func (p *Pool) scheduleRetryLocked() {
	if p.closed {
		return
	}
	var next int64
	for _, s := range p.Servers {
		if u := s.ejectedUntil.Load(); u != 0 && (next == 0 || u < next) {
			next = u
		}
	}
	if next == 0 {
		return
	}
	d := time.Duration(next - p.nowFn().UnixNano())
	if d < 0 {
		d = 0
	}
	if p.retryTmr != nil {
		p.retryTmr.Stop()
	}
	p.retryTmr = time.AfterFunc(d, p.onRetry)
}

func (p *Pool) onRetry() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.nowFn().UnixNano()
	for _, s := range p.Servers {
		if u := s.ejectedUntil.Load(); u != 0 && now >= u {
			s.ejectedUntil.Store(0)
		}
	}
	_ = p.rebuild(now)
	p.scheduleRetryLocked()
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
