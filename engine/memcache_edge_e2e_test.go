package engine_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// edgeMCRead reads VALUE blocks up to END: the header lines and data, in order.
func edgeMCRead(t *testing.T, conn *testutil.Raw) (headers, data []string) {
	t.Helper()
	for {
		line, err := conn.ReadLine()
		require.NoError(t, err)
		if line == "END" {
			return
		}
		require.True(t, strings.HasPrefix(line, "VALUE "), "got %q", line)
		headers = append(headers, line)
		d, err := conn.ReadLine()
		require.NoError(t, err)
		data = append(data, d)
	}
}

// edgeMCKeysOnEveryServer returns n keys (prefix + i), and checks they are
// spread over every server.
func edgeMCSpread(t *testing.T, p *proxy, prefix string, n int) []string {
	t.Helper()
	pool := p.srv.Pools()[0]
	seen := map[int]bool{}
	var keys []string
	for i := 0; i < n; i++ {
		k := prefix + strconv.Itoa(i)
		seen[pool.Pick([]byte(k))] = true
		keys = append(keys, k)
	}
	require.Len(t, seen, len(pool.Servers), "keys do not span every server")
	return keys
}

func edgeMCLine(t *testing.T, conn *testutil.Raw, req string) string {
	t.Helper()
	conn.SendString(req)
	line, err := conn.ReadLine()
	require.NoError(t, err, req)
	return line
}

func TestEdgeMemcacheGetsCasAcrossServers(t *testing.T) {
	servers := startMemcacheds(t, 3)
	p := startMCProxy(t, "memcache", servers)
	conn := testutil.RawConn(t, p.addr)
	keys := edgeMCSpread(t, p, "gc", 12)
	for _, k := range keys {
		require.Equal(t, "STORED", edgeMCLine(t, conn, "set "+k+" 3 0 "+strconv.Itoa(len(k))+"\r\n"+k+"\r\n"))
	}
	req := append([]string{"absent"}, keys...)
	conn.SendString("gets " + strings.Join(req, " ") + "\r\n")
	headers, data := edgeMCRead(t, conn)
	require.Len(t, headers, len(keys))
	cas := map[string]string{}
	for i, h := range headers {
		f := strings.Fields(h)
		require.Len(t, f, 5, "gets carries a cas unique: %q", h)
		require.Equal(t, keys[i], f[1], "VALUE blocks in key order")
		require.Equal(t, "3", f[2])
		require.Equal(t, keys[i], data[i])
		cas[keys[i]] = f[4]
	}
	// cas with each key's own unique, whatever server it is on
	for _, k := range keys {
		require.Equal(t, "STORED", edgeMCLine(t, conn, "cas "+k+" 0 0 1 "+cas[k]+"\r\nX\r\n"), k)
	}
	// a stale unique now: EXISTS; a missing key: NOT_FOUND
	require.Equal(t, "EXISTS", edgeMCLine(t, conn, "cas "+keys[0]+" 0 0 1 "+cas[keys[0]]+"\r\nY\r\n"))
	require.Equal(t, "NOT_FOUND", edgeMCLine(t, conn, "cas absent 0 0 1 1\r\nY\r\n"))
	// noreply cas is silent; the next reply belongs to the next request
	conn.SendString("cas " + keys[1] + " 0 0 1 1 noreply\r\nZ\r\nget " + keys[1] + "\r\n")
	_, data = edgeMCRead(t, conn)
	require.Equal(t, []string{"X"}, data)
}

func TestEdgeMemcacheGatGatsMultiKey(t *testing.T) {
	servers := startMemcacheds(t, 3)
	p := startMCProxy(t, "memcache", servers)
	conn := testutil.RawConn(t, p.addr)
	keys := edgeMCSpread(t, p, "gat", 15)
	for i, k := range keys {
		if i%4 == 0 {
			continue // misses
		}
		require.Equal(t, "STORED", edgeMCLine(t, conn, "set "+k+" "+strconv.Itoa(i)+" 0 1\r\nv\r\n"))
	}
	for _, cmd := range []string{"gat", "gats"} {
		conn.SendString(cmd + " 3600 " + strings.Join(keys, " ") + " " + keys[1] + "\r\n")
		headers, data := edgeMCRead(t, conn)
		var want []string
		for i, k := range append(append([]string{}, keys...), keys[1]) {
			if i < len(keys) && i%4 == 0 {
				continue
			}
			idx := i
			if i == len(keys) {
				idx = 1
			}
			want = append(want, k+" "+strconv.Itoa(idx))
		}
		require.Len(t, headers, len(want), cmd)
		for i, h := range headers {
			f := strings.Fields(h)
			if cmd == "gats" {
				require.Len(t, f, 5, h)
			} else {
				require.Len(t, f, 4, h)
			}
			require.Equal(t, want[i], f[1]+" "+f[2], "%s: VALUE %d out of key order", cmd, i)
			require.Equal(t, "v", data[i])
		}
	}
	// a bad exptime is refused by ferry itself and the stream goes on
	require.True(t, strings.HasPrefix(edgeMCLine(t, conn, "gat soon "+keys[1]+"\r\n"), "CLIENT_ERROR"))
	conn.SendString("gat 0 " + keys[1] + "\r\n")
	headers, _ := edgeMCRead(t, conn)
	require.Len(t, headers, 1)
}

func TestEdgeMemcacheIncrNonNumericAndBadKeys(t *testing.T) {
	servers := startMemcacheds(t, 2)
	p := startMCProxy(t, "memcache", servers)
	conn := testutil.RawConn(t, p.addr)

	require.Equal(t, "STORED", edgeMCLine(t, conn, "set word 0 0 3\r\nabc\r\n"))
	// memcached's own error passes through unchanged
	require.Equal(t, "CLIENT_ERROR cannot increment or decrement non-numeric value", edgeMCLine(t, conn, "incr word 1\r\n"))
	require.Equal(t, "CLIENT_ERROR cannot increment or decrement non-numeric value", edgeMCLine(t, conn, "decr word 1\r\n"))
	require.Equal(t, "NOT_FOUND", edgeMCLine(t, conn, "incr nothing 1\r\n"))
	require.Equal(t, "STORED", edgeMCLine(t, conn, "set n 0 0 20\r\n18446744073709551615\r\n"))
	require.Equal(t, "0", edgeMCLine(t, conn, "incr n 1\r\n"), "64-bit wrap, as memcached")

	// keys with control characters are refused; the connection goes on
	for _, bad := range []string{"a\x01b", "tab\tkey", "del\x7f"} {
		require.True(t, strings.HasPrefix(edgeMCLine(t, conn, "get ok1 "+bad+"\r\n"), "CLIENT_ERROR"), "%q", bad)
		require.True(t, strings.HasPrefix(edgeMCLine(t, conn, "delete "+bad+"\r\n"), "CLIENT_ERROR"), "%q", bad)
		// a storage command's data block is swallowed with it
		require.True(t, strings.HasPrefix(edgeMCLine(t, conn, "set "+bad+" 0 0 5\r\nhello\r\n"), "CLIENT_ERROR"), "%q", bad)
		require.Equal(t, "END", edgeMCLine(t, conn, "get ok1\r\n"), "stream out of step after %q", bad)
	}
	// the key byte range memcached allows (printable, high bytes) goes through
	k := "k\x80\xffé"
	require.Equal(t, "STORED", edgeMCLine(t, conn, "set "+k+" 0 0 1\r\nz\r\n"))
	conn.SendString("get " + k + "\r\n")
	headers, data := edgeMCRead(t, conn)
	require.Equal(t, []string{"VALUE " + k + " 0 1"}, headers)
	require.Equal(t, []string{"z"}, data)
}

func TestEdgeMemcacheGet300Keys(t *testing.T) {
	servers := startMemcacheds(t, 3)
	p := startMCProxy(t, "memcache", servers)
	conn := testutil.RawConn(t, p.addr)
	keys := edgeMCSpread(t, p, "many:", 300)
	var sets strings.Builder
	for i, k := range keys {
		if i%7 == 3 {
			continue
		}
		v := "v" + strconv.Itoa(i)
		sets.WriteString("set " + k + " " + strconv.Itoa(i) + " 0 " + strconv.Itoa(len(v)) + " noreply\r\n" + v + "\r\n")
	}
	conn.SendString(sets.String())
	// duplicates and misses mixed in; order must be exactly the request's
	req := append(append([]string{}, keys...), keys[10], "nope", keys[0])
	for _, cmd := range []string{"get", "gets"} {
		conn.SendString(cmd + " " + strings.Join(req, " ") + "\r\n")
		headers, data := edgeMCRead(t, conn)
		var want []int
		for _, k := range req {
			if k == "nope" {
				continue
			}
			i, _ := strconv.Atoi(strings.TrimPrefix(k, "many:"))
			if i%7 != 3 {
				want = append(want, i)
			}
		}
		require.Len(t, headers, len(want), cmd)
		for j, i := range want {
			f := strings.Fields(headers[j])
			require.Equal(t, keys[i], f[1], "%s: VALUE %d", cmd, j)
			require.Equal(t, strconv.Itoa(i), f[2])
			require.Equal(t, "v"+strconv.Itoa(i), data[j])
		}
	}
}
