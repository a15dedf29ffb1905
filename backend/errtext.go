package backend

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// Failure is why a server is unavailable: the error as it happened, for
// logs, and the text clients are told.
type Failure struct {
	Err  error
	Text string // ErrorText(Err)
}

// NewFailure describes err.
func NewFailure(err error) *Failure { return &Failure{Err: err, Text: ErrorText(err)} }

// ErrorText is the cause of a failure as a client's error reply gives it.
// An operating-system error is spelt as strerror(3) spells it, because
// that is what twemproxy puts in its replies and what alerts match on
// ("Connection refused", "Connection reset by peer", "Connection timed
// out"); a dial or read that hit its deadline is ETIMEDOUT's text. Any
// other error (ferry's own causes: "connection closed by server",
// "protocol error in reply: ...") is its own text.
func ErrorText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return Strerror(errno)
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return Strerror(syscall.ETIMEDOUT)
	}
	return err.Error()
}

// Strerror is glibc's text for errno. Go's table holds the same words with
// the first letter in lower case ("connection refused").
func Strerror(errno syscall.Errno) string {
	s := errno.Error()
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || !unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}

// IsNoPasswordError reports whether a Redis error reply (with or without its
// "-" and CRLF) says AUTH was sent to a server that has no password:
// twemproxy ignores the reply to its AUTH, so a pool with redis_auth works
// with such servers (a password being rolled out), and ferry must too.
func IsNoPasswordError(reply string) bool {
	return strings.Contains(reply, "AUTH <password> called without any password configured") ||
		strings.Contains(reply, "Client sent AUTH, but no password is set")
}
