package hash

import "hash/crc32"

// CRC32a is twemproxy's crc32a: the standard IEEE CRC-32.
func CRC32a(key []byte) uint32 {
	return crc32.ChecksumIEEE(key)
}
