package hash

import (
	"fmt"
	"testing"
)

func BenchmarkHash(b *testing.B) {
	for _, size := range []int{8, 32, 256} {
		key := []byte(longKey[:size])
		for _, name := range Names() {
			fn, _ := Lookup(name)
			b.Run(fmt.Sprintf("%s/%d", name, size), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					fn(key)
				}
			})
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, n := range []int{4, 64} {
		nodes := make([]Node, n)
		for i := range nodes {
			nodes[i] = Node{Host: "10.0.0.1", Port: 6379 + i, Weight: 1 + i%3}
		}
		keys := make([][]byte, 1024)
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "user:%d:profile", i)
		}
		for _, c := range []struct{ dist, hash string }{
			{"ketama", "fnv1a_64"}, {"ketama", "md5"}, {"ketama", "murmur"},
			{"modula", "fnv1a_64"}, {"random", "md5"},
		} {
			fn, _ := Lookup(c.hash)
			s, err := NewSelector(c.dist, fn, nodes, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s/%d", c.dist, c.hash, n), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					s.Pick(keys[i&1023])
					i++
				}
			})
		}
	}
}

func BenchmarkHashTag(b *testing.B) {
	key := []byte("user:{1000}:profile:settings")
	b.ReportAllocs()
	for b.Loop() {
		HashTag(key, "{}")
	}
}

func BenchmarkNewSelectorKetama(b *testing.B) {
	nodes := make([]Node, 64)
	for i := range nodes {
		nodes[i] = Node{Host: "10.0.0.1", Port: 6379 + i, Weight: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewSelector("ketama", MD5, nodes, nil); err != nil {
			b.Fatal(err)
		}
	}
}
