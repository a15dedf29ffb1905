package hash

import "crypto/md5"

// MD5 is twemproxy's md5: the first four bytes of the MD5 digest read as a
// little-endian uint32.
func MD5(key []byte) uint32 {
	d := md5.Sum(key)
	return le32(d[:4])
}

// ketamaHashes returns the four little-endian words of the MD5 digest of
// name, the four ketama points twemproxy derives from one point name.
func ketamaHashes(name []byte) [4]uint32 {
	d := md5.Sum(name)
	return [4]uint32{le32(d[0:4]), le32(d[4:8]), le32(d[8:12]), le32(d[12:16])}
}

func le32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
