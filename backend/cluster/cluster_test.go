package cluster

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSlot(t *testing.T) {
	// Redis's own examples (CLUSTER KEYSLOT).
	assert.Equal(t, uint16(12182), Slot([]byte("foo")))
	assert.Equal(t, uint16(5061), Slot([]byte("bar")))
	assert.Equal(t, Slot([]byte("user1000")), Slot([]byte("{user1000}.following")))
	assert.Equal(t, Slot([]byte("{}user")), Slot([]byte("{}user")))
	assert.NotEqual(t, Slot([]byte("user")), Slot([]byte("{}user")), "an empty tag hashes the whole key")
	assert.Equal(t, Slot([]byte("a")), Slot([]byte("x{a}{b}")), "the first tag counts")
}

// slotsReply encodes a CLUSTER SLOTS reply: [lo hi [host port id] [replica...]].
func slotsReply(entries ...string) []byte {
	return []byte("*" + string(rune('0'+len(entries))) + "\r\n" + strings.Join(entries, ""))
}

func entry(lo, hi, host, port string) string {
	return "*4\r\n:" + lo + "\r\n:" + hi + "\r\n" +
		"*3\r\n$" + itoa(len(host)) + "\r\n" + host + "\r\n:" + port + "\r\n$2\r\nid\r\n" +
		"*3\r\n$9\r\n127.0.0.9\r\n:1\r\n$2\r\nr1\r\n" // a replica: ignored
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return string(rune('0'+n/10)) + string(rune('0'+n%10))
}

func TestParseSlots(t *testing.T) {
	m, err := ParseSlots(slotsReply(
		entry("0", "5460", "127.0.0.1", "7001"),
		entry("5461", "10922", "", "7002"), // "" = the node asked
		entry("10923", "16383", "127.0.0.1", "7000"),
	), "127.0.0.1:7002")
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"}, m.Masters)
	assert.True(t, m.Complete())
	assert.Equal(t, "127.0.0.1:7001", m.Masters[m.Owner[0]])
	assert.Equal(t, "127.0.0.1:7001", m.Masters[m.Owner[5460]])
	assert.Equal(t, "127.0.0.1:7002", m.Masters[m.Owner[5461]])
	assert.Equal(t, "127.0.0.1:7000", m.Masters[m.Owner[16383]])

	m2, err := ParseSlots(slotsReply(entry("0", "5460", "127.0.0.1", "7001")), "x:1")
	require.NoError(t, err)
	assert.False(t, m2.Complete())
	assert.Equal(t, uint16(Unassigned), m2.Owner[5461])
	assert.False(t, m.Equal(m2))

	for _, bad := range [][]byte{
		[]byte("-ERR This instance has cluster support disabled\r\n"),
		[]byte("+OK\r\n"),
		slotsReply(entry("5", "4", "h", "1")),
		slotsReply(entry("0", "16384", "h", "1")),
		slotsReply(entry("0", "1", "h", "0")),
		[]byte("*1\r\n*2\r\n:0\r\n:1\r\n"),
	} {
		_, err := ParseSlots(bad, "127.0.0.1:1")
		assert.Error(t, err, "%q", bad)
	}
}
