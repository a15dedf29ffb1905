package engine

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-proxy/ferry/config"
)

// Cluster emulation, the fleet: which peers are live, probed off the loops.
//
// A pool with cluster_peers has one prober goroutine. Every peerProbeEvery
// it PINGs every peer at once, each on a connection it keeps open, with a
// deadline of peerProbeTimeout for connect, write and reply together. A peer
// that fails peerDownAfter probes in a row leaves the announced map; one
// probe answered brings it back. So a peer that stops answering is dropped
// by every member within peerDownAfter*peerProbeEvery + peerProbeTimeout
// (700 ms), and a peer that answers again is back within peerProbeEvery
// plus its reply time. At start every peer is assumed live, so all members
// announce the whole fleet at once; a peer that is not there is dropped
// within the same bound.
//
// The map is rebuilt only when the live set changes, and published with an
// atomic store; the loops read it with one atomic load, for CLUSTER
// commands only.
const (
	peerProbeEvery   = 250 * time.Millisecond
	peerProbeTimeout = 200 * time.Millisecond
	peerDownAfter    = 2
)

// probePing is the probe: any reply (+PONG, or -NOAUTH from a pool with
// redis_auth) shows the peer serves.
var probePing = []byte("*1\r\n$4\r\nPING\r\n")

// emulation is the cluster emulation of one pool. It lives as long as the
// pool's emulation settings (announce, cluster_peers) do: a reload that
// keeps them keeps it, and its view of the fleet.
type emulation struct {
	pool     string
	announce string
	peers    []string // sorted, without announce
	view     atomic.Pointer[clusterView]
	log      *slog.Logger

	started   bool // the prober runs (start and close run serialized: New, reload, Stop)
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newEmulation(pc *config.Pool, log *slog.Logger) *emulation {
	e := &emulation{pool: pc.Name, announce: pc.Announce, peers: pc.ClusterPeers, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	e.view.Store(newClusterView(e.announce, e.peers))
	return e
}

// sameSettings reports whether pc emulates what e does.
func (e *emulation) sameSettings(pc *config.Pool) bool {
	return pc.ClusterEmulation && pc.Announce == e.announce && slices.Equal(pc.ClusterPeers, e.peers)
}

// start runs the prober, when there are peers to probe.
func (e *emulation) start() {
	if e.started || len(e.peers) == 0 {
		return
	}
	e.started = true
	go e.run()
}

// close stops the prober and waits for it (at most one probe round).
func (e *emulation) close() {
	if !e.started {
		return
	}
	e.closeOnce.Do(func() { close(e.stop) })
	<-e.done
}

// peerProbe is the prober's state of one peer.
type peerProbe struct {
	addr  string
	conn  net.Conn
	rd    *bufio.Reader
	fails int
	live  bool
	err   error // the last failure, for the log
}

func (e *emulation) run() {
	defer close(e.done)
	probes := make([]*peerProbe, len(e.peers))
	for i, a := range e.peers {
		probes[i] = &peerProbe{addr: a, live: true}
	}
	defer func() {
		for _, p := range probes {
			p.reset()
		}
	}()
	tick := time.NewTicker(peerProbeEvery)
	defer tick.Stop()
	for {
		e.probeRound(probes)
		select {
		case <-e.stop:
			return
		case <-tick.C:
		}
	}
}

// probeRound probes every peer at once and publishes a new map when the
// live set changed.
func (e *emulation) probeRound(probes []*peerProbe) {
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.err = p.probe()
		}()
	}
	wg.Wait()
	changed := false
	for _, p := range probes {
		was := p.live
		if p.err == nil {
			p.fails, p.live = 0, true
		} else if p.fails++; p.fails >= peerDownAfter {
			p.live = false
		} else {
			e.log.Debug("cluster emulation: probe failed", "pool", e.pool, "peer", p.addr, "failures", p.fails, "err", p.err)
		}
		if p.live != was {
			changed = true
			if p.live {
				e.log.Info("cluster emulation: peer is back in the announced map", "pool", e.pool, "peer", p.addr)
			} else {
				e.log.Warn("cluster emulation: peer dropped from the announced map", "pool", e.pool, "peer", p.addr, "err", p.err)
			}
		}
	}
	if !changed {
		return
	}
	var live []string
	for _, p := range probes {
		if p.live {
			live = append(live, p.addr)
		}
	}
	v := newClusterView(e.announce, live)
	e.view.Store(v)
	e.log.Info("cluster emulation: announced map changed", "pool", e.pool, "members", len(v.nodes), "epoch", v.epoch)
}

// probe PINGs the peer on its kept connection (dialled when there is none)
// and reads one reply line, all within peerProbeTimeout.
func (p *peerProbe) probe() error {
	deadline := time.Now().Add(peerProbeTimeout)
	if p.conn == nil {
		d := net.Dialer{Deadline: deadline}
		c, err := d.Dial("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("probe %s: %w", p.addr, err)
		}
		p.conn, p.rd = c, bufio.NewReaderSize(c, 256)
	}
	err := p.conn.SetDeadline(deadline)
	if err == nil {
		_, err = p.conn.Write(probePing)
	}
	var line []byte
	if err == nil {
		line, err = p.rd.ReadSlice('\n')
	}
	if err == nil && (len(line) < 3 || (line[0] != '+' && line[0] != '-')) {
		err = fmt.Errorf("unexpected reply %q", line)
	}
	if err != nil {
		p.reset()
		return fmt.Errorf("probe %s: %w", p.addr, err)
	}
	return nil
}

func (p *peerProbe) reset() {
	if p.conn != nil {
		_ = p.conn.Close()
		p.conn, p.rd = nil, nil
	}
}

// buildEmulations gives t the emulations of its pools, keeping those of
// prev whose settings did not change. They start with t.activate.
func (s *Server) buildEmulations(t, prev *topology) {
	for _, p := range t.pools {
		if !p.Cfg.ClusterEmulation {
			continue
		}
		var e *emulation
		if prev != nil {
			if oe := prev.emus[p.Cfg.Name]; oe != nil && oe.sameSettings(p.Cfg) {
				e = oe
			}
		}
		if e == nil {
			e = newEmulation(p.Cfg, s.log)
		}
		if t.emus == nil {
			t.emus = map[string]*emulation{}
		}
		t.emus[p.Cfg.Name] = e
	}
}

// closeEmulations stops the emulations of old that next does not keep (all
// of them when next is nil).
func closeEmulations(old, next *topology) {
	keep := map[*emulation]bool{}
	if next != nil {
		for _, e := range next.emus {
			keep[e] = true
		}
	}
	for _, e := range old.emus {
		if !keep[e] {
			e.close()
		}
	}
}
