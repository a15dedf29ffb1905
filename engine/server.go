package engine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
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
	Version    string
	Logger     *slog.Logger
}

// Server is a running proxy: every pool of one config served on shared
// event loops.
type Server struct {
	gnet.BuiltinEventEngine

	cfg   *config.Config
	opts  Options
	pools []*backend.Pool
	log   *slog.Logger

	addrs      []string // gnet listen addresses, one per pool
	byAddr     map[string]int
	byPort     map[int]int // pools on a wildcard address
	clientsNow []atomic.Int64

	eng     gnet.Engine
	booted  chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	loops    map[gnet.EventLoop]*loop
	loopList []*loop
	probed   atomic.Bool
	halves   sync.Map // *halfClosed -> struct{}: writers of half-closed clients, stopped by Stop

	tickEvery  time.Duration
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
	if opts.CPUAffinity {
		opts.LockOSThread = true
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{
		cfg: cfg, opts: opts, log: opts.Logger,
		byAddr: map[string]int{}, byPort: map[int]int{},
		clientsNow: make([]atomic.Int64, len(cfg.Pools)),
		booted:     make(chan struct{}), stopped: make(chan struct{}),
		loops:     map[gnet.EventLoop]*loop{},
		tickEvery: 50 * time.Millisecond,
		started:   time.Now(),
	}
	for i, pc := range cfg.Pools {
		p, err := backend.NewPool(pc)
		if err != nil {
			return nil, err
		}
		p.SetLogger(s.log)
		s.pools = append(s.pools, p)
		if pc.ListenNetwork == "unix" {
			_ = os.Remove(pc.Listen) // a stale socket file from a previous run
			s.addrs = append(s.addrs, "unix://"+pc.Listen)
			s.byAddr[pc.Listen] = i
		} else {
			ta, err := net.ResolveTCPAddr("tcp", pc.Listen)
			if err != nil {
				return nil, fmt.Errorf("pool %q: listen %q: %w", pc.Name, pc.Listen, err)
			}
			s.addrs = append(s.addrs, "tcp://"+ta.String())
			if ta.IP == nil || ta.IP.IsUnspecified() {
				s.byPort[ta.Port] = i
			} else {
				s.byAddr[ta.String()] = i
			}
		}
		if pc.Timeout > 0 && pc.Timeout/4 < s.tickEvery {
			s.tickEvery = max(pc.Timeout/4, time.Millisecond)
		}
	}
	s.helloReply = buildHello(opts.Version)
	s.mcVersion = []byte("VERSION ferry-" + opts.Version + "\r\n")
	s.binVersion = []byte("ferry-" + opts.Version)
	return s, nil
}

// Serve runs the event loops until Stop; it returns the error that stopped
// them (nil after Stop).
func (s *Server) Serve() error {
	defer close(s.stopped)
	reusePort := false
	for _, pc := range s.cfg.Pools {
		reusePort = reusePort || pc.ReusePort
	}
	err := gnet.Rotate(s, s.addrs,
		gnet.WithReusePort(reusePort),
		gnet.WithNumEventLoop(s.opts.Threads),
		gnet.WithLockOSThread(s.opts.LockOSThread),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithTicker(true),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err != nil {
		s.serveErr = err
		select {
		case <-s.booted:
		default:
			close(s.booted)
		}
	}
	return err
}

// Ready is closed once the listeners accept connections (or Serve failed).
func (s *Server) Ready() <-chan struct{} { return s.booted }

// Err is the error Serve returned, once it returned.
func (s *Server) Err() error { return s.serveErr }

// Stop closes the listeners and every connection, and waits for Serve to return.
func (s *Server) Stop(ctx context.Context) error {
	<-s.booted
	for _, p := range s.pools {
		p.Close()
	}
	if s.serveErr != nil {
		return nil
	}
	err := s.eng.Stop(ctx)
	select {
	case <-s.stopped:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.abortHalfClosed()
	return err
}

// Pools returns the pools (for stats).
func (s *Server) Pools() []*backend.Pool { return s.pools }

// OnBoot records the engine; loops start right after it returns.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	for _, pc := range s.cfg.Pools {
		if pc.ListenNetwork == "unix" && pc.ListenPerm != 0 {
			// gnet has created the socket file by now
			defer func(path string, perm os.FileMode) { _ = os.Chmod(path, perm) }(pc.Listen, pc.ListenPerm)
		}
	}
	return gnet.None
}

// OnTick drives timeouts and reconnects on every loop; the first one also
// makes each loop known (and preconnected) by opening one connection per loop.
func (s *Server) OnTick() (time.Duration, gnet.Action) {
	if !s.probed.Swap(true) {
		for _, pc := range s.cfg.Pools {
			if pc.ListenNetwork == "unix" && pc.ListenPerm != 0 {
				_ = os.Chmod(pc.Listen, pc.ListenPerm)
			}
		}
		close(s.booted)
		go s.probeLoops()
	}
	s.mu.Lock()
	for _, lp := range s.loopList {
		_ = lp.el.Execute(context.Background(), lp.tickTask)
	}
	s.mu.Unlock()
	return s.tickEvery, gnet.None
}

// probeLoops connects to the first listener once per loop: the listener
// hands connections to loops round robin, so each loop sees one and sets up
// its state (and its preconnected backends) before real clients arrive.
func (s *Server) probeLoops() {
	preconnect := false
	for _, pc := range s.cfg.Pools {
		preconnect = preconnect || pc.Preconnect
	}
	if !preconnect {
		return
	}
	network, addr := "tcp", strings.TrimPrefix(s.addrs[0], "tcp://")
	if strings.HasPrefix(s.addrs[0], "unix://") {
		network, addr = "unix", strings.TrimPrefix(s.addrs[0], "unix://")
	}
	for i := 0; i < s.opts.Threads; i++ {
		if c, err := net.DialTimeout(network, addr, time.Second); err == nil {
			_ = c.Close()
		}
	}
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
		lp = newLoop(s, el, len(s.loopList), s.pools)
		lp.tickTask = gnet.RunnableFunc(func(context.Context) error { lp.onTick(); return nil })
		s.loops[el] = lp
		s.loopList = append(s.loopList, lp)
		if s.opts.CPUAffinity {
			var set unix.CPUSet
			set.Set(lp.idx % runtime.NumCPU())
			if err := unix.SchedSetaffinity(0, &set); err != nil {
				s.log.Warn("cannot pin event loop to a CPU", "loop", lp.idx, "err", err)
			}
		}
		for _, lpool := range lp.pools {
			if lpool.pool.Cfg.Preconnect {
				for _, cs := range lpool.conns {
					for _, bc := range cs {
						bc.dial()
					}
				}
			}
		}
	}
	return lp
}

func (s *Server) poolOf(c gnet.Conn) (int, bool) {
	switch a := c.LocalAddr().(type) {
	case *net.TCPAddr:
		if i, ok := s.byAddr[a.String()]; ok {
			return i, true
		}
		i, ok := s.byPort[a.Port]
		return i, ok
	case *net.UnixAddr:
		i, ok := s.byAddr[a.Name]
		return i, ok
	}
	return 0, false
}

// OnOpen sets up a client connection, or a backend connection we enrolled.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if dc, ok := c.Context().(*dialCtx); ok {
		return nil, dc.bc.onOpen(c, dc.gen)
	}
	lp := s.loopOf(c.EventLoop())
	pi, ok := s.poolOf(c)
	if !ok {
		s.log.Error("connection on an unknown listener", "local", c.LocalAddr())
		return nil, gnet.Close
	}
	pc := s.cfg.Pools[pi]
	if n := s.clientsNow[pi].Add(1); pc.ClientConnections > 0 && n > int64(pc.ClientConnections) {
		s.clientsNow[pi].Add(-1)
		lp.stats.Pools[pi].ClientErr.Inc()
		return nil, gnet.Close // as twemproxy: over client_connections, refuse
	}
	lp.tick()
	cl := &client{gc: c, lp: lp, lpool: lp.pools[pi], pool: pi, stats: &lp.stats.Pools[pi], open: true, lastActive: lp.now}
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
		s.clientsNow[x.pool].Add(-1)
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
	for i := range s.clientsNow {
		total += s.clientsNow[i].Load()
	}
	b.WriteString("connected_clients:" + strconv.FormatInt(total, 10) + "\r\n")
	b.WriteString("\r\n# Pools\r\n")
	for _, p := range s.pools {
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
