package memcache

import "testing"

func TestClass(t *testing.T) {
	text := map[TextCmd]Class{
		CmdGet: ClassGet, CmdGets: ClassGet, CmdGat: ClassGet, CmdGats: ClassGet,
		CmdSet: ClassSet, CmdAdd: ClassSet, CmdReplace: ClassSet, CmdAppend: ClassSet,
		CmdPrepend: ClassSet, CmdCas: ClassSet,
		CmdDelete: ClassDelete,
		CmdIncr:   ClassOther, CmdDecr: ClassOther, CmdTouch: ClassOther,
		CmdVersion: ClassOther, CmdQuit: ClassOther, CmdNone: ClassOther,
	}
	for c, want := range text {
		if got := c.Class(); got != want {
			t.Errorf("%v: class %v, want %v", c, got, want)
		}
	}
	bin := map[Opcode]Class{
		OpGet: ClassGet, OpGetQ: ClassGet, OpGetK: ClassGet, OpGetKQ: ClassGet, OpGAT: ClassGet, OpGATKQ: ClassGet,
		OpSet: ClassSet, OpSetQ: ClassSet, OpAdd: ClassSet, OpReplaceQ: ClassSet, OpAppend: ClassSet, OpPrependQ: ClassSet,
		OpDelete: ClassDelete, OpDeleteQ: ClassDelete,
		OpIncrement: ClassOther, OpNoop: ClassOther, OpVersion: ClassOther, OpTouch: ClassOther, Opcode(0xff): ClassOther,
	}
	for op, want := range bin {
		if got := op.Class(); got != want {
			t.Errorf("%v: class %v, want %v", op, got, want)
		}
	}
	if ClassDelete.String() != "delete" {
		t.Errorf("ClassDelete is %q", ClassDelete)
	}
}
