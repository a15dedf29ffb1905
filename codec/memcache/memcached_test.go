package memcache

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startMemcached starts /usr/bin/memcached on a free local port for one test,
// or skips the test when it is not installed.
func startMemcached(t *testing.T) net.Conn {
	t.Helper()
	bin := "/usr/bin/memcached"
	if _, err := os.Stat(bin); err != nil {
		t.Skip("memcached not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	args := []string{"-p", strconv.Itoa(port), "-l", "127.0.0.1", "-U", "0"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(bin, args...)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var c net.Conn
	for i := 0; i < 100; i++ {
		if c, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readTextReply reads one reply to cmd with the scanner, in small pieces.
func readTextReply(t *testing.T, r *bufio.Reader, cmd TextCmd) []byte {
	t.Helper()
	var buf []byte
	var s TextReplyScanner
	for {
		n, need, err := s.Scan(cmd, buf)
		if err == nil {
			require.Equal(t, len(buf), n, "extra bytes after the reply to %v: %q", cmd, buf)
			return buf
		}
		require.Equal(t, ErrIncomplete, err, "%v: %q", cmd, buf)
		chunk := make([]byte, min(need-len(buf), 7))
		_, err = io.ReadFull(r, chunk)
		require.NoError(t, err)
		buf = append(buf, chunk...)
	}
}

// TestMemcachedTextGolden sends every golden text request to a real
// memcached and checks that the reply scanner finds exactly each reply.
func TestMemcachedTextGolden(t *testing.T) {
	c := startMemcached(t)
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var p TextParser
	var req TextRequest
	setup := []string{"set k 0 0 2\r\n10\r\n", "set a 0 0 1\r\nx\r\n", "set ccc 0 0 1\r\nx\r\n"}
	for _, s := range setup {
		_, err := c.Write([]byte(s))
		require.NoError(t, err)
		require.Equal(t, "STORED\r\n", string(readTextReply(t, br, CmdSet)))
	}
	for _, g := range textGolden {
		if g.w.cmd == CmdQuit {
			continue
		}
		n, err := p.Parse([]byte(g.in), &req)
		require.NoError(t, err)
		require.Equal(t, len(g.in), n)
		_, err = c.Write([]byte(g.in))
		require.NoError(t, err)
		if req.NoReply {
			// Nothing comes back: a version request right after proves it.
			_, err = c.Write([]byte("version\r\n"))
			require.NoError(t, err)
			require.Contains(t, string(readTextReply(t, br, CmdVersion)), "VERSION ")
			continue
		}
		rep := readTextReply(t, br, req.Cmd)
		if req.Cmd != CmdIncr && req.Cmd != CmdDecr { // k may hold a non-number
			require.NotContains(t, string(rep), "ERROR", "%q -> %q", g.in, rep)
		}
	}
	// Values of every shape come back intact through TextValues.
	_, err := c.Write([]byte("set v 5 0 4\r\na\r\nb\r\ngets v k missing\r\n"))
	require.NoError(t, err)
	require.Equal(t, "STORED\r\n", string(readTextReply(t, br, CmdSet)))
	rep := readTextReply(t, br, CmdGets)
	it := NewTextValues(rep)
	var v TextValue
	require.True(t, it.Next(&v))
	require.Equal(t, "v", string(v.Key))
	require.Equal(t, uint32(5), v.Flags)
	require.Equal(t, "a\r\nb", string(v.Data))
	require.True(t, v.HasCas)
	require.False(t, it.Next(&v)) // k was deleted above, missing never existed
	require.Equal(t, "END\r\n", string(it.Rest()))
}

// TestMemcachedBinaryGolden sends every golden binary request, each followed
// by a noop, and checks replies and the quiet rules against memcached.
func TestMemcachedBinaryGolden(t *testing.T) {
	c := startMemcached(t)
	br := bufio.NewReader(c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	readReply := func() []byte {
		var buf []byte
		for {
			n, need, err := ScanBinaryReply(buf)
			if err == nil {
				require.Equal(t, len(buf), n)
				return buf
			}
			require.Equal(t, ErrIncomplete, err)
			chunk := make([]byte, need-len(buf))
			_, err = io.ReadFull(br, chunk)
			require.NoError(t, err)
			buf = append(buf, chunk...)
		}
	}
	var p BinaryParser
	var r BinaryRequest
	for _, g := range binaryGolden() {
		if g.w.op == OpQuit || g.w.op == OpQuitQ {
			continue
		}
		for _, miss := range []bool{true, false} {
			if !miss && g.w.key != "" {
				// Make the key exist so the request succeeds.
				_, err := c.Write(binReq(OpSet, "\x00\x00\x00\x00\x00\x00\x00\x00", g.w.key, "1", 0, 0))
				require.NoError(t, err)
				require.Equal(t, StatusOK, BinaryStatusOf(readReply()))
			} else if g.w.key != "" {
				_, err := c.Write(binReq(OpDelete, "", g.w.key, "", 0, 0))
				require.NoError(t, err)
				readReply()
			}
			_, err := p.Parse(g.in, &r)
			require.NoError(t, err)
			in := append([]byte{}, g.in...)
			SetBinaryOpaque(in, 0x11)
			in = append(in, AppendBinaryNoop(nil, 0x22)...)
			_, err = c.Write(in)
			require.NoError(t, err)
			rep := readReply()
			status := BinaryStatusOf(rep)
			if BinaryOpaqueOf(rep) == 0x22 {
				// No reply to the request itself: only quiet requests that
				// succeeded, or quiet gets that missed.
				require.True(t, r.Quiet(), "%v miss=%v", r.Op, miss)
				if r.Op.QuietGet() {
					require.True(t, miss, "%v hit must reply", r.Op)
				}
				continue
			}
			require.Equal(t, uint32(0x11), BinaryOpaqueOf(rep))
			require.Equal(t, r.Op, BinaryOpcodeOf(rep))
			if r.Quiet() && !r.Op.QuietGet() {
				require.NotEqual(t, StatusOK, status, "%v replied on success", r.Op)
			}
			if r.Op.QuietGet() {
				require.False(t, miss, "%v replied on a miss", r.Op)
			}
			noop := readReply()
			require.Equal(t, OpNoop, BinaryOpcodeOf(noop))
		}
	}
	// Unknown opcode: memcached answers 0x0081 like AppendBinaryError.
	_, err := c.Write(binReq(0x50, "", "", "", 3, 0))
	require.NoError(t, err)
	rep := readReply()
	require.Equal(t, StatusUnknownCommand, BinaryStatusOf(rep))
	require.Equal(t, uint32(3), BinaryOpaqueOf(rep))
}
