// Package loadgen is the engine behind ferry-bench: a pipelined, allocation-free
// load generator for Redis (RESP), memcache text and memcache binary servers.
//
// Each "thread" is one goroutine that drives its connections in lock step: it
// encodes and writes one pipeline batch on every connection, then reads every
// batch's replies in order. Requests are encoded into reused buffers and replies
// are parsed in place from a bufio.Reader, so the steady state allocates nothing.
package loadgen

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Protocol selects the wire protocol.
type Protocol string

// Supported protocols.
const (
	ProtoRedis          Protocol = "redis"
	ProtoMemcache       Protocol = "memcache"
	ProtoMemcacheBinary Protocol = "memcache_binary"
)

// KeyPattern selects how key numbers are drawn.
type KeyPattern byte

// Key patterns, named after memtier_benchmark's letters.
const (
	PatternRandom     KeyPattern = 'R' // uniform in [KeyMin, KeyMax]
	PatternGaussian   KeyPattern = 'G' // normal around KeyMedian with KeyStddev, redrawn until in range
	PatternSequential KeyPattern = 'S' // each connection walks the range from its own offset
)

// Config is a complete description of one run. The zero value is not valid;
// start from DefaultConfig.
type Config struct {
	Protocol   Protocol      `json:"protocol"`
	Server     string        `json:"server"`
	Port       int           `json:"port"`
	UnixSocket string        `json:"unix_socket,omitempty"`
	Threads    int           `json:"threads"`
	Clients    int           `json:"clients"` // connections per thread
	Pipeline   int           `json:"pipeline"`
	TestTime   time.Duration `json:"-"`
	Requests   int64         `json:"requests,omitempty"` // per connection; used when TestTime == 0

	KeyPrefix   string     `json:"key_prefix"`
	KeyMin      uint64     `json:"key_minimum"`
	KeyMax      uint64     `json:"key_maximum"`
	SetPattern  KeyPattern `json:"-"`
	GetPattern  KeyPattern `json:"-"`
	KeyMedian   float64    `json:"key_median,omitempty"` // 0: middle of the range
	KeyStddev   float64    `json:"key_stddev,omitempty"` // 0: range/6
	DataSize    int        `json:"data_size"`
	RatioSet    int        `json:"ratio_set"`
	RatioGet    int        `json:"ratio_get"`
	MultiKeyGet int        `json:"multi_key_get"`

	// Command, when set, replaces the SET/GET mix with one Redis command
	// template; tokens "__key__" and "__data__" are replaced per request.
	Command           string     `json:"command,omitempty"`
	CommandKeyPattern KeyPattern `json:"-"`

	Seed           uint64        `json:"seed"`
	ConnectTimeout time.Duration `json:"-"`
	Label          string        `json:"label,omitempty"`
}

// DefaultConfig mirrors memtier_benchmark's defaults where the flags overlap.
func DefaultConfig() Config {
	return Config{
		Protocol:          ProtoRedis,
		Server:            "127.0.0.1",
		Port:              6379,
		Threads:           4,
		Clients:           50,
		Pipeline:          1,
		Requests:          10000,
		KeyPrefix:         "memtier-",
		KeyMin:            0,
		KeyMax:            10000000,
		SetPattern:        PatternRandom,
		GetPattern:        PatternRandom,
		DataSize:          32,
		RatioSet:          1,
		RatioGet:          10,
		MultiKeyGet:       1,
		CommandKeyPattern: PatternRandom,
		Seed:              1,
		ConnectTimeout:    5 * time.Second,
	}
}

// Addr is the dial target: "unix" socket path or host:port.
func (c *Config) Addr() (network, addr string) {
	if c.UnixSocket != "" {
		return "unix", c.UnixSocket
	}
	return "tcp", netJoin(c.Server, c.Port)
}

func netJoin(host string, port int) string {
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		return "[" + host + "]:" + strconv.Itoa(port)
	}
	return host + ":" + strconv.Itoa(port)
}

// ParseKeyPattern parses memtier's "SET:GET" form, e.g. "R:R" or "S:G".
func ParseKeyPattern(s string) (set, get KeyPattern, err error) {
	parts := strings.Split(s, ":")
	if len(parts) != 2 {
		return 0, 0, fmt.Errorf("key pattern %q: want SET:GET, e.g. R:R", s)
	}
	if set, err = parseOnePattern(parts[0]); err != nil {
		return 0, 0, err
	}
	if get, err = parseOnePattern(parts[1]); err != nil {
		return 0, 0, err
	}
	return set, get, nil
}

func parseOnePattern(s string) (KeyPattern, error) {
	switch strings.ToUpper(s) {
	case "R":
		return PatternRandom, nil
	case "G":
		return PatternGaussian, nil
	case "S":
		return PatternSequential, nil
	}
	return 0, fmt.Errorf("key pattern %q: want R, G or S", s)
}

// ParseRatio parses "SET:GET", e.g. "1:10" or "0:1".
func ParseRatio(s string) (set, get int, err error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("ratio %q: want SET:GET, e.g. 1:10", s)
	}
	if set, err = strconv.Atoi(a); err != nil || set < 0 {
		return 0, 0, fmt.Errorf("ratio %q: bad SET part", s)
	}
	if get, err = strconv.Atoi(b); err != nil || get < 0 {
		return 0, 0, fmt.Errorf("ratio %q: bad GET part", s)
	}
	if set+get == 0 {
		return 0, 0, fmt.Errorf("ratio %q: both parts are zero", s)
	}
	return set, get, nil
}

// Validate checks the configuration and fills derived defaults.
func (c *Config) Validate() error {
	switch c.Protocol {
	case ProtoRedis, ProtoMemcache, ProtoMemcacheBinary:
	default:
		return fmt.Errorf("protocol %q: want redis, memcache or memcache_binary", c.Protocol)
	}
	if c.Threads < 1 || c.Clients < 1 || c.Pipeline < 1 {
		return errors.New("threads, clients and pipeline must be >= 1")
	}
	if c.TestTime <= 0 && c.Requests < 1 {
		return errors.New("need --test-time > 0 or --requests >= 1")
	}
	if c.KeyMax < c.KeyMin {
		return errors.New("key-maximum < key-minimum")
	}
	if c.DataSize < 0 {
		return errors.New("data-size must be >= 0")
	}
	if c.RatioSet < 0 || c.RatioGet < 0 || c.RatioSet+c.RatioGet == 0 {
		return errors.New("ratio: both parts zero or negative")
	}
	if c.MultiKeyGet < 1 {
		return errors.New("multi-key-get must be >= 1")
	}
	if c.Protocol == ProtoMemcache || c.Protocol == ProtoMemcacheBinary {
		if c.Command != "" {
			return errors.New("--command is only supported with --protocol redis")
		}
		if strings.ContainsAny(c.KeyPrefix, " \t\r\n") {
			return errors.New("memcache keys may not contain whitespace")
		}
		if len(c.KeyPrefix)+20 > 250 {
			return errors.New("key prefix too long for memcache (250 byte keys)")
		}
	}
	if c.Command != "" {
		if _, err := parseTemplate(c.Command); err != nil {
			return err
		}
	}
	for _, p := range []KeyPattern{c.SetPattern, c.GetPattern, c.CommandKeyPattern} {
		switch p {
		case PatternRandom, PatternGaussian, PatternSequential:
		default:
			return fmt.Errorf("bad key pattern %q", rune(p))
		}
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	return nil
}

// KeyPatternString renders the patterns as memtier does ("R:R").
func (c *Config) KeyPatternString() string {
	return string([]byte{byte(c.SetPattern), ':', byte(c.GetPattern)})
}
