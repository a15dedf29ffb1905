package hash

const (
	fnv64Offset = 0xcbf29ce484222325
	fnv64Prime  = 0x100000001b3
)

// FNV1_64 is twemproxy's fnv1_64: 64-bit FNV-1 truncated to its low 32 bits.
//
// Quirk: each byte is a sign-extended signed char, so a byte >= 0x80 flips
// all the upper bits of the state as well.
func FNV1_64(key []byte) uint32 {
	h := uint64(fnv64Offset)
	for _, c := range key {
		h *= fnv64Prime
		h ^= uint64(int64(int8(c)))
	}
	return uint32(h)
}
