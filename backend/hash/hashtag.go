package hash

import "bytes"

// HashTag returns the part of key that twemproxy hashes for a pool whose
// hash_tag is tag (two characters, e.g. "{}" or "$$"; "" means none).
//
// As in twemproxy's server_pool_idx, the result is what lies between the
// first occurrence of tag[0] and the next occurrence of tag[1] after it. The
// whole key is returned when tag is empty, when either character is missing,
// or when the part between them is empty ("{}"); twemproxy does not look for
// a later pair in those cases. A tag whose length is not 2 is treated as
// none (twemproxy refuses such a config).
//
// The result is a view into key, valid as long as key is.
func HashTag(key []byte, tag string) []byte {
	if len(tag) != 2 {
		return key
	}
	start := bytes.IndexByte(key, tag[0])
	if start < 0 {
		return key
	}
	rest := key[start+1:]
	end := bytes.IndexByte(rest, tag[1])
	if end <= 0 {
		return key
	}
	return rest[:end]
}
