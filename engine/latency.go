package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/ferry-proxy/ferry/codec/memcache"
	"github.com/ferry-proxy/ferry/codec/resp"
	"github.com/ferry-proxy/ferry/worker"
)

// Latency statistics and the slow request log.
//
// A request's latency runs from its arrival (the loop's clock, lp.now, in
// the callback that parsed it) to the delivery of its reply to its client
// (lp.now where finish hands the reply to the client's write buffer, which
// is written at the end of that callback or loop iteration). Both ends use
// the coarse per-callback clock, so a reply ferry answers itself in the
// callback that parsed it (PING, AUTH, errors) counts as 0 in the class
// "other"; requests parsed in one read share an arrival time. Fragments of
// a split command are not counted, their parent is. Requests whose client
// left before the reply are not counted.
//
// The class is decided once at parse time from the command table
// (resp.Command.Class, memcache TextCmd/Opcode.Class) into client.cur, which
// push moves onto the request.

// Both protocols have 4 classes, the last one "other"; the histograms of a
// pool are indexed by class number.
const classOther = uint8(resp.ClassOther)

var (
	_ [worker.Classes - resp.NumClasses]struct{}
	_ [resp.NumClasses - worker.Classes]struct{}
	_ [worker.Classes - memcache.NumClasses]struct{}
	_ [memcache.NumClasses - worker.Classes]struct{}
	_ [uint8(resp.ClassOther) - uint8(memcache.ClassOther)]struct{}
	_ [uint8(memcache.ClassOther) - uint8(resp.ClassOther)]struct{}
)

// reqMeta is what latency statistics and the slow log keep of a request.
type reqMeta struct {
	cmd    string // the command's name, static (from the command table)
	keyLen int32  // length of its first key, 0 if none
	class  uint8
}

func redisMeta(req *resp.Request) reqMeta {
	c := req.Cmd
	if c == nil {
		return reqMeta{cmd: "unknown", class: classOther}
	}
	m := reqMeta{cmd: c.Name, class: uint8(c.Class)}
	if key, ok := c.Key(req.Args); ok {
		m.keyLen = int32(len(key))
	}
	return m
}

func textMeta(req *memcache.TextRequest) reqMeta {
	return reqMeta{cmd: req.Cmd.String(), keyLen: int32(len(req.Key())), class: uint8(req.Cmd.Class())}
}

func binaryMeta(req *memcache.BinaryRequest) reqMeta {
	return reqMeta{cmd: req.Op.String(), keyLen: int32(len(req.Key)), class: uint8(req.Op.Class())}
}

// classNames are a pool's class labels, by class number.
func classNames(p protocol) [worker.Classes]string {
	var out [worker.Classes]string
	for i := range out {
		if p == protoRedis {
			out[i] = resp.Class(i).String()
		} else {
			out[i] = memcache.Class(i).String()
		}
	}
	return out
}

// observe records the latency of r, whose reply is being delivered to its
// client now, and logs it when it is slow. No allocation unless it is
// logged.
func (lp *loop) observe(r *request) {
	cl := r.cli
	d := lp.now - r.arrived
	class := r.meta.class
	if r.meta.cmd == "" { // pushed without a parsed command (a protocol error)
		class = classOther
	}
	lat := &cl.lpool.shard.Latency[class]
	lat.Record(d)
	if t := cl.lpool.slowlog; t > 0 && d >= t {
		lat.RecordSlow()
		lp.logSlow(cl, r, d)
	}
}

// Slow requests are logged at most slowLogBurst times per second per loop;
// the count of the others goes with the next line, or with a line of its
// own on the tick once the second is over.
const slowLogBurst = 10

type slowLog struct {
	windowStart int64 // lp.now when the current second began
	lines       int   // lines logged in it
	suppressed  int   // slow requests not logged since the last line
}

func (lp *loop) logSlow(cl *client, r *request, d int64) {
	s := &lp.slow
	if lp.now-s.windowStart >= int64(time.Second) {
		s.windowStart, s.lines = lp.now, 0
	}
	if s.lines >= slowLogBurst {
		s.suppressed++
		return
	}
	s.lines++
	server := "ferry" // answered by the proxy itself
	if r.bc != nil {
		server = r.bc.addr()
	}
	attrs := []slog.Attr{
		slog.String("pool", cl.lpool.pool.Cfg.Name),
		slog.String("server", server),
		slog.String("command", r.meta.cmd),
		slog.Int("key_len", int(r.meta.keyLen)),
		slog.Duration("duration", time.Duration(d)),
		slog.Duration("threshold", time.Duration(cl.lpool.slowlog)),
	}
	if s.suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", s.suppressed))
		s.suppressed = 0
	}
	lp.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "slow request", attrs...)
}

// onTickStats publishes the loop's latency shards for scrapes and reports
// the slow requests left unlogged once their second is over.
func (lp *loop) onTickStats() {
	for _, lpool := range lp.pools {
		lpool.shard.PublishLatency()
	}
	if s := &lp.slow; s.suppressed > 0 && lp.now-s.windowStart >= int64(time.Second) {
		lp.srv.log.LogAttrs(context.Background(), slog.LevelWarn, "slow requests not logged (rate limit)",
			slog.Int("suppressed", s.suppressed), slog.Int("loop", lp.idx))
		s.suppressed = 0
		s.windowStart, s.lines = lp.now, 0
	}
}
