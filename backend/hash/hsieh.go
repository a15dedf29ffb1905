package hash

// Hsieh is twemproxy's hsieh, Paul Hsieh's SuperFastHash with a zero seed.
//
// Quirk: for a key whose length is 3 mod 4, the last byte is read as a
// sign-extended signed char. The empty key hashes to 0.
func Hsieh(key []byte) uint32 {
	if len(key) == 0 {
		return 0
	}
	var h uint32
	for ; len(key) >= 4; key = key[4:] {
		h += uint32(key[0]) | uint32(key[1])<<8
		tmp := (uint32(key[2])|uint32(key[3])<<8)<<11 ^ h
		h = h<<16 ^ tmp
		h += h >> 11
	}
	switch len(key) {
	case 3:
		h += uint32(key[0]) | uint32(key[1])<<8
		h ^= h << 16
		h ^= uint32(int32(int8(key[2]))) << 18
		h += h >> 11
	case 2:
		h += uint32(key[0]) | uint32(key[1])<<8
		h ^= h << 11
		h += h >> 17
	case 1:
		h += uint32(key[0])
		h ^= h << 10
		h += h >> 1
	}
	h ^= h << 3
	h += h >> 5
	h ^= h << 4
	h += h >> 17
	h ^= h << 25
	h += h >> 6
	return h
}
