package engine

import (
	"strconv"
	"strings"
	"sync"

	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/codec/resp"
)

// Cluster emulation, the commands: with cluster_emulation a Redis pool
// answers what cluster-aware clients send at start and on a refresh:
//
//	CLUSTER SLOTS | SHARDS | NODES | INFO | MYID | MYSHARDID  the announced map (cluster_view.go)
//	CLUSTER KEYSLOT key                                     Redis's slot of the key
//	CLUSTER COUNTKEYSINSLOT | GETKEYSINSLOT                 an error: the servers are not sharded by slot
//	CLUSTER REPLICAS | SLAVES id                            empty: no member has replicas
//	READONLY, READWRITE, ASKING                             +OK
//	COMMAND, COMMAND COUNT | LIST | INFO | GETKEYS | DOCS   from the command table
//
// Without it these commands are answered as before (CLUSTER, READONLY,
// READWRITE and ASKING refused; COMMAND an empty list). None of them is ever
// forwarded, and the GET/SET path does not look at any of this: the
// dispatch reaches here only for commands that are local or refused.

var (
	replyInvalidSlot    = []byte("-ERR Invalid or out of range slot\r\n")
	replySlotCount      = []byte("-ERR ferry: cluster emulation cannot count or list a slot's keys: ferry's servers are not sharded by slot (every key is served by every ferry)\r\n")
	replyGetKeysCmd     = []byte("-ERR Invalid command specified\r\n")
	replyGetKeysArity   = []byte("-ERR Invalid number of arguments specified for command\r\n")
	replyGetKeysArgs    = []byte("-ERR Invalid arguments specified for command\r\n")
	replyGetKeysNoKeys  = []byte("-ERR The command has no key arguments\r\n")
	replyCommandDocs    = replyEmptyArray
	replyCommandUnknown = []byte("-ERR unknown subcommand or wrong number of arguments for 'COMMAND'. Try COMMAND HELP.\r\n")
)

// emulation returns the cluster emulation of the client's pool, nil when
// the pool has none.
func (cl *client) emulation() *emulation {
	if t := cl.lp.topo; t != nil {
		return t.emus[cl.lpool.pool.Cfg.Name]
	}
	return nil
}

// clusterCommand answers the cluster commands of an emulating pool (they are
// refused in the command table) and reports whether cmd was one.
func (cl *client) clusterCommand(cmd *resp.Command, args [][]byte) bool {
	switch cmd.Name {
	case "CLUSTER", "READONLY", "READWRITE", "ASKING":
	default:
		return false
	}
	e := cl.emulation()
	if e == nil {
		return false
	}
	if cmd.Name != "CLUSTER" {
		cl.answer(replyOK)
		return true
	}
	v := e.view.Load()
	sub := args[1]
	switch {
	case equalFold(sub, "slots"):
		cl.answer(v.slots)
	case equalFold(sub, "shards"):
		cl.answer(v.shards)
	case equalFold(sub, "nodes"):
		cl.answer(v.nodesReply)
	case equalFold(sub, "info"):
		cl.answer(v.info)
	case equalFold(sub, "myid"), equalFold(sub, "myshardid"):
		cl.answer(v.myID)
	case equalFold(sub, "keyslot") && len(args) == 3:
		cl.answerOwned(resp.AppendInt(ownedBuf(24), int64(cluster.Slot(args[2]))))
	case (equalFold(sub, "countkeysinslot") && len(args) == 3) || (equalFold(sub, "getkeysinslot") && len(args) == 4):
		if n, err := strconv.Atoi(string(args[2])); err != nil || n < 0 || n >= cluster.Slots {
			cl.answer(replyInvalidSlot)
		} else {
			cl.answer(replySlotCount)
		}
	case (equalFold(sub, "replicas") || equalFold(sub, "slaves")) && len(args) == 3:
		if v.hasNode(args[2]) {
			cl.answer(replyEmptyArray)
		} else {
			cl.answer(resp.AppendError(nil, "ERR Unknown node "+string(args[2])))
		}
	default:
		cl.answer(resp.AppendError(nil, "ERR ferry: CLUSTER "+strings.ToUpper(string(sub))+
			" is not supported by cluster emulation (or has the wrong number of arguments)"))
	}
	return true
}

// commandCommand answers COMMAND and its subcommands from the command table
// (for a pool with cluster emulation).
func (cl *client) commandCommand(args [][]byte) {
	ci := commandInfos()
	if len(args) == 1 {
		cl.answer(ci.all)
		return
	}
	sub := args[1]
	switch {
	case equalFold(sub, "count") && len(args) == 2:
		cl.answer(ci.count)
	case equalFold(sub, "list") && len(args) == 2:
		cl.answer(ci.list)
	case equalFold(sub, "docs"):
		cl.answer(replyCommandDocs)
	case equalFold(sub, "info"):
		n := 0
		for _, name := range args[2:] {
			if c := resp.Lookup(name); c != nil {
				n += len(ci.info[c])
			} else {
				n += len(replyNullBulk)
			}
		}
		b := resp.AppendArrayHeader(ownedBuf(n+16), len(args)-2)
		for _, name := range args[2:] {
			if c := resp.Lookup(name); c != nil {
				b = append(b, ci.info[c]...)
			} else {
				b = append(b, replyNullBulk...)
			}
		}
		cl.answerOwned(b)
	case equalFold(sub, "getkeys") && len(args) >= 3:
		cl.getKeys(args[2:])
	default:
		cl.answer(replyCommandUnknown)
	}
}

// getKeys answers COMMAND GETKEYS: the keys of the command args, by the
// command table's key positions.
func (cl *client) getKeys(args [][]byte) {
	c := resp.Lookup(args[0])
	switch {
	case c == nil:
		cl.answer(replyGetKeysCmd)
		return
	case !c.ArityOK(len(args)):
		cl.answer(replyGetKeysArity)
		return
	}
	n, size := 0, 16
	ok := resp.KeyIndexes(c, args, func(i int) { n++; size += len(args[i]) + 16 })
	switch {
	case !ok:
		cl.answer(replyGetKeysArgs)
		return
	case n == 0:
		cl.answer(replyGetKeysNoKeys)
		return
	}
	b := resp.AppendArrayHeader(ownedBuf(size), n)
	resp.KeyIndexes(c, args, func(i int) { b = resp.AppendBulk(b, args[i]) })
	cl.answerOwned(b)
}

// cmdInfos are the COMMAND replies, built once from the command table.
type cmdInfos struct {
	all, count, list []byte
	info             map[*resp.Command][]byte // one COMMAND INFO entry
}

var (
	cmdInfosOnce sync.Once
	cmdInfosVal  *cmdInfos
)

func commandInfos() *cmdInfos {
	cmdInfosOnce.Do(func() { cmdInfosVal = buildCommandInfos(resp.Commands()) })
	return cmdInfosVal
}

// buildCommandInfos writes each command as redis 7 does in COMMAND: name,
// arity, flags, first key, last key, step, ACL categories, tips, key specs,
// subcommands (the last four empty). Flags: readonly or write, and
// movablekeys where keys follow a numkeys argument (clients then ask
// COMMAND GETKEYS).
func buildCommandInfos(table []resp.Command) *cmdInfos {
	ci := &cmdInfos{info: make(map[*resp.Command][]byte, len(table))}
	all := resp.AppendArrayHeader(nil, len(table))
	list := resp.AppendArrayHeader(nil, len(table))
	for i := range table {
		c := &table[i]
		name := strings.ToLower(c.Name)
		var flags []string
		if c.ReadOnly {
			flags = append(flags, "readonly")
		} else {
			flags = append(flags, "write")
		}
		if c.NumKeysAt > 0 {
			flags = append(flags, "movablekeys")
		}
		b := resp.AppendArrayHeader(nil, 10)
		b = resp.AppendBulkString(b, name)
		b = resp.AppendInt(b, int64(c.Arity))
		b = resp.AppendArrayHeader(b, len(flags))
		for _, f := range flags {
			b = resp.AppendSimple(b, f)
		}
		b = resp.AppendInt(b, int64(c.FirstKey))
		b = resp.AppendInt(b, int64(c.LastKey))
		b = resp.AppendInt(b, int64(c.KeyStep))
		for range 4 {
			b = resp.AppendArrayHeader(b, 0)
		}
		ci.info[c] = b
		all = append(all, b...)
		list = resp.AppendBulkString(list, name)
	}
	ci.all, ci.list = all, list
	ci.count = resp.AppendInt(nil, int64(len(table)))
	return ci
}

// infoReplyCluster is INFO for a pool with cluster emulation: ferry's INFO
// with the "# Cluster" section redis has (cluster_enabled:1), which tools
// such as redis-cli --cluster check look for.
func (s *Server) infoReplyCluster() []byte {
	info := s.infoReply() // "$N\r\n" body "\r\n"
	body := info[:len(info)-2]
	if i := strings.IndexByte(string(body), '\n'); i >= 0 {
		body = body[i+1:]
	}
	return resp.AppendBulkString(nil, string(body)+"\r\n# Cluster\r\ncluster_enabled:1\r\n")
}
