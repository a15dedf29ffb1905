package engine

import "testing"

func TestParseRedirect(t *testing.T) {
	f := func(reply string, redirect, ask bool, addr string, ok bool) {
		t.Helper()
		if got := isRedirect([]byte(reply)); got != redirect {
			t.Fatalf("isRedirect(%q) = %v", reply, got)
		}
		if !redirect {
			return
		}
		gotAsk, gotAddr, gotOK := parseRedirect([]byte(reply))
		if gotOK != ok || (ok && (gotAsk != ask || string(gotAddr) != addr)) {
			t.Fatalf("parseRedirect(%q) = %v %q %v", reply, gotAsk, gotAddr, gotOK)
		}
	}
	f("-MOVED 3999 127.0.0.1:6381\r\n", true, false, "127.0.0.1:6381", true)
	f("-ASK 3999 127.0.0.1:6381\r\n", true, true, "127.0.0.1:6381", true)
	f("-MOVED 3999 [::1]:6381\r\n", true, false, "[::1]:6381", true)
	f("-ERR MOVED\r\n", false, false, "", false)
	f("-MOVED\r\n", false, false, "", false)
	f("-ASK \r\n", true, false, "", false)
	f("-MOVED 1 \r\n", true, false, "", false)
	f("-MOVED x 127.0.0.1:1\r\n", true, false, "", false)
	f("-MOVED 12\r\n", true, false, "", false)
	f("+MOVED 1 a:1\r\n", false, false, "", false)
}
