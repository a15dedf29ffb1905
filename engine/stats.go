package engine

import (
	"time"

	"github.com/ferry-proxy/ferry/worker"
)

// PoolSnapshot is one pool's counters summed over every event loop, with
// twemproxy's names in the json tags.
type PoolSnapshot struct {
	Name              string           `json:"-"`
	ClientEOF         uint64           `json:"client_eof"`
	ClientErr         uint64           `json:"client_err"`
	ClientConnections int64            `json:"client_connections"`
	TotalConnections  uint64           `json:"total_connections"`
	ServerEjects      uint64           `json:"server_ejects"`
	ForwardError      uint64           `json:"forward_error"`
	Fragments         uint64           `json:"fragments"`
	Requests          uint64           `json:"requests"`
	Servers           []ServerSnapshot `json:"-"`

	// ferry's additions
	Listen           string        `json:"-"`
	Protocol         string        `json:"-"` // redis, memcache, memcache_binary
	SlowlogThreshold time.Duration `json:"-"` // 0 = off
	SlowRequests     uint64        `json:"slow_requests"`
	Moved            uint64        `json:"-"` // redis_cluster: MOVED replies followed
	Asked            uint64        `json:"-"` // redis_cluster: ASK replies followed
	// Latency has one histogram per command class (resp: read, write,
	// multi, other; memcache: get, set, delete, other), as of each loop's
	// last tick.
	Latency []ClassLatency `json:"-"`
}

// ClassLatency is the latency histogram of one command class of a pool.
type ClassLatency struct {
	Class string
	worker.Histogram
}

// ServerSnapshot is one server's counters summed over every event loop.
type ServerSnapshot struct {
	Name              string `json:"-"`
	Addr              string `json:"-"`
	Ejected           bool   `json:"-"`
	ServerEOF         uint64 `json:"server_eof"`
	ServerErr         uint64 `json:"server_err"`
	ServerTimedout    uint64 `json:"server_timedout"`
	ServerConnections int64  `json:"server_connections"`
	ServerEjectedAt   int64  `json:"server_ejected_at"`
	Requests          uint64 `json:"requests"`
	RequestBytes      uint64 `json:"request_bytes"`
	Responses         uint64 `json:"responses"`
	ResponseBytes     uint64 `json:"response_bytes"`
	InQueue           int64  `json:"in_queue"`
	// Failures is the server's count of consecutive failures (failed
	// connects, timeouts, failed probes) since its last success, as
	// server_failure_limit counts them.
	Failures int `json:"-"`
	// Down says a connection to the server failed and no health probe has
	// succeeded since: requests to it are refused with the cause.
	Down bool `json:"-"`
}

// Snapshot is the proxy's statistics at one moment.
type Snapshot struct {
	Version          string
	Uptime           time.Duration
	Timestamp        time.Time
	Loops            int
	CurrConnections  int64 // client connections now, all pools
	TotalConnections uint64
	Reloads          uint64 // configuration reloads applied
	ReloadFailures   uint64 // reloads refused (invalid file, address taken, ...): nothing changed
	Pools            []PoolSnapshot
}

// Stats merges every loop's shard. Each counter is read atomically; the
// snapshot as a whole is not a single instant (twemproxy's is not either).
func (s *Server) Stats() Snapshot {
	now := time.Now()
	snap := Snapshot{Version: s.opts.Version, Uptime: now.Sub(s.started), Timestamp: now,
		Reloads: s.reloads.Load(), ReloadFailures: s.reloadFailures.Load()}
	s.mu.Lock()
	snap.Loops = len(s.loopList)
	s.mu.Unlock()
	for _, p := range s.topo.Load().pools {
		ps := PoolSnapshot{Name: p.Cfg.Name, Servers: make([]ServerSnapshot, len(p.Servers)),
			Listen: p.Cfg.Listen, Protocol: p.Cfg.Protocol, SlowlogThreshold: p.Cfg.SlowlogThreshold,
			Latency: make([]ClassLatency, worker.Classes)}
		for c, name := range classNames(poolProtocol(p.Cfg)) {
			ps.Latency[c].Class = name
		}
		for si, srv := range p.Servers {
			ps.Servers[si] = ServerSnapshot{Name: srv.Name, Addr: srv.Addr, Ejected: srv.Ejected(now.UnixNano()),
				ServerEjectedAt: srv.EjectedAt(), Failures: srv.Failures(), Down: srv.Down()}
		}
		for i := range p.Shards {
			sh := &p.Shards[i]
			pst := &sh.PoolStats
			ps.ClientEOF += pst.ClientEOF.Load()
			ps.ClientErr += pst.ClientErr.Load()
			ps.ClientConnections += pst.ClientConnections.Load()
			ps.TotalConnections += pst.TotalConnections.Load()
			ps.ForwardError += pst.ForwardError.Load()
			ps.Fragments += pst.Fragments.Load()
			ps.Requests += pst.Requests.Load()
			ps.Moved += pst.Moved.Load()
			ps.Asked += pst.Asked.Load()
			for c := range ps.Latency {
				sh.Latency[c].AddTo(&ps.Latency[c].Histogram)
			}
		}
		for si, srv := range p.Servers {
			out := &ps.Servers[si]
			for i := range srv.Shards {
				sst := &srv.Shards[i]
				out.ServerEOF += sst.ServerEOF.Load()
				out.ServerErr += sst.ServerErr.Load()
				out.ServerTimedout += sst.ServerTimedout.Load()
				out.ServerConnections += sst.ServerConnections.Load()
				out.Requests += sst.Requests.Load()
				out.RequestBytes += sst.RequestBytes.Load()
				out.Responses += sst.Responses.Load()
				out.ResponseBytes += sst.ResponseBytes.Load()
				out.InQueue += sst.InQueue.Load()
			}
		}
		for si, srv := range p.Servers {
			ps.ServerEjects += srv.Ejects.Load()
			// the prober's attempts, as twemproxy counts its reconnects
			ps.Servers[si].ServerErr += srv.ProbeErrors.Load()
			ps.Servers[si].ServerTimedout += srv.ProbeTimeouts.Load()
		}
		for c := range ps.Latency {
			ps.SlowRequests += ps.Latency[c].Slow
		}
		snap.CurrConnections += ps.ClientConnections
		snap.TotalConnections += ps.TotalConnections
		snap.Pools = append(snap.Pools, ps)
	}
	return snap
}
