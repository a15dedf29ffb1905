package resp

import "strings"

// Kind says how the proxy routes a command.
type Kind uint8

const (
	// KindSingle: route by the first key (FirstKey). A command whose key
	// is absent (XINFO HELP, OBJECT HELP) may go to any server.
	KindSingle Kind = iota
	// KindMulti: split the keys per server and merge the replies (Merge).
	KindMulti
	// KindSameServer: several keys, all of which must hash to the same
	// server; otherwise the proxy replies with an error.
	KindSameServer
	// KindEval: EVAL-like; the keys follow the numkeys argument at
	// NumKeysAt and must all hash to the same server.
	KindEval
	// KindLocal: answered by the proxy itself.
	KindLocal
	// KindUnsupported: the proxy replies ErrorReply() and keeps the
	// connection open.
	KindUnsupported
)

var kindNames = [...]string{"single", "multi", "same-server", "eval", "local", "unsupported"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind?"
}

// Merge says how the replies of a KindMulti command's parts are combined.
type Merge uint8

const (
	MergeNone  Merge = iota
	MergeArray       // MGET: one element per key, in the request's key order
	MergeSum         // DEL, UNLINK, EXISTS, TOUCH: sum of the integer replies
	MergeOK          // MSET: +OK when every part replied +OK
)

var mergeNames = [...]string{"none", "array", "sum", "ok"}

func (m Merge) String() string {
	if int(m) < len(mergeNames) {
		return mergeNames[m]
	}
	return "merge?"
}

// Command describes one redis command. The key fields follow the redis
// COMMAND convention: keys are args[FirstKey], args[FirstKey+KeyStep], ...
// up to args[LastKey] (LastKey < 0 counts from the end: -1 is the last
// argument); FirstKey == 0 means no fixed keys. NumKeysAt > 0 adds the
// keys that follow a "numkeys" argument at that index (EVAL, ZUNIONSTORE).
// Commands are shared and read-only.
type Command struct {
	Name      string // upper case
	Arity     int    // > 0: exactly Arity args, name included; < 0: at least -Arity
	FirstKey  int
	LastKey   int
	KeyStep   int
	NumKeysAt int
	Kind      Kind
	Merge     Merge
	ReadOnly  bool   // does not modify data (may go to a replica)
	Class     Class  // latency statistics class, from Kind and ReadOnly
	Reason    string // KindUnsupported: the error message, without "-" and CRLF

	reply []byte // KindUnsupported: "-ERR <Reason>\r\n"
}

// ErrorReply returns the preallocated "-ERR <Reason>\r\n" of an
// unsupported command, nil for the others. Shared: do not modify.
func (c *Command) ErrorReply() []byte { return c.reply }

// ArityOK reports whether a request with nargs arguments (the name
// included) has a valid count for c. For commands whose keys come in
// key-value groups up to the last argument (MSET) it also checks that the
// groups are whole, since the proxy splits them.
func (c *Command) ArityOK(nargs int) bool {
	if c.Arity > 0 {
		if nargs != c.Arity {
			return false
		}
	} else if nargs < -c.Arity {
		return false
	}
	if c.KeyStep > 1 && c.LastKey < 0 && c.FirstKey > 0 {
		return (nargs-c.FirstKey)%c.KeyStep == 0
	}
	return true
}

// Key returns the first key of a request for c, and false if it has none
// (a keyless command, or a key position past the arguments). For KindEval
// it is the first key after numkeys.
func (c *Command) Key(args [][]byte) ([]byte, bool) {
	if c.FirstKey > 0 {
		if c.FirstKey < len(args) {
			return args[c.FirstKey], true
		}
		return nil, false
	}
	if c.NumKeysAt > 0 {
		nk, ok := c.numKeys(args)
		if ok && nk > 0 {
			return args[c.NumKeysAt+1], true
		}
	}
	return nil, false
}

// numKeys parses the numkeys argument: it must be an integer in
// [0, len(args)-NumKeysAt-1].
func (c *Command) numKeys(args [][]byte) (int, bool) {
	if c.NumKeysAt <= 0 || c.NumKeysAt >= len(args) {
		return 0, false
	}
	v, ok := parseInt(args[c.NumKeysAt])
	if !ok || v < 0 || v > int64(len(args)-c.NumKeysAt-1) {
		return 0, false
	}
	return int(v), true
}

// KeyIndexes calls visit with the index in args of each key of a request
// for c, in order. It returns false, after visiting the fixed keys, if the
// request's numkeys argument is not a valid count; the proxy should then
// forward the request to any server and let it report the error, or reply
// with one itself. visit must not retain args.
func KeyIndexes(c *Command, args [][]byte, visit func(i int)) bool {
	if c.FirstKey > 0 {
		last := c.LastKey
		if last < 0 {
			last += len(args)
		}
		step := max(c.KeyStep, 1)
		for i := c.FirstKey; i <= last && i < len(args); i += step {
			visit(i)
		}
	}
	if c.NumKeysAt > 0 {
		nk, ok := c.numKeys(args)
		if !ok {
			return false
		}
		for i := c.NumKeysAt + 1; i <= c.NumKeysAt+nk; i++ {
			visit(i)
		}
	}
	return true
}

// maxNameLen is longer than any command name in the table.
const maxNameLen = 32

// Lookup returns the command named name, in any letter case, or nil. It
// does not allocate: name is upper-cased and hashed in one pass into a stack
// array, then looked up in an open-addressing table built at init (a Go map
// costs twice as much here: its string hash and probing are generic).
func Lookup(name []byte) *Command {
	if len(name) == 0 || len(name) > maxNameLen {
		return nil
	}
	var buf [maxNameLen]byte
	h := uint32(nameHashSeed)
	for i, c := range name {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		buf[i] = c
		h = (h ^ uint32(c)) * nameHashPrime
	}
	return findSlot(h, string(buf[:len(name)])).cmd // string(): compared only, no copy
}

// FNV-1a over the upper-cased name.
const (
	nameHashSeed  = 2166136261
	nameHashPrime = 16777619
	nameSlotsMask = uint32(len(nameSlots) - 1)
)

type nameSlot struct {
	name string
	cmd  *Command
}

// nameSlots: a power of two, at least 4 times the number of commands, so
// that probe runs stay short (init checks the load).
var nameSlots [1024]nameSlot

func addName(name string, c *Command) {
	h := uint32(nameHashSeed)
	for i := 0; i < len(name); i++ {
		h = (h ^ uint32(name[i])) * nameHashPrime
	}
	s := findSlot(h, name)
	if s.cmd != nil {
		panic("BUG: resp command table: duplicate name " + name)
	}
	*s = nameSlot{name: name, cmd: c}
}

// findSlot returns the slot holding name (hashed to h), or the empty slot
// where it belongs.
func findSlot(h uint32, name string) *nameSlot {
	for i := h & nameSlotsMask; ; i = (i + 1) & nameSlotsMask {
		if s := &nameSlots[i]; s.cmd == nil || s.name == name {
			return s
		}
	}
}

// Commands returns the whole table, for listing and tests. Shared: do not
// modify.
func Commands() []Command { return table }

var table []Command

func init() {
	table = make([]Command, len(specs))
	if 4*len(specs) > len(nameSlots) {
		panic("BUG: resp command table: grow nameSlots")
	}
	for i, s := range specs {
		c := &table[i]
		*c = Command{
			Name: s.name, Arity: s.arity,
			FirstKey: s.first, LastKey: s.last, KeyStep: s.step, NumKeysAt: s.numkeys,
			Kind: s.kind, Merge: s.merge, ReadOnly: s.ro, Class: classOf(s.kind, s.ro),
		}
		if s.kind == KindUnsupported {
			c.Reason = s.name + " is not supported by the proxy: " + s.why
			c.reply = []byte("-ERR " + c.Reason + "\r\n")
		}
		if len(s.name) > maxNameLen || strings.ToUpper(s.name) != s.name {
			panic("BUG: resp command table: bad name " + s.name)
		}
		addName(s.name, c)
	}
}
