package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/ferry-proxy/ferry/backend"
	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/config"
)

// Options are the process-level settings (flags), as opposed to the config file.
type Options struct {
	Threads      int  // event loops; 0 = GOMAXPROCS
	LockOSThread bool // lock each loop to an OS thread
	CPUAffinity  bool // pin loop i to CPU i (implies LockOSThread)
	// MaxBufferedBytes caps the bytes gnet holds for all clients together
	// (unparsed input and unsent output); 0 = no global cap.
	MaxBufferedBytes int64
	// NoCoalesce writes each client's requests to the backends at the end of
	// that client's callback instead of once per loop iteration.
	NoCoalesce bool
	// ReloadGrace is how long the clients of a pool removed by a reload may
	// wait for their replies before they are closed; 0 = DefaultReloadGrace.
	ReloadGrace time.Duration
	Version     string
	Logger      *slog.Logger
}

// maxLoops is the most event loops gnet runs (its loop index is a byte).
const maxLoops = 256

// DefaultReloadGrace is Options.ReloadGrace's default.
const DefaultReloadGrace = 30 * time.Second

// Server is a running proxy: every pool of one config served on shared
// event loops.
type Server struct {
	gnet.BuiltinEventEngine

	cfg  *config.Config // the running configuration (under mu)
	opts Options
	log  *slog.Logger

	topo     atomic.Pointer[topology]   // what the loops route by (topology.go)
	reloadMu sync.Mutex                 // one reload at a time
	topoMu   sync.Mutex                 // one topology change at a time: a reload or a cluster map
	learners map[string]*clusterLearner // by pool name (under mu; cluster.go)
	reloads  atomic.Uint64
	stopping atomic.Bool // Stop was called: no more reloads
	// reloadFailures counts reloads refused, here or before (a file that
	// does not parse: CountReloadFailure).
	reloadFailures atomic.Uint64

	internal    string                   // gnet's private socket, to learn the loops (listen.go)
	listeners   map[string]*poolListener // by listenKey (under mu)
	discovered  bool                     // the loops are known and listeners accept (under mu)
	rr          atomic.Uint64            // round robin over the loops for accepted connections
	acceptLoops atomic.Pointer[[]*loop]  // the loops accepted connections go to (set by discoverLoops)

	eng     gnet.Engine
	booted  chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	loops    map[gnet.EventLoop]*loop
	loopList []*loop
	probed   atomic.Bool
	halves   sync.Map // *halfClosed -> struct{}: writers of half-closed clients, stopped by Stop

	// byEL is loops, copied on each change (under mu), for OnIterationEnd
	// to read without a lock on every loop iteration.
	byEL atomic.Pointer[map[gnet.EventLoop]*loop]

	helloReply []byte
	mcVersion  []byte // text "VERSION ...\r\n"
	binVersion []byte // binary version body
	started    time.Time
	serveErr   error
}

// New validates what the config needs at run time and builds the pools.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	opts.Threads = min(opts.Threads, maxLoops)
	if opts.CPUAffinity {
		opts.LockOSThread = true
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ReloadGrace <= 0 {
		opts.ReloadGrace = DefaultReloadGrace
	}
	s := &Server{
		cfg: cfg, opts: opts, log: opts.Logger,
		booted: make(chan struct{}), stopped: make(chan struct{}),
		loops:     map[gnet.EventLoop]*loop{},
		listeners: map[string]*poolListener{},
		started:   time.Now(),
	}
	t, err := s.buildTopology(cfg, nil)
	if err != nil {
		return nil, err
	}
	t.activate()
	s.topo.Store(t)
	s.helloReply = buildHello(opts.Version)
	s.mcVersion = []byte("VERSION ferry-" + opts.Version + "\r\n")
	s.binVersion = []byte("ferry-" + opts.Version)
	return s, nil
}

// Serve runs the event loops until Stop; it returns the error that stopped
// them (nil after Stop).
func (s *Server) Serve() error {
	defer close(s.stopped)
	fail := func(err error) error {
		s.serveErr = err
		select {
		case <-s.booted:
		default:
			close(s.booted)
		}
		return err
	}
	// The pools' listeners first: one that cannot be bound fails the start.
	for _, pc := range s.cfg.Pools {
		k := listenKey(pc)
		if s.listeners[k] != nil {
			continue
		}
		l, err := listen(pc)
		if err != nil {
			s.closeListeners()
			return fail(err)
		}
		s.listeners[k] = l
	}
	dir, sock, err := internalSocket()
	if err != nil {
		s.closeListeners()
		return fail(err)
	}
	defer os.RemoveAll(dir)
	s.internal = sock
	s.syncLearners(s.topo.Load())
	defer s.stopLearners()
	err = gnet.Run(s, "unix://"+sock,
		gnet.WithNumEventLoop(s.opts.Threads),
		gnet.WithLockOSThread(s.opts.LockOSThread),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err != nil {
		s.closeListeners()
		return fail(err)
	}
	return nil
}

// Ready is closed once the listeners accept connections (or Serve failed).
func (s *Server) Ready() <-chan struct{} { return s.booted }

// Err is the error Serve returned, once it returned.
func (s *Server) Err() error { return s.serveErr }

// Stop closes the listeners and every connection, and waits for Serve to return.
func (s *Server) Stop(ctx context.Context) error {
	<-s.booted
	s.reloadMu.Lock() // no reload half applied
	defer s.reloadMu.Unlock()
	s.stopping.Store(true)
	closeEmulations(s.topo.Load(), nil) // the fleet's probers, even if Serve failed
	if s.serveErr != nil {
		return nil // Serve stopped its learners
	}
	s.stopLearners()
	s.closeListeners()
	for _, p := range s.topo.Load().pools {
		p.Close()
	}
	defer s.abortHalfClosed() // whatever happens below
	err := s.eng.Stop(ctx)
	select {
	case <-s.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// Pools returns the pools being served now.
func (s *Server) Pools() []*backend.Pool { return s.topo.Load().pools }

// Config returns the configuration being served now.
func (s *Server) Config() *config.Config { return s.topo.Load().cfg }

// CountReloadFailure counts a reload refused before it reached Reload (its
// file did not parse), for the stats; Reload counts its own.
func (s *Server) CountReloadFailure() { s.reloadFailures.Add(1) }

// OnBoot records the engine; loops start right after it returns.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	return gnet.None
}

// OnTick drives timeouts and reconnects on every loop; the first one also
// learns the loops (discoverLoops), after which the listeners accept.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	if !s.probed.Swap(true) {
		go s.discoverLoops()
	}
	s.mu.Lock()
	for _, lp := range s.loopList {
		_ = lp.el.Execute(context.Background(), lp.tickTask)
	}
	s.mu.Unlock()
	return s.topo.Load().tickEvery, gnet.None
}

// heldTotal sums what every loop last published of its clients' buffers.
func (s *Server) heldTotal() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for _, lp := range s.loopList {
		total += lp.heldPub.Load()
	}
	return total
}

func (s *Server) loopOf(el gnet.EventLoop) *loop {
	s.mu.Lock()
	defer s.mu.Unlock()
	lp := s.loops[el]
	if lp == nil {
		lp = newLoop(s, el, len(s.loopList))
		lp.tickTask = gnet.RunnableFunc(func(context.Context) error { lp.onTick(); return nil })
		s.loops[el] = lp
		s.loopList = append(s.loopList, lp)
		byEL := maps.Clone(s.loops)
		s.byEL.Store(&byEL)
		if s.opts.CPUAffinity {
			var set unix.CPUSet
			set.Set(lp.idx % runtime.NumCPU())
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				s.log.Warn("cannot pin event loop to a CPU", "loop", lp.idx, "err", err)
			}
		}
	}
	return lp
}

// OnIterationEnd runs on a loop once gnet has handled every event of one
// poll and the tasks that poll ran, before it polls again (gnet's
// IterationHandler, carried in third_party/gnet): the loop writes what they
// queued, once per connection (see loop.flush).
func (s *Server) OnIterationEnd(el gnet.EventLoop) {
	if m := s.byEL.Load(); m != nil {
		if lp := (*m)[el]; lp != nil {
			lp.onIterationEnd()
		}
	}
}

// OnOpen sets up a client connection, or a backend connection we enrolled.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	var listen string
	switch x := c.Context().(type) {
	case *dialCtx:
		return nil, x.bc.onOpen(c, x.gen)
	case *acceptCtx:
		listen = x.listen
	default:
		// A connection to gnet's private socket (discoverLoops): the loop
		// is known now.
		s.loopOf(c.EventLoop())
		return nil, gnet.Close
	}
	lp := s.loopOf(c.EventLoop())
	t := s.topo.Load()
	lp.adopt(t) // a pool added by a reload whose task has not run yet
	lpool := lp.byName[t.byListen[listen]]
	if lpool == nil {
		return nil, gnet.Close // its address was given up by a reload meanwhile
	}
	pc := lpool.pool.Cfg
	if n := lpool.pool.Clients.Add(1); pc.ClientConnections > 0 && n > int64(pc.ClientConnections) {
		lpool.pool.Clients.Add(-1)
		lpool.shard.ClientErr.Inc()
		return nil, gnet.Close // as twemproxy: over client_connections, refuse
	}
	lp.tick()
	cl := &client{gc: c, lp: lp, lpool: lpool, clients: lpool.pool.Clients, stats: &lpool.shard.PoolStats, open: true, lastActive: lp.now}
	lim := pc.Limits
	cl.lim = clientLimits{
		maxInflight: lim.MaxInflight,
		softOutput:  int(maxOutputBytes(lim) / 2),
		hardOutput:  int(maxOutputBytes(lim)),
		idleTimeout: int64(lim.ClientIdleTimeout),
		needsAuth:   pc.RedisAuth != "",
		redisDB:     pc.RedisDB,
	}
	if cl.lim.maxInflight <= 0 {
		cl.lim.maxInflight = 1024
	}
	cl.lim.maxInput = int(lim.MaxRequestBytes) + 1<<20
	cl.proto = poolProtocol(pc)
	switch cl.proto {
	case protoRedis:
		cl.parser.SetLimits(resp.Limits{
			MaxArgs:         lim.MaxArrayLen,
			MaxRequestBytes: int(lim.MaxRequestBytes),
			MaxBulkLen:      int(min(lim.MaxRequestBytes, maxBulkLen)),
		})
	default:
		cl.mc = &mcState{}
		// A get may carry as many keys as its line holds (libmemcached puts a
		// whole mget on one line, as nutcracker and memcached accept):
		// bounded by max_request_bytes, not by a key count.
		ml := memcache.Limits{MaxValueLen: lim.MaxValueBytes, MaxKeys: int(lim.MaxRequestBytes) / 2,
			MaxLineLen: int(lim.MaxRequestBytes)}
		cl.mc.text.Limits = ml
		cl.mc.bin.Limits = ml
		cl.lim.needsAuth = false
	}
	cl.connSlot = cl.lpool.next
	cl.lpool.next++
	cl.stats.ClientConnections.Add(1)
	cl.stats.TotalConnections.Inc()
	lp.addClient(cl)
	c.SetContext(cl)
	return nil, gnet.None
}

// OnTraffic hands inbound bytes to the client or backend connection.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *client:
		return x.onTraffic(c)
	case *dialCtx:
		return x.bc.onTraffic(c)
	}
	return gnet.Close
}

// OnClose fails or orphans what the connection had in flight.
func (s *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *client:
		x.onClose(err)
		x.clients.Add(-1)
		x.lp.flush()
	case *dialCtx:
		x.bc.onClose(c, err)
	}
	return gnet.None
}

func poolProtocol(pc *config.Pool) protocol {
	switch {
	case pc.Redis:
		return protoRedis
	case pc.Protocol == config.ProtocolMemcacheBinary:
		return protoMemcacheBinary
	}
	return protoMemcache
}

func (s *Server) infoReply() []byte {
	var b strings.Builder
	b.WriteString("# Server\r\n")
	b.WriteString("redis_version:7.0.0\r\n")
	b.WriteString("ferry_version:" + s.opts.Version + "\r\n")
	b.WriteString("redis_mode:proxy\r\n")
	b.WriteString("process_id:" + strconv.Itoa(os.Getpid()) + "\r\n")
	b.WriteString("uptime_in_seconds:" + strconv.Itoa(int(time.Since(s.started).Seconds())) + "\r\n")
	b.WriteString("event_loops:" + strconv.Itoa(s.opts.Threads) + "\r\n")
	b.WriteString("\r\n# Clients\r\n")
	var total int64
	pools := s.topo.Load().pools
	for _, p := range pools {
		total += p.Clients.Load()
	}
	b.WriteString("connected_clients:" + strconv.FormatInt(total, 10) + "\r\n")
	b.WriteString("\r\n# Pools\r\n")
	for _, p := range pools {
		b.WriteString(p.Cfg.Name + ":listen=" + p.Cfg.Listen + ",servers=" + strconv.Itoa(len(p.Servers)) +
			",live=" + strconv.Itoa(p.LiveCount()) + "\r\n")
	}
	return resp.AppendBulkString(nil, b.String())
}

func buildHello(version string) []byte {
	b := resp.AppendArrayHeader(nil, 14)
	for _, kv := range [][2]string{{"server", "ferry"}, {"version", version}} {
		b = resp.AppendBulkString(resp.AppendBulkString(b, kv[0]), kv[1])
	}
	b = resp.AppendInt(resp.AppendBulkString(b, "proto"), 2)
	b = resp.AppendInt(resp.AppendBulkString(b, "id"), 0)
	b = resp.AppendBulkString(resp.AppendBulkString(b, "mode"), "standalone")
	b = resp.AppendBulkString(resp.AppendBulkString(b, "role"), "master")
	b = resp.AppendArrayHeader(resp.AppendBulkString(b, "modules"), 0)
	return b
}

// gnetLogger routes gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) {}
func (g gnetLogger) Infof(format string, args ...any)  {}
func (g gnetLogger) Warnf(format string, args ...any) {
	g.l.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Errorf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (g gnetLogger) Fatalf(format string, args ...any) {
	g.l.Error("gnet: " + fmt.Sprintf(format, args...))
	os.Exit(1)
}

// maxBulkLen bounds one Redis argument, as Redis's proto-max-bulk-len does.
const maxBulkLen = 512 << 20

// maxOutputBytes is the pool's max_output_bytes: the most output a client
// may leave unread, and the most requests a backend connection may leave
// untaken.
func maxOutputBytes(l config.Limits) int64 {
	if l.MaxOutputBytes > 0 {
		return l.MaxOutputBytes
	}
	return config.DefaultMaxOutputBytes
}
