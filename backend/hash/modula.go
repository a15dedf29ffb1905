package hash

// modulaUpdate builds the modula continuum as twemproxy's modula_update: in
// server order, each live server appears once per unit of its weight
// (weights 1,2,3 give [0 1 1 2 2 2]).
func modulaUpdate(nodes []Node, live []bool) []int32 {
	var index []int32
	for i := range nodes {
		if !isLive(live, i) {
			continue
		}
		for range nodes[i].Weight {
			index = append(index, int32(i))
		}
	}
	return index
}

// modulaPick is modula_dispatch: the continuum entry at h modulo its length.
func (s *Selector) modulaPick(h uint32) int {
	return int(s.index[h%uint32(len(s.index))])
}
