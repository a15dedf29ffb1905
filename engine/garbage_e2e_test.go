package engine_test

import (
	"bytes"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// mutate returns a corrupted copy of valid: bit flips, truncation, spliced
// garbage, duplicated ranges and huge numbers where lengths are.
func mutate(rng *rand.Rand, valid []byte) []byte {
	b := append([]byte(nil), valid...)
	for n := rng.IntN(4) + 1; n > 0 && len(b) > 0; n-- {
		switch rng.IntN(6) {
		case 0:
			i := rng.IntN(len(b))
			b[i] ^= byte(1 << rng.IntN(8))
		case 1:
			b = b[:rng.IntN(len(b))]
		case 2:
			junk := make([]byte, rng.IntN(64))
			for i := range junk {
				junk[i] = byte(rng.UintN(256))
			}
			i := rng.IntN(len(b) + 1)
			b = append(b[:i], append(junk, b[i:]...)...)
		case 3:
			i := rng.IntN(len(b))
			j := i + rng.IntN(len(b)-i)
			b = append(b[:j], append(append([]byte(nil), b[i:j]...), b[j:]...)...)
		case 4:
			for _, d := range [][]byte{[]byte("99999999999"), []byte("-1"), []byte("-2"), []byte("0")} {
				if i := bytes.IndexAny(b, "0123456789"); i >= 0 && rng.IntN(2) == 0 {
					b = append(b[:i], append(d, b[i+1:]...)...)
				}
			}
		case 5:
			b = append(b, b...)
		}
	}
	return b
}

// hammer sends corrupted copies of valid from several connections for a
// while, reading and discarding whatever comes back, while check keeps
// verifying that a well-behaved client is served correctly.
func hammer(t *testing.T, addr string, valid [][]byte, check func() error) {
	deadline := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed*7+1))
			for time.Now().Before(deadline) {
				c, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					continue
				}
				go func() { // drain replies so the proxy never blocks on us
					buf := make([]byte, 64<<10)
					for {
						if _, err := c.Read(buf); err != nil {
							return
						}
					}
				}()
				for i := rng.IntN(20) + 1; i > 0; i-- {
					msg := valid[rng.IntN(len(valid))]
					if rng.IntN(3) > 0 {
						msg = mutate(rng, msg)
					}
					_ = c.SetWriteDeadline(time.Now().Add(time.Second))
					if _, err := c.Write(msg); err != nil {
						break
					}
				}
				_ = c.Close()
			}
		}(uint64(w + 1))
	}
	for time.Now().Before(deadline) {
		require.NoError(t, check())
	}
	wg.Wait()
	require.NoError(t, check())
}

func TestGarbageNeverHurtsOtherClientsRedis(t *testing.T) {
	servers := startRedises(t, 2)
	p := startProxy(t, servers, "hash: murmur", "timeout: 2000")
	valid := [][]byte{
		testutil.Command("SET", "k", "v"), testutil.Command("GET", "k"), testutil.Command("MGET", "a", "b", "c", "d"),
		testutil.Command("MSET", "a", "1", "b", "2"), testutil.Command("DEL", "a", "b"), testutil.Command("PING"),
		testutil.Command("EVAL", "return 1", "2", "{x}a", "{x}b"), []byte("GET inline\r\n"), testutil.Command("HELLO", "3"),
		testutil.Command("LPUSH", "l", "x", "y"), testutil.Command("EXISTS", "a", "k"),
	}
	c := p.client(t)
	i := 0
	hammer(t, p.addr, valid, func() error {
		i++
		k := "good" + strconv.Itoa(i%50)
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			return err
		}
		vals, err := c.MGet(ctx, k, "good-missing").Result()
		if err != nil {
			return err
		}
		if vals[0] != k || vals[1] != nil {
			return &mismatch{k, vals}
		}
		return nil
	})
}

func TestGarbageNeverHurtsOtherClientsMemcache(t *testing.T) {
	for _, proto := range []string{"memcache", "memcache_binary"} {
		t.Run(proto, func(t *testing.T) {
			servers := startMemcacheds(t, 2)
			p := startMCProxy(t, proto, servers, "timeout: 2000")
			var valid [][]byte
			if proto == "memcache" {
				valid = [][]byte{[]byte("set k 0 0 1\r\nv\r\n"), []byte("get k a b c\r\n"), []byte("gets k\r\n"),
					[]byte("incr n 1\r\n"), []byte("delete k noreply\r\n"), []byte("touch k 10\r\n"), []byte("gat 10 k a\r\n"),
					[]byte("cas k 0 0 1 5\r\nx\r\n"), []byte("version\r\n")}
			} else {
				valid = [][]byte{encodeBin(0x01, 1, setExtras(0, 0), []byte("k"), []byte("v")), encodeBin(0x0d, 2, nil, []byte("k"), nil),
					encodeBin(0x0a, 3, nil, nil, nil), encodeBin(0x11, 4, setExtras(0, 0), []byte("q"), []byte("v")),
					encodeBin(0x04, 5, nil, []byte("k"), nil), encodeBin(0x0b, 6, nil, nil, nil)}
			}
			// the well-behaved client speaks text through its own text pool on the same backends
			listen := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
			good := startProxyYAML(t, mcPoolYAML(listen, "memcache", servers), servers)
			mc := memcache.New(good.addr)
			mc.Timeout = 5 * time.Second
			i := 0
			hammer(t, p.addr, valid, func() error {
				i++
				k := "good" + strconv.Itoa(i%50)
				if err := mc.Set(&memcache.Item{Key: k, Value: []byte(k)}); err != nil {
					return err
				}
				it, err := mc.Get(k)
				if err != nil {
					return err
				}
				if string(it.Value) != k {
					return &mismatch{k, it.Value}
				}
				return nil
			})
			// and the hammered proxy itself still answers a clean request
			conn, err := net.Dial("tcp", p.addr)
			require.NoError(t, err)
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if proto == "memcache" {
				_, _ = conn.Write([]byte("version\r\n"))
				buf := make([]byte, 64)
				n, err := conn.Read(buf)
				require.NoError(t, err)
				require.True(t, bytes.HasPrefix(buf[:n], []byte("VERSION ")))
			} else {
				_, _ = conn.Write(encodeBin(0x0a, 42, nil, nil, nil))
				r := readBin(t, conn)
				require.EqualValues(t, 42, r.opaque)
			}
		})
	}
}

type mismatch struct {
	key string
	got any
}

func (m *mismatch) Error() string { return "key " + m.key + ": unexpected reply" }
