package fuzz

// A tally counts how many times each number of a numbered stream was
// delivered, whatever the order of the deliveries, in memory proportional
// to the number of places where that count changes (a gap, a duplicate)
// rather than to the number of messages. The Ledger (ledger.go) needs each
// consumer's numbers in increasing order and a fixed set of consumers;
// the crash campaign (fuzz/cmd/crash) has neither: a message a killed
// consumer held is redelivered to another one out of order, and every
// restarted consumer is a new reporter. It tallies instead, and judges
// each count at the end against what the crash contract allows.
//
// Invariants, per stream:
//
//   - Every number below base has its count in runs: runs cover [0, base)
//     without gaps or overlaps, in order, and no two adjacent runs have
//     the same count (they are merged).
//   - Numbers in [base, base+window) are counted in win, a circular array
//     of 8-bit counts (saturating at 255) indexed by number mod window;
//     cells of numbers at or above hi are zero.
//   - base <= hi, hi is one past the highest number delivered (or base).
//
// A delivery at or above base+window slides the window up: the numbers
// that fall out of it move to runs. A delivery below base (a straggler:
// further behind the highest number than the window) splits and
// increments runs, which costs a binary search and a copy of the runs
// behind it; the window is sized so that this is rare.

import (
	"slices"
	"sort"
)

// DefaultTallyWindow is the window NewTally(0) uses: deliveries of a
// stream up to this far below its highest number so far cost O(1).
const DefaultTallyWindow = 1 << 16

// Run is a range [Start, End) of a stream's numbers that were each
// delivered N times.
type Run struct {
	Start, End uint64
	N          uint32
}

// Tally counts deliveries of numbered streams; see the comment above. It
// is not safe for concurrent use.
type Tally struct {
	window  uint64
	streams map[uint32]*tallyStream
}

type tallyStream struct {
	runs []Run
	base uint64
	hi   uint64
	win  []uint8
}

// NewTally returns an empty tally whose window is window numbers (rounded
// up to a power of two; 0 means DefaultTallyWindow).
func NewTally(window int) *Tally {
	w := uint64(DefaultTallyWindow)
	if window > 0 {
		w = 1
		for w < uint64(window) {
			w <<= 1
		}
	}
	return &Tally{window: w, streams: map[uint32]*tallyStream{}}
}

func (t *Tally) stream(s uint32) *tallyStream {
	st := t.streams[s]
	if st == nil {
		st = &tallyStream{win: make([]uint8, t.window)}
		t.streams[s] = st
	}
	return st
}

// Add counts one delivery of each number in [start, end) of stream.
func (t *Tally) Add(stream uint32, start, end uint64) {
	if end <= start {
		return
	}
	st := t.stream(stream)
	if start < st.base {
		st.addRuns(start, min(end, st.base))
		start = min(end, st.base)
	}
	mask := t.window - 1
	for n := start; n < end; n++ {
		if n >= st.base+t.window {
			st.slide(n - t.window + 1)
		}
		if c := &st.win[n&mask]; *c < 255 {
			*c++
		}
		st.hi = max(st.hi, n+1)
	}
}

// Runs returns stream's counts as runs covering [0, h), h one past the
// highest number delivered, adjacent runs with different counts (a
// stream never delivered has none). Numbers from h on were delivered 0
// times.
func (t *Tally) Runs(stream uint32) []Run {
	st := t.streams[stream]
	if st == nil {
		return nil
	}
	st.slide(st.hi)
	return slices.Clone(st.runs)
}

// Streams lists the streams delivered at least once, in increasing order.
func (t *Tally) Streams() []uint32 {
	out := make([]uint32, 0, len(t.streams))
	for s := range t.streams {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// slide moves the numbers below b out of the window into runs.
func (st *tallyStream) slide(b uint64) {
	if b <= st.base {
		return
	}
	mask := uint64(len(st.win) - 1)
	for n := st.base; n < min(b, st.hi); n++ {
		c := &st.win[n&mask]
		st.appendRun(n, n+1, uint32(*c))
		*c = 0
	}
	if b > st.hi {
		st.appendRun(max(st.base, st.hi), b, 0)
		st.hi = b
	}
	st.base = b
}

func (st *tallyStream) appendRun(s, e uint64, n uint32) {
	if k := len(st.runs); k > 0 && st.runs[k-1].End == s && st.runs[k-1].N == n {
		st.runs[k-1].End = e
		return
	}
	st.runs = append(st.runs, Run{s, e, n})
}

// addRuns counts a delivery of [s, e), e <= base, in runs.
func (st *tallyStream) addRuns(s, e uint64) {
	i := st.split(s)
	j := st.split(e)
	for k := i; k < j; k++ {
		if st.runs[k].N < 255 {
			st.runs[k].N++
		}
	}
	// Merge equal neighbours in [i-1, j+1).
	lo, hi := max(i-1, 0), min(j+1, len(st.runs))
	out := st.runs[:lo]
	for _, r := range st.runs[lo:hi] {
		if k := len(out); k > 0 && out[k-1].N == r.N && out[k-1].End == r.Start {
			out[k-1].End = r.End
			continue
		}
		out = append(out, r)
	}
	st.runs = append(out, st.runs[hi:]...)
}

// split makes x (<= base) a run boundary and returns the index of the run
// that starts at x (len(runs) if x == base).
func (st *tallyStream) split(x uint64) int {
	i := sort.Search(len(st.runs), func(i int) bool { return st.runs[i].End > x })
	if i == len(st.runs) || st.runs[i].Start == x {
		return i
	}
	r := st.runs[i]
	st.runs = slices.Insert(st.runs, i+1, Run{x, r.End, r.N})
	st.runs[i].End = x
	return i + 1
}
