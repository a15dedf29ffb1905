package memcache

// TextCmd is a text protocol command the proxy serves.
type TextCmd uint8

// Text commands. CmdNone is the zero value.
const (
	CmdNone TextCmd = iota
	CmdGet
	CmdGets
	CmdGat
	CmdGats
	CmdSet
	CmdAdd
	CmdReplace
	CmdAppend
	CmdPrepend
	CmdCas
	CmdIncr
	CmdDecr
	CmdDelete
	CmdTouch
	CmdVersion
	CmdQuit
	numTextCmds
)

var textCmdNames = [numTextCmds]string{
	CmdNone: "", CmdGet: "get", CmdGets: "gets", CmdGat: "gat", CmdGats: "gats",
	CmdSet: "set", CmdAdd: "add", CmdReplace: "replace", CmdAppend: "append",
	CmdPrepend: "prepend", CmdCas: "cas", CmdIncr: "incr", CmdDecr: "decr",
	CmdDelete: "delete", CmdTouch: "touch", CmdVersion: "version", CmdQuit: "quit",
}

// String returns the command's name as sent on the wire.
func (c TextCmd) String() string {
	if c < numTextCmds {
		return textCmdNames[c]
	}
	return "unknown"
}

// IsRetrieval reports get, gets, gat and gats: commands with any number of
// keys whose reply is VALUE blocks then END.
func (c TextCmd) IsRetrieval() bool { return c >= CmdGet && c <= CmdGats }

// IsStorage reports set, add, replace, append, prepend and cas: commands
// followed by a data block.
func (c TextCmd) IsStorage() bool { return c >= CmdSet && c <= CmdCas }

// HasKey reports whether the command carries at least one key.
func (c TextCmd) HasKey() bool { return c >= CmdGet && c <= CmdTouch }

// lookupTextCmd maps a command token to a command. unsupported is true for
// memcache commands the proxy does not serve. The switch on string(tok) does
// not allocate.
func lookupTextCmd(tok []byte) (cmd TextCmd, unsupported bool) {
	switch string(tok) {
	case "get":
		return CmdGet, false
	case "gets":
		return CmdGets, false
	case "gat":
		return CmdGat, false
	case "gats":
		return CmdGats, false
	case "set":
		return CmdSet, false
	case "add":
		return CmdAdd, false
	case "replace":
		return CmdReplace, false
	case "append":
		return CmdAppend, false
	case "prepend":
		return CmdPrepend, false
	case "cas":
		return CmdCas, false
	case "incr":
		return CmdIncr, false
	case "decr":
		return CmdDecr, false
	case "delete":
		return CmdDelete, false
	case "touch":
		return CmdTouch, false
	case "version":
		return CmdVersion, false
	case "quit":
		return CmdQuit, false
	case "stats", "flush_all", "verbosity", "slabs", "lru", "lru_crawler",
		"watch", "shutdown", "cache_memlimit", "misbehave", "extstore",
		"debugtime", "debugitem", "mg", "ms", "md", "ma", "mn", "me":
		return CmdNone, true
	}
	return CmdNone, false
}
