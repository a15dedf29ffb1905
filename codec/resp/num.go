package resp

// lenStatus is the outcome of parseLen.
type lenStatus uint8

const (
	lenOK         lenStatus = iota
	lenIncomplete           // b ends before CRLF; what is there may still become valid
	lenInvalid              // not a length, whatever bytes follow
	lenTooBig               // the digits already exceed max
)

// parseLen parses the header line that starts at b[pos] with a type byte
// ('*', '$', ...): a decimal as redis string2ll accepts it (no '+', no
// leading zeros, no "-0", no empty digits) followed by CRLF. It returns the
// value and the offset just past the CRLF.
//
// It fails as soon as a byte that cannot lead to a valid line is seen, or
// the value exceeds max, without waiting for the CRLF: a client must not be
// able to make the proxy buffer a header. The only negative value accepted
// is -1, and only when allowNull is set.
func parseLen(b []byte, pos int, max int64, allowNull bool) (v int64, next int, st lenStatus) {
	i := pos + 1
	if i < len(b) && b[i] == '-' {
		if !allowNull {
			return 0, 0, lenInvalid
		}
		// Only "-1\r\n" is valid.
		for j, c := range [...]byte{'1', '\r', '\n'} {
			k := i + 1 + j
			if k >= len(b) {
				return 0, 0, lenIncomplete
			}
			if b[k] != c {
				return 0, 0, lenInvalid
			}
		}
		return -1, i + 4, lenOK
	}
	start := i
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			break
		}
		if i > start && b[start] == '0' {
			return 0, 0, lenInvalid // leading zero
		}
		v = v*10 + int64(c-'0')
		if v > max {
			return 0, 0, lenTooBig
		}
	}
	if i == len(b) {
		return 0, 0, lenIncomplete
	}
	if i == start || b[i] != '\r' {
		return 0, 0, lenInvalid
	}
	if i+1 == len(b) {
		return 0, 0, lenIncomplete
	}
	if b[i+1] != '\n' {
		return 0, 0, lenInvalid
	}
	return v, i + 2, lenOK
}

// parseInt parses a whole signed decimal that fits int64, as redis
// string2ll does (optional '-', no '+', no leading zeros, no "-0").
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] == '0' {
		return 0, len(b) == 1 && !neg
	}
	var u uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if u > (1<<63)/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true //nolint:gosec // u <= 1<<63 checked above
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}
