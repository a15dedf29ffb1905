package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpListsEveryFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if rc := run([]string{"--help"}, &out, &errOut); rc != 0 {
		t.Fatalf("--help: exit %d, stderr %q", rc, errOut.String())
	}
	for _, f := range []string{"-s, --server", "-p, --port", "-P, --protocol", "-c, --clients", "-t, --threads",
		"--pipeline", "--test-time", "-n, --requests", "--key-prefix", "--key-minimum", "--key-maximum",
		"--key-pattern", "-d, --data-size", "--ratio", "--multi-key-get", "--command", "--json",
		"--hide-histogram", "--progress"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("--help does not mention %q", f)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{{"--bogus"}, {"--pipeline", "x"}, {"extra"}} {
		var out, errOut bytes.Buffer
		if rc := run(args, &out, &errOut); rc != 2 {
			t.Errorf("%v: exit %d, want 2", args, rc)
		}
	}
	var out, errOut bytes.Buffer
	if rc := run([]string{"--key-pattern", "X:R"}, &out, &errOut); rc != 1 || !strings.Contains(errOut.String(), "key pattern") {
		t.Errorf("bad key pattern: exit %d, stderr %q", rc, errOut.String())
	}
}
