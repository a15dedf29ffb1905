package memcache

// ErrorKind classifies an *Error so the engine can count and react to it.
type ErrorKind uint8

const (
	// KindIncomplete: more bytes are needed (only ErrIncomplete).
	KindIncomplete ErrorKind = iota
	// KindUnknown: the command is not a memcache command (text reply ERROR,
	// binary status 0x0081).
	KindUnknown
	// KindClient: the request is malformed (CLIENT_ERROR, binary EINVAL).
	KindClient
	// KindTooLarge: the value exceeds Limits.MaxValueLen.
	KindTooLarge
	// KindUnsupported: a valid memcache command the proxy cannot serve
	// (stats, flush_all, verbosity, meta commands, binary flush/stat ...).
	KindUnsupported
	// KindBadReply: a server sent bytes that are not a valid reply to the
	// request; the server connection cannot be resynced.
	KindBadReply
)

// Error is a preallocated protocol error. Its text reply bytes are built once
// at package init; compare errors with ==.
type Error struct {
	msg    string
	reply  []byte
	status uint16
	kind   ErrorKind
	close  bool
}

func newError(kind ErrorKind, close bool, status uint16, msg, reply string) *Error {
	return &Error{msg: "ferry: memcache: " + msg, reply: []byte(reply), status: status, kind: kind, close: close}
}

// Error implements error.
func (e *Error) Error() string { return e.msg }

// Reply returns the text protocol reply to send to the client, CRLF included.
// The bytes are shared: do not modify them.
func (e *Error) Reply() []byte { return e.reply }

// Kind returns the error class.
func (e *Error) Kind() ErrorKind { return e.kind }

// Close reports whether the connection must be closed after the reply because
// the stream cannot be resynced.
func (e *Error) Close() bool { return e.close }

// Status returns the binary protocol status for this error.
func (e *Error) Status() uint16 { return e.status }

// AppendBinary appends a binary error response for a request with the given
// opcode and opaque.
func (e *Error) AppendBinary(dst []byte, op Opcode, opaque uint32) []byte {
	return AppendBinaryError(dst, op, e.status, opaque, e.msg[len("ferry: memcache: "):])
}

// Binary response status codes (binary protocol spec).
const (
	StatusOK             uint16 = 0x0000
	StatusKeyNotFound    uint16 = 0x0001
	StatusKeyExists      uint16 = 0x0002
	StatusValueTooLarge  uint16 = 0x0003
	StatusInvalidArgs    uint16 = 0x0004
	StatusNotStored      uint16 = 0x0005
	StatusNonNumeric     uint16 = 0x0006
	StatusUnknownCommand uint16 = 0x0081
	StatusOutOfMemory    uint16 = 0x0082
	StatusNotSupported   uint16 = 0x0083
	StatusInternalError  uint16 = 0x0084
	StatusBusy           uint16 = 0x0085
	StatusTemporaryError uint16 = 0x0086
)

const (
	replyClientFormat = "CLIENT_ERROR bad command line format\r\n"
	replyError        = "ERROR\r\n"
)

// Sentinel errors. Text replies follow memcached 1.6 where it has one.
var (
	ErrIncomplete = newError(KindIncomplete, false, 0, "incomplete request", "")

	// Text requests.
	ErrUnknownCommand = newError(KindUnknown, false, StatusUnknownCommand, "unknown command", replyError)
	ErrArity          = newError(KindUnknown, false, StatusInvalidArgs, "wrong number of arguments", replyError)
	// A storage line with the wrong number of arguments or an unreadable
	// value length is skipped alone, as memcached does: what follows it is
	// read as the next command (memcached answers a data line sent after
	// it with ERROR too).
	ErrStorageArity  = newError(KindUnknown, false, StatusInvalidArgs, "wrong number of arguments to a storage command", replyError)
	ErrKeyTooLong    = newError(KindClient, false, StatusInvalidArgs, "key too long", replyClientFormat)
	ErrBadKey        = newError(KindClient, false, StatusInvalidArgs, "key contains control characters", replyClientFormat)
	ErrBadFlags      = newError(KindClient, false, StatusInvalidArgs, "bad flags", replyClientFormat)
	ErrBadExptime    = newError(KindClient, false, StatusInvalidArgs, "bad exptime", replyClientFormat)
	ErrBadTouchTime  = newError(KindClient, false, StatusInvalidArgs, "bad exptime", "CLIENT_ERROR invalid exptime argument\r\n")
	ErrBadCas        = newError(KindClient, false, StatusInvalidArgs, "bad cas unique", replyClientFormat)
	ErrBadDelta      = newError(KindClient, false, StatusNonNumeric, "bad delta", "CLIENT_ERROR invalid numeric delta argument\r\n")
	ErrBadDeleteTime = newError(KindClient, false, StatusInvalidArgs, "delete time must be 0", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n")
	ErrBadLength     = newError(KindClient, false, StatusInvalidArgs, "bad value length", replyClientFormat)
	ErrTooManyKeys   = newError(KindClient, false, StatusInvalidArgs, "too many keys", "CLIENT_ERROR too many keys\r\n")
	ErrValueTooLarge = newError(KindTooLarge, false, StatusValueTooLarge, "value too large", "SERVER_ERROR object too large for cache\r\n")
	ErrBadDataChunk  = newError(KindClient, true, StatusInvalidArgs, "data block not terminated by CRLF", "CLIENT_ERROR bad data chunk\r\n")
	ErrLineTooLong   = newError(KindClient, true, StatusInvalidArgs, "command line too long", "CLIENT_ERROR line too long\r\n")
	ErrUnsupported   = newError(KindUnsupported, false, StatusNotSupported, "command not supported by proxy", "SERVER_ERROR command not supported by proxy\r\n")

	// Binary requests (text replies are given for completeness; use AppendBinary).
	ErrBadMagic        = newError(KindClient, true, StatusInvalidArgs, "bad magic", replyClientFormat)
	ErrBinaryLengths   = newError(KindClient, false, StatusInvalidArgs, "extras and key lengths exceed body length", replyClientFormat)
	ErrBinaryArgs      = newError(KindClient, false, StatusInvalidArgs, "invalid arguments", replyClientFormat)
	ErrBinaryUnknown   = newError(KindUnknown, false, StatusUnknownCommand, "unknown command", replyError)
	ErrBinaryTooLarge  = newError(KindTooLarge, false, StatusValueTooLarge, "too large", "SERVER_ERROR object too large for cache\r\n")
	ErrBinaryNotSupp   = newError(KindUnsupported, false, StatusNotSupported, "not supported", "SERVER_ERROR command not supported by proxy\r\n")
	ErrBinaryKeyLength = newError(KindClient, false, StatusInvalidArgs, "key too long", replyClientFormat)

	// Replies from servers.
	ErrBadReply = newError(KindBadReply, true, StatusInternalError, "bad reply from server", "SERVER_ERROR bad reply from server\r\n")
)
