package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parse parses and validates the contents of a configuration file. file is
// used only in error messages and Config.File. On failure the error is an
// [Errors] holding every problem found, ordered by line.
func Parse(file string, data []byte) (*Config, error) {
	p := &parser{file: file, listenLines: map[*Pool]int{}}
	cfg := p.parse(data)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
		return nil, p.errs
	}
	return cfg, nil
}

// maxUnixPath is the longest unix socket path (sizeof sun_path - 1 on Linux);
// twemproxy rejects longer listen paths.
const maxUnixPath = 107

type parser struct {
	file        string
	errs        Errors
	listenLines map[*Pool]int // line of each pool's listen value
}

func (p *parser) errf(line int, pool, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Pool: pool, Key: key, Reason: fmt.Sprintf(format, args...)})
}

// syntaxError records an error from the YAML parser, with its line.
//
// yaml.v3 reports a parser error at the line where the enclosing construct
// starts (counted from 0), not where the problem is. To point at the right
// line, syntaxError looks for the shortest prefix of the file, in whole lines
// and from a line before the reported one, that fails with the same message:
// a prefix that includes the problem fails like the whole file, a shorter one
// (almost always) parses. The search is binary, so it costs a few parses.
func (p *parser) syntaxError(data []byte, err error) {
	line, msg := splitYAMLError(err)
	lines := bytes.SplitAfter(data, []byte("\n"))
	failsSame := func(n int) bool {
		dec := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:n], nil)))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if err == nil {
				continue
			}
			if errors.Is(err, io.EOF) {
				return false
			}
			_, m := splitYAMLError(err)
			return m == msg
		}
	}
	lo, hi := max(line-1, 1), len(lines)
	if lo <= hi && failsSame(hi) {
		for lo < hi {
			mid := lo + (hi-lo)/2
			if failsSame(mid) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		line = lo
	}
	p.errf(max(line, 1), "", "", "YAML syntax error: %s", msg)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// splitYAMLError splits "yaml: line N: message" into N and message. N is 0
// when the error has no line.
func splitYAMLError(err error) (int, string) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(msg, "yaml: ")
}

func (p *parser) parse(data []byte) *Config {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.errf(1, "", "", "no pools defined (the file is empty)")
		} else {
			p.syntaxError(data, err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p.errf(extra.Line, "", "", "more than one YAML document (only one is allowed)")
		return nil
	} else if !errors.Is(err, io.EOF) {
		p.syntaxError(data, err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		p.errf(1, "", "", "no pools defined")
		return nil
	}
	root := doc.Content[0]
	if p.checkNodes(root); len(p.errs) > 0 {
		return nil
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		p.errf(1, "", "", "no pools defined")
		return nil
	}
	if root.Kind != yaml.MappingNode {
		p.errf(root.Line, "", "", "the file must be a mapping of pool name to pool settings, not %s", kindName(root))
		return nil
	}
	if len(root.Content) == 0 {
		p.errf(root.Line, "", "", "no pools defined")
		return nil
	}

	cfg := &Config{File: p.file}
	names := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errf(k.Line, "", "", "a pool name must be a string, not %s", kindName(k))
			continue
		}
		if k.Value == "" {
			p.errf(k.Line, "", "", "empty pool name")
			continue
		}
		if first, dup := names[k.Value]; dup {
			p.errf(k.Line, k.Value, "", "duplicate pool name (first defined at line %d)", first)
			continue
		}
		names[k.Value] = k.Line
		if pool := p.parsePool(k, v); pool != nil {
			cfg.Pools = append(cfg.Pools, pool)
		}
	}

	// Two pools cannot listen on the same address.
	listens := map[string]*Pool{}
	for _, pool := range cfg.Pools {
		id := pool.ListenNetwork + " " + pool.Listen
		if first, dup := listens[id]; dup {
			p.errf(p.listenLines[pool], pool.Name, "listen", "address %q is already used by pool %q (line %d)", pool.Listen, first.Name, p.listenLines[first])
			continue
		}
		listens[id] = pool
	}
	return cfg
}

// checkNodes rejects the YAML features twemproxy rejects and that would give
// one value two places in the file: anchors, aliases and explicit tags.
func (p *parser) checkNodes(n *yaml.Node) {
	switch {
	case n.Kind == yaml.AliasNode:
		p.errf(n.Line, "", "", "YAML aliases (*%s) are not supported", n.Value)
		return
	case n.Anchor != "":
		p.errf(n.Line, "", "", "YAML anchors (&%s) are not supported", n.Anchor)
	case n.Style&yaml.TaggedStyle != 0:
		p.errf(n.Line, "", "", "explicit YAML tags (%s) are not supported", n.Tag)
	}
	for _, c := range n.Content {
		p.checkNodes(c)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("the value %q", n.Value)
	default:
		return "an unexpected YAML node"
	}
}

// poolParser holds the state of one pool while its keys are read.
type poolParser struct {
	*parser
	pool *Pool
	seen map[string]int // key -> line

	redisSet, protocolSet   bool
	redisLine, protocolLine int
}

type keyHandler func(pp *poolParser, key string, v *yaml.Node)

// keyHandlers has one entry per accepted key: twemproxy's, then ferry's.
var keyHandlers map[string]keyHandler

func init() {
	keyHandlers = map[string]keyHandler{
		// twemproxy (src/nc_conf.c conf_commands)
		"listen":               (*poolParser).setListen,
		"hash":                 (*poolParser).setHash,
		"hash_tag":             (*poolParser).setHashTag,
		"distribution":         (*poolParser).setDistribution,
		"timeout":              msField(func(p *Pool) *time.Duration { return &p.Timeout }),
		"backlog":              intField(func(p *Pool) *int { return &p.Backlog }, 0),
		"client_connections":   intField(func(p *Pool) *int { return &p.ClientConnections }, 0),
		"redis":                (*poolParser).setRedis,
		"tcpkeepalive":         boolField(func(p *Pool) *bool { return &p.TCPKeepalive }),
		"reuseport":            boolField(func(p *Pool) *bool { return &p.ReusePort }),
		"redis_auth":           (*poolParser).setRedisAuth,
		"redis_db":             intField(func(p *Pool) *int { return &p.RedisDB }, 0),
		"preconnect":           boolField(func(p *Pool) *bool { return &p.Preconnect }),
		"auto_eject_hosts":     boolField(func(p *Pool) *bool { return &p.AutoEjectHosts }),
		"server_connections":   intField(func(p *Pool) *int { return &p.ServerConnections }, 1),
		"server_retry_timeout": msField(func(p *Pool) *time.Duration { return &p.ServerRetryTimeout }),
		"server_failure_limit": intField(func(p *Pool) *int { return &p.ServerFailureLimit }, 0),
		"servers":              (*poolParser).setServers,

		// ferry extensions
		"protocol":            (*poolParser).setProtocol,
		"max_request_bytes":   int64Field(func(p *Pool) *int64 { return &p.Limits.MaxRequestBytes }),
		"max_inflight":        intField(func(p *Pool) *int { return &p.Limits.MaxInflight }, 1),
		"max_output_bytes":    int64Field(func(p *Pool) *int64 { return &p.Limits.MaxOutputBytes }),
		"client_idle_timeout": msField(func(p *Pool) *time.Duration { return &p.Limits.ClientIdleTimeout }),
		"max_multibulk_len":   intField(func(p *Pool) *int { return &p.Limits.MaxArrayLen }, 1),
		"max_value_bytes":     intField(func(p *Pool) *int { return &p.Limits.MaxValueBytes }, 1),
	}
}

// Keys returns every key a pool accepts, sorted.
func Keys() []string {
	keys := make([]string, 0, len(keyHandlers))
	for k := range keyHandlers {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (p *parser) parsePool(k, v *yaml.Node) *Pool {
	name := k.Value
	pool := &Pool{
		Name:               name,
		Line:               k.Line,
		Hash:               DefaultHash,
		Distribution:       DefaultDistribution,
		Backlog:            DefaultBacklog,
		Protocol:           ProtocolMemcache,
		ServerConnections:  DefaultServerConnections,
		ServerRetryTimeout: DefaultServerRetryTimeout,
		ServerFailureLimit: DefaultServerFailureLimit,
		Limits:             DefaultLimits(),
	}
	if v.Kind != yaml.MappingNode {
		p.errf(v.Line, name, "", "pool settings must be a mapping of key to value, not %s", kindName(v))
		return nil
	}
	before := len(p.errs)
	pp := &poolParser{parser: p, pool: pool, seen: map[string]int{}}
	for i := 0; i+1 < len(v.Content); i += 2 {
		kn, vn := v.Content[i], v.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			p.errf(kn.Line, name, "", "a key must be a string, not %s", kindName(kn))
			continue
		}
		key := kn.Value
		h, ok := keyHandlers[key]
		if !ok {
			if s := suggest(key); s != "" {
				p.errf(kn.Line, name, key, "unknown key (did you mean %q?)", s)
			} else {
				p.errf(kn.Line, name, key, "unknown key")
			}
			continue
		}
		if first, dup := pp.seen[key]; dup {
			p.errf(kn.Line, name, key, "duplicate key (first at line %d)", first)
			continue
		}
		pp.seen[key] = kn.Line
		h(pp, key, vn)
	}
	pp.finish()
	if len(p.errs) > before {
		return nil
	}
	return pool
}

// finish checks what can only be checked once all keys are read.
func (pp *poolParser) finish() {
	pool := pp.pool
	if _, ok := pp.seen["listen"]; !ok {
		pp.errf(pool.Line, pool.Name, "", "missing required key \"listen\"")
	}
	if _, ok := pp.seen["servers"]; !ok {
		pp.errf(pool.Line, pool.Name, "", "missing required key \"servers\"")
	}
	if pp.redisSet && pp.protocolSet {
		if pool.Redis != (pool.Protocol == ProtocolRedis) {
			pp.errf(pp.protocolLine, pool.Name, "protocol", "protocol %q contradicts \"redis: %t\" (line %d)", pool.Protocol, pool.Redis, pp.redisLine)
		}
	}
	if pp.protocolSet {
		pool.Redis = pool.Protocol == ProtocolRedis
	} else if pool.Redis {
		pool.Protocol = ProtocolRedis
	}
	if line, ok := pp.seen["redis_auth"]; ok && pool.RedisAuth != "" && !pool.Redis {
		pp.errf(line, pool.Name, "redis_auth", "only valid for a redis pool")
	}
}

// scalar returns v's text, or records an error when v is not a scalar.
// Like twemproxy, the text is taken as written: quoting does not matter and
// an empty value is the empty string.
func (pp *poolParser) scalar(key string, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode {
		pp.errf(v.Line, pp.pool.Name, key, "must be a single value, not %s", kindName(v))
		return "", false
	}
	return v.Value, true
}

// parseUint parses a twemproxy number: one or more ASCII digits, nothing else.
func parseUint(s string, max uint64) (uint64, string) {
	if s == "" {
		return 0, "missing value: expected a non-negative integer"
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Sprintf("invalid value %q: expected a non-negative integer", s)
		}
		if n > (max-uint64(c-'0'))/10 {
			return 0, fmt.Sprintf("value %s is out of range (max %d)", s, max)
		}
		n = n*10 + uint64(c-'0')
	}
	return n, ""
}

func (pp *poolParser) uint(key string, v *yaml.Node, max uint64, min uint64) (uint64, bool) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return 0, false
	}
	n, reason := parseUint(s, max)
	if reason != "" {
		pp.errf(v.Line, pp.pool.Name, key, "%s", reason)
		return 0, false
	}
	if n < min {
		pp.errf(v.Line, pp.pool.Name, key, "must be greater than %d", min-1)
		return 0, false
	}
	return n, true
}

// intField handles a twemproxy number (a C int there, so at most MaxInt32).
func intField(field func(*Pool) *int, min uint64) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if n, ok := pp.uint(key, v, math.MaxInt32, min); ok {
			*field(pp.pool) = int(n)
		}
	}
}

func int64Field(field func(*Pool) *int64) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if n, ok := pp.uint(key, v, math.MaxInt64, 1); ok {
			*field(pp.pool) = int64(n)
		}
	}
}

// msField handles a duration given in milliseconds.
func msField(field func(*Pool) *time.Duration) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if n, ok := pp.uint(key, v, math.MaxInt32, 0); ok {
			*field(pp.pool) = time.Duration(n) * time.Millisecond
		}
	}
}

func (pp *poolParser) bool(key string, v *yaml.Node) (bool, bool) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return false, false
	}
	switch s {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	pp.errf(v.Line, pp.pool.Name, key, "invalid value %q: expected true or false", s)
	return false, false
}

func boolField(field func(*Pool) *bool) keyHandler {
	return func(pp *poolParser, key string, v *yaml.Node) {
		if b, ok := pp.bool(key, v); ok {
			*field(pp.pool) = b
		}
	}
}

func (pp *poolParser) setRedis(key string, v *yaml.Node) {
	if b, ok := pp.bool(key, v); ok {
		pp.pool.Redis = b
		pp.redisSet, pp.redisLine = true, v.Line
	}
}

func (pp *poolParser) setProtocol(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	switch s {
	case ProtocolRedis, ProtocolMemcache, ProtocolMemcacheBinary:
		pp.pool.Protocol = s
		pp.protocolSet, pp.protocolLine = true, v.Line
	default:
		pp.errf(v.Line, pp.pool.Name, key, "unknown protocol %q (valid: redis, memcache, memcache_binary)", s)
	}
}

func (pp *poolParser) setRedisAuth(key string, v *yaml.Node) {
	if s, ok := pp.scalar(key, v); ok {
		pp.pool.RedisAuth = s
	}
}

func (pp *poolParser) setHash(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	if !slices.Contains(hashNames, s) {
		pp.errf(v.Line, pp.pool.Name, key, "unknown hash %q (valid: %s)", s, strings.Join(hashNames, ", "))
		return
	}
	pp.pool.Hash = s
}

func (pp *poolParser) setDistribution(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	if !slices.Contains(distributionNames, s) {
		pp.errf(v.Line, pp.pool.Name, key, "unknown distribution %q (valid: %s)", s, strings.Join(distributionNames, ", "))
		return
	}
	pp.pool.Distribution = s
}

func (pp *poolParser) setHashTag(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	if len(s) != 2 {
		pp.errf(v.Line, pp.pool.Name, key, "invalid value %q: must be exactly two bytes (characters), e.g. \"{}\"", s)
		return
	}
	pp.pool.HashTag = s
}

func (pp *poolParser) setListen(key string, v *yaml.Node) {
	s, ok := pp.scalar(key, v)
	if !ok {
		return
	}
	pool := pp.pool
	pp.listenLines[pool] = v.Line
	if s == "" {
		pp.errf(v.Line, pool.Name, key, "missing value: expected \"host:port\" or \"/unix/socket/path [permissions]\"")
		return
	}
	if s[0] == '/' {
		path, perm := s, ""
		if i := strings.LastIndexByte(s, ' '); i >= 0 {
			path, perm = s[:i], s[i+1:]
		}
		if perm != "" || path != s {
			n, err := strconv.ParseUint(perm, 8, 32)
			if err != nil || n > 0o777 {
				pp.errf(v.Line, pool.Name, key, "invalid permissions %q in \"socket_path permissions\": expected octal digits, at most 0777", perm)
				return
			}
			pool.ListenPerm = os.FileMode(n)
		}
		if reason := checkUnixPath(path); reason != "" {
			pp.errf(v.Line, pool.Name, key, "%s", reason)
			return
		}
		pool.Listen, pool.ListenNetwork = path, "unix"
		return
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		pp.errf(v.Line, pool.Name, key, "invalid address %q: expected \"host:port\" or \"/unix/socket/path [permissions]\"", s)
		return
	}
	host, port, reason := hostPort(s[:i], s[i+1:], true)
	if reason != "" {
		pp.errf(v.Line, pool.Name, key, "invalid address %q: %s", s, reason)
		return
	}
	pool.Listen, pool.ListenNetwork = net.JoinHostPort(host, strconv.Itoa(port)), "tcp"
}

func checkUnixPath(path string) string {
	if len(path) > maxUnixPath {
		return fmt.Sprintf("unix socket path %q is too long (%d bytes, max %d)", path, len(path), maxUnixPath)
	}
	if strings.IndexByte(path, 0) >= 0 {
		return fmt.Sprintf("unix socket path %q contains a NUL byte", path)
	}
	return ""
}

// hostPort checks the host and port parts of "host:port". An IPv6 address
// may be written bare ("::1", as twemproxy wants it) or in brackets
// ("[::1]"). An empty host means all interfaces and is allowed only when
// emptyOK.
func hostPort(host, port string, emptyOK bool) (string, int, string) {
	n, reason := parseUint(port, math.MaxUint16)
	if reason != "" || n == 0 {
		return "", 0, fmt.Sprintf("invalid port %q: expected 1-65535", port)
	}
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		inner := host[1 : len(host)-1]
		if a, err := netip.ParseAddr(inner); err != nil || !a.Is6() {
			return "", 0, fmt.Sprintf("invalid IPv6 address %q", host)
		}
		return inner, int(n), ""
	}
	if host == "" {
		if emptyOK {
			return "", int(n), ""
		}
		return "", 0, "missing host"
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, int(n), ""
	}
	if !validHostname(host) {
		return "", 0, fmt.Sprintf("invalid host %q", host)
	}
	return host, int(n), ""
}

// validHostname accepts DNS names (letters, digits, '-', '_', '.'), which is
// all getaddrinfo resolves besides IP addresses.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func (pp *poolParser) setServers(key string, v *yaml.Node) {
	pool := pp.pool
	if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		pp.errf(v.Line, pool.Name, key, "empty server list")
		return
	}
	if v.Kind != yaml.SequenceNode {
		pp.errf(v.Line, pool.Name, key, "must be a list of \"host:port:weight [name]\", not %s", kindName(v))
		return
	}
	if len(v.Content) == 0 {
		pp.errf(v.Line, pool.Name, key, "empty server list")
		return
	}
	idents := map[string]int{}
	for _, item := range v.Content {
		if item.Kind != yaml.ScalarNode {
			pp.errf(item.Line, pool.Name, key, "a server must be a string \"host:port:weight [name]\", not %s", kindName(item))
			continue
		}
		srv, reason := parseServer(item.Value)
		if reason != "" {
			pp.errf(item.Line, pool.Name, key, "%s", reason)
			continue
		}
		srv.Line = item.Line
		if first, dup := idents[srv.Ident]; dup {
			pp.errf(item.Line, pool.Name, key, "server %q has the same name %q as the server at line %d", item.Value, srv.Ident, first)
			continue
		}
		idents[srv.Ident] = item.Line
		pool.Servers = append(pool.Servers, srv)
	}
}

// parseServer parses "host:port:weight [name]" or "/unix/path:weight [name]"
// the way twemproxy does (conf_add_server): from the end, the name after the
// last space, the weight after the last colon, then the port after the colon
// before it.
func parseServer(s string) (Server, string) {
	const format = "expected \"host:port:weight [name]\" or \"/unix/path:weight [name]\""
	var srv Server
	if s == "" {
		return srv, "empty server: " + format
	}
	rest := s
	if i := strings.LastIndexByte(rest, ' '); i >= 0 {
		rest, srv.Name = rest[:i], rest[i+1:]
		if srv.Name == "" {
			return srv, fmt.Sprintf("invalid server %q: empty name after the space", s)
		}
	}
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return srv, fmt.Sprintf("invalid server %q: %s", s, format)
	}
	rest, weight := rest[:i], rest[i+1:]
	w, reason := parseUint(weight, math.MaxInt32)
	if reason != "" {
		return srv, fmt.Sprintf("invalid weight %q in server %q: expected a positive integer", weight, s)
	}
	if w == 0 {
		return srv, fmt.Sprintf("zero weight in server %q: weight must be greater than 0", s)
	}
	srv.Weight = int(w)

	if s[0] == '/' {
		if strings.IndexByte(rest, ':') >= 0 {
			return srv, fmt.Sprintf("invalid server %q: a unix socket path cannot contain ':' (%s)", s, format)
		}
		if reason := checkUnixPath(rest); reason != "" {
			return srv, reason
		}
		srv.Network, srv.Addr, srv.Host = "unix", rest, rest
		srv.Ident = srv.Name
		if srv.Ident == "" {
			// twemproxy names an unnamed unix server by its path plus
			// the colon that follows it.
			srv.Ident = rest + ":"
		}
		return srv, ""
	}

	i = strings.LastIndexByte(rest, ':')
	if i < 0 {
		return srv, fmt.Sprintf("invalid server %q: %s", s, format)
	}
	hostRaw, portRaw := rest[:i], rest[i+1:]
	host, port, reason := hostPort(hostRaw, portRaw, false)
	if reason != "" {
		return srv, fmt.Sprintf("invalid server %q: %s", s, reason)
	}
	srv.Network, srv.Host, srv.Port = "tcp", host, port
	srv.Addr = net.JoinHostPort(host, strconv.Itoa(port))
	switch {
	case srv.Name != "":
		srv.Ident = srv.Name
	case port == 11211:
		srv.Ident = hostRaw
	default:
		srv.Ident = hostRaw + ":" + portRaw
	}
	return srv, ""
}

// suggest returns the known key closest to key when it is a likely typo.
func suggest(key string) string {
	best, bestD := "", 3
	for k := range keyHandlers {
		if d := editDistance(key, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
