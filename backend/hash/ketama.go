package hash

import (
	"cmp"
	"math"
	"slices"
	"strconv"
)

const (
	ketamaPointsPerServer = 160 // at equal weights
	ketamaPointsPerHash   = 4   // one MD5 digest gives four points
	ketamaMaxNameLen      = 272 // twemproxy's snprintf buffer is 273 bytes
)

type ketamaPoint struct {
	value uint32
	index int32
}

// ketamaUpdate builds the ketama continuum over the live nodes, as
// twemproxy's ketama_update:
//
//   - a live server gets floor(weight/total × 160/4 × nlive) × 4 points,
//     computed in float32 as twemproxy does (total is the live weight).
//     Equal weights usually give 160 points, but 156 for 25, 47, 50, 55,
//     61, ... live servers, where the float32 product falls just under 40;
//     so ejecting or restoring a server can change every server's points;
//   - point names are "NAME-0", "NAME-1", ... (see Node.ketamaName),
//     truncated to 272 bytes, and each name's MD5 digest gives four points,
//     its four little-endian words;
//   - points are sorted by value. twemproxy uses glibc qsort, a merge sort
//     at these sizes, so equal values keep server order: a stable sort.
func ketamaUpdate(nodes []Node, live []bool) ([]uint32, []int32) {
	var total uint32
	nlive := 0
	for i := range nodes {
		if isLive(live, i) {
			total += uint32(nodes[i].Weight)
			nlive++
		}
	}
	var points []ketamaPoint
	name := make([]byte, 0, ketamaMaxNameLen+16)
	for i := range nodes {
		if !isLive(live, i) {
			continue
		}
		n := ketamaPointCount(uint32(nodes[i].Weight), total, nlive)
		base := nodes[i].ketamaName()
		for p := range n / ketamaPointsPerHash {
			name = append(name[:0], base...)
			name = append(name, '-')
			name = strconv.AppendUint(name, uint64(p), 10)
			if len(name) > ketamaMaxNameLen {
				name = name[:ketamaMaxNameLen]
			}
			for _, v := range ketamaHashes(name) {
				points = append(points, ketamaPoint{value: v, index: int32(i)})
			}
		}
	}
	slices.SortStableFunc(points, func(a, b ketamaPoint) int { return cmp.Compare(a.value, b.value) })
	values := make([]uint32, len(points))
	index := make([]int32, len(points))
	for i, p := range points {
		values[i], index[i] = p.value, p.index
	}
	return values, index
}

// ketamaPointCount is twemproxy's
//
//	floorf((float)(pct * 160 / 4 * (float)nlive + 0.0000000001)) * 4
//
// with pct = (float)weight / (float)total. The products are float32; the
// addition is in double and rounded back to float32. Each step is converted
// explicitly so the compiler cannot fuse or widen it.
func ketamaPointCount(weight, total uint32, nlive int) uint32 {
	pct := float32(weight) / float32(total)
	f := float32(float32(pct*ketamaPointsPerServer)/ketamaPointsPerHash) * float32(nlive)
	f = float32(float64(f) + 0.0000000001)
	return uint32(math.Floor(float64(f))) * ketamaPointsPerHash
}

// ketamaPick is ketama_dispatch: the server of the first point whose value
// is >= h, wrapping to the first point.
func (s *Selector) ketamaPick(h uint32) int {
	lo, hi := 0, len(s.values)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.values[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(s.values) {
		lo = 0
	}
	return int(s.index[lo])
}
