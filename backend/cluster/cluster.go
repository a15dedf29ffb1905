// Package cluster holds what ferry knows of a Redis Cluster behind a
// `distribution: redis_cluster` pool: the key -> slot rule, and the slot map
// (which master serves which slot), learned with CLUSTER SLOTS off the event
// loops.
package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/ferry-proxy/ferry/backend/hash"
	"github.com/ferry-proxy/ferry/codec/resp"
)

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// Unassigned marks a slot no master serves in a Map.
const Unassigned = 0xFFFF

// Slot is the cluster slot of key: CRC16/XMODEM of its hash tag (the part
// between the first '{' and the next '}', when not empty; else the whole
// key) mod 16384, as Redis Cluster computes it.
func Slot(key []byte) uint16 {
	// hash.CRC16 keeps bits above 15 (twemproxy's quirk); the low 16 are
	// CRC16/XMODEM, and the mask keeps 14 of them.
	return uint16(hash.CRC16(hash.HashTag(key, "{}")) & (Slots - 1))
}

// Map is a cluster's slot map: its masters and, per slot, the index in
// Masters of the one serving it. Immutable once built.
type Map struct {
	Masters []string // "host:port", sorted
	Owner   [Slots]uint16
	From    string // the node it was read from
}

// Complete reports whether every slot has a master.
func (m *Map) Complete() bool {
	for _, o := range m.Owner {
		if o == Unassigned {
			return false
		}
	}
	return true
}

// Equal reports whether m and o give every slot the same master.
func (m *Map) Equal(o *Map) bool {
	if m == nil || o == nil {
		return m == o
	}
	return slices.Equal(m.Masters, o.Masters) && m.Owner == o.Owner
}

// ErrBadSlots: a CLUSTER SLOTS reply that is not what Redis sends.
var ErrBadSlots = errors.New("ferry: malformed CLUSTER SLOTS reply")

// ParseSlots builds a Map from a CLUSTER SLOTS reply read from node (its
// host stands in for masters announced with an empty address, as Redis
// means it: "the node you asked").
func ParseSlots(reply []byte, node string) (*Map, error) {
	if resp.IsError(reply) {
		return nil, fmt.Errorf("CLUSTER SLOTS from %s: %s", node, trimCRLF(reply))
	}
	it, ok := resp.IterArray(reply)
	if !ok {
		return nil, fmt.Errorf("%w from %s: not an array", ErrBadSlots, node)
	}
	nodeHost, _, _ := net.SplitHostPort(node)
	m := &Map{From: node}
	for i := range m.Owner {
		m.Owner[i] = Unassigned
	}
	type span struct {
		lo, hi int64
		addr   string
	}
	var spans []span
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		f, ok := resp.IterArray(e)
		if !ok || f.Len() < 3 {
			return nil, fmt.Errorf("%w from %s: bad slot range entry", ErrBadSlots, node)
		}
		a, _ := f.Next()
		b, _ := f.Next()
		lo, ok1 := resp.ParseIntegerReply(a)
		hi, ok2 := resp.ParseIntegerReply(b)
		if !ok1 || !ok2 || lo < 0 || hi < lo || hi >= Slots {
			return nil, fmt.Errorf("%w from %s: bad slot range %q..%q", ErrBadSlots, node, trimCRLF(a), trimCRLF(b))
		}
		master, _ := f.Next()
		mi, ok := resp.IterArray(master)
		if !ok || mi.Len() < 2 {
			return nil, fmt.Errorf("%w from %s: bad master of slots %d-%d", ErrBadSlots, node, lo, hi)
		}
		h, _ := mi.Next()
		p, _ := mi.Next()
		host, ok1 := bulk(h)
		port, ok2 := resp.ParseIntegerReply(p)
		if !ok1 || !ok2 || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("%w from %s: bad master address of slots %d-%d", ErrBadSlots, node, lo, hi)
		}
		if host == "" || host == "?" {
			host = nodeHost
		}
		spans = append(spans, span{lo, hi, net.JoinHostPort(host, strconv.Itoa(int(port)))})
	}
	if it.Err() != nil {
		return nil, fmt.Errorf("%w from %s: %v", ErrBadSlots, node, it.Err())
	}
	for _, s := range spans {
		if !slices.Contains(m.Masters, s.addr) {
			m.Masters = append(m.Masters, s.addr)
		}
	}
	slices.Sort(m.Masters)
	for _, s := range spans {
		idx := uint16(slices.Index(m.Masters, s.addr))
		for sl := s.lo; sl <= s.hi; sl++ {
			m.Owner[sl] = idx
		}
	}
	return m, nil
}

// bulk returns the string of a bulk string reply.
func bulk(b []byte) (string, bool) {
	if len(b) < 4 || b[0] != '$' {
		return "", false
	}
	it := 1
	for it < len(b) && b[it] != '\r' {
		it++
	}
	n, err := strconv.Atoi(string(b[1:it]))
	if err != nil || n < 0 || it+2+n+2 != len(b) {
		return "", false
	}
	return string(b[it+2 : it+2+n]), true
}

func trimCRLF(b []byte) string {
	if len(b) >= 2 && b[len(b)-2] == '\r' {
		b = b[:len(b)-2]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// maxSlotsReply bounds a CLUSTER SLOTS reply (a thousand masters with
// replicas fit in far less).
const maxSlotsReply = 16 << 20

// Fetch asks node for the slot map (after AUTH when auth is set), within
// timeout.
func Fetch(ctx context.Context, node, auth string, timeout time.Duration) (*Map, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", node)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS from %s: %w", node, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	defer stop()
	_ = c.SetDeadline(time.Now().Add(timeout))
	var req []byte
	if auth != "" {
		req = resp.AppendBulkString(resp.AppendBulkString(resp.AppendArrayHeader(req, 2), "AUTH"), auth)
	}
	req = resp.AppendBulkString(resp.AppendBulkString(resp.AppendArrayHeader(req, 2), "CLUSTER"), "SLOTS")
	if _, err := c.Write(req); err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS from %s: %w", node, err)
	}
	br := bufio.NewReader(c)
	if auth != "" {
		r, err := readReply(br)
		if err != nil {
			return nil, fmt.Errorf("AUTH on %s: %w", node, err)
		}
		if resp.IsError(r) {
			return nil, fmt.Errorf("AUTH on %s: %s", node, trimCRLF(r))
		}
	}
	r, err := readReply(br)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS from %s: %w", node, err)
	}
	return ParseSlots(r, node)
}

// readReply reads one complete reply.
func readReply(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		if len(buf) > 0 {
			n, _, err := resp.ScanReply(buf)
			if err == nil {
				return buf[:n], nil
			}
			if err != resp.ErrIncomplete {
				return nil, err
			}
		}
		if len(buf) > maxSlotsReply {
			return nil, fmt.Errorf("reply over %d bytes", maxSlotsReply)
		}
		chunk := make([]byte, 4096)
		n, err := br.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil && n == 0 {
			return nil, err
		}
	}
}
