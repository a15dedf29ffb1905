package resp

import "testing"

func TestCommandClass(t *testing.T) {
	f := func(name string, want Class) {
		t.Helper()
		c := Lookup([]byte(name))
		if c == nil {
			t.Fatalf("%s: not in the table", name)
		}
		if c.Class != want {
			t.Errorf("%s: class %v, want %v", name, c.Class, want)
		}
	}
	f("get", ClassRead)
	f("HGETALL", ClassRead)
	f("eval_ro", ClassRead)
	f("set", ClassWrite)
	f("incr", ClassWrite)
	f("rename", ClassWrite)
	f("eval", ClassWrite)
	f("mget", ClassMulti)
	f("mset", ClassMulti)
	f("del", ClassMulti)
	f("exists", ClassMulti)
	f("ping", ClassOther)
	f("auth", ClassOther)
	f("multi", ClassOther)
	f("keys", ClassOther)
	for _, c := range Commands() {
		if c.Class >= NumClasses {
			t.Errorf("%s: class %d out of range", c.Name, c.Class)
		}
	}
	if ClassMulti.String() != "multi" || Class(9).String() != "other" {
		t.Errorf("class names: %q %q", ClassMulti, Class(9))
	}
}
