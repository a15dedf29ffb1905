package memcache

// Limits bounds what a parser accepts. A zero field takes its default.
type Limits struct {
	MaxKeyLen   int // longest key; default 250 (memcached's KEY_MAX_LENGTH)
	MaxValueLen int // longest value; default 1 MiB (memcached's default item size)
	MaxKeys     int // most keys in one get/gets/gat/gats; default 1024
	MaxLineLen  int // longest text command line, CRLF included; default 257 KiB
}

// Defaults for Limits.
const (
	DefaultMaxKeyLen   = 250
	DefaultMaxValueLen = 1 << 20
	DefaultMaxKeys     = 1024
	DefaultMaxLineLen  = 1<<18 + 1<<10 // room for 1024 keys of 250 bytes
)

func (l Limits) keyLen() int {
	if l.MaxKeyLen > 0 {
		return l.MaxKeyLen
	}
	return DefaultMaxKeyLen
}

func (l Limits) valueLen() int {
	if l.MaxValueLen > 0 {
		return l.MaxValueLen
	}
	return DefaultMaxValueLen
}

func (l Limits) keys() int {
	if l.MaxKeys > 0 {
		return l.MaxKeys
	}
	return DefaultMaxKeys
}

func (l Limits) lineLen() int {
	if l.MaxLineLen > 0 {
		return l.MaxLineLen
	}
	return DefaultMaxLineLen
}
