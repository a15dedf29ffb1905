package main

// The targets the suite measures (direct access, nutcracker, the ferry
// variants), and starting their processes.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// endpoint is where a target serves one protocol family.
type endpoint struct {
	port    int
	proc    *child // the proxy process; nil for direct
	backend *child // for direct: the backend server, whose syscalls are counted
	na      string // why the target does not serve this family
	fail    string // why the proxy failed to start (not a refusal of the protocol)
}

// counted is the process whose system calls a run against ep counts: the
// proxy, or for direct access the backend; nil for none.
func (ep *endpoint) counted() *child {
	if ep.proc != nil {
		return ep.proc
	}
	return ep.backend
}

// skip reports whether runs against the endpoint are impossible.
func (ep *endpoint) skip() bool { return ep == nil || ep.na != "" || ep.fail != "" }

// Target is direct backend access, one nutcracker, or one ferry setting.
type Target struct {
	Name  string
	Kind  string // "direct", "nutcracker", "ferry"
	Desc  string // command line, for the report
	Label string // for tables where it differs from Name
	// Threads is ferry's --threads; Scope its pools' server_connections_scope
	// ("" leaves the key out: connections per event loop).
	Threads int
	Scope   string
	// base is the per-loop target a hand-off variant is compared with.
	base *Target
	eps  map[string]*endpoint
	// argv is the proxy's command line for a config file; tag names its log.
	argv func(conf, tag string) []string
}

func (t Target) label() string {
	if t.Label != "" {
		return t.Label
	}
	return t.Name
}

// handoffName names the hand-off variant: --threads 2, and with
// server_connections: 1 and server_connections_scope: process one loop
// owns the server's connection and the other hands its requests over.
const (
	handoffName    = "ferry-t2-handoff"
	handoffLabel   = "ferry t2 hand-off (1 conn/server)"
	handoffThreads = 2
	handoffScope   = "process"
)

// variantRefusal turns a variant's refusal of the family's config into a
// failure when its per-loop twin serves the family: the hand-off variant
// refusing server_connections_scope (a ferry that predates the key) is a
// failed row with ferry's message, not a protocol ferry does not serve.
func variantRefusal(t *Target, fam string) {
	ep := t.eps[fam]
	if t.base == nil || ep == nil || ep.na == "" || t.base.eps[fam].skip() {
		return
	}
	ep.fail, ep.na = ep.na, ""
}

// ferryTargets lists the ferry settings to measure: one per --threads entry,
// connections per event loop, then (with handoff) the hand-off variant,
// preceded by a per-loop target of the same --threads when the list has
// none.
func ferryTargets(threads []int, handoff bool) []*Target {
	var out []*Target
	var perLoop *Target
	add := func(n int) *Target {
		t := &Target{Name: "ferry-t" + strconv.Itoa(n), Kind: "ferry", Threads: n}
		out = append(out, t)
		if n == handoffThreads {
			perLoop = t
		}
		return t
	}
	for _, n := range threads {
		add(n)
	}
	if handoff {
		if perLoop == nil {
			add(handoffThreads)
		}
		out = append(out, &Target{Name: handoffName, Label: handoffLabel, Kind: "ferry",
			Threads: handoffThreads, Scope: handoffScope, base: perLoop})
	}
	return out
}

// ferryArgv fills in a ferry target's command line and description.
func (s *suite) ferryArgv(t *Target) {
	t.eps = map[string]*endpoint{}
	n := strconv.Itoa(t.Threads)
	t.Desc = fmt.Sprintf("%s -c CONF --threads %s -v 4 --admin 127.0.0.1:FREE_PORT -s FREE_PORT -a 127.0.0.1 (the last two when this ferry has them)", s.opt.ferry, n)
	if t.Scope != "" {
		t.Desc += "; the pool config adds server_connections_scope: " + t.Scope
	}
	t.argv = func(conf, _ string) []string {
		return append([]string{s.opt.ferry, "-c", conf, "--threads", n, "-v", "4"}, s.ferryPorts()...)
	}
}

// ferryPorts gives ferry free ports for the listeners it opens besides the
// pools (admin HTTP, twemproxy stats), as nutcracker gets -s; a ferry that
// predates those flags gets none.
func (s *suite) ferryPorts() []string {
	if s.ferryHelp == "" {
		out, _ := exec.Command(s.opt.ferry, "--help").CombinedOutput()
		s.ferryHelp = string(out) + " "
	}
	var a []string
	if strings.Contains(s.ferryHelp, "--admin") {
		p, _ := freePort()
		a = append(a, "--admin", "127.0.0.1:"+strconv.Itoa(p))
	}
	if strings.Contains(s.ferryHelp, "--stats-port") {
		p, _ := freePort()
		a = append(a, "-s", strconv.Itoa(p), "-a", "127.0.0.1")
	}
	return a
}

// startProxy writes the family's pool config (with t's connection scope)
// with a fresh listen port and starts t's proxy on it; name tags its files.
// A proxy that exits (refuses the config) gives an n/a endpoint, not an
// error.
func (s *suite) startProxy(t *Target, name, fam string) (*endpoint, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(s.dir, name+"-"+fam+".yml")
	if err := os.WriteFile(conf, []byte(poolConfig(fam, port, s.bport[fam], t.Scope)), 0o644); err != nil {
		return nil, err
	}
	c, err := s.kids.start(name+"-"+fam, t.argv(conf, name+"-"+fam)...)
	if err != nil {
		return nil, err
	}
	err = waitListening(c, port, 5*time.Second)
	if errors.Is(err, errExited) {
		why := c.logTail(2)
		if why == "" {
			why = fmt.Sprint(c.err)
		}
		if !refusal.MatchString(why) {
			s.logf("%s failed to start for the %s pool: %s", name, fam, why)
			return &endpoint{fail: name + " failed to start: " + why}, nil
		}
		s.logf("%s refuses the %s pool: %s", name, fam, why)
		return &endpoint{na: name + " refused the config: " + why}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s (%s): %v: %s", name, fam, err, c.logTail(3))
	}
	s.logf("%s serves %s on 127.0.0.1:%d (pid %d)", name, fam, port, c.pid())
	return &endpoint{port: port, proc: c}, nil
}
