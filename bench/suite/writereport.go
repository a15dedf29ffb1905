package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// shellQuote quotes one argument for a POSIX shell when needed.
func shellQuote(a string) string {
	if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:@%+") == "" {
		return a
	}
	return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
}

func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func (s *suite) report(interrupted bool) string {
	var b strings.Builder
	b.WriteString("# ferry benchmark suite\n\n")
	if interrupted {
		b.WriteString("**Interrupted: partial results.**\n\n")
	}
	fmt.Fprintf(&b, "- Date: %s (%s wall time)\n", s.start.UTC().Format("2006-01-02 15:04 MST"), time.Since(s.start).Round(time.Second))
	fmt.Fprintf(&b, "- Machine: %s\n", machineLine())
	cmd := commandLine(os.Args)
	if inv := os.Getenv("FERRY_SUITE_INVOCATION"); inv != "" {
		cmd = inv + "` → `" + cmd
	}
	fmt.Fprintf(&b, "- Command: `%s`\n", cmd)
	mode := ""
	if s.opt.quick {
		mode = " (--quick: smoke test, not for quoting)"
	}
	fmt.Fprintf(&b, "- Runs: %v each, %d repetition(s), medians reported%s; order per repetition: %s\n",
		s.opt.duration, s.opt.reps, mode, strings.Join(s.targetNames(), ", "))
	fmt.Fprintf(&b, "- Load: ferry-bench, %d connections (%d threads × %d), keys 0..N per value size (32 B: 100k keys, 1 KiB: 10k, 16 KiB: 1k), GET keys prefilled\n",
		benchThreads*benchClients, benchThreads, benchClients)
	for _, t := range s.targets {
		if t.Kind != "direct" {
			fmt.Fprintf(&b, "- %s: `%s`\n", t.Name, t.Desc)
		}
	}
	fmt.Fprintf(&b, "- Versions: %s\n", strings.Join(s.versions, "; "))
	b.WriteString("\nCPU µs/req = (utime+stime of the proxy process over the run, from /proc/PID/stat) / requests " +
		"(an MGET/MSET of 10 keys is one request). Ratios are ferry ÷ nutcracker (-v 4) from the same run; " +
		"\"added p99 ferry/nc\" = (ferry p99 − direct p99) ÷ (nutcracker p99 − direct p99). " +
		"Absolute numbers drift ±15% between runs on shared machines: compare ratios. " +
		"n/a = the proxy does not serve that protocol (it refused the config).\n\n")
	if s.sys.available() {
		b.WriteString("syscalls/req = system calls the proxy process made during a run (all its threads; for direct: the backend server's), " +
			"counted by `perf stat -e " + totalEvent + ",syscalls:sys_enter_CALL... -p PID` with its counters enabled only while the load generator runs, ÷ requests. ")
		if s.opt.syscallsInRuns {
			b.WriteString("They are counted in the measured runs (--syscalls-in-runs, which --quick sets): perf's counting costs the counted process " +
				"kernel time on every call, so CPU µs/req is inflated, the more for the proxy that makes more calls. ")
		} else {
			fmt.Fprintf(&b, "They come from one extra run of %v per load and target after its repetitions (redis-benchmark: one extra run per test), "+
				"because perf's counting costs the counted process kernel time on every call: the ops/s, latency and CPU columns come from runs without perf. ",
				s.opt.syscallDuration)
		}
		b.WriteString("The breakdown by call is in the section \"Syscalls per request, by call\" and in the .json.\n\n")
	} else {
		fmt.Fprintf(&b, "syscalls/req: n/a (%s).\n\n", s.sys.reason())
	}

	names := make([]string, len(s.loads))
	for i, l := range s.loads {
		names[i] = l.Name
	}
	ncs := s.targetsOf("nutcracker")
	for _, t := range s.targets {
		if t.Kind != "ferry" || len(names) == 0 {
			continue
		}
		title := fmt.Sprintf("## %s (`--threads %d`", t.Name, t.Threads)
		if t.Scope != "" {
			title = fmt.Sprintf("## %s: %s (`--threads %d`, `server_connections_scope: %s`", t.Name, t.label(), t.Threads, t.Scope)
		}
		b.WriteString(title + ") vs nutcracker -v 4\n\n")
		if !measured(s.res, names, t.Name) {
			b.WriteString("No load measured: see \"Not measured\" below.\n\n")
			continue
		}
		b.WriteString(mainTable(s.res, names, t.Name, ncs))
		b.WriteString("\n")
	}
	for _, t := range s.targets {
		if t.base == nil || len(names) == 0 {
			continue
		}
		fmt.Fprintf(&b, "## `--threads %d`: connections per event loop vs hand-off\n\n", t.Threads)
		fmt.Fprintf(&b, "Both with `server_connections: 1`. %s: each of the %d event loops has its own connection to each server. "+
			"%s: `server_connections_scope: %s`, so one loop owns each server's connection and the other hands its requests over. "+
			"Ratios to nutcracker (-v 4) from the same run.\n\n", t.base.Name, t.Threads, t.label(), t.Scope)
		b.WriteString(handoffTable(s.res, names, *t.base, *t, ncs[0]))
		b.WriteString("\n")
	}
	if notes := naNotes(s.res, names, s.targetNames()); notes != "" {
		b.WriteString("Not measured:\n\n" + notes + "\n")
	}
	if s.sys.available() && len(names) > 0 {
		b.WriteString("## Syscalls per request, by call\n\n")
		b.WriteString("Medians over repetitions. read = read+readv+recvfrom+recvmsg, write(v) = write+writev+sendto+sendmsg, " +
			"epoll_wait = epoll_wait+epoll_pwait+epoll_pwait2, sleep/yield = nanosleep+clock_nanosleep+sched_yield, other = the rest of the total. " +
			"direct = the backend server's own calls.\n\n")
		var tg []Target
		for _, t := range s.targets {
			tg = append(tg, *t)
		}
		b.WriteString(sysTable(s.res, names, tg))
		b.WriteString("\n")
	}

	if len(s.rbRuns) > 0 {
		b.WriteString("## redis-benchmark\n\n")
		fmt.Fprintf(&b, "`redis-benchmark -t set|get -P 1|16 -c 50 -r 100000 -n N --csv`, N = %d at -P1 and %d at -P16 (SET runs first so GETs hit).\n\n",
			rbRequests(rbTests[0], s.opt.quick), rbRequests(rbTests[2], s.opt.quick))
		var tg, ferries []string
		var served []Target
		for _, t := range s.targets {
			if !t.eps[famRedis].skip() {
				tg = append(tg, t.Name)
				served = append(served, *t)
				if t.Kind == "ferry" {
					ferries = append(ferries, t.Name)
				}
			}
		}
		b.WriteString(rbTable(s.rbRes, tg, ferries, ncs[0]))
		b.WriteString("\n")
		if s.sys.available() {
			var rb []string
			for _, t := range rbTests {
				rb = append(rb, t.name())
			}
			b.WriteString("Syscalls per request, by call:\n\n" + sysTable(s.rbRes, rb, served) + "\n")
		}
	}

	if len(s.rss) > 0 || s.hasLoadRSS() {
		b.WriteString("## Memory\n\n")
	}
	if len(s.rss) > 0 {
		fmt.Fprintf(&b, "Idle client connections to the redis pool of a freshly started proxy, opened from the suite (RLIMIT_NOFILE %d). "+
			"KiB/conn = (RSS after − RSS before) / connections; \"after 1 PING\" adds one round trip on each connection, "+
			"which makes proxies that allocate buffers lazily allocate them.\n\n", s.nofile)
		b.WriteString("| proxy | connections | RSS before | RSS idle | idle KiB/conn | RSS after 1 PING each | KiB/conn after PING | peak RSS (VmHWM) |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range s.rss {
			if r.Err != "" && r.IdleKiB == 0 {
				fmt.Fprintf(&b, "| %s | err: %s | | | | | | |\n", r.Target, r.Err)
				continue
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %.2f | %s | %.2f | %s |\n", r.Target, r.Conns,
				fmtKiB(r.BaseKiB), fmtKiB(r.IdleKiB), r.IdlePer, fmtKiB(r.PingKiB), r.PingPer, fmtKiB(r.HWMKiB))
		}
		b.WriteString("\n")
	}
	if s.hasLoadRSS() {
		b.WriteString("RSS under load (median over repetitions of the largest VmRSS sampled every 250 ms during the run):\n\n")
		var loads []string
		for _, l := range s.loads {
			if l.RSS || l.Size >= 16384 && l.Gets {
				loads = append(loads, l.Name)
			}
		}
		var px []string
		for _, t := range s.targets {
			if t.Kind != "direct" {
				px = append(px, t.Name)
			}
		}
		b.WriteString("| load | " + strings.Join(px, " | ") + " |\n|---|" + strings.Repeat("---:|", len(px)) + "\n")
		for _, l := range loads {
			row := []string{l}
			for _, p := range px {
				a, ok := s.res.get(l, p)
				row = append(row, cell(a, ok, func(a Agg) string {
					if math.IsNaN(a.RSSMaxKiB) {
						return "–"
					}
					return fmtKiB(int64(a.RSSMaxKiB))
				}))
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("<details><summary>Pool configuration (the same for both proxies; only listen differs)</summary>\n\n")
	for _, t := range s.targets {
		if t.Scope != "" {
			fmt.Fprintf(&b, "%s adds `server_connections_scope: %s` after `server_connections: 1`.\n\n", t.Name, t.Scope)
		}
	}
	for _, fam := range families {
		if c, ok := s.configs[fam]; ok {
			c = strings.Replace(c, "127.0.0.1:0\n", "127.0.0.1:PORT\n", 1)
			b.WriteString("```yaml\n" + c + "```\n")
		}
	}
	b.WriteString("</details>\n")
	return b.String()
}

func (s *suite) hasLoadRSS() bool {
	for _, l := range s.loads {
		if l.RSS {
			return true
		}
	}
	return false
}

func (s *suite) targetNames() []string {
	out := make([]string, len(s.targets))
	for i, t := range s.targets {
		out[i] = t.Name
	}
	return out
}

func fmtKiB(k int64) string {
	if k >= 10*1024 {
		return strconv.FormatFloat(float64(k)/1024, 'f', 1, 64) + " MiB"
	}
	return strconv.FormatInt(k, 10) + " KiB"
}

// writeReport writes the markdown report and, beside it, the raw runs as JSON.
func (s *suite) writeReport(md string) error {
	if err := os.MkdirAll(filepath.Dir(s.opt.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(s.opt.out, []byte(md), 0o644); err != nil {
		return err
	}
	type sysInfo struct {
		Events []string `json:"events,omitempty"`
		NA     string   `json:"na,omitempty"`
	}
	raw := struct {
		Syscalls       sysInfo  `json:"syscalls"`
		Runs           []Run    `json:"runs"`
		RedisBenchmark []Run    `json:"redis_benchmark"`
		IdleRSS        []rssRow `json:"idle_rss"`
	}{sysInfo{s.sys.events, s.sys.reason()}, jsonSafe(s.runs), jsonSafe(s.rbRuns), s.rss}
	js, err := json.MarshalIndent(raw, "", "  ")
	if err != nil {
		return err
	}
	jsPath := strings.TrimSuffix(s.opt.out, filepath.Ext(s.opt.out)) + ".json"
	if err := os.WriteFile(jsPath, js, 0o644); err != nil {
		return err
	}
	s.logf("wrote %s and %s", s.opt.out, jsPath)
	return nil
}

// jsonSafe replaces NaN (direct runs have no proxy CPU; syscalls not
// counted) by -1, which JSON can carry.
func jsonSafe(rs []Run) []Run {
	out := make([]Run, len(rs))
	for i, r := range rs {
		if math.IsNaN(r.CPUus) {
			r.CPUus = -1
		}
		if math.IsNaN(r.Syscalls) {
			r.Syscalls = -1
		}
		out[i] = r
	}
	return out
}
