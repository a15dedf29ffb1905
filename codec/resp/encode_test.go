package resp

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestEncodeGolden(t *testing.T) {
	f := func(got []byte, want string) {
		t.Helper()
		require.Equal(t, want, string(got))
		n, _, err := ScanReply(got) // every encoding is a valid reply
		require.NoError(t, err)
		require.Equal(t, len(got), n)
	}
	f(AppendArrayHeader(nil, 0), "*0\r\n")
	f(AppendArrayHeader(nil, -1), "*-1\r\n")
	require.Equal(t, "*12\r\n", string(AppendArrayHeader(nil, 12)))
	f(AppendBulk(nil, []byte("foo")), "$3\r\nfoo\r\n")
	f(AppendBulk(nil, nil), "$0\r\n\r\n")
	f(AppendBulk(nil, []byte("a\r\nb")), "$4\r\na\r\nb\r\n")
	f(AppendBulkString(nil, "héllo"), "$6\r\nhéllo\r\n")
	f(AppendNullBulk(nil), "$-1\r\n")
	f(AppendInt(nil, 0), ":0\r\n")
	f(AppendInt(nil, -42), ":-42\r\n")
	f(AppendInt(nil, -9223372036854775808), ":-9223372036854775808\r\n")
	f(AppendSimple(nil, "OK"), "+OK\r\n")
	f(AppendSimple(nil, "a\r\nb\nc\r"), "+a  b c \r\n")
	f(AppendError(nil, "ERR bad"), "-ERR bad\r\n")
	f(AppendError(nil, "ERR line1\r\nline2"), "-ERR line1  line2\r\n")
	f(AppendError([]byte("+OK\r\n"), "ERR x")[5:], "-ERR x\r\n")
}

func TestEncodeAllocs(t *testing.T) {
	dst := make([]byte, 0, 256)
	val := []byte("value")
	allocs := testing.AllocsPerRun(100, func() {
		b := AppendArrayHeader(dst[:0], 3)
		b = AppendBulkString(b, "SET")
		b = AppendBulk(b, val)
		b = AppendInt(b, 123456)
		b = AppendSimple(b, "OK")
		b = AppendError(b, "ERR x\ny")
		b = AppendNullBulk(b)
		_ = b
	})
	require.Zero(t, allocs)
}
