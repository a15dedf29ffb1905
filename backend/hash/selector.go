package hash

import (
	"strconv"
	"strings"
)

// Node is one server of a pool, as configured.
type Node struct {
	Name   string // the optional name after "host:port:weight"; "" if not configured
	Host   string // host, or the socket path for a unix socket
	Port   int    // 0 for a unix socket
	Addr   string // host:port, or the unix socket path
	Weight int    // > 0
}

// unix reports whether n is a unix socket server; twemproxy decides this by
// the config string starting with '/'.
func (n *Node) unix() bool {
	if n.Addr != "" {
		return n.Addr[0] == '/'
	}
	return strings.HasPrefix(n.Host, "/")
}

// ketamaName returns the string twemproxy uses for n's ketama points
// (server->name, set in conf_add_server):
//   - the configured name if there is one;
//   - else "host" when the port is 11211 (libmemcached compatibility);
//   - else "host:port";
//   - for a unix socket without a name, "path:": twemproxy takes the address
//     plus one byte for a port separator, which is the ':' before the weight.
//
// "host:port" is built from Host and Port; twemproxy copies the config text,
// so a port written with leading zeros ("6379" vs "06379") would differ.
func (n *Node) ketamaName() string {
	switch {
	case n.Name != "":
		return n.Name
	case n.unix():
		path := n.Addr
		if path == "" {
			path = n.Host
		}
		return path + ":"
	case n.Port == 11211:
		return n.Host
	default:
		return n.Host + ":" + strconv.Itoa(n.Port)
	}
}

type distKind uint8

const (
	distKetama distKind = iota
	distModula
	distRandom
)

// Selector maps a key to the index of a server in its pool, as twemproxy's
// server_pool_idx does. It is immutable after NewSelector, safe for
// concurrent use, and Pick does not allocate. Build a new Selector when a
// server is ejected or comes back.
type Selector struct {
	dist    distKind
	fn      Func
	nserver int      // configured servers, live or not
	nlive   int      // live servers
	values  []uint32 // ketama: point values, ascending
	index   []int32  // ketama: server of values[i]; modula and random: the continuum
}

// NewSelector builds the continuum of distribution ("ketama", "modula" or
// "random") over the live servers, as twemproxy's ketama_update,
// modula_update and random_update do. live[i] == false means nodes[i] is
// ejected and not on the continuum; a nil live means every node is live.
// fn is the pool's hash; it may be nil for random, which hashes nothing.
func NewSelector(distribution string, fn Func, nodes []Node, live []bool) (*Selector, error) {
	s := &Selector{fn: fn, nserver: len(nodes)}
	switch distribution {
	case "ketama":
		s.dist = distKetama
	case "modula":
		s.dist = distModula
	case "random":
		s.dist = distRandom
	default:
		return nil, ErrDistribution
	}
	if len(nodes) == 0 {
		return nil, ErrNoServers
	}
	if live != nil && len(live) != len(nodes) {
		return nil, ErrLive
	}
	if fn == nil && s.dist != distRandom {
		return nil, ErrNoFunc
	}
	for i := range nodes {
		if nodes[i].Weight <= 0 {
			return nil, ErrWeight
		}
		if live == nil || live[i] {
			s.nlive++
		}
	}
	if s.nlive == 0 {
		return s, nil
	}
	switch s.dist {
	case distKetama:
		s.values, s.index = ketamaUpdate(nodes, live)
	case distModula:
		s.index = modulaUpdate(nodes, live)
	case distRandom:
		s.index = randomUpdate(nodes, live)
	}
	return s, nil
}

// Pick returns the index in nodes of the server for key, or -1 when no
// server is live. key must already be reduced by HashTag.
//
// Like twemproxy, a pool of one configured server always gets index 0
// without hashing, an empty key hashes to 0 rather than to fn(""), and
// random hashes nothing.
func (s *Selector) Pick(key []byte) int {
	if s.nlive == 0 {
		return -1
	}
	if s.nserver == 1 {
		return 0
	}
	if s.dist == distRandom {
		return s.randomPick()
	}
	var h uint32
	if len(key) > 0 {
		h = s.fn(key)
	}
	return s.PickHash(h)
}

// PickHash is Pick for a key whose hash is h.
func (s *Selector) PickHash(h uint32) int {
	if s.nlive == 0 {
		return -1
	}
	if s.nserver == 1 {
		return 0
	}
	switch s.dist {
	case distKetama:
		return s.ketamaPick(h)
	case distModula:
		return s.modulaPick(h)
	default:
		return s.randomPick()
	}
}

// Live returns the number of live servers, those on the continuum.
func (s *Selector) Live() int { return s.nlive }

func isLive(live []bool, i int) bool { return live == nil || live[i] }
