package cluster

import "testing"

func TestSlotGolden(t *testing.T) {
	f := func(key string, want int) {
		t.Helper()
		if got := int(Slot([]byte(key))); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
	// Values from redis-server 7.0 CLUSTER KEYSLOT.
	f("", 0)
	f("foo", 12182)
	f("bar", 5061)
	f("123456789", 12739) // CRC-16/XMODEM's check value 0x31C3, mod 16384
	f("{user1000}.following", 3443)
	f("{user1000}.followers", 3443)
	f("user1000", 3443)
	f("foo{}{bar}", 8363)    // "{}" is empty: the whole key
	f("foo{{bar}}zap", 4015) // the tag is "{bar"
	f("foo{bar}{zap}", 5061) // the first tag: "bar"
	f("{", 4092)
	f("a{", 14311)
	f("}{a}", 15495)
}
