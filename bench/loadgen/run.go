package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const readBufSize = 64 << 10

// countReader counts the bytes read from the connection (one call per read
// syscall, not per reply).
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type slot struct {
	kind  Kind
	nkeys int32
}

// conn is one connection and its pipeline state; owned by one worker.
type conn struct {
	nc       net.Conn
	cr       countReader
	r        *bufio.Reader
	cd       codec
	kg       *keyGen
	wbuf     []byte
	slots    []slot
	keys     []uint64
	seq      uint64
	left     int64 // requests left; <0 means unlimited
	bytesOut int64
	start    time.Duration // batch start, since the run epoch
}

// progress is the part of a worker's state other goroutines read while it
// runs. Padded so workers do not share cache lines.
type progress struct {
	ops    atomic.Int64
	latSum atomic.Int64 // ns
	errors atomic.Int64
	_      [40]byte
}

type worker struct {
	cfg       *Config
	conns     []*conn
	stats     [numKinds]kindStats
	prog      progress
	epoch     time.Time
	errSample []string
	setKeys   int // keys per request by kind
	getKeys   int
	cmdKeys   int
}

// Run executes the benchmark described by cfg. Progress lines go to
// progressOut once a second when it is non-nil. On a protocol desync, an I/O
// error or ctx cancellation it stops all connections and returns the partial
// result with Aborted set, together with the error (nil for cancellation).
func Run(ctx context.Context, cfg Config, progressOut io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	data := makeData(cfg.DataSize)
	total := cfg.Threads * cfg.Clients
	network, addr := cfg.Addr()
	epoch := time.Now()

	workers := make([]*worker, cfg.Threads)
	var all []*conn
	closeAll := func() {
		for _, c := range all {
			c.nc.Close()
		}
	}
	for t := range workers {
		w := &worker{cfg: &cfg, epoch: epoch, setKeys: 1, getKeys: cfg.MultiKeyGet}
		if cfg.Command != "" {
			w.cmdKeys = templateKeys(cfg.Command)
		}
		for i := range cfg.Clients {
			idx := t*cfg.Clients + i
			nc, err := net.DialTimeout(network, addr, cfg.ConnectTimeout)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("connection %d: %w", idx, err)
			}
			cd, err := newCodec(&cfg, data)
			if err != nil {
				nc.Close()
				closeAll()
				return nil, err
			}
			c := &conn{
				nc:    nc,
				cd:    cd,
				kg:    newKeyGen(&cfg, idx, total),
				slots: make([]slot, 0, cfg.Pipeline),
				keys:  make([]uint64, max(cfg.MultiKeyGet, w.cmdKeys, 1)),
				left:  -1,
			}
			if cfg.TestTime <= 0 {
				c.left = cfg.Requests
			}
			c.cr.r = nc
			c.r = bufio.NewReaderSize(&c.cr, readBufSize)
			w.conns = append(w.conns, c)
			all = append(all, c)
		}
		workers[t] = w
	}
	defer closeAll()

	var stopping atomic.Bool
	var deadline time.Duration
	if cfg.TestTime > 0 {
		deadline = time.Since(epoch) + cfg.TestTime
	}

	cpu0 := cpuTime()
	start := time.Now()
	errs := make([]error, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = w.run(deadline, &stopping)
			if errs[i] != nil && !stopping.Load() {
				// Stop everyone: the run is no longer sound.
				stopping.Store(true)
			}
		}()
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var aborted string
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastOps, lastLat int64
	lastT := start
	var kill <-chan time.Time
wait:
	for {
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			if aborted == "" {
				aborted = "interrupted"
				stopping.Store(true)
				kill = time.After(2 * time.Second)
			}
		case <-kill:
			// Unblock reads stuck on a server that stopped answering.
			for _, c := range all {
				c.nc.SetDeadline(time.Now())
			}
		case now := <-tick.C:
			if stopping.Load() && kill == nil {
				kill = time.After(2 * time.Second)
			}
			if progressOut == nil {
				continue
			}
			var ops, lat, nerr int64
			for _, w := range workers {
				ops += w.prog.ops.Load()
				lat += w.prog.latSum.Load()
				nerr += w.prog.errors.Load()
			}
			dt := now.Sub(lastT).Seconds()
			avg := 0.0
			if ops > lastOps {
				avg = float64(lat-lastLat) / float64(ops-lastOps) / 1e6
			}
			fmt.Fprintf(progressOut, "[%5.1fs] %10.0f ops/s  avg %.3f ms  total %d ops, %d errors\n",
				now.Sub(start).Seconds(), float64(ops-lastOps)/dt, avg, ops, nerr)
			lastOps, lastLat, lastT = ops, lat, now
		}
	}
	end := time.Now()
	cpu1 := cpuTime()

	var firstErr error
	for _, err := range errs {
		if err != nil && !(aborted != "" && isTimeout(err)) {
			firstErr = err
			break
		}
	}
	if firstErr != nil {
		aborted = firstErr.Error()
	}

	res := buildResult(&cfg, workers, all, start, end, cpu1.sub(cpu0))
	res.Aborted = aborted
	return res, firstErr
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// run drives the worker's connections in lock step until the deadline, the
// request budget or a stop.
func (w *worker) run(deadline time.Duration, stopping *atomic.Bool) error {
	for !stopping.Load() {
		active := 0
		for _, c := range w.conns {
			if c.left == 0 {
				continue
			}
			w.fill(c)
			c.start = time.Since(w.epoch)
			n, err := c.nc.Write(c.wbuf)
			c.bytesOut += int64(n)
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			active++
		}
		if active == 0 {
			return nil
		}
		var ops, latSum, nerr int64
		var now time.Duration
		for _, c := range w.conns {
			for _, s := range c.slots {
				rep, err := c.cd.readReply(c.r, s.kind, int(s.nkeys))
				if err != nil {
					if err == io.EOF {
						err = io.ErrUnexpectedEOF
					}
					return fmt.Errorf("read %s reply: %w", s.kind, err)
				}
				now = time.Since(w.epoch)
				lat := int64(now - c.start)
				st := &w.stats[s.kind]
				st.record(lat, &rep)
				ops++
				latSum += lat
				if rep.isErr {
					nerr++
					if len(w.errSample) < 3 {
						w.errSample = append(w.errSample, fmt.Sprintf("%s: %q", s.kind, rep.errLine))
					}
				}
			}
			c.slots = c.slots[:0]
		}
		w.prog.ops.Add(ops)
		w.prog.latSum.Add(latSum)
		if nerr > 0 {
			w.prog.errors.Add(nerr)
		}
		if deadline > 0 && now >= deadline {
			return nil
		}
	}
	return nil
}

// fill encodes the next pipeline batch of c into c.wbuf.
func (w *worker) fill(c *conn) {
	cfg := w.cfg
	n := int64(cfg.Pipeline)
	if c.left >= 0 && c.left < n {
		n = c.left
	}
	if c.left > 0 {
		c.left -= n
	}
	c.wbuf = c.wbuf[:0]
	cycle := uint64(cfg.RatioSet + cfg.RatioGet)
	for range n {
		switch {
		case cfg.Command != "":
			keys := c.keys[:w.cmdKeys]
			for i := range keys {
				keys[i] = c.kg.next(cfg.CommandKeyPattern, userCmd)
			}
			c.wbuf = c.cd.appendCommand(c.wbuf, keys)
			c.slots = append(c.slots, slot{kind: KindOther, nkeys: int32(len(keys))})
		case c.seq%cycle < uint64(cfg.RatioSet):
			c.wbuf = c.cd.appendSet(c.wbuf, c.kg.next(cfg.SetPattern, userSet))
			c.slots = append(c.slots, slot{kind: KindSet, nkeys: 1})
		default:
			keys := c.keys[:w.getKeys]
			for i := range keys {
				keys[i] = c.kg.next(cfg.GetPattern, userGet)
			}
			c.wbuf = c.cd.appendGet(c.wbuf, keys)
			c.slots = append(c.slots, slot{kind: KindGet, nkeys: int32(len(keys))})
		}
		c.seq++
	}
	for i := range c.slots {
		if st := &w.stats[c.slots[i].kind]; st.hist == nil {
			st.hist = newHist()
		}
	}
}

func buildResult(cfg *Config, workers []*worker, all []*conn, start, end time.Time, cpu cpuSample) *Result {
	secs := end.Sub(start).Seconds()
	network, addr := cfg.Addr()
	res := &Result{
		Tool:          "ferry-bench",
		SchemaVersion: SchemaVersion,
		Label:         cfg.Label,
		Config: ResultConfig{
			Config:      *cfg,
			Target:      network + "://" + addr,
			KeyPattern:  cfg.KeyPatternString(),
			Connections: cfg.Threads * cfg.Clients,
			TestTimeSec: cfg.TestTime.Seconds(),
		},
		StartTime: start,
		EndTime:   end,
		Duration:  secs,
		Commands:  map[string]Stats{},
	}
	if cfg.Command != "" {
		res.Config.KeyPattern = string(rune(cfg.CommandKeyPattern))
	}
	if cfg.TestTime > 0 {
		res.Config.Requests = 0 // not used in timed mode
	}
	var merged [numKinds]kindStats
	tot := kindStats{hist: newHist()}
	for k := range numKinds {
		m := &merged[k]
		for _, w := range workers {
			s := &w.stats[k]
			m.ops += s.ops
			m.hits += s.hits
			m.misses += s.misses
			m.errors += s.errors
			if s.hist != nil {
				if m.hist == nil {
					m.hist = newHist()
				}
				m.hist.Merge(s.hist)
			}
		}
		if m.hist == nil {
			continue
		}
		tot.ops += m.ops
		tot.hits += m.hits
		tot.misses += m.misses
		tot.errors += m.errors
		tot.hist.Merge(m.hist)
		name := Kind(k).String()
		if Kind(k) == KindOther {
			name = templateName(cfg.Command)
		}
		res.Commands[name] = summarize(m, secs)
		res.Order = append(res.Order, name)
	}
	res.Totals = summarize(&tot, secs)
	for _, c := range all {
		res.BytesIn += c.cr.n
		res.BytesOut += c.bytesOut
	}
	if secs > 0 {
		res.BytesPerSec = float64(res.BytesIn+res.BytesOut) / secs
	}
	res.ClientCPU = CPUStats{UserSec: cpu.user.Seconds(), SysSec: cpu.sys.Seconds()}
	if tot.ops > 0 {
		res.ClientCPU.MicrosPerOp = float64((cpu.user + cpu.sys).Microseconds()) / float64(tot.ops)
	}
	for _, w := range workers {
		for _, e := range w.errSample {
			if len(res.ErrorSamples) < 5 {
				res.ErrorSamples = append(res.ErrorSamples, e)
			}
		}
	}
	return res
}
