package backend

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/config"
)

// The health of a server, shared by every loop:
//
//	up ──(a connection fails: ReportFailure, first of the outage)──► down
//	down ──(probe succeeds; if ejected, not before server_retry_timeout)──► up
//
// While a server is down, a loop whose connection to it needs a dial refuses
// the request at once with the cause instead of dialling: the loops make no
// connection attempts, the prober makes one per ProbeInterval. A connection
// that is still open keeps serving. So a server that comes back is used
// again within one ProbeInterval (plus a dial), and one that stays down sees
// one connection per ProbeInterval from this process, however many loops
// and clients there are. After a successful probe each loop's connection
// dials on its next request; if those fail again the server is down again,
// and probes are spaced by ProbeInterval across outages, so a server that
// passes probes but fails real connections sees at most one round of dials
// (loops × server_connections) per ProbeInterval.
//
// Failures counted against server_failure_limit: the start of an outage
// (once, whichever loop saw it first) and each failed probe; a reply on any
// connection, or a successful probe, resets the count. With
// auto_eject_hosts, reaching the limit ejects the server (its keys go to the
// others) until server_retry_timeout has passed and a probe succeeds.

// ProbeInterval is the time between two probes of a server that is down.
const ProbeInterval = 100 * time.Millisecond

// defaultDialLimit bounds a dial (and a probe) when the pool has no timeout.
const defaultDialLimit = 5 * time.Second

// DialLimit is how long a dial or a probe may take: the pool's timeout,
// else defaultDialLimit.
func DialLimit(timeout time.Duration) time.Duration {
	if timeout > 0 {
		return timeout
	}
	return defaultDialLimit
}

// logEvery is the least time between two "down" lines for one server, and
// between the summaries of an outage.
const logEvery = 10 * time.Second

// probeLoop probes s until it is up again, or until the pool that owns it
// is closed without a successor keeping s (the server was removed, or the
// proxy stops). It runs once per outage, started by the ReportFailure that
// marked s down, and takes its settings from s's owner at each probe: a
// reload that keeps s hands the probing over to the new pool.
func (s *Server) probeLoop(first *Failure) {
	defer s.probing.Done()
	p := s.owner.Load()
	p.countFailure(s)
	p.logDown(s, first)
	probes, lastSummary, lastTimedOut := 0, p.nowFn(), false
	for {
		p = s.owner.Load()
		next := time.Unix(0, s.lastProbe.Load()).Add(ProbeInterval)
		if s.ejected.Load() {
			if at := time.Unix(0, s.retryAt.Load()); at.After(next) {
				next = at
			}
		}
		if d := next.Sub(p.nowFn()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-p.ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if p.ctx.Err() != nil {
			if s.owner.Load() != p {
				continue // moved to the pool of a reload: probe on for it
			}
			return
		}
		s.lastProbe.Store(p.nowFn().UnixNano())
		err := p.probe(s)
		if p.ctx.Err() != nil {
			continue // closed meanwhile: see above
		}
		if err == nil {
			p.markUp(s, probes)
			return
		}
		probes++
		timedOut := ErrorText(err) == Strerror(syscall.ETIMEDOUT)
		if timedOut {
			s.ProbeTimeouts.Add(1)
		} else {
			s.ProbeErrors.Add(1)
		}
		f := NewFailure(err)
		s.cause.Store(f)
		// A probe that times out may only queue behind the slow request
		// that timed out (a long script, a fork): that one failure must not
		// eject a healthy server, as in twemproxy, where one timeout is one
		// failure. A second probe timing out in a row is a stalled server.
		if !s.ejected.Load() && (!timedOut || lastTimedOut) {
			p.countFailure(s)
		}
		lastTimedOut = timedOut
		if now := p.nowFn(); now.Sub(lastSummary) >= logEvery {
			lastSummary = now
			p.logStillDown(s, probes, f)
		}
	}
}

// markUp ends an outage: the server goes back into the ring if it was
// ejected, and loops dial it again on their next request.
func (p *Pool) markUp(s *Server, probes int) {
	s.failures.Store(0)
	p.logUp(s, probes)
	p.readmit(s)
	s.cause.Store(nil)
	s.down.Store(false)
}

// probe connects to s and checks that it answers: PING (after AUTH when
// redis_auth is set) for Redis, version for memcache.
func (p *Pool) probe(s *Server) error {
	limit := DialLimit(p.Cfg.Timeout)
	d := net.Dialer{Timeout: limit}
	c, err := d.DialContext(p.ctx, s.Network, s.Addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(p.ctx, func() { _ = c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(limit))
	if _, err := c.Write(probeRequest(p.Cfg)); err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	br := bufio.NewReaderSize(c, 256)
	switch {
	case p.Cfg.Redis:
		if p.Cfg.RedisAuth != "" {
			if err := expectLine(br, "+"); err != nil && !IsNoPasswordError(err.Error()) {
				return err
			}
		}
		return expectLine(br, "")
	case p.Cfg.Protocol == config.ProtocolMemcacheBinary:
		var h [24]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return readError(err)
		}
		if h[0] != memcache.MagicResponse || h[6] != 0 || h[7] != 0 {
			return fmt.Errorf("probe: bad reply to version: % x", h[:8])
		}
		return nil
	}
	return expectLine(br, "VERSION ")
}

// probeRequest is what a probe sends for the pool's protocol.
func probeRequest(cfg *config.Pool) []byte {
	switch {
	case cfg.Redis:
		var b []byte
		if cfg.RedisAuth != "" {
			b = resp.AppendBulkString(resp.AppendBulkString(resp.AppendArrayHeader(b, 2), "AUTH"), cfg.RedisAuth)
		}
		return resp.AppendBulkString(resp.AppendArrayHeader(b, 1), "PING")
	case cfg.Protocol == config.ProtocolMemcacheBinary:
		return memcache.AppendBinaryHeader(nil, memcache.MagicRequest, memcache.OpVersion, 0, 0, 0, 0, 0, 0)
	}
	return []byte("version\r\n")
}

// expectLine reads one reply line; an error reply, or a line without
// prefix, fails the probe.
func expectLine(br *bufio.Reader, prefix string) error {
	line, err := br.ReadString('\n')
	if err != nil {
		return readError(err)
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") || !strings.HasPrefix(line, prefix) {
		return fmt.Errorf("backend rejected %.200s", line)
	}
	return nil
}

func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("connection closed by server")
	}
	return fmt.Errorf("probe: %w", err)
}

// logState is a server's log rate limit.
type logState struct {
	lastDown   time.Time // when a "down" line was last written
	unlogged   int       // outages since then that were not logged
	thisLogged bool      // something was logged about the current outage
}

func (p *Pool) logDown(s *Server, f *Failure) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	now := p.nowFn()
	if now.Sub(s.logged.lastDown) < logEvery {
		s.logged.unlogged++
		s.logged.thisLogged = false
		return
	}
	msg := fmt.Sprintf("server %s down: %v", s.Addr, f.Err)
	if n := s.logged.unlogged; n > 0 {
		msg += fmt.Sprintf(" (%d more outages since the last report, not logged)", n)
	}
	s.logged = logState{lastDown: now, thisLogged: true}
	p.log.Warn(msg, "pool", p.Cfg.Name, "server", s.Name)
}

func (p *Pool) logStillDown(s *Server, probes int, f *Failure) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.logged.thisLogged = true
	p.log.Warn(fmt.Sprintf("server %s still down after %v: %d probes failed, %d requests failed, last error: %v",
		s.Addr, p.downFor(s), probes, s.failedReq.Load()-s.reqAtDown.Load(), f.Err), "pool", p.Cfg.Name, "server", s.Name)
}

func (p *Pool) logUp(s *Server, probes int) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if !s.logged.thisLogged {
		return
	}
	s.logged.thisLogged = false
	msg := fmt.Sprintf("server %s up again after %v, %d requests failed", s.Addr, p.downFor(s),
		s.failedReq.Load()-s.reqAtDown.Load())
	if s.ejected.Load() {
		msg += ", back in the pool"
	}
	p.log.Warn(msg, "pool", p.Cfg.Name, "server", s.Name, "probes_failed", probes)
}

func (p *Pool) logEject(s *Server, failures int) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	// Always logged, even when the outage's "down" line was rate-limited:
	// keys move to other servers because of it.
	s.logged.thisLogged = true
	p.log.Warn(fmt.Sprintf("server %s ejected from pool %s after %d consecutive failures, for at least %v",
		s.Addr, p.Cfg.Name, failures, p.Cfg.ServerRetryTimeout), "pool", p.Cfg.Name, "server", s.Name)
}

// downFor is how long s has been down, rounded for the log.
func (p *Pool) downFor(s *Server) time.Duration {
	d := p.nowFn().Sub(time.Unix(0, s.downSince.Load()))
	if d > time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
