package hash

// FNV1a_32 is twemproxy's fnv1a_32: 32-bit FNV-1a, except that bytes >= 0x80
// are sign-extended signed chars (0x80 is mixed in as 0xffffff80).
func FNV1a_32(key []byte) uint32 {
	h := uint32(fnv32Offset)
	for _, c := range key {
		h ^= uint32(int32(int8(c)))
		h *= fnv32Prime
	}
	return h
}
