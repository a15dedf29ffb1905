package testutil

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadReply(t *testing.T) {
	replies := []string{
		"+OK\r\n",
		"-ERR x\r\n",
		":-12\r\n",
		"$-1\r\n",
		"$0\r\n\r\n",
		"$5\r\na\r\nbc\r\n", // CRLF inside a bulk
		"*-1\r\n",
		"*0\r\n",
		"*3\r\n*2\r\n$1\r\na\r\n:1\r\n*0\r\n$-1\r\n",
		"*2\r\n*1\r\n*1\r\n+deep\r\n-ERR e\r\n",
		"%1\r\n+k\r\n*1\r\n:1\r\n",
		"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", // attribute + value
		"_\r\n", "#t\r\n", ",1.5\r\n", "(123\r\n", "=7\r\ntxt:abc\r\n", "~1\r\n+s\r\n", ">2\r\n+m\r\n+c\r\n",
		"+" + strings.Repeat("x", 10000) + "\r\n", // longer than the bufio buffer
	}
	all := strings.Join(replies, "")
	// One byte at a time, to exercise fragmented reads.
	br := bufio.NewReader(iotest.OneByteReader(strings.NewReader(all)))
	for _, want := range replies {
		got, err := ReadReply(br)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := ReadReply(br); err != io.EOF {
		t.Fatalf("at end: %v", err)
	}
	for _, bad := range []string{"?x\r\n", "+no-cr\n", "$3\r\nab", "*2\r\n:1\r\n", "$x\r\n"} {
		if _, err := ReadReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestCommand(t *testing.T) {
	if got := string(Command("SET", "k", "")); got != "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n" {
		t.Fatalf("%q", got)
	}
}
