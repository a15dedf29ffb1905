package engine

import (
	"github.com/ferry-proxy/ferry/backend/cluster"
	"github.com/ferry-proxy/ferry/codec/resp"
)

// split sends a multi-key command (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH)
// as one fragment per server holding some of its keys, each fragment with
// its keys in their original order; merge puts the replies back together.
// When every key is on one server the request goes out unchanged.
func (cl *client) split(cmd *resp.Command, args [][]byte, raw []byte) {
	step := max(cmd.KeyStep, 1)
	keys := args[1:]
	srvOf, multi, ok := cl.pickServers(keys, step)
	switch {
	case !ok:
		cl.answer(cl.noServer())
		return
	case !multi:
		var slot uint16
		if cl.lpool.pool.IsCluster() {
			slot = uint16(cl.lp.keyGrp[0])
		}
		cl.forwardTo(int(srvOf[0]), slot, raw)
		return
	}
	parent := cl.lp.getReq()
	parent.merge = cmd.Merge
	cl.push(parent)
	cl.fanOut(parent, srvOf, keys, step)
	for _, f := range parent.frags {
		f.out = ownedBuf(f.cursor + f.nkeys*step*16 + len(args[0]) + 32)
		f.out = resp.AppendArrayHeader(f.out, 1+f.nkeys*step)
		f.out = resp.AppendBulk(f.out, args[0])
	}
	for i, fi := range parent.owner {
		f := parent.frags[fi]
		for _, a := range keys[i*step : i*step+step] {
			f.out = resp.AppendBulk(f.out, a)
		}
	}
	cl.sendFragments(parent)
}

// pickServers finds the server of every key group keys[i*step:(i+1)*step]
// (placed by its first element) into the loop's scratch, and reports whether
// they span more than one server; ok is false when a key has no live server.
// In a cluster pool the groups are split per slot (the loop's keyGrp), not
// per server: Redis refuses a command whose keys are in several slots.
func (cl *client) pickServers(keys [][]byte, step int) (srvOf []int32, multi, ok bool) {
	p := cl.lpool.pool
	srvOf = cl.lp.keySrv[:0]
	grp := cl.lp.keyGrp[:0]
	isCluster := p.IsCluster()
	for i := 0; i+step <= len(keys); i += step {
		si := p.Pick(keys[i])
		if si < 0 {
			cl.lp.keySrv = srvOf
			return srvOf, false, false
		}
		srvOf = append(srvOf, int32(si))
		if isCluster {
			grp = append(grp, int32(cluster.Slot(keys[i])))
			multi = multi || grp[0] != grp[len(grp)-1]
		} else {
			multi = multi || srvOf[0] != int32(si)
		}
	}
	cl.lp.keySrv, cl.lp.keyGrp = srvOf, grp
	return srvOf, multi, true
}

// fanOut gives parent one fragment per server in srvOf, each holding its key
// groups in their original order: parent.owner maps key group i to its
// fragment, f.nkeys counts a fragment's groups and f.cursor their bytes (a
// size hint for the caller, who then encodes each fragment's request).
func (cl *client) fanOut(parent *request, srvOf []int32, keys [][]byte, step int) {
	lp := cl.lp
	parent.nkeys = len(srvOf)
	// A fragment per group: per server, or per slot in a cluster pool.
	grp, ngrp := srvOf, len(cl.lpool.pool.Servers)
	if cl.lpool.pool.IsCluster() {
		grp, ngrp = lp.keyGrp, cluster.Slots
	}
	fragOf := lp.fragOf(ngrp)
	for i, si := range srvOf {
		g := grp[i]
		fi := fragOf[g]
		if fi < 0 {
			fi = int32(len(parent.frags))
			fragOf[g] = fi
			f := lp.getReq()
			f.parent, f.server, f.mcCmd = parent, si, parent.mcCmd
			f.group, f.slot = g, uint16(g) // slot: meaningful in cluster pools
			parent.frags = append(parent.frags, f)
		}
		f := parent.frags[fi]
		f.nkeys++
		for _, k := range keys[i*step : i*step+step] {
			f.cursor += len(k)
		}
		parent.owner = append(parent.owner, fi)
	}
	for _, f := range parent.frags {
		fragOf[f.group] = -1
	}
}

// sendFragments enqueues the fragments once every one is built: an enqueue
// can fail at once (server down), which must not merge a half-built parent.
func (cl *client) sendFragments(parent *request) {
	for _, f := range parent.frags {
		f.cursor = 0 // from size hint back to merge cursor
	}
	parent.pending = len(parent.frags)
	cl.stats.Fragments.Add(uint64(len(parent.frags)))
	for _, f := range parent.frags {
		cl.conn(int(f.server)).enqueue(f, f.out)
	}
}

// fragOf returns the loop's server -> fragment index scratch, all -1.
func (lp *loop) fragOf(n int) []int32 {
	for len(lp.fragIdx) < n {
		lp.fragIdx = append(lp.fragIdx, -1)
	}
	return lp.fragIdx[:n]
}

// merge builds the reply of a split command once all fragments are in. A
// fragment that failed makes the whole command fail with its error: the
// client never gets a partial result passed off as success.
func (lp *loop) merge(p *request) {
	if p.mcMerge {
		lp.mergeText(p)
		return
	}
	for _, f := range p.frags {
		if resp.IsError(f.reply) {
			lp.finish(p, f.reply, true)
			return
		}
	}
	switch p.merge {
	case resp.MergeSum:
		var sum int64
		for _, f := range p.frags {
			v, ok := resp.ParseIntegerReply(f.reply)
			if !ok {
				lp.finish(p, replyBadReply, false)
				return
			}
			sum += v
		}
		p.reply = resp.AppendInt(ownedBuf(24), sum)
		p.replyOwned = true
		lp.finish(p, p.reply, false)
	case resp.MergeOK:
		for _, f := range p.frags {
			if string(f.reply) != "+OK\r\n" {
				lp.finish(p, replyBadReply, false)
				return
			}
		}
		lp.finish(p, replyOK, false)
	case resp.MergeArray:
		size := 16
		for _, f := range p.frags {
			n, hdr, ok := resp.ArrayLen(f.reply)
			if !ok || n != f.nkeys {
				lp.finish(p, replyBadReply, false)
				return
			}
			f.cursor = hdr
			size += len(f.reply) - hdr
		}
		out := resp.AppendArrayHeader(ownedBuf(size), p.nkeys)
		for i := 0; i < p.nkeys; i++ {
			f := p.frags[p.owner[i]]
			n, _, err := resp.ScanReply(f.reply[f.cursor:])
			if err != nil {
				freeBuf(out)
				lp.finish(p, replyBadReply, false)
				return
			}
			out = append(out, f.reply[f.cursor:f.cursor+n]...)
			f.cursor += n
		}
		p.reply, p.replyOwned = out, true
		lp.finish(p, out, false)
	default:
		panic("BUG: split command without a merge rule")
	}
}
