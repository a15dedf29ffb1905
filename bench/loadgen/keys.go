package loadgen

import (
	"math"
	"math/rand/v2"
)

// keyGen draws key numbers for one connection. It is not safe for concurrent use.
type keyGen struct {
	rng     *rand.Rand
	min     uint64
	span    uint64 // KeyMax-KeyMin+1; 0 means the full uint64 range
	median  float64
	stddev  float64
	seqNext [3]uint64 // per pattern user (set, get, command), offset from min
}

// key users, indexes into seqNext.
const (
	userSet = iota
	userGet
	userCmd
)

func newKeyGen(cfg *Config, connIndex, totalConns int) *keyGen {
	g := &keyGen{
		rng:  rand.New(rand.NewPCG(cfg.Seed, uint64(connIndex)+1)),
		min:  cfg.KeyMin,
		span: cfg.KeyMax - cfg.KeyMin + 1,
	}
	lo, hi := float64(cfg.KeyMin), float64(cfg.KeyMax)
	g.median = cfg.KeyMedian
	if g.median == 0 {
		g.median = lo + (hi-lo)/2
	}
	g.stddev = cfg.KeyStddev
	if g.stddev == 0 {
		g.stddev = (hi - lo) / 6
	}
	// Sequential walkers start spread over the range so connections do not
	// all hit the same keys.
	var start uint64
	if g.span != 0 && totalConns > 0 {
		start = uint64(float64(g.span) * float64(connIndex) / float64(totalConns))
	}
	for i := range g.seqNext {
		g.seqNext[i] = start
	}
	return g
}

func (g *keyGen) next(p KeyPattern, user int) uint64 {
	switch p {
	case PatternSequential:
		v := g.seqNext[user]
		g.seqNext[user]++
		if g.span != 0 && g.seqNext[user] >= g.span {
			g.seqNext[user] = 0
		}
		return g.min + v
	case PatternGaussian:
		if g.span == 1 {
			return g.min
		}
		lo, hi := float64(g.min), float64(g.min+g.span-1)
		for range 64 {
			v := math.Round(g.rng.NormFloat64()*g.stddev + g.median)
			if v >= lo && v <= hi {
				return uint64(v)
			}
		}
		return uint64(g.median)
	default:
		if g.span == 0 {
			return g.rng.Uint64()
		}
		return g.min + g.rng.Uint64N(g.span)
	}
}
