package hash

// OneAtATime is twemproxy's one_at_a_time (Bob Jenkins' one-at-a-time hash).
//
// Quirk: twemproxy reads each byte as a signed char and widens it to
// uint32, so bytes >= 0x80 are mixed in as 0xffffff80..0xffffffff.
func OneAtATime(key []byte) uint32 {
	var v uint32
	for _, c := range key {
		v += uint32(int8(c))
		v += v << 10
		v ^= v >> 6
	}
	v += v << 3
	v ^= v >> 11
	v += v << 15
	return v
}
