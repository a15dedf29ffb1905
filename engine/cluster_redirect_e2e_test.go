package engine_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferry-proxy/ferry/internal/testutil"
)

// fakeNode is a scripted cluster node: handle answers each command (its
// arguments) with raw reply bytes.
type fakeNode struct {
	addr   string
	mu     sync.Mutex
	handle func(args []string) string
	seen   map[string]int // commands received, by name and first argument
}

func startFakeNode(t *testing.T) *fakeNode {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := &fakeNode{addr: ln.Addr().String(), seen: map[string]int{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				stop := context.AfterFunc(t.Context(), func() { _ = c.Close() })
				defer stop()
				br := bufio.NewReader(c)
				for {
					args, err := readCommand(br)
					if err != nil {
						return
					}
					f.mu.Lock()
					key := strings.ToUpper(args[0])
					if len(args) > 1 {
						key += " " + args[1]
					}
					f.seen[key]++
					h := f.handle
					f.mu.Unlock()
					if _, err := c.Write([]byte(h(args))); err != nil {
						return
					}
				}
			}()
		}
	}()
	return f
}

func (f *fakeNode) set(h func(args []string) string) {
	f.mu.Lock()
	f.handle = h
	f.mu.Unlock()
}

func (f *fakeNode) count(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[cmd]
}

func readCommand(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		if _, err := br.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		a, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(a, "\r\n")
	}
	return args, nil
}

// slotsOf is a CLUSTER SLOTS reply giving all slots to addr, or the slots
// below split to a and the rest to b.
func slotsAll(addr string) string {
	h, p, _ := net.SplitHostPort(addr)
	return fmt.Sprintf("*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n$%d\r\n%s\r\n:%s\r\n$2\r\nid\r\n", len(h), h, p)
}

// A node that answers MOVED to itself forever: the request is sent again 5
// times, then its client gets the MOVED reply.
func TestClusterRedirectCap(t *testing.T) {
	f := startFakeNode(t)
	f.set(func(args []string) string {
		switch strings.ToUpper(args[0]) {
		case "CLUSTER":
			return slotsAll(f.addr)
		case "GET":
			return "-MOVED 12182 " + f.addr + "\r\n"
		}
		return "+OK\r\n"
	})
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := startProxyYAML(t, clusterYAML(listen, []string{f.addr}, "timeout: 2000"), nil)
	cl := p.client(t)
	err := cl.Get(context.Background(), "foo").Err()
	require.Error(t, err)
	require.Equal(t, "MOVED 12182 "+f.addr, err.Error())
	require.Equal(t, 6, f.count("GET foo"), "the first send and 5 redirects")
	require.Equal(t, uint64(5), p.srv.Stats().Pools[0].Moved)
}

// MOVED to a node the map does not name yet: the request waits for the
// map read the MOVED asked for, and goes to the new node once the map
// names it. ASK sends ASKING then the command, once, and leaves the map.
func TestClusterRedirectToNewNode(t *testing.T) {
	a, b := startFakeNode(t), startFakeNode(t)
	var mu sync.Mutex
	movedOut := false
	a.set(func(args []string) string {
		mu.Lock()
		defer mu.Unlock()
		switch strings.ToUpper(args[0]) {
		case "CLUSTER":
			if movedOut {
				return slotsAll(b.addr)
			}
			return slotsAll(a.addr)
		case "GET":
			if args[1] == "asked" {
				return "-ASK 3 " + b.addr + "\r\n"
			}
			movedOut = true
			return "-MOVED 12182 " + b.addr + "\r\n"
		}
		return "+OK\r\n"
	})
	b.set(func(args []string) string {
		switch strings.ToUpper(args[0]) {
		case "CLUSTER":
			return slotsAll(b.addr)
		case "GET":
			return "$4\r\nfrom\r\n"
		}
		return "+OK\r\n"
	})
	listen := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	p := startProxyYAML(t, clusterYAML(listen, []string{a.addr}, "timeout: 3000"), nil)
	cl := p.client(t)
	ctx := context.Background()

	// ASK to b, which the map does not name: parked until the map names it,
	// which never happens here; answered with an error after the timeout.
	start := time.Now()
	err := cl.Get(ctx, "asked").Err()
	require.Error(t, err)
	require.Contains(t, err.Error(), "does not name")
	require.GreaterOrEqual(t, time.Since(start), 2900*time.Millisecond)
	require.Equal(t, 0, b.count("ASKING"))

	// MOVED to b: the read it triggers names b; the request goes there.
	v, err := cl.Get(ctx, "foo").Result()
	require.NoError(t, err)
	require.Equal(t, "from", v)
	require.Equal(t, 1, a.count("GET foo"))
	require.Equal(t, 1, b.count("GET foo"))
	require.Eventually(t, func() bool {
		m := p.srv.Pools()[0].SlotMap()
		return len(m.Masters) == 1 && m.Masters[0] == b.addr
	}, 5*time.Second, 5*time.Millisecond)

	// Now b owns everything; an ASK from b to itself: ASKING, then the command.
	b.set(func(args []string) string {
		switch strings.ToUpper(args[0]) {
		case "CLUSTER":
			return slotsAll(b.addr)
		case "GET":
			if args[1] == "asked2" && b.count("ASKING") == 0 {
				return "-ASK 3 " + b.addr + "\r\n"
			}
			return "$2\r\nok\r\n"
		}
		return "+OK\r\n"
	})
	v, err = cl.Get(ctx, "asked2").Result()
	require.NoError(t, err)
	require.Equal(t, "ok", v)
	require.Equal(t, 1, b.count("ASKING"))
	require.Equal(t, 2, b.count("GET asked2"))
	require.Equal(t, uint64(2), p.srv.Stats().Pools[0].Asked)
}
