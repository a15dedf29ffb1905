package hash

import "errors"

var (
	// ErrDistribution is returned by NewSelector for an unknown distribution.
	ErrDistribution = errors.New("ferry: hash: unknown distribution")
	// ErrNoServers is returned by NewSelector for a pool without servers.
	ErrNoServers = errors.New("ferry: hash: pool has no servers")
	// ErrWeight is returned by NewSelector for a server whose weight is not
	// positive (twemproxy refuses a zero weight).
	ErrWeight = errors.New("ferry: hash: server weight must be positive")
	// ErrLive is returned by NewSelector when live and nodes differ in length.
	ErrLive = errors.New("ferry: hash: live must have one entry per node")
	// ErrNoFunc is returned by NewSelector when ketama or modula has no hash.
	ErrNoFunc = errors.New("ferry: hash: distribution needs a hash function")
)
