package hash

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestHashTag(t *testing.T) {
	f := func(key, tag, want string) {
		t.Helper()
		assert.Equalf(t, want, string(HashTag([]byte(key), tag)), "HashTag(%q, %q)", key, tag)
	}
	// No tag.
	f("user:{1000}:name", "", "user:{1000}:name")
	// "{}" style.
	f("user:{1000}:name", "{}", "1000")
	f("{a}{b}", "{}", "a")
	f("{{a}}", "{}", "{a")
	f("a{b{c}d}", "{}", "b{c")
	f("}a{b}", "{}", "b")
	// Empty tag content: the whole key, no search for a later pair.
	f("user:{}:{1000}", "{}", "user:{}:{1000}")
	f("{}", "{}", "{}")
	// No closing character, or no opening one.
	f("user:{1000", "{}", "user:{1000")
	f("user:1000}", "{}", "user:1000}")
	f("user:1000", "{}", "user:1000")
	// "$$" style: the closing character is searched after the opening one.
	f("x$abc$y", "$$", "abc")
	f("$$abc", "$$", "$$abc")
	f("$abc", "$$", "$abc")
	f("a$b$c$d", "$$", "b")
	// Any two characters; the tag may sit at the ends.
	f("ab:cd:ef", "::", "cd")
	f("[k]", "[]", "k")
	// Bad tag lengths are ignored.
	f("a{b}c", "{", "a{b}c")
	f("a{b}c", "{}}", "a{b}c")
	// Empty and binary keys.
	f("", "{}", "")
	f("\x00{\xff\x80}\x00", "{}", "\xff\x80")
}

func TestHashTagView(t *testing.T) {
	key := []byte("a{bc}d")
	got := HashTag(key, "{}")
	key[2] = 'X'
	assert.Equal(t, "Xc", string(got))
	assert.Zero(t, testing.AllocsPerRun(100, func() { HashTag(key, "{}") }))
}
