package loadgen

import (
	"bufio"
	"bytes"
	"strconv"
)

// memcacheCodec speaks the memcache text protocol.
type memcacheCodec struct {
	prefix  []byte
	setTail []byte // " 0 0 <n>\r\n<data>\r\n"
}

func newMemcacheCodec(prefix string, data []byte) *memcacheCodec {
	tail := []byte(" 0 0 " + strconv.Itoa(len(data)) + "\r\n")
	tail = append(tail, data...)
	tail = append(tail, '\r', '\n')
	return &memcacheCodec{prefix: []byte(prefix), setTail: tail}
}

func (c *memcacheCodec) appendKey(b []byte, key uint64) []byte {
	b = append(b, c.prefix...)
	return strconv.AppendUint(b, key, 10)
}

func (c *memcacheCodec) appendSet(b []byte, key uint64) []byte {
	b = append(b, "set "...)
	b = c.appendKey(b, key)
	return append(b, c.setTail...)
}

func (c *memcacheCodec) appendGet(b []byte, keys []uint64) []byte {
	b = append(b, "get"...)
	for _, k := range keys {
		b = append(b, ' ')
		b = c.appendKey(b, k)
	}
	return append(b, '\r', '\n')
}

func (c *memcacheCodec) appendCommand(b []byte, _ []uint64) []byte {
	panic("loadgen: --command is not supported for memcache")
}

var (
	mcStored      = []byte("STORED")
	mcEnd         = []byte("END")
	mcValue       = []byte("VALUE ")
	mcError       = []byte("ERROR")
	mcClientError = []byte("CLIENT_ERROR")
	mcServerError = []byte("SERVER_ERROR")
	mcNotStored   = []byte("NOT_STORED")
	mcExists      = []byte("EXISTS")
	mcNotFound    = []byte("NOT_FOUND")
)

// isMemcacheError reports the generic error lines any command may get.
func isMemcacheError(line []byte) bool {
	return bytes.Equal(line, mcError) ||
		bytes.HasPrefix(line, mcClientError) ||
		bytes.HasPrefix(line, mcServerError)
}

func (c *memcacheCodec) readReply(r *bufio.Reader, k Kind, nkeys int) (reply, error) {
	switch k {
	case KindSet:
		line, err := readLine(r, ProtoMemcache)
		if err != nil {
			return reply{}, err
		}
		switch {
		case bytes.Equal(line, mcStored):
			return reply{}, nil
		case isMemcacheError(line), bytes.Equal(line, mcNotStored),
			bytes.Equal(line, mcExists), bytes.Equal(line, mcNotFound):
			return reply{isErr: true, errLine: line}, nil
		}
		return reply{}, desync(ProtoMemcache, "STORED for set", line)
	case KindGet:
		var rep reply
		for {
			line, err := readLine(r, ProtoMemcache)
			if err != nil {
				return reply{}, err
			}
			if bytes.Equal(line, mcEnd) {
				rep.misses = int32(nkeys) - rep.hits
				return rep, nil
			}
			if bytes.HasPrefix(line, mcValue) {
				n, ok := valueBytes(line)
				if !ok {
					return reply{}, desync(ProtoMemcache, "VALUE <key> <flags> <bytes> [<cas>]", line)
				}
				rep.hits++
				if int(rep.hits) > nkeys {
					return reply{}, desync(ProtoMemcache, "at most "+strconv.Itoa(nkeys)+" VALUE lines", line)
				}
				if err := discardPayload(r, n, ProtoMemcache); err != nil {
					return reply{}, err
				}
				continue
			}
			if isMemcacheError(line) {
				// An error ends the reply; no END follows.
				return reply{isErr: true, errLine: line}, nil
			}
			return reply{}, desync(ProtoMemcache, "VALUE or END for get", line)
		}
	}
	return reply{}, desync(ProtoMemcache, "a set or get request", nil)
}

// valueBytes extracts <bytes> from "VALUE <key> <flags> <bytes> [<cas>]".
func valueBytes(line []byte) (int64, bool) {
	rest := line[len(mcValue):]
	var field [4][]byte
	nf := 0
	for len(rest) > 0 && nf < len(field) {
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			field[nf] = rest
			nf++
			break
		}
		if i == 0 {
			return 0, false
		}
		field[nf] = rest[:i]
		nf++
		rest = rest[i+1:]
	}
	if nf < 3 {
		return 0, false
	}
	if _, ok := parseInt(field[1]); !ok {
		return 0, false
	}
	n, ok := parseInt(field[2])
	if !ok || n < 0 || n > maxPayload {
		return 0, false
	}
	return n, true
}
