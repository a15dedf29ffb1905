package loadgen

import (
	"bufio"
	"encoding/binary"
	"strconv"
)

// Memcache binary protocol constants.
const (
	binReqMagic  = 0x80
	binRespMagic = 0x81
	binHeaderLen = 24

	binOpGet   = 0x00
	binOpSet   = 0x01
	binOpNoop  = 0x0a
	binOpGetKQ = 0x0d

	binStatusOK       = 0x0000
	binStatusNotFound = 0x0001
)

// binaryCodec speaks the memcache binary protocol. A single-key get is a GET;
// a multi-key get is N quiet GETKQs closed by a NOOP, as clients do. Opaque
// values number the requests so out-of-order or missing replies are caught.
type binaryCodec struct {
	prefix []byte
	data   []byte
	wr, rd uint32 // next opaque to write / expected next opaque to read
}

func newBinaryCodec(prefix string, data []byte) *binaryCodec {
	return &binaryCodec{prefix: []byte(prefix), data: data}
}

func (c *binaryCodec) appendHeader(b []byte, op byte, keyLen, extLen, bodyLen int) []byte {
	var h [binHeaderLen]byte
	h[0] = binReqMagic
	h[1] = op
	binary.BigEndian.PutUint16(h[2:4], uint16(keyLen))
	h[4] = byte(extLen)
	binary.BigEndian.PutUint32(h[8:12], uint32(bodyLen))
	binary.BigEndian.PutUint32(h[12:16], c.wr)
	c.wr++
	return append(b, h[:]...)
}

func (c *binaryCodec) keyLen(key uint64) int { return len(c.prefix) + decDigits(key) }

func (c *binaryCodec) appendKey(b []byte, key uint64) []byte {
	b = append(b, c.prefix...)
	return strconv.AppendUint(b, key, 10)
}

func (c *binaryCodec) appendSet(b []byte, key uint64) []byte {
	kl := c.keyLen(key)
	b = c.appendHeader(b, binOpSet, kl, 8, 8+kl+len(c.data))
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // flags, expiry
	b = c.appendKey(b, key)
	return append(b, c.data...)
}

func (c *binaryCodec) appendGet(b []byte, keys []uint64) []byte {
	if len(keys) == 1 {
		kl := c.keyLen(keys[0])
		b = c.appendHeader(b, binOpGet, kl, 0, kl)
		return c.appendKey(b, keys[0])
	}
	for _, k := range keys {
		kl := c.keyLen(k)
		b = c.appendHeader(b, binOpGetKQ, kl, 0, kl)
		b = c.appendKey(b, k)
	}
	return c.appendHeader(b, binOpNoop, 0, 0, 0)
}

func (c *binaryCodec) appendCommand(b []byte, _ []uint64) []byte {
	panic("loadgen: --command is not supported for memcache_binary")
}

// binResp is a parsed response header.
type binResp struct {
	op     byte
	status uint16
	opaque uint32
}

// readResp reads one response header and skips its body.
func (c *binaryCodec) readResp(r *bufio.Reader) (binResp, error) {
	h, err := r.Peek(binHeaderLen)
	if err != nil {
		return binResp{}, err
	}
	if h[0] != binRespMagic {
		return binResp{}, desync(ProtoMemcacheBinary, "response magic 0x81", h)
	}
	keyLen := int64(binary.BigEndian.Uint16(h[2:4]))
	extLen := int64(h[4])
	body := int64(binary.BigEndian.Uint32(h[8:12]))
	if body < keyLen+extLen || body > maxPayload {
		return binResp{}, desync(ProtoMemcacheBinary, "consistent body length", h)
	}
	resp := binResp{op: h[1], status: binary.BigEndian.Uint16(h[6:8]), opaque: binary.BigEndian.Uint32(h[12:16])}
	if _, err := r.Discard(binHeaderLen + int(body)); err != nil {
		return binResp{}, err
	}
	return resp, nil
}

func (c *binaryCodec) expect(resp binResp, op byte, what string) error {
	if resp.op != op || resp.opaque != c.rd {
		var got [9]byte
		got[0] = resp.op
		binary.BigEndian.PutUint32(got[1:5], resp.opaque)
		binary.BigEndian.PutUint32(got[5:9], c.rd)
		return desync(ProtoMemcacheBinary, what+" response with the next opaque (got: op, opaque, want opaque)", got[:])
	}
	c.rd++
	return nil
}

func (c *binaryCodec) readReply(r *bufio.Reader, k Kind, nkeys int) (reply, error) {
	switch {
	case k == KindSet:
		resp, err := c.readResp(r)
		if err != nil {
			return reply{}, err
		}
		if err := c.expect(resp, binOpSet, "SET"); err != nil {
			return reply{}, err
		}
		if resp.status != binStatusOK {
			return reply{isErr: true}, nil
		}
		return reply{}, nil
	case k == KindGet && nkeys == 1:
		resp, err := c.readResp(r)
		if err != nil {
			return reply{}, err
		}
		if err := c.expect(resp, binOpGet, "GET"); err != nil {
			return reply{}, err
		}
		switch resp.status {
		case binStatusOK:
			return reply{hits: 1}, nil
		case binStatusNotFound:
			return reply{misses: 1}, nil
		}
		return reply{isErr: true}, nil
	case k == KindGet:
		var rep reply
		first, noop := c.rd, c.rd+uint32(nkeys)
		last := first - 1
		seen := false
		for {
			resp, err := c.readResp(r)
			if err != nil {
				return reply{}, err
			}
			if resp.op == binOpNoop {
				if resp.opaque != noop {
					return reply{}, desync(ProtoMemcacheBinary, "NOOP closing the multi-get", []byte{resp.op})
				}
				c.rd = noop + 1
				rep.misses = int32(nkeys) - rep.hits
				if rep.isErr {
					rep.misses = 0
				}
				return rep, nil
			}
			if resp.op != binOpGetKQ || resp.opaque-first >= uint32(nkeys) || (seen && resp.opaque-first <= last-first) {
				return reply{}, desync(ProtoMemcacheBinary, "GETKQ response within the multi-get", []byte{resp.op})
			}
			seen, last = true, resp.opaque
			if resp.status == binStatusOK {
				rep.hits++
			} else {
				rep.isErr = true
			}
		}
	}
	return reply{}, desync(ProtoMemcacheBinary, "a set or get request", nil)
}
