package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// This file parses the address strings of a pool, as twemproxy does:
// `listen` (host:port, or a unix socket path with optional permissions) and
// each `servers` entry ("host:port:weight [name]" or "/path:weight [name]").

// maxUnixPath is the longest unix socket path (sizeof sun_path - 1 on Linux);
// twemproxy rejects longer listen paths.
const maxUnixPath = 107

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
