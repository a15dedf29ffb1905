package resp

// Class groups commands for latency statistics: each request is counted in
// the histogram of its command's class. It is decided by the command table
// (Kind and ReadOnly), once per command at init.
type Class uint8

const (
	// ClassRead: a single-server command that does not modify data (GET,
	// HGETALL, EVAL_RO, ...).
	ClassRead Class = iota
	// ClassWrite: a single-server command that may modify data (SET, INCR,
	// EVAL, RENAME, ...).
	ClassWrite
	// ClassMulti: a multi-key command the proxy splits per server and
	// merges (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH), whether or not a
	// given request needed the split.
	ClassMulti
	// ClassOther: commands answered by the proxy (PING, AUTH, ...),
	// refused ones, and unknown commands.
	ClassOther
	// NumClasses is the number of classes.
	NumClasses = 4
)

var classNames = [NumClasses]string{"read", "write", "multi", "other"}

// String returns the class's label: read, write, multi or other.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "other"
}

func classOf(k Kind, readOnly bool) Class {
	switch k {
	case KindMulti:
		return ClassMulti
	case KindSingle, KindSameServer, KindEval:
		if readOnly {
			return ClassRead
		}
		return ClassWrite
	}
	return ClassOther
}
