package memcache

// Class groups commands for latency statistics, as memcached's own stats
// do (cmd_get, cmd_set for every storage command, delete): get for
// retrievals, set for storage commands (set, add, replace, append, prepend,
// cas), delete, and other for the rest (incr, decr, touch, version, quit,
// errors).
type Class uint8

const (
	ClassGet Class = iota
	ClassSet
	ClassDelete
	ClassOther
	// NumClasses is the number of classes.
	NumClasses = 4
)

var classNames = [NumClasses]string{"get", "set", "delete", "other"}

// String returns the class's label: get, set, delete or other.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "other"
}

// Class returns the text command's statistics class.
func (c TextCmd) Class() Class {
	switch {
	case c.IsRetrieval():
		return ClassGet
	case c.IsStorage():
		return ClassSet
	case c == CmdDelete:
		return ClassDelete
	}
	return ClassOther
}

// Class returns the binary opcode's statistics class (quiet variants count
// with their loud ones; gat and gatk are retrievals).
func (op Opcode) Class() Class {
	switch op.Loud() {
	case OpGet, OpGetK, OpGAT, OpGATK:
		return ClassGet
	case OpSet, OpAdd, OpReplace, OpAppend, OpPrepend:
		return ClassSet
	case OpDelete:
		return ClassDelete
	}
	return ClassOther
}
