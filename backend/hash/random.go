package hash

import "math/rand/v2"

// randomUpdate builds the random continuum as twemproxy's random_update:
// each live server once, in server order, whatever its weight.
func randomUpdate(nodes []Node, live []bool) []int32 {
	var index []int32
	for i := range nodes {
		if isLive(live, i) {
			index = append(index, int32(i))
		}
	}
	return index
}

// randomPick is random_dispatch: a uniformly random live server. twemproxy
// uses random(); the sequence cannot be reproduced and need not be.
func (s *Selector) randomPick() int {
	return int(s.index[rand.Uint32N(uint32(len(s.index)))])
}
