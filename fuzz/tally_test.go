package fuzz_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/seed"
)

func TestTally(t *testing.T) {
	tl := fuzz.NewTally(4)
	for _, r := range [][2]uint64{{0, 3}, {5, 6}, {2, 4}, {20, 21}, {1, 2}, {3, 3}} {
		tl.Add(9, r[0], r[1])
	}
	want := []fuzz.Run{{0, 1, 1}, {1, 3, 2}, {3, 4, 1}, {4, 5, 0}, {5, 6, 1}, {6, 20, 0}, {20, 21, 1}}
	if got := tl.Runs(9); !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	if got := tl.Runs(8); got != nil {
		t.Errorf("stream never delivered: %v", got)
	}
	if got := tl.Streams(); !slices.Equal(got, []uint32{9}) {
		t.Errorf("streams %v", got)
	}
}

// TestTallyModel checks the tally against a map of counts, with windows
// small enough that most deliveries take the straggler path.
func TestTallyModel(t *testing.T) {
	s := seed.Test(t)
	for _, window := range []int{1, 4, 64, 0} {
		rng := rand.New(rand.NewPCG(s, uint64(window)))
		tl := fuzz.NewTally(window)
		model := map[uint32]map[uint64]uint32{0: {}, 1: {}}
		hi := map[uint32]uint64{}
		for range 5000 {
			st := uint32(rng.IntN(2))
			start := uint64(rng.IntN(2000))
			end := start + uint64(rng.IntN(5))
			tl.Add(st, start, end)
			for n := start; n < end; n++ {
				model[st][n]++
				hi[st] = max(hi[st], n+1)
			}
			if rng.IntN(500) == 0 { // Runs mid-way must not disturb later counting
				tl.Runs(st)
			}
		}
		for st, m := range model {
			runs := tl.Runs(st)
			next := uint64(0)
			for i, r := range runs {
				if r.Start != next || r.End <= r.Start {
					t.Fatalf("window %d stream %d: run %d %+v after %d", window, st, i, r, next)
				}
				if i > 0 && runs[i-1].N == r.N {
					t.Fatalf("window %d stream %d: runs %d and %d not merged: %+v %+v", window, st, i-1, i, runs[i-1], r)
				}
				for n := r.Start; n < r.End; n++ {
					if m[n] != r.N {
						t.Fatalf("window %d stream %d: number %d counted %d, want %d", window, st, n, r.N, m[n])
					}
				}
				next = r.End
			}
			if next != hi[st] {
				t.Fatalf("window %d stream %d: runs end at %d, highest+1 is %d", window, st, next, hi[st])
			}
		}
	}
}
