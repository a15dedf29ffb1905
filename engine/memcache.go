package engine

import (
	"github.com/ferry-proxy/ferry/codec/memcache"
)

// protocol is what a pool speaks, to clients and to its servers alike.
type protocol uint8

const (
	protoRedis protocol = iota
	protoMemcache
	protoMemcacheBinary
)

// mcState holds a memcache client's parsers; redis clients do not carry it.
type mcState struct {
	text    memcache.TextParser
	textReq memcache.TextRequest
	bin     memcache.BinaryParser
	binReq  memcache.BinaryRequest
}

var (
	replyMCInputOverflow = []byte("SERVER_ERROR ferry: client sent too much ahead of its replies, closing\r\n")
	replyMCNoServer      = []byte("SERVER_ERROR ferry: no server available in this pool\r\n")
	mcEnd                = []byte("END\r\n")
)

// nextText parses and routes the first text request in b.
func (cl *client) nextText(b []byte) (int, bool) {
	m := cl.mc
	req := &m.textReq
	n, err := m.text.Parse(b, req)
	if err != nil {
		if err == memcache.ErrIncomplete {
			cl.need = m.text.Need()
			return 0, false
		}
		e, ok := err.(*memcache.Error)
		if !ok || e.Close() {
			reply := []byte("CLIENT_ERROR bad command line format\r\n")
			if ok {
				reply = e.Reply()
			}
			cl.protocolError(reply)
			return len(b), true
		}
		// The request was refused but the stream goes on after it.
		cl.stats.ClientErr.Inc()
		cl.answer(e.Reply())
		return n, true
	}
	cl.stats.Requests.Inc()
	cl.cur = textMeta(req)
	raw := b[:n]
	switch req.Cmd {
	case memcache.CmdVersion:
		cl.answer(cl.lp.srv.mcVersion)
	case memcache.CmdQuit:
		// memcached closes without a reply; earlier replies still go out.
		cl.answerLast(nil, false)
	case memcache.CmdGet, memcache.CmdGets, memcache.CmdGat, memcache.CmdGats:
		cl.textGet(req, raw)
	default:
		si := cl.lpool.pool.Pick(req.Key())
		if si < 0 {
			cl.answerNoReply(req.NoReply, cl.noServer())
			return n, true
		}
		r := cl.lp.getReq()
		r.mcCmd = req.Cmd
		r.noreply = req.NoReply
		cl.push(r)
		cl.conn(si).enqueue(r, raw)
	}
	return n, true
}

// answerNoReply answers reply unless the client asked for no reply.
func (cl *client) answerNoReply(noreply bool, reply []byte) {
	if noreply {
		reply = nil
	}
	cl.answer(reply)
}

// textGet sends a retrieval as is when its keys share a server, else as
// one get per server; mergeText puts the VALUE blocks back in key order.
func (cl *client) textGet(req *memcache.TextRequest, raw []byte) {
	srvOf, multi, ok := cl.pickServers(req.Keys, 1)
	switch {
	case !ok:
		cl.answer(cl.noServer())
		return
	case !multi:
		r := cl.lp.getReq()
		r.mcCmd = req.Cmd
		cl.push(r)
		cl.conn(int(srvOf[0])).enqueue(r, raw)
		return
	}
	parent := cl.lp.getReq()
	parent.mcMerge, parent.mcCmd = true, req.Cmd
	cl.push(parent)
	cl.fanOut(parent, srvOf, req.Keys, 1)
	for _, f := range parent.frags {
		f.out = memcache.AppendGetHeader(ownedBuf(f.cursor+f.nkeys+32), req.Cmd, req.Exptime)
	}
	for i, k := range req.Keys {
		f := parent.frags[parent.owner[i]]
		f.out = memcache.AppendKey(f.out, k)
	}
	for _, f := range parent.frags {
		f.out = memcache.AppendCRLF(f.out)
	}
	cl.sendFragments(parent)
}

// mergeText answers a split retrieval: every hit in the order the keys were
// asked, then one END. A server that failed counts as misses for its keys
// (memcache clients read a missing VALUE as a miss), so the hits from the
// live servers still reach the client.
func (lp *loop) mergeText(p *request) {
	size := len(mcEnd)
	for _, f := range p.frags {
		size += len(f.reply)
		f.mcVals = memcache.NewTextValues(f.reply)
		f.hasPeek = false
		f.cursor = keysStart(f.out)
	}
	out := ownedBuf(size)
	for i := 0; i < p.nkeys; i++ {
		f := p.frags[p.owner[i]]
		key := nextKey(f.out, &f.cursor)
		if !f.hasPeek {
			f.hasPeek = f.mcVals.Next(&f.peek)
		}
		if f.hasPeek && string(f.peek.Key) == string(key) {
			out = append(out, f.peek.Block...)
			f.hasPeek = false
		}
	}
	out = append(out, mcEnd...)
	p.reply, p.replyOwned = out, true
	lp.finish(p, out, false)
}

// keysStart returns the offset of the first key in a get/gets/gat/gats line
// the proxy built ("get k1 k2\r\n", "gat 10 k1 k2\r\n").
func keysStart(line []byte) int {
	i := 0
	for i < len(line) && line[i] != ' ' {
		i++
	}
	if len(line) > 2 && line[0] == 'g' && line[1] == 'a' { // gat, gats: skip exptime
		i++
		for i < len(line) && line[i] != ' ' {
			i++
		}
	}
	return i + 1
}

// nextKey returns the key at *pos in a line the proxy built and moves past it.
func nextKey(line []byte, pos *int) []byte {
	start := *pos
	end := start
	for end < len(line) && line[end] != ' ' && line[end] != '\r' {
		end++
	}
	*pos = end + 1
	return line[start:end]
}

// nextBinary parses and routes the first binary request in b.
func (cl *client) nextBinary(b []byte) (int, bool) {
	m := cl.mc
	req := &m.binReq
	n, err := m.bin.Parse(b, req)
	if err != nil {
		if err == memcache.ErrIncomplete {
			cl.need = m.bin.Need()
			return 0, false
		}
		e, ok := err.(*memcache.Error)
		if !ok {
			cl.protocolError(nil)
			return len(b), true
		}
		reply := e.AppendBinary(ownedBuf(64), req.Op, req.Opaque)
		if e.Close() {
			cl.stats.ClientErr.Inc()
			cl.answerLast(reply, true)
			return len(b), true
		}
		cl.stats.ClientErr.Inc()
		cl.answerOwned(reply)
		return n, true
	}
	cl.stats.Requests.Inc()
	cl.cur = binaryMeta(req)
	raw := b[:n]
	switch req.Op {
	case memcache.OpNoop:
		// Answered in order: every earlier request's reply (or, for quiet
		// ones, its silence) is settled before this goes out.
		cl.answerOwned(memcache.AppendBinaryHeader(ownedBuf(memcache.BinaryHeaderLen), memcache.MagicResponse,
			memcache.OpNoop, 0, 0, memcache.StatusOK, 0, req.Opaque, 0))
		return n, true
	case memcache.OpVersion:
		v := cl.lp.srv.binVersion
		b := memcache.AppendBinaryHeader(ownedBuf(memcache.BinaryHeaderLen+len(v)), memcache.MagicResponse,
			memcache.OpVersion, 0, 0, memcache.StatusOK, uint32(len(v)), req.Opaque, 0)
		cl.answerOwned(append(b, v...))
		return n, true
	case memcache.OpQuit:
		cl.answerLast(memcache.AppendBinaryHeader(ownedBuf(memcache.BinaryHeaderLen), memcache.MagicResponse,
			memcache.OpQuit, 0, 0, memcache.StatusOK, 0, req.Opaque, 0), true)
		return n, true
	case memcache.OpQuitQ:
		cl.answerLast(nil, false)
		return n, true
	}
	si := cl.lpool.pool.Pick(req.Key)
	r := cl.lp.getReq()
	r.binOp = req.Op
	r.binOpaque = req.Opaque
	if si < 0 {
		cl.push(r)
		cl.noServer() // counted; the binary reply carries the request's opcode and opaque
		reply := memcache.AppendBinaryError(ownedBuf(96), req.Op, memcache.StatusTemporaryError, req.Opaque, "ferry: no server available")
		r.reply, r.replyOwned = reply, true
		cl.lp.finish(r, reply, false)
		return n, true
	}
	if req.Op.Quiet() {
		// Sent loud, so every request gets exactly one reply and replies
		// match requests in order; the reply a quiet request would not
		// have had is dropped in completeBinary.
		r.binQuiet = true
		raw[1] = byte(req.Op.Loud())
	}
	cl.push(r)
	cl.conn(si).enqueue(r, raw)
	return n, true
}

// binaryReply adjusts a server's reply to a request sent loud on behalf of
// a quiet one: nil when the quiet command would have been silent (a hit-less
// getq, a successful setq), else the reply with the client's opcode.
func binaryReply(r *request, reply []byte) []byte {
	if !r.binQuiet || len(reply) < memcache.BinaryHeaderLen {
		return reply
	}
	status := memcache.BinaryStatusOf(reply)
	if r.binOp.QuietGet() {
		if status == memcache.StatusKeyNotFound {
			return nil
		}
	} else if status == memcache.StatusOK {
		return nil
	}
	reply[1] = byte(r.binOp) // the view is ours until the loop flushes
	return reply
}
