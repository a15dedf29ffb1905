package hash

// FNV1a_64 is twemproxy's fnv1a_64, which is not 64-bit FNV-1a: the state is
// 32 bits, starting from the 64-bit offset basis truncated (0x84222325) and
// multiplied by the 64-bit prime truncated (0x1b3).
//
// Quirk: with so small a multiplier the last byte barely moves the hash, so
// keys that differ only in their last byte tend to land on the same ketama
// server. Bytes >= 0x80 are sign-extended signed chars.
func FNV1a_64(key []byte) uint32 {
	h := uint32(fnv64Offset & 0xffffffff)
	for _, c := range key {
		h ^= uint32(int32(int8(c)))
		h *= fnv64Prime & 0xffffffff
	}
	return h
}
