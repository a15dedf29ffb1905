package hash

import "hash/crc32"

// CRC32 is twemproxy's crc32, libmemcached's variant: bits 16..30 of the
// IEEE CRC-32, a 15-bit value.
//
// Quirk: with ketama almost every point of the continuum is above 0x7fff,
// so all keys go to the server owning the lowest point.
func CRC32(key []byte) uint32 {
	return (crc32.ChecksumIEEE(key) >> 16) & 0x7fff
}
