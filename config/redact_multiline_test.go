package config

import (
	"strings"
	"testing"
)

// A plain scalar may continue on the next, more indented line (YAML folds
// it into "s3cr3t continued"); both lines are the secret.
func TestRedactMultiLinePlainScalar(t *testing.T) {
	text := "alpha:\n  listen: 127.0.0.1:22121\n  redis: true\n  redis_auth: s3cr3t\n    continued\n  servers:\n   - 127.0.0.1:6379:1\n"
	cfg, err := Parse("x.yml", []byte(text))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	t.Logf("redis_auth parsed as %q", cfg.Pools[0].RedisAuth)
	out := string(Redact([]byte(text)))
	if strings.Contains(out, "continued") {
		t.Fatalf("secret leaks:\n%s", out)
	}
}
