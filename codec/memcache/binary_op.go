package memcache

// Opcode is a binary protocol command opcode.
type Opcode uint8

// Binary opcodes (binary protocol spec, plus memcached's gatk/gatkq).
const (
	OpGet        Opcode = 0x00
	OpSet        Opcode = 0x01
	OpAdd        Opcode = 0x02
	OpReplace    Opcode = 0x03
	OpDelete     Opcode = 0x04
	OpIncrement  Opcode = 0x05
	OpDecrement  Opcode = 0x06
	OpQuit       Opcode = 0x07
	OpFlush      Opcode = 0x08
	OpGetQ       Opcode = 0x09
	OpNoop       Opcode = 0x0a
	OpVersion    Opcode = 0x0b
	OpGetK       Opcode = 0x0c
	OpGetKQ      Opcode = 0x0d
	OpAppend     Opcode = 0x0e
	OpPrepend    Opcode = 0x0f
	OpStat       Opcode = 0x10
	OpSetQ       Opcode = 0x11
	OpAddQ       Opcode = 0x12
	OpReplaceQ   Opcode = 0x13
	OpDeleteQ    Opcode = 0x14
	OpIncrementQ Opcode = 0x15
	OpDecrementQ Opcode = 0x16
	OpQuitQ      Opcode = 0x17
	OpFlushQ     Opcode = 0x18
	OpAppendQ    Opcode = 0x19
	OpPrependQ   Opcode = 0x1a
	OpVerbosity  Opcode = 0x1b
	OpTouch      Opcode = 0x1c
	OpGAT        Opcode = 0x1d
	OpGATQ       Opcode = 0x1e
	OpSASLList   Opcode = 0x20
	OpSASLAuth   Opcode = 0x21
	OpSASLStep   Opcode = 0x22
	OpGATK       Opcode = 0x23
	OpGATKQ      Opcode = 0x24
)

type opFlags uint16

const (
	opKnown        opFlags = 1 << iota // a memcache opcode
	opSupported                        // the proxy serves it
	opQuiet                            // the quiet variant
	opKeyRequired                      // MUST have a key
	opValueAllowed                     // MAY have a value
	opExtras0                          // MUST NOT have extras
	opExtras4                          // extras are 4 bytes (exptime)
	opExtras8                          // extras are 8 bytes (flags, exptime)
	opExtras20                         // extras are 20 bytes (delta, initial, exptime)
	opGetQuiet                         // quiet get: reply on a hit only
)

type opInfo struct {
	name  string
	flags opFlags
	base  Opcode // the non-quiet opcode
}

const (
	fGet   = opKnown | opSupported | opKeyRequired | opExtras0
	fStore = opKnown | opSupported | opKeyRequired | opValueAllowed | opExtras8
	fDel   = opKnown | opSupported | opKeyRequired | opExtras0
	fArith = opKnown | opSupported | opKeyRequired | opExtras20
	fBare  = opKnown | opSupported | opExtras0
	fCat   = opKnown | opSupported | opKeyRequired | opValueAllowed | opExtras0
	fTouch = opKnown | opSupported | opKeyRequired | opExtras4
	fUnsup = opKnown
)

var opTable = [256]opInfo{
	OpGet:        {"get", fGet, OpGet},
	OpSet:        {"set", fStore, OpSet},
	OpAdd:        {"add", fStore, OpAdd},
	OpReplace:    {"replace", fStore, OpReplace},
	OpDelete:     {"delete", fDel, OpDelete},
	OpIncrement:  {"incr", fArith, OpIncrement},
	OpDecrement:  {"decr", fArith, OpDecrement},
	OpQuit:       {"quit", fBare, OpQuit},
	OpFlush:      {"flush", fUnsup, OpFlush},
	OpGetQ:       {"getq", fGet | opQuiet | opGetQuiet, OpGet},
	OpNoop:       {"noop", fBare, OpNoop},
	OpVersion:    {"version", fBare, OpVersion},
	OpGetK:       {"getk", fGet, OpGetK},
	OpGetKQ:      {"getkq", fGet | opQuiet | opGetQuiet, OpGetK},
	OpAppend:     {"append", fCat, OpAppend},
	OpPrepend:    {"prepend", fCat, OpPrepend},
	OpStat:       {"stat", fUnsup, OpStat},
	OpSetQ:       {"setq", fStore | opQuiet, OpSet},
	OpAddQ:       {"addq", fStore | opQuiet, OpAdd},
	OpReplaceQ:   {"replaceq", fStore | opQuiet, OpReplace},
	OpDeleteQ:    {"deleteq", fDel | opQuiet, OpDelete},
	OpIncrementQ: {"incrq", fArith | opQuiet, OpIncrement},
	OpDecrementQ: {"decrq", fArith | opQuiet, OpDecrement},
	OpQuitQ:      {"quitq", fBare | opQuiet, OpQuit},
	OpFlushQ:     {"flushq", fUnsup | opQuiet, OpFlush},
	OpAppendQ:    {"appendq", fCat | opQuiet, OpAppend},
	OpPrependQ:   {"prependq", fCat | opQuiet, OpPrepend},
	OpVerbosity:  {"verbosity", fUnsup, OpVerbosity},
	OpTouch:      {"touch", fTouch, OpTouch},
	OpGAT:        {"gat", fTouch, OpGAT},
	OpGATQ:       {"gatq", fTouch | opQuiet | opGetQuiet, OpGAT},
	OpSASLList:   {"sasl_list", fUnsup, OpSASLList},
	OpSASLAuth:   {"sasl_auth", fUnsup, OpSASLAuth},
	OpSASLStep:   {"sasl_step", fUnsup, OpSASLStep},
	OpGATK:       {"gatk", fTouch, OpGATK},
	OpGATKQ:      {"gatkq", fTouch | opQuiet | opGetQuiet, OpGATK},
}

// String returns the opcode's name, or "unknown".
func (op Opcode) String() string {
	if n := opTable[op].name; n != "" {
		return n
	}
	return "unknown"
}

// Known reports whether op is a memcache binary opcode.
func (op Opcode) Known() bool { return opTable[op].flags&opKnown != 0 }

// Supported reports whether the proxy serves op.
func (op Opcode) Supported() bool { return opTable[op].flags&opSupported != 0 }

// Quiet reports a quiet opcode: the server sends no reply on success, except
// that quiet gets (QuietGet) reply on a hit and stay silent on a miss. Errors
// are always answered.
func (op Opcode) Quiet() bool { return opTable[op].flags&opQuiet != 0 }

// QuietGet reports getq, getkq, gatq and gatkq: a reply only on a hit.
func (op Opcode) QuietGet() bool { return opTable[op].flags&opGetQuiet != 0 }

// Loud returns the non-quiet opcode of op (op itself when not quiet or unknown).
func (op Opcode) Loud() Opcode {
	if op.Known() {
		return opTable[op].base
	}
	return op
}

// HasKey reports whether op carries a key.
func (op Opcode) HasKey() bool { return opTable[op].flags&opKeyRequired != 0 }
