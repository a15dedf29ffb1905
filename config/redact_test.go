package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got := string(Redact([]byte(in)))
		if got != want {
			t.Errorf("Redact(%q):\n got %q\nwant %q", in, got, want)
		}
		if strings.Count(got, "\n") != strings.Count(in, "\n") {
			t.Errorf("line count changed: %q", got)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("secret left in %q", got)
		}
		// The redacted text is still a valid configuration when the input was.
		if _, err := Parse("in.yml", []byte(in)); err == nil {
			cfg, err := Parse("out.yml", []byte(got))
			if err != nil {
				t.Errorf("redacted text no longer parses: %v", err)
			} else if p := cfg.Pools[0]; p.RedisAuth != "" && p.RedisAuth != Redacted {
				t.Errorf("redis_auth reads %q", p.RedisAuth)
			}
		}
	}
	const servers = "  servers:\n   - 127.0.0.1:6379:1\n"
	f("a:\n  listen: 127.0.0.1:1\n  redis: true\n  redis_auth: s3cret\n"+servers,
		"a:\n  listen: 127.0.0.1:1\n  redis: true\n  redis_auth: \"<redacted>\"\n"+servers)
	f("a:\n  redis_auth: \"s3\\\"cret\"   # prod\n  redis: true\n",
		"a:\n  redis_auth: \"<redacted>\"   # prod\n  redis: true\n")
	f("a:\n  redis_auth: 's3''cret'\r\n  redis: true\r\n",
		"a:\n  redis_auth: \"<redacted>\"\r\n  redis: true\r\n")
	f("a: {listen: 127.0.0.1:1, redis_auth: s3cret, redis: true}\n",
		"a: {listen: 127.0.0.1:1, redis_auth: \"<redacted>\", redis: true}\n")
	f("a:\n  redis_auth: |\n    s3cret\n    more\n  redis: true\n",
		"a:\n  redis_auth: \"<redacted>\"\n\n\n  redis: true\n")
	f("a:\n  redis: true\n  redis_auth: \"s3\n    cret\"\nb:\n  redis: true\n",
		"a:\n  redis: true\n  redis_auth: \"<redacted>\"\n\nb:\n  redis: true\n")
	f("a:\n  redis: true\n  redis_auth:\n", "a:\n  redis: true\n  redis_auth:\n") // empty: nothing to hide
	f("a:\n  listen: \"ünï\"\n  redis_auth: s3cret\n", "a:\n  listen: \"ünï\"\n  redis_auth: \"<redacted>\"\n")
	// Not YAML (a tab indent): line by line.
	f("a:\n\tredis_auth: s3cret\n  [\n", "a:\n\tredis_auth: \"<redacted>\"\n  [\n")
	f("no secrets: here\n", "no secrets: here\n")
}

func TestPoolLogValue(t *testing.T) {
	cfg, err := Parse("x.yml", []byte("a:\n  listen: 127.0.0.1:1\n  redis: true\n  redis_auth: s3cret\n  servers:\n   - 127.0.0.1:6379:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	slog.New(slog.NewTextHandler(&out, nil)).Info("pool", "pool", cfg.Pools[0])
	if got := out.String(); strings.Contains(got, "s3cret") || !strings.Contains(got, "pool.redis_auth=<redacted>") ||
		!strings.Contains(got, "pool.name=a") {
		t.Errorf("logged %q", got)
	}
}
