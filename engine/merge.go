package engine

import (
	"github.com/ferry-proxy/ferry/codec/resp"
)

// split sends a multi-key command (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH)
// as one fragment per server holding some of its keys, each fragment with
// its keys in their original order; merge puts the replies back together.
// When every key is on one server the request goes out unchanged.
func (cl *client) split(cmd *resp.Command, args [][]byte, raw []byte) {
	lp := cl.lp
	p := cl.lpool.pool
	step := cmd.KeyStep
	if step < 1 {
		step = 1
	}
	nkeys := (len(args) - 1) / step

	// Pass 1: the server of every key, and whether there is more than one.
	srvOf := lp.keySrv[:0]
	multi := false
	for i := 0; i < nkeys; i++ {
		si := p.Pick(args[1+i*step])
		if si < 0 {
			lp.keySrv = srvOf
			cl.answer(replyNoServer)
			return
		}
		srvOf = append(srvOf, int32(si))
		if srvOf[0] != int32(si) {
			multi = true
		}
	}
	lp.keySrv = srvOf
	if !multi {
		cl.forward(args[1], raw)
		return
	}

	parent := lp.getReq()
	parent.merge = cmd.Merge
	parent.nkeys = nkeys
	cl.push(parent)

	// Pass 2: one fragment per server, sized to its keys.
	fragOf := lp.fragOf(len(p.Servers))
	for i := 0; i < nkeys; i++ {
		si := srvOf[i]
		fi := fragOf[si]
		if fi < 0 {
			fi = int32(len(parent.frags))
			fragOf[si] = fi
			f := lp.getReq()
			f.parent = parent
			f.server = si
			parent.frags = append(parent.frags, f)
		}
		f := parent.frags[fi]
		f.nkeys++
		for j := 0; j < step; j++ {
			f.cursor += len(args[1+i*step+j]) + 16 // size estimate, reset below
		}
		parent.owner = append(parent.owner, fi)
	}
	for _, f := range parent.frags {
		f.out = ownedBuf(f.cursor + len(args[0]) + 32)
		f.out = resp.AppendArrayHeader(f.out, 1+f.nkeys*step)
		f.out = resp.AppendBulk(f.out, args[0])
		f.cursor = 0
	}
	for i := 0; i < nkeys; i++ {
		f := parent.frags[parent.owner[i]]
		for j := 0; j < step; j++ {
			f.out = resp.AppendBulk(f.out, args[1+i*step+j])
		}
	}
	for si := range fragOf {
		fragOf[si] = -1
	}
	parent.pending = len(parent.frags)
	cl.stats.Fragments.Add(uint64(len(parent.frags)))
	// Enqueue after every fragment is built: an enqueue can fail at once
	// (server down) and that must not merge a half-built parent.
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
