package memcache

import "encoding/binary"

// Binary packet header layout (binary protocol spec, all big-endian).
const (
	BinaryHeaderLen = 24
	MagicRequest    = 0x80
	MagicResponse   = 0x81

	offMagic    = 0
	offOpcode   = 1
	offKeyLen   = 2 // uint16
	offExtLen   = 4
	offDataType = 5
	offStatus   = 6 // uint16: vbucket id in requests, status in responses
	offBodyLen  = 8 // uint32: extras + key + value
	offOpaque   = 12
	offCas      = 16 // uint64
)

// MaxBinaryReplyBody bounds the body of a server reply ScanBinaryReply accepts.
const MaxBinaryReplyBody = 1 << 30

// BinaryRequest is one parsed binary request. Extras, Key and Value are views
// into the parsed bytes (see the package doc).
type BinaryRequest struct {
	Op       Opcode
	DataType uint8
	VBucket  uint16
	Opaque   uint32
	Cas      uint64
	Extras   []byte
	Key      []byte
	Value    []byte

	// Decoded extras: Flags and Exptime for set/add/replace; Exptime for
	// touch and gat*; Delta, Initial and Exptime for incr/decr.
	Flags   uint32
	Exptime uint32
	Delta   uint64
	Initial uint64
}

// Quiet reports a quiet request (see Opcode.Quiet).
func (r *BinaryRequest) Quiet() bool { return r.Op.Quiet() }

// BinaryParser parses binary requests. The zero value is ready to use with
// default Limits (Limits.MaxValueLen bounds the value; MaxKeys and MaxLineLen
// are unused). A header is checked as soon as its 24 bytes are there, so a
// request that is too large is rejected before its body arrives.
type BinaryParser struct {
	Limits Limits
	need   int
}

// Reset forgets a partial request. The binary parser re-reads only the
// 24-byte header on each call, so this is for symmetry with TextParser.
func (p *BinaryParser) Reset() { p.need = 0 }

// Need returns, after ErrIncomplete, the minimum total length of b the next
// call needs: 24 for the header, then the whole packet.
func (p *BinaryParser) Need() int { return p.need }

// Parse parses the binary request at the start of b into r, with the same
// contract as TextParser.Parse. Once the header is read, r.Op and r.Opaque
// are set even on error, for the error response (Error.AppendBinary). Errors
// other than a bad magic keep the connection: the bad packet's length n is
// known from the header and may exceed len(b).
func (p *BinaryParser) Parse(b []byte, r *BinaryRequest) (n int, err error) {
	if len(b) < BinaryHeaderLen {
		p.need = BinaryHeaderLen
		return 0, ErrIncomplete
	}
	*r = BinaryRequest{
		Op:       Opcode(b[offOpcode]),
		DataType: b[offDataType],
		VBucket:  binary.BigEndian.Uint16(b[offStatus:]),
		Opaque:   binary.BigEndian.Uint32(b[offOpaque:]),
		Cas:      binary.BigEndian.Uint64(b[offCas:]),
	}
	if b[offMagic] != MagicRequest {
		return 0, ErrBadMagic
	}
	keyLen := int(binary.BigEndian.Uint16(b[offKeyLen:]))
	extLen := int(b[offExtLen])
	bodyLen := int(binary.BigEndian.Uint32(b[offBodyLen:]))
	n = BinaryHeaderLen + bodyLen
	if keyLen+extLen > bodyLen {
		return n, ErrBinaryLengths
	}
	valueLen := bodyLen - keyLen - extLen
	info := &opTable[r.Op]
	switch {
	case info.flags&opKnown == 0:
		return n, ErrBinaryUnknown
	case info.flags&opSupported == 0:
		return n, ErrBinaryNotSupp
	case keyLen > p.Limits.keyLen():
		return n, ErrBinaryKeyLength
	case valueLen > p.Limits.valueLen():
		return n, ErrBinaryTooLarge
	case !shapeOK(info.flags, extLen, keyLen, valueLen):
		return n, ErrBinaryArgs
	}
	if len(b) < n {
		p.need = n
		return 0, ErrIncomplete
	}
	p.need = 0
	e := BinaryHeaderLen + extLen
	k := e + keyLen
	r.Extras = b[BinaryHeaderLen:e:e]
	r.Key = b[e:k:k]
	r.Value = b[k:n:n]
	switch extLen {
	case 4:
		r.Exptime = binary.BigEndian.Uint32(r.Extras)
	case 8:
		r.Flags = binary.BigEndian.Uint32(r.Extras)
		r.Exptime = binary.BigEndian.Uint32(r.Extras[4:])
	case 20:
		r.Delta = binary.BigEndian.Uint64(r.Extras)
		r.Initial = binary.BigEndian.Uint64(r.Extras[8:])
		r.Exptime = binary.BigEndian.Uint32(r.Extras[16:])
	}
	return n, nil
}

// shapeOK checks extras, key and value presence against the spec's MUST and
// MUST NOT for the opcode.
func shapeOK(f opFlags, extLen, keyLen, valueLen int) bool {
	switch {
	case f&opExtras0 != 0 && extLen != 0,
		f&opExtras4 != 0 && extLen != 4,
		f&opExtras8 != 0 && extLen != 8,
		f&opExtras20 != 0 && extLen != 20:
		return false
	}
	if (f&opKeyRequired != 0) != (keyLen > 0) {
		return false
	}
	return f&opValueAllowed != 0 || valueLen == 0
}

// ScanBinaryReply finds the end of the server reply at the start of b. It
// returns its length n; or 0, the total length needed and ErrIncomplete; or
// ErrBadReply when b does not start with a valid response header (close the
// server connection).
func ScanBinaryReply(b []byte) (n, need int, err error) {
	if len(b) < BinaryHeaderLen {
		if len(b) > 0 && b[offMagic] != MagicResponse {
			return 0, 0, ErrBadReply
		}
		return 0, BinaryHeaderLen, ErrIncomplete
	}
	if b[offMagic] != MagicResponse {
		return 0, 0, ErrBadReply
	}
	keyLen := int(binary.BigEndian.Uint16(b[offKeyLen:]))
	extLen := int(b[offExtLen])
	bodyLen := int(binary.BigEndian.Uint32(b[offBodyLen:]))
	if keyLen+extLen > bodyLen || bodyLen > MaxBinaryReplyBody {
		return 0, 0, ErrBadReply
	}
	n = BinaryHeaderLen + bodyLen
	if len(b) < n {
		return 0, n, ErrIncomplete
	}
	return n, 0, nil
}

// The functions below read or patch fields of a binary packet (request or
// response) whose first 24 bytes are in pkt; they panic if len(pkt) < 24.

// BinaryOpcodeOf returns a packet's opcode.
func BinaryOpcodeOf(pkt []byte) Opcode { return Opcode(pkt[offOpcode]) }

// BinaryStatusOf returns a response's status (a request's vbucket id).
func BinaryStatusOf(pkt []byte) uint16 { return binary.BigEndian.Uint16(pkt[offStatus:]) }

// BinaryOpaqueOf returns a packet's opaque.
func BinaryOpaqueOf(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[offOpaque:]) }

// SetBinaryOpaque overwrites a packet's opaque in place, e.g. to restore the
// client's opaque in a reply to a request the proxy renumbered.
func SetBinaryOpaque(pkt []byte, opaque uint32) {
	binary.BigEndian.PutUint32(pkt[offOpaque:], opaque)
}

// BinaryKeyOf returns a view of the key of a complete packet, or nil when the
// packet has none or its lengths are inconsistent.
func BinaryKeyOf(pkt []byte) []byte {
	keyLen := int(binary.BigEndian.Uint16(pkt[offKeyLen:]))
	e := BinaryHeaderLen + int(pkt[offExtLen])
	if keyLen == 0 || e+keyLen > len(pkt) {
		return nil
	}
	return pkt[e : e+keyLen : e+keyLen]
}

// AppendBinaryHeader appends a 24-byte packet header.
func AppendBinaryHeader(dst []byte, magic uint8, op Opcode, keyLen uint16, extLen uint8, status uint16, bodyLen, opaque uint32, cas uint64) []byte {
	dst = append(dst, magic, byte(op))
	dst = binary.BigEndian.AppendUint16(dst, keyLen)
	dst = append(dst, extLen, 0)
	dst = binary.BigEndian.AppendUint16(dst, status)
	dst = binary.BigEndian.AppendUint32(dst, bodyLen)
	dst = binary.BigEndian.AppendUint32(dst, opaque)
	return binary.BigEndian.AppendUint64(dst, cas)
}

// AppendBinaryError appends a response to op with the given status and
// opaque whose body is msg, as memcached sends errors.
func AppendBinaryError(dst []byte, op Opcode, status uint16, opaque uint32, msg string) []byte {
	dst = AppendBinaryHeader(dst, MagicResponse, op, 0, 0, status, uint32(len(msg)), opaque, 0)
	return append(dst, msg...)
}

// AppendBinaryNoop appends a noop request; its reply follows the replies to
// every request sent before it, which ends a run of quiet requests.
func AppendBinaryNoop(dst []byte, opaque uint32) []byte {
	return AppendBinaryHeader(dst, MagicRequest, OpNoop, 0, 0, 0, 0, opaque, 0)
}
