package resp

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkReplySplits: every proper prefix is incomplete with need > len, the
// whole is n; a resumable scanner fed every prefix in turn agrees; and the
// Need protocol (call only when len >= need) reaches the end.
func checkReplySplits(t *testing.T, b []byte, wantN int) {
	t.Helper()
	var s ReplyScanner
	for k := 0; k < wantN; k++ {
		n, need, err := ScanReply(b[:k])
		require.ErrorIs(t, err, ErrIncomplete, "prefix %d of %q", k, b)
		require.Zero(t, n)
		require.Greater(t, need, k)
		require.LessOrEqual(t, need, wantN, "need past the reply, prefix %d of %q", k, b)
		n, err = s.Scan(b[:k])
		require.ErrorIs(t, err, ErrIncomplete)
		require.Zero(t, n)
		require.LessOrEqual(t, s.Need(), wantN)
	}
	n, err := s.Scan(b)
	require.NoError(t, err, "%q", b)
	require.Equal(t, wantN, n)
}

func TestScanReplyGolden(t *testing.T) {
	f := func(in string) {
		t.Helper()
		b := []byte(in)
		n, need, err := ScanReply(b)
		require.NoError(t, err, "%q", in)
		require.Equal(t, len(b), n)
		require.Zero(t, need)
		// pipelined: the first reply only
		two := append(append([]byte(nil), b...), b...)
		n, _, err = ScanReply(two)
		require.NoError(t, err)
		require.Equal(t, len(b), n)
		checkReplySplits(t, b, len(b))
	}
	f("+OK\r\n")
	f("+\r\n")
	f("-ERR unknown command\r\n")
	f(":0\r\n")
	f(":-9223372036854775808\r\n")
	f("$3\r\nfoo\r\n")
	f("$0\r\n\r\n")
	f("$-1\r\n")
	f("$4\r\n\r\n\r\n\r\n")
	f("*-1\r\n")
	f("*0\r\n")
	f("*3\r\n$1\r\na\r\n$-1\r\n:5\r\n")
	f("*2\r\n*2\r\n+a\r\n*0\r\n*1\r\n*1\r\n*1\r\n$1\r\nx\r\n")
	// RESP3
	f("_\r\n")
	f(",3.14\r\n")
	f(",inf\r\n")
	f("#t\r\n")
	f("#f\r\n")
	f("!21\r\nSYNTAX invalid syntax\r\n")
	f("=15\r\ntxt:Some string\r\n")
	f("(3492890328409238509324850943850943825024385\r\n")
	f("%2\r\n+first\r\n:1\r\n+second\r\n*2\r\n:2\r\n:3\r\n")
	f("%0\r\n")
	f("~3\r\n+a\r\n+b\r\n+c\r\n")
	f(">3\r\n+message\r\n+chan\r\n$2\r\nhi\r\n")
	f("|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n")
	f("*2\r\n|1\r\n+ttl\r\n:3600\r\n+v\r\n:2\r\n")
	f("|0\r\n+OK\r\n")
	f("$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n")
	f("*?\r\n:1\r\n:2\r\n*?\r\n.\r\n.\r\n")
	f("%?\r\n+a\r\n:1\r\n.\r\n")
	f("~?\r\n.\r\n")
	f("*1\r\n$?\r\n;1\r\nx\r\n;0\r\n")
}

func TestScanReplyMalformed(t *testing.T) {
	f := func(in string, want error) {
		t.Helper()
		var s ReplyScanner
		n, err := s.Scan([]byte(in))
		require.Zero(t, n)
		require.Equal(t, want, err, "%q", in)
		_, err = s.Scan([]byte(in + "+OK\r\n"))
		require.Equal(t, want, err, "sticky")
		// any split: incomplete or the same error, never success
		for k := range len(in) {
			var s ReplyScanner
			_, err := s.Scan([]byte(in[:k]))
			if err == ErrIncomplete {
				_, err = s.Scan([]byte(in))
			}
			require.Equal(t, want, err, "split %d of %q", k, in)
		}
	}
	f("x\r\n", ErrInvalidReply)
	f("\r\n", ErrInvalidReply)
	f("+OK\rx", ErrInvalidReply)
	f("+OK\n\r\n", ErrInvalidReply)
	f(":12a\r\n", ErrInvalidReply)
	f(":\r\n", ErrInvalidReply)
	f(":99999999999999999999\r\n", ErrInvalidReply)
	f("$-2\r\n", ErrInvalidReply)
	f("$3\r\nfooXY", ErrInvalidReply)
	f("$03\r\nfoo\r\n", ErrInvalidReply)
	f("*-2\r\n", ErrInvalidReply)
	f("%-1\r\n", ErrInvalidReply)
	f("!-1\r\n", ErrInvalidReply)
	f("*1\r\n*1\r\nx", ErrInvalidReply)
	f("_x\r\n", ErrInvalidReply)
	f("#x\r\n", ErrInvalidReply)
	f(".\r\n", ErrInvalidReply)
	f("*1\r\n.\r\n", ErrInvalidReply)
	f("$?\r\n+OK\r\n", ErrInvalidReply)
	f("$?x\n", ErrInvalidReply)
	f("!?\r\n", ErrInvalidReply)
	f(">?\r\n", ErrInvalidReply)
	f("$99999999999999\r\n", ErrInvalidReply)
	f(strings.Repeat("*1\r\n", MaxReplyDepth+1), ErrReplyTooDeep)
	f(strings.Repeat("*?\r\n", MaxReplyDepth+1), ErrReplyTooDeep)
}

func TestScanReplyMaxDepth(t *testing.T) {
	b := []byte(strings.Repeat("*1\r\n", MaxReplyDepth) + ":1\r\n")
	checkReplySplits(t, b, len(b))
}

func TestScanReplyLargeLinear(t *testing.T) {
	// 16 MiB bulk inside an array, and an array of 500k small elements,
	// arriving in 64 KiB reads: with the Need protocol the bulk takes two
	// calls, and the resumable scanner never rescans the elements.
	big := AppendArrayHeader(nil, 2)
	big = AppendInt(big, 1)
	big = AppendBulk(big, bytes.Repeat([]byte{'x'}, 16<<20))
	var s ReplyScanner
	calls := 0
	for got := 64 << 10; ; got += 64 << 10 {
		got = min(got, len(big))
		if got < s.Need() {
			continue
		}
		calls++
		n, err := s.Scan(big[:got])
		if err == ErrIncomplete {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, len(big), n)
		break
	}
	require.LessOrEqual(t, calls, 2)

	many := AppendArrayHeader(nil, 500000)
	for i := range 500000 {
		many = AppendInt(many, int64(i))
	}
	s.Reset()
	scans := 0
	for got := 64 << 10; ; got += 64 << 10 {
		got = min(got, len(many))
		n, err := s.Scan(many[:got])
		scans++
		if err == ErrIncomplete {
			continue
		}
		require.NoError(t, err)
		require.Equal(t, len(many), n)
		break
	}
	require.Greater(t, scans, 10)
}

func TestReplyHelpers(t *testing.T) {
	v, ok := ParseIntegerReply([]byte(":42\r\n"))
	require.True(t, ok)
	require.EqualValues(t, 42, v)
	v, ok = ParseIntegerReply([]byte(":-7\r\n+OK\r\n"))
	require.True(t, ok)
	require.EqualValues(t, -7, v)
	for _, bad := range []string{"", ":", ":1", ":1\r", ":1\rx", "+1\r\n", ":a\r\n", ":\r\n", ":01\r\n"} {
		_, ok = ParseIntegerReply([]byte(bad))
		require.False(t, ok, "%q", bad)
	}

	require.EqualValues(t, '*', ReplyKind([]byte("*0\r\n")))
	require.EqualValues(t, 0, ReplyKind(nil))
	require.True(t, IsError([]byte("-ERR x\r\n")))
	require.True(t, IsError([]byte("!1\r\nx\r\n")))
	require.False(t, IsError([]byte("+OK\r\n")))
	require.False(t, IsError(nil))

	reply := []byte("*3\r\n$1\r\na\r\n$-1\r\n*2\r\n:1\r\n:2\r\n")
	count, h, ok := ArrayLen(reply)
	require.True(t, ok)
	require.Equal(t, 3, count)
	require.Equal(t, 4, h)
	count, _, ok = ArrayLen([]byte("*-1\r\n"))
	require.True(t, ok)
	require.Equal(t, -1, count)
	_, _, ok = ArrayLen([]byte("$1\r\na\r\n"))
	require.False(t, ok)

	it, ok := IterArray(reply)
	require.True(t, ok)
	var got []string
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		got = append(got, string(e))
	}
	require.NoError(t, it.Err())
	require.Equal(t, []string{"$1\r\na\r\n", "$-1\r\n", "*2\r\n:1\r\n:2\r\n"}, got)

	it, _ = IterArray([]byte("*2\r\n:1\r\n"))
	_, ok = it.Next()
	require.True(t, ok)
	_, ok = it.Next()
	require.False(t, ok)
	require.ErrorIs(t, it.Err(), ErrInvalidReply)

	it, ok = IterArray([]byte("*-1\r\n"))
	require.True(t, ok)
	require.Zero(t, it.Len())
}

func TestScanReplyAllocs(t *testing.T) {
	replies := [][]byte{
		[]byte("+OK\r\n"),
		[]byte("$3\r\nbar\r\n"),
		[]byte("*3\r\n$1\r\na\r\n$-1\r\n*2\r\n:1\r\n:2\r\n"),
		[]byte("%1\r\n+a\r\n|1\r\n+x\r\n:1\r\n~1\r\n_\r\n"),
	}
	for _, b := range replies {
		allocs := testing.AllocsPerRun(100, func() {
			if n, _, err := ScanReply(b); err != nil || n != len(b) {
				panic("scan")
			}
			var s ReplyScanner
			_, _ = s.Scan(b[:len(b)-1])
			if n, err := s.Scan(b); err != nil || n != len(b) {
				panic("scan")
			}
			if it, ok := IterArray(b); ok {
				for _, ok := it.Next(); ok; _, ok = it.Next() {
				}
			}
		})
		require.Zero(t, allocs, "%q", b)
	}
}
