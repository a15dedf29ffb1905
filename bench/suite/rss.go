package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// rssRow is the memory of one proxy with idle client connections.
type rssRow struct {
	Target  string  `json:"target"`
	Conns   int     `json:"conns"`
	BaseKiB int64   `json:"base_kib"`
	IdleKiB int64   `json:"idle_kib"` // with Conns connections open, nothing sent
	PingKiB int64   `json:"ping_kib"` // after one PING on each
	IdlePer float64 `json:"idle_kib_per_conn"`
	PingPer float64 `json:"ping_kib_per_conn"`
	HWMKiB  int64   `json:"hwm_kib"` // VmHWM at the end: peak over the whole suite
	Err     string  `json:"error,omitempty"`
}

// perConn is (after - before) / conns in KiB.
func perConn(before, after int64, conns int) float64 {
	if conns <= 0 {
		return 0
	}
	return float64(after-before) / float64(conns)
}

// runIdleRSS opens --idle-conns idle connections to each proxy's redis pool
// and reports the RSS each costs.
func (s *suite) runIdleRSS() error {
	want := s.opt.idleConns
	// Each connection takes a descriptor here and one in the proxy.
	if lim := int(s.nofile) - 200; s.nofile > 0 && want > lim {
		s.logf("RLIMIT_NOFILE is %d: opening %d connections instead of %d", s.nofile, lim, want)
		want = lim
	}
	s.logf("memory section: %d idle connections to a freshly started proxy", want)
	for _, t := range s.targets {
		ep := t.eps[famRedis]
		// The hand-off variant differs from its per-loop twin only in
		// backend connections, which idle clients do not touch.
		if t.Kind == "direct" || t.Scope != "" || ep.skip() {
			continue
		}
		// A fresh process, so the load runs' buffers and garbage do not
		// blur the baseline.
		fresh, err := s.startProxy(t, t.Name+"-idle", famRedis)
		if err != nil {
			return err
		}
		if fresh.skip() {
			s.rss = append(s.rss, rssRow{Target: t.Name, Err: fresh.na + fresh.fail})
			continue
		}
		time.Sleep(time.Second) // let it settle
		row := s.idleRSS(t.Name, fresh, want)
		fresh.proc.stop()
		if s.ctx.Err() != nil {
			return s.ctx.Err()
		}
		if row.Err != "" {
			s.logf("%s: %s", t.Name, row.Err)
		} else {
			s.logf("%s: base %d KiB, %d idle conns +%.2f KiB/conn, after a PING each +%.2f KiB/conn",
				t.Name, row.BaseKiB, row.Conns, row.IdlePer, row.PingPer)
		}
		s.rss = append(s.rss, row)
	}
	return nil
}

func (s *suite) idleRSS(name string, ep *endpoint, want int) rssRow {
	row := rssRow{Target: name}
	pid := ep.proc.pid()
	fd0, err := procFDCount(pid)
	if err != nil {
		row.Err = err.Error()
		return row
	}
	if row.BaseKiB, err = procRSSKiB(pid); err != nil {
		row.Err = err.Error()
		return row
	}
	conns := make([]net.Conn, want)
	var mu sync.Mutex
	var firstErr error
	addr := "127.0.0.1:" + strconv.Itoa(ep.port)
	parallel(want, 16, func(i int) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			mu.Lock()
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
			return
		}
		conns[i] = c
	})
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	open := 0
	for _, c := range conns {
		if c != nil {
			open++
		}
	}
	row.Conns = open
	if firstErr != nil {
		s.logf("%s: %d of %d connections failed to open, e.g. %v", name, want-open, want, firstErr)
	}
	// Wait until the proxy has accepted them all.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if n, err := procFDCount(pid); err == nil && n >= fd0+open {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if row.IdleKiB, err = procRSSKiB(pid); err != nil {
		row.Err = err.Error()
		return row
	}
	// One PING on each connection, then read every reply.
	ping := []byte("*1\r\n$4\r\nPING\r\n")
	parallel(len(conns), 16, func(i int) {
		c := conns[i]
		if c == nil {
			return
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(ping); err != nil {
			return
		}
		line, err := bufio.NewReaderSize(c, 64).ReadString('\n')
		if err != nil && err != io.EOF || line != "+PONG\r\n" {
			mu.Lock()
			if row.Err == "" && s.ctx.Err() == nil {
				row.Err = fmt.Sprintf("PING: %q %v", line, err)
			}
			mu.Unlock()
		}
	})
	time.Sleep(300 * time.Millisecond)
	if row.PingKiB, err = procRSSKiB(pid); err != nil && row.Err == "" {
		row.Err = err.Error()
	}
	row.HWMKiB, _ = procStatusKiB(pid, "VmHWM")
	row.IdlePer = perConn(row.BaseKiB, row.IdleKiB, open)
	row.PingPer = perConn(row.BaseKiB, row.PingKiB, open)
	return row
}
