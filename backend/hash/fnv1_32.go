package hash

const (
	fnv32Offset = 2166136261
	fnv32Prime  = 16777619
)

// FNV1_32 is twemproxy's fnv1_32: 32-bit FNV-1, except that bytes >= 0x80
// are sign-extended signed chars (0x80 is mixed in as 0xffffff80).
func FNV1_32(key []byte) uint32 {
	h := uint32(fnv32Offset)
	for _, c := range key {
		h *= fnv32Prime
		h ^= uint32(int32(int8(c)))
	}
	return h
}
