// Package hash reproduces twemproxy's (nutcracker 0.5.0) key placement: its
// hash functions (src/hashkit), hash tags and the ketama, modula and random
// distributions, so that a key lands on exactly the server twemproxy picks
// for the same configuration.
//
// twemproxy's hash functions are not always the textbook ones; each file
// documents the quirks it keeps. Two apply to most of them: the C code reads
// key bytes through a signed char, so bytes >= 0x80 are sign-extended before
// they are mixed in (one_at_a_time, fnv*, the last byte of hsieh), and
// twemproxy never calls a hash on an empty key (its hash is 0, see
// Selector.Pick).
package hash

// Func hashes a key to 32 bits. It must not retain key and must not allocate.
type Func func(key []byte) uint32

// funcs is indexed like twemproxy's HASH_CODEC list (nc_hashkit.h).
var funcs = [...]struct {
	name string
	fn   Func
}{
	{"one_at_a_time", OneAtATime},
	{"md5", MD5},
	{"crc16", CRC16},
	{"crc32", CRC32},
	{"crc32a", CRC32a},
	{"fnv1_64", FNV1_64},
	{"fnv1a_64", FNV1a_64},
	{"fnv1_32", FNV1_32},
	{"fnv1a_32", FNV1a_32},
	{"hsieh", Hsieh},
	{"murmur", Murmur},
	{"jenkins", Jenkins},
}

// Lookup returns the hash function twemproxy calls name in its "hash:"
// setting. Names are case-sensitive, as in twemproxy.
func Lookup(name string) (Func, bool) {
	for i := range funcs {
		if funcs[i].name == name {
			return funcs[i].fn, true
		}
	}
	return nil, false
}

// Names returns the hash names Lookup accepts, in twemproxy's order.
func Names() []string {
	names := make([]string, len(funcs))
	for i := range funcs {
		names[i] = funcs[i].name
	}
	return names
}
