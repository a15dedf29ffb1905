package memcache

import "strconv"

// AppendGetHeader appends the start of a retrieval command: "get", "gets",
// "gat <exptime>" or "gats <exptime>". Follow it with AppendKey per key and
// AppendCRLF. It panics if cmd is not a retrieval command.
func AppendGetHeader(dst []byte, cmd TextCmd, exptime int64) []byte {
	if !cmd.IsRetrieval() {
		panic("BUG: memcache: AppendGetHeader with " + cmd.String())
	}
	dst = append(dst, textCmdNames[cmd]...)
	if cmd == CmdGat || cmd == CmdGats {
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, exptime, 10)
	}
	return dst
}

// AppendKey appends a space and key.
func AppendKey(dst, key []byte) []byte {
	dst = append(dst, ' ')
	return append(dst, key...)
}

// AppendCRLF appends "\r\n".
func AppendCRLF(dst []byte) []byte { return append(dst, '\r', '\n') }

// AppendGet appends a whole retrieval command for keys.
func AppendGet(dst []byte, cmd TextCmd, exptime int64, keys ...[]byte) []byte {
	dst = AppendGetHeader(dst, cmd, exptime)
	for _, k := range keys {
		dst = AppendKey(dst, k)
	}
	return AppendCRLF(dst)
}

// AppendEnd appends "END\r\n", the end of a retrieval reply.
func AppendEnd(dst []byte) []byte { return append(dst, "END\r\n"...) }

// AppendValue appends a VALUE block; cas is written when withCas.
func AppendValue(dst, key []byte, flags uint32, data []byte, cas uint64, withCas bool) []byte {
	dst = append(dst, "VALUE "...)
	dst = append(dst, key...)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(flags), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if withCas {
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, cas, 10)
	}
	dst = append(dst, '\r', '\n')
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}

// AppendStore appends a storage command (set, add, replace, append, prepend,
// cas; cas is written for cas only). It panics if cmd is not one.
func AppendStore(dst []byte, cmd TextCmd, key []byte, flags uint32, exptime int64, data []byte, cas uint64, noreply bool) []byte {
	if !cmd.IsStorage() {
		panic("BUG: memcache: AppendStore with " + cmd.String())
	}
	dst = append(dst, textCmdNames[cmd]...)
	dst = AppendKey(dst, key)
	dst = append(dst, ' ')
	dst = strconv.AppendUint(dst, uint64(flags), 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, exptime, 10)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, int64(len(data)), 10)
	if cmd == CmdCas {
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, cas, 10)
	}
	if noreply {
		dst = append(dst, " noreply"...)
	}
	dst = append(dst, '\r', '\n')
	dst = append(dst, data...)
	return append(dst, '\r', '\n')
}

// AppendServerError appends "SERVER_ERROR <msg>\r\n", e.g. when a server is
// down or timed out.
func AppendServerError(dst []byte, msg string) []byte {
	dst = append(dst, "SERVER_ERROR "...)
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

// AppendClientError appends "CLIENT_ERROR <msg>\r\n".
func AppendClientError(dst []byte, msg string) []byte {
	dst = append(dst, "CLIENT_ERROR "...)
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}
