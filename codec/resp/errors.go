package resp

import "errors"

// ErrIncomplete reports that b does not yet hold a whole request or reply.
// It is not a protocol error: keep the bytes and call again once more have
// arrived (see Parser.Need and ReplyScanner.Need).
var ErrIncomplete = errors.New("ferry: incomplete frame")

// ProtocolError is a sentinel for bad input. Reply returns the RESP error
// reply to send before closing the connection. After a ProtocolError the
// stream cannot be resynchronised.
type ProtocolError struct {
	msg   string
	reply []byte
}

func newProtocolError(msg string) *ProtocolError {
	return &ProtocolError{
		msg:   "ferry: " + msg,
		reply: []byte("-ERR Protocol error: " + msg + "\r\n"),
	}
}

// Error implements error; the text starts with "ferry:".
func (e *ProtocolError) Error() string { return e.msg }

// Reply returns the preallocated RESP error reply. It is shared: callers
// must not modify it.
func (e *ProtocolError) Reply() []byte { return e.reply }

// Request errors (client -> proxy). The reply texts follow redis where redis
// has one, so clients see the same words as from a direct connection.
var (
	// ErrInvalidMultibulkLength: the count after '*' is not a decimal
	// integer (redis string2ll rules), is negative other than -1, or the
	// header line does not end with CRLF.
	ErrInvalidMultibulkLength = newProtocolError("invalid multibulk length")
	// ErrTooManyArgs: the count after '*' is over Limits.MaxArgs.
	ErrTooManyArgs = newProtocolError("too many arguments")
	// ErrExpectedBulk: an element of a request array does not start with '$'.
	ErrExpectedBulk = newProtocolError("expected '$'")
	// ErrInvalidBulkLength: the length after '$' is not a decimal integer,
	// is negative, or the header line does not end with CRLF.
	ErrInvalidBulkLength = newProtocolError("invalid bulk length")
	// ErrBulkTooLong: the length after '$' is over Limits.MaxBulkLen.
	ErrBulkTooLong = newProtocolError("bulk length exceeds limit")
	// ErrBulkMissingCRLF: a bulk argument's data is not followed by CRLF.
	ErrBulkMissingCRLF = newProtocolError("expected CRLF after bulk data")
	// ErrRequestTooLarge: the request is longer than Limits.MaxRequestBytes.
	ErrRequestTooLarge = newProtocolError("request exceeds size limit")
	// ErrInlineTooLong: an inline request line is longer than
	// Limits.MaxInlineLen.
	ErrInlineTooLong = newProtocolError("too big inline request")
	// ErrUnbalancedQuotes: an inline request has an unterminated quote, or
	// a closing quote followed by something other than a space.
	ErrUnbalancedQuotes = newProtocolError("unbalanced quotes in request")
)

// Reply errors (server -> proxy). The reply is what the proxy may send to
// the client whose request got the broken reply.
var (
	// ErrInvalidReply: the server's bytes are not a RESP2/RESP3 reply.
	ErrInvalidReply = newProtocolError("invalid reply from server")
	// ErrReplyTooDeep: aggregates nested deeper than MaxReplyDepth.
	ErrReplyTooDeep = newProtocolError("reply nested too deep")
)
