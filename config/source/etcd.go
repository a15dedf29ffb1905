package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/ferry-proxy/ferry/config"
)

// Etcd is the source for a configuration kept in one etcd key, read with
// the official v3 client (which speaks to etcd 3.4 and later).
type Etcd struct {
	name      string // "etcd:/KEY", the file name in config errors
	key       string
	endpoints []string
	o         Options
	cli       *clientv3.Client

	// The key's state the caller last saw (from Load or delivered by
	// Watch), so a change is delivered once and a re-read of the same
	// text delivers nothing.
	mu      sync.Mutex
	seen    bool   // a state has been read
	present bool   // the key existed
	raw     []byte // its value
	rev     int64  // the revision that made this state

	// unreachableSince is when a Load last found etcd unreachable (zero
	// once a read succeeds), so that Watch logs the recovery of an outage
	// that began before it ran (ferry started from its -c file).
	unreachableSince time.Time

	refresh     chan struct{} // Refresh asks Watch for a read now
	reads       atomic.Int64  // reads by Watch (for tests)
	failedReads atomic.Int64  // of which failed
}

// Refresh makes a running Watch read the key now rather than at its next
// probe, and deliver it if it changed: a reload asked for by a signal or
// POST /reload goes through Watch, so every configuration reaches the
// caller from one goroutine, in order. Without a running Watch it does
// nothing (call Load).
func (e *Etcd) Refresh() {
	select {
	case e.refresh <- struct{}{}:
	default:
	}
}

// NewEtcd returns the source for key on the etcd cluster reachable at
// endpoints ("host:port"). It dials in the background and does not fail
// when no endpoint answers: Load and Watch do.
func NewEtcd(endpoints []string, key string, o Options) (*Etcd, error) {
	o = o.withDefaults()
	urls := make([]string, len(endpoints))
	for i, ep := range endpoints {
		urls[i] = "http://" + ep
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   urls,
		DialTimeout: o.RequestTimeout,
		// gRPC keepalive pings find a dead connection between reads;
		// 10s is gRPC's floor for a client and above etcd's default
		// --grpc-keepalive-min-time (5s), which would refuse faster pings.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: o.RequestTimeout,
		// The client's own log would duplicate what Watch logs, in
		// another format; ferry logs failures once, rate-limited.
		Logger: zap.NewNop(),
		// gRPC's default reconnect backoff grows to 2 minutes, which would
		// keep ferry from seeing a restarted etcd for that long. Retry
		// within MaxBackoff instead.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: o.MaxBackoff},
			MinConnectTimeout: o.RequestTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd:%s: client for %s: %w", key, strings.Join(endpoints, ","), err)
	}
	return &Etcd{name: "etcd:" + key, key: key, endpoints: endpoints, o: o, cli: cli, refresh: make(chan struct{}, 1)}, nil
}

// Name is "etcd:/KEY".
func (e *Etcd) Name() string { return e.name }

// Close closes the connections to etcd. Watch must have returned.
func (e *Etcd) Close() error { return e.cli.Close() }

// get reads the key; an error wraps ErrUnreachable.
func (e *Etcd) get(ctx context.Context) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, e.o.RequestTimeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.key)
	if err != nil {
		text := fmt.Sprintf("%s: cannot read the key from %s: %v", e.name, strings.Join(e.endpoints, ","), err)
		if errors.Is(err, context.DeadlineExceeded) {
			text = fmt.Sprintf("%s: no answer from %s within %v", e.name, strings.Join(e.endpoints, ","), e.o.RequestTimeout)
		}
		return nil, &kindError{kind: ErrUnreachable, text: text, err: err}
	}
	return resp, nil
}

func (e *Etcd) notFound() error {
	return &kindError{kind: ErrNotFound, text: fmt.Sprintf("%s: no such key on %s (store the YAML with: etcdctl put %s < FILE)",
		e.name, strings.Join(e.endpoints, ","), e.key)}
}

// Load reads the key and validates its value.
func (e *Etcd) Load(ctx context.Context) (*config.Config, []byte, error) {
	resp, err := e.get(ctx)
	e.mu.Lock()
	switch {
	case err != nil && e.unreachableSince.IsZero():
		e.unreachableSince = time.Now()
	case err == nil:
		e.unreachableSince = time.Time{}
	}
	e.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	if len(resp.Kvs) == 0 {
		e.observe(false, nil, resp.Header.Revision, resp.Header.Revision)
		return nil, nil, e.notFound()
	}
	kv := resp.Kvs[0]
	e.observe(true, kv.Value, kv.ModRevision, resp.Header.Revision)
	cfg, err := config.Parse(e.name, kv.Value)
	if err != nil {
		return nil, kv.Value, err
	}
	return cfg, kv.Value, nil
}

// observe takes a state of the key, made at revision rev, and reports
// whether it differs from the last one seen, recording it. storeRev is the
// store's revision when the state was read (0 for a watch event). A state
// older than the last one seen is ignored (an event queued behind a read,
// a read that raced a newer one), unless the store's revision is itself
// behind the last one seen: its history restarted (a new data directory),
// and its state is taken as it is.
func (e *Etcd) observe(present bool, raw []byte, rev, storeRev int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	restarted := storeRev > 0 && storeRev < e.rev
	if e.seen && rev < e.rev && !restarted {
		return false
	}
	changed := !e.seen || present != e.present || !bytes.Equal(raw, e.raw)
	e.seen, e.present, e.raw, e.rev = true, present, raw, rev
	return changed
}

// deliver parses a changed state and hands it to fn.
func (e *Etcd) deliver(present bool, raw []byte, fn func(*config.Config, []byte, error)) {
	if !present {
		fn(nil, nil, fmt.Errorf("%w; keeping the last good configuration", e.notFound()))
		return
	}
	cfg, err := config.Parse(e.name, raw)
	if err != nil {
		fn(nil, raw, err)
		return
	}
	fn(cfg, raw, nil)
}

// Watch follows the key until ctx is done. Each round it reads the key
// (authoritative: a change is delivered if the value differs from the last
// seen) and, if no watch runs, starts one from the revision just read, so
// events in between are not lost. Watch events deliver changes at once;
// the read every ProbeInterval checks that etcd answers and catches what a
// watch could miss (etcd restarted with another history). A read that
// fails stops the watch, logs (the first failure at once, then at most once
// per LogEvery) and retries with backoff; the first read that succeeds
// after failures logs the recovery and delivers what changed meanwhile. A
// watch that breaks (etcd restarted, the revision compacted, leader lost)
// is dropped and the key re-read at once.
func (e *Etcd) Watch(ctx context.Context, log *slog.Logger, fn func(*config.Config, []byte, error)) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var (
		wch     clientv3.WatchChan
		wcancel context.CancelFunc = func() {}
		out                        = outage{log: log, every: e.o.LogEvery, name: e.name}
		retry                      = e.o.ProbeInterval / 10
	)
	e.mu.Lock()
	if since := e.unreachableSince; !since.IsZero() {
		// The caller reported the failed Load; Watch reports the rest.
		out.failures, out.since, out.logged = 1, since, since
	}
	e.mu.Unlock()
	stopWatch := func() { wcancel(); wcancel, wch = func() {}, nil }
	defer stopWatch()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case wr, ok := <-wch:
			if !ok || wr.Canceled || wr.Err() != nil {
				reason := "closed"
				if err := wr.Err(); err != nil {
					reason = err.Error()
				}
				log.Info("config source: watch broken, re-reading the key", "source", e.name, "reason", reason)
				stopWatch()
				timer.Reset(0)
				continue
			}
			for _, ev := range wr.Events {
				present := ev.Type == clientv3.EventTypePut
				var raw []byte
				if present {
					raw = ev.Kv.Value
				}
				if e.observe(present, raw, ev.Kv.ModRevision, 0) {
					e.deliver(present, raw, fn)
				}
			}
		case <-e.refresh:
			timer.Reset(0)
		case <-timer.C:
			e.reads.Add(1)
			resp, err := e.get(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				e.failedReads.Add(1)
				stopWatch()
				out.fail(err)
				timer.Reset(retry)
				retry = min(retry*2, e.o.MaxBackoff)
				continue
			}
			out.ok()
			retry = e.o.ProbeInterval / 10
			present, raw, rev := false, []byte(nil), resp.Header.Revision
			if len(resp.Kvs) > 0 {
				present, raw, rev = true, resp.Kvs[0].Value, resp.Kvs[0].ModRevision
			}
			if e.observe(present, raw, rev, resp.Header.Revision) {
				e.deliver(present, raw, fn)
			}
			if wch == nil {
				wctx, cancel := context.WithCancel(ctx)
				wcancel = cancel
				wch = e.cli.Watch(clientv3.WithRequireLeader(wctx), e.key, clientv3.WithRev(resp.Header.Revision+1))
			}
			timer.Reset(e.o.ProbeInterval)
		}
	}
}

// outage logs a run of failures to reach etcd: the first at once, then a
// summary at most every `every`, and the recovery.
type outage struct {
	log      *slog.Logger
	every    time.Duration
	name     string
	failures int
	since    time.Time
	logged   time.Time
}

func (o *outage) fail(err error) {
	now := time.Now()
	o.failures++
	switch {
	case o.failures == 1:
		o.since, o.logged = now, now
		o.log.Warn("config source unreachable; serving the last good configuration, retrying", "source", o.name, "err", err)
	case now.Sub(o.logged) >= o.every:
		o.logged = now
		o.log.Warn("config source still unreachable; serving the last good configuration, retrying", "source", o.name,
			"for", now.Sub(o.since).Round(time.Millisecond), "failures", o.failures, "err", err)
	}
}

func (o *outage) ok() {
	if o.failures == 0 {
		return
	}
	o.log.Warn("config source reachable again", "source", o.name,
		"after", time.Since(o.since).Round(time.Millisecond), "failures", o.failures)
	o.failures = 0
}
