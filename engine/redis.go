package engine

import (
	"strconv"
	"strings"
	"time"

	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/codec/resp"
)

// Preallocated replies: the hot path builds no error strings.
var (
	replyOK            = []byte("+OK\r\n")
	replyPong          = []byte("+PONG\r\n")
	replyNoAuth        = []byte("-NOAUTH Authentication required.\r\n")
	replyWrongPass     = []byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
	replyNoPassword    = []byte("-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n")
	replyNoServer      = []byte("-ERR ferry: no server available in this pool\r\n")
	replyNoProto       = []byte("-NOPROTO sorry, this protocol version is not supported\r\n")
	replyEmptyArray    = []byte("*0\r\n")
	replyNullBulk      = []byte("$-1\r\n")
	replyBadReply      = []byte("-ERR ferry: unexpected reply from server\r\n")
	replyCrossServer   = []byte("-ERR ferry: the keys of this command are on different servers (use a hash tag to keep them together)\r\n")
	replyBadNumKeys    = []byte("-ERR ferry: bad numkeys for this command\r\n")
	replyBadDB         = []byte("-ERR ferry: SELECT only accepts the pool's configured redis_db\r\n")
	replyNotInt        = []byte("-ERR value is not an integer or out of range\r\n")
	lolwut             = []byte("$31\r\nferry: a Redis/memcache proxy\r\n\r\n")
	replyExecAbort     = []byte("-EXECABORT Transaction discarded because of previous errors.\r\n")
	replyNestedMulti   = []byte("-ERR MULTI calls can not be nested\r\n")
	replyInRefusedTx   = []byte("-ERR ferry: command not run: it follows a MULTI that was refused (transactions are not supported); EXEC will answer EXECABORT\r\n")
	replyInputOverflow = []byte("-ERR ferry: client sent too much ahead of its replies (max_inflight and max_request_bytes exceeded), closing\r\n")
)

// nextRedis parses and routes the first request in b. It returns the bytes
// consumed, and false when b holds only part of a request.
func (cl *client) nextRedis(b []byte) (int, bool) {
	n, err := cl.parser.Parse(b, &cl.req)
	if err != nil {
		if err == resp.ErrIncomplete {
			cl.need = cl.parser.Need()
			return 0, false
		}
		// The stream cannot be resynced: answer the error after the
		// replies already owed, then close.
		cl.protocolError(protocolErrorReply(err))
		return len(b), true
	}
	if len(cl.req.Args) == 0 { // "*0", "*-1" or a blank line: redis ignores them
		return n, true
	}
	cl.stats.Requests.Inc()
	cl.cur = redisMeta(&cl.req)
	raw := b[:n]
	if cl.req.Inline {
		// Servers split inline commands by their own rules; send what ferry
		// parsed, so that ferry and the server agree on every argument.
		cl.inline = resp.AppendArrayHeader(cl.inline[:0], len(cl.req.Args))
		for _, a := range cl.req.Args {
			cl.inline = resp.AppendBulk(cl.inline, a)
		}
		raw = cl.inline
	}
	cl.dispatch(&cl.req, raw)
	return n, true
}

func protocolErrorReply(err error) []byte {
	if pe, ok := err.(interface{ Reply() []byte }); ok {
		return pe.Reply()
	}
	return resp.AppendError(nil, "ERR Protocol error: "+err.Error())
}

// answer queues a reply the proxy produces itself.
func (cl *client) answer(reply []byte) {
	r := cl.lp.getReq()
	cl.push(r)
	cl.lp.finish(r, reply, false)
}

// dispatch routes one parsed request; raw are its bytes as received.
func (cl *client) dispatch(req *resp.Request, raw []byte) {
	args := req.Args
	cmd := req.Cmd
	if cmd == nil {
		cl.answer(unknownCommand(args[0], args[1:]))
		return
	}
	if !cmd.ArityOK(len(args)) {
		cl.answer(resp.AppendError(nil, "ERR wrong number of arguments for '"+strings.ToLower(cmd.Name)+"' command"))
		return
	}
	if cl.lim.needsAuth && !cl.authed && cmd.Name != "AUTH" && cmd.Name != "HELLO" && cmd.Name != "QUIT" {
		cl.answer(replyNoAuth)
		return
	}
	if cl.refusedTx && cl.inRefusedTx(cmd) {
		return
	}
	switch cmd.Kind {
	case resp.KindSingle:
		key, ok := cmd.Key(args)
		if !ok {
			key = args[0] // keyless form (XINFO HELP): any server will do
		}
		cl.forward(key, raw)
	case resp.KindMulti:
		cl.split(cmd, args, raw)
	case resp.KindEval, resp.KindSameServer:
		cl.forwardSameServer(cmd, args, raw)
	case resp.KindLocal:
		cl.local(cmd, args)
	default:
		if cl.clusterCommand(cmd, args) { // cluster_emulation (cluster_emulation.go)
			return
		}
		// The client now believes it is in a transaction and will send
		// the commands it means to queue: none of them may run.
		cl.refusedTx = cmd.Name == "MULTI"
		cl.answer(cmd.ErrorReply())
	}
}

// inRefusedTx answers a command sent after a refused MULTI, up to its EXEC
// or DISCARD. The client's library sent them to be queued, not run: running
// them would apply half of what the client meant as one transaction (and
// report it failed). It returns false for the commands that act at once, as
// Redis runs them inside MULTI too.
func (cl *client) inRefusedTx(cmd *resp.Command) bool {
	switch cmd.Name {
	case "QUIT":
		return false
	case "EXEC":
		cl.refusedTx = false
		cl.answer(replyExecAbort)
	case "DISCARD":
		cl.refusedTx = false
		cl.answer(replyOK)
	case "MULTI":
		cl.answer(replyNestedMulti)
	default:
		cl.answer(replyInRefusedTx)
	}
	return true
}

func unknownCommand(name []byte, args [][]byte) []byte {
	if len(name) > 128 {
		name = name[:128]
	}
	msg := "ERR unknown command '" + string(name) + "', with args beginning with: "
	for i, a := range args {
		if i == 8 {
			break
		}
		if len(a) > 32 {
			a = a[:32]
		}
		msg += "'" + string(a) + "' "
	}
	return resp.AppendError(nil, msg)
}

// forward sends a request whose keys all live on the server of key.
func (cl *client) forward(key, raw []byte) {
	p := cl.lpool.pool
	if p.IsCluster() {
		slot := cluster.Slot(key)
		cl.forwardTo(p.SlotOwner(slot), slot, raw)
		return
	}
	cl.forwardTo(p.Pick(key), 0, raw)
}

// forwardTo sends a request to server si (-1: no server is live); slot is
// its keys' slot in a cluster pool.
func (cl *client) forwardTo(si int, slot uint16, raw []byte) {
	if si < 0 {
		cl.answer(cl.noServer())
		return
	}
	r := cl.lp.getReq()
	cl.push(r)
	if cl.lpool.pool.IsCluster() {
		// Kept until the reply is in: a MOVED or ASK sends it again.
		r.out = append(ownedBuf(len(raw)), raw...)
		raw = r.out
		r.slot = slot
	}
	cl.conn(si).enqueue(r, raw)
}

// forwardSameServer sends a command with several keys (EVAL, RENAME,
// SUNIONSTORE, ...) to their server when they all live on one, and refuses
// it otherwise: a proxy cannot run it across servers.
func (cl *client) forwardSameServer(cmd *resp.Command, args [][]byte, raw []byte) {
	p := cl.lpool.pool
	first, same, nkeys := -1, true, 0
	var slot uint16
	ok := resp.KeyIndexes(cmd, args, func(i int) {
		si := p.Pick(args[i])
		if p.IsCluster() {
			// Redis Cluster's rule: one slot, even on one node.
			s := cluster.Slot(args[i])
			if nkeys > 0 && s != slot {
				same = false
			}
			slot = s
		}
		if nkeys == 0 {
			first = si
		} else if si != first {
			same = false
		}
		nkeys++
	})
	switch {
	case !ok:
		cl.answer(replyBadNumKeys)
	case !same && p.IsCluster():
		cl.answer(replyCrossSlot)
	case !same:
		cl.answer(replyCrossServer)
	case nkeys == 0:
		// No key to place it by (EVAL with numkeys 0): run it where its
		// first argument hashes to, so the same script meets the same server.
		cl.forward(args[1], raw)
	default:
		cl.forwardTo(first, slot, raw)
	}
}

// local answers the commands the proxy serves itself.
func (cl *client) local(cmd *resp.Command, args [][]byte) {
	switch cmd.Name {
	case "PING":
		if len(args) > 1 {
			cl.answerBulk(args[1])
			return
		}
		cl.answer(replyPong)
	case "ECHO":
		cl.answerBulk(args[1])
	case "QUIT":
		cl.answerLast(replyOK, false)
	case "AUTH":
		cl.auth(args[1:])
	case "SELECT":
		db, err := strconv.Atoi(string(args[1]))
		if err != nil {
			cl.answer(replyNotInt)
		} else if db != cl.lim.redisDB {
			cl.answer(replyBadDB)
		} else {
			cl.answer(replyOK)
		}
	case "COMMAND":
		if cl.emulation() != nil {
			cl.commandCommand(args)
			return
		}
		if len(args) > 1 && equalFold(args[1], "count") {
			cl.answer(resp.AppendInt(nil, int64(len(resp.Commands()))))
			return
		}
		cl.answer(replyEmptyArray)
	case "INFO":
		if cl.emulation() != nil {
			cl.answer(cl.lp.srv.infoReplyCluster())
			return
		}
		cl.answer(cl.lp.srv.infoReply())
	case "HELLO":
		cl.hello(args)
	case "TIME":
		now := time.Now()
		b := resp.AppendArrayHeader(ownedBuf(48), 2)
		b = resp.AppendBulkString(b, strconv.FormatInt(now.Unix(), 10))
		b = resp.AppendBulkString(b, strconv.Itoa(now.Nanosecond()/1000))
		cl.answerOwned(b)
	case "LOLWUT":
		cl.answer(lolwut)
	case "CLIENT":
		switch {
		case equalFold(args[1], "setname"), equalFold(args[1], "setinfo"):
			cl.answer(replyOK)
		case equalFold(args[1], "getname"):
			cl.answer(replyNullBulk)
		default:
			cl.answer(resp.AppendError(nil, "ERR ferry: CLIENT "+string(args[1])+" is not supported by a proxy"))
		}
	default:
		cl.answer(resp.AppendError(nil, "ERR ferry: '"+cmd.Name+"' is not supported by ferry"))
	}
}

// answerBulk answers a bulk string copied from the input into the
// request's own buffer (freed with the request).
func (cl *client) answerBulk(b []byte) {
	cl.answerOwned(resp.AppendBulk(ownedBuf(len(b)+24), b))
}

// answerOwned answers with a reply built in an ownedBuf buffer.
func (cl *client) answerOwned(reply []byte) {
	r := cl.lp.getReq()
	r.reply, r.replyOwned = reply, true
	cl.push(r)
	cl.lp.finish(r, r.reply, false)
}

func (cl *client) auth(args [][]byte) {
	pass := cl.lpool.pool.Cfg.RedisAuth
	if pass == "" {
		cl.answer(replyNoPassword)
		return
	}
	given := args[len(args)-1]
	if len(args) == 2 && string(args[0]) != "default" {
		cl.answer(replyWrongPass)
		return
	}
	if string(given) != pass {
		cl.authed = false
		cl.answer(replyWrongPass)
		return
	}
	cl.authed = true
	cl.answer(replyOK)
}

// hello accepts RESP2 only: ferry forwards replies as the backends send
// them, and backends speak RESP2 to it.
func (cl *client) hello(args [][]byte) {
	i := 1
	if len(args) > 1 {
		if string(args[1]) != "2" {
			if _, err := strconv.Atoi(string(args[1])); err == nil {
				cl.answer(replyNoProto)
				return
			}
			cl.answer(resp.AppendError(nil, "ERR Protocol version is not an integer or out of range"))
			return
		}
		i = 2
	}
	for ; i < len(args); i++ {
		switch {
		case equalFold(args[i], "auth") && i+2 < len(args):
			if cl.lpool.pool.Cfg.RedisAuth == "" || string(args[i+2]) != cl.lpool.pool.Cfg.RedisAuth {
				cl.answer(replyWrongPass)
				return
			}
			cl.authed = true
			i += 2
		case equalFold(args[i], "setname") && i+1 < len(args):
			i++
		default:
			cl.answer(resp.AppendError(nil, "ERR Syntax error in HELLO option '"+string(args[i])+"'"))
			return
		}
	}
	if cl.lim.needsAuth && !cl.authed {
		cl.answer(replyNoAuth)
		return
	}
	cl.answer(cl.lp.srv.helloReply)
}

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
