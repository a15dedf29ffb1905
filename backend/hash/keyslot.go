package hash

import "bytes"

// ClusterSlots is the number of Redis Cluster hash slots.
const ClusterSlots = 16384

// KeySlot is Redis Cluster's slot of a key: CRC-16/XMODEM of the key's hash
// tag, mod 16384 (Redis's keyHashSlot). The hash tag is Redis's fixed rule,
// whatever a pool's hash_tag says: the bytes between the first '{' and the
// first '}' after it, when there are some; otherwise the whole key ("{}"
// and "a{" hash whole).
func KeySlot(key []byte) int {
	if s := bytes.IndexByte(key, '{'); s >= 0 {
		if e := bytes.IndexByte(key[s+1:], '}'); e > 0 {
			key = key[s+1 : s+1+e]
		}
	}
	// twemproxy's CRC16 keeps bits above 15; the low 14 are CRC-16/XMODEM's.
	return int(CRC16(key) & (ClusterSlots - 1))
}
