package fuzz_test

import (
	"math/rand/v2"
	"testing"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/seed"
)

type report struct {
	consumer   int
	start, end uint64
	floor      bool // a floor at start rather than a range
}

func TestLedger(t *testing.T) {
	tests := []struct {
		name    string
		reports []report
		sent    uint64
		want    fuzz.Counts
	}{
		{"interleaved", []report{{0, 0, 3, false}, {1, 3, 5, false}, {0, 5, 6, false}, {1, 6, 10, false}}, 10, fuzz.Counts{Delivered: 10}},
		{"out of step", []report{{1, 3, 5, false}, {1, 6, 10, false}, {0, 0, 3, false}, {0, 5, 6, false}}, 10, fuzz.Counts{Delivered: 10}},
		{"duplicated across consumers", []report{{0, 0, 6, false}, {1, 4, 10, false}}, 10, fuzz.Counts{Delivered: 10, Duplicated: 2}},
		{"gap", []report{{0, 0, 3, false}, {1, 5, 10, false}}, 10, fuzz.Counts{Delivered: 8, Lost: 2}},
		{"tail lost", []report{{0, 0, 3, false}, {1, 3, 8, false}}, 10, fuzz.Counts{Delivered: 8, Lost: 2}},
		{"unsent", []report{{0, 0, 12, false}}, 10, fuzz.Counts{Delivered: 10, Unsent: 2}},
		{"floor proves a gap early", []report{{0, 0, 3, false}, {0, 7, 8, false}, {1, 5, 0, true}}, 8, fuzz.Counts{Delivered: 4, Lost: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := fuzz.NewLedger()
			if err := l.AddStream(7, []int{0, 1}); err != nil {
				t.Fatal(err)
			}
			for _, r := range tt.reports {
				var err error
				if r.floor {
					err = l.Floor(r.consumer, 7, r.start)
				} else {
					err = l.Deliver(r.consumer, 7, r.start, r.end)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			l.Done(0)
			l.Done(1)
			got, err := l.Finish(7, tt.sent)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestLedgerRejects(t *testing.T) {
	l := fuzz.NewLedger()
	if err := l.AddStream(1, []int{0}); err != nil {
		t.Fatal(err)
	}
	if err := l.Deliver(1, 1, 0, 1); err == nil {
		t.Error("delivery by a consumer not registered for the stream accepted")
	}
	if err := l.Deliver(0, 2, 0, 1); err == nil {
		t.Error("delivery of an unknown stream accepted")
	}
	if err := l.Deliver(0, 1, 5, 6); err != nil {
		t.Fatal(err)
	}
	if err := l.Deliver(0, 1, 2, 3); err == nil {
		t.Error("decreasing report accepted")
	}
	if _, err := l.Finish(1, 6); err == nil {
		t.Error("Finish before the consumer is done accepted")
	}
}

// TestLedgerRandom splits [0, n) among consumers in random runs, reports
// them in a random interleaving with valid floors, and checks the account,
// then the same with one number dropped and one duplicated.
func TestLedgerRandom(t *testing.T) {
	seed := seed.Test(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	for iter := range 200 {
		const consumers = 3
		n := uint64(1 + rng.IntN(5000))
		var per [consumers][]report
		for s := uint64(0); s < n; {
			e := min(n, s+1+uint64(rng.IntN(8)))
			c := rng.IntN(consumers)
			per[c] = append(per[c], report{c, s, e, false})
			s = e
		}
		mutate := iter % 3 // 0 none, 1 drop a number, 2 duplicate a run
		var want fuzz.Counts
		switch mutate {
		case 0:
			want = fuzz.Counts{Delivered: n}
		case 1:
			c := rng.IntN(consumers)
			if len(per[c]) == 0 {
				want = fuzz.Counts{Delivered: n}
				break
			}
			per[c][rng.IntN(len(per[c]))].start++ // drop the run's first number
			want = fuzz.Counts{Delivered: n - 1, Lost: 1}
		case 2:
			c := rng.IntN(consumers)
			d := (c + 1) % consumers
			if len(per[c]) == 0 {
				want = fuzz.Counts{Delivered: n}
				break
			}
			r := per[c][rng.IntN(len(per[c]))]
			// Give consumer d a copy of r, inserted where its order allows.
			i := 0
			for i < len(per[d]) && per[d][i].start < r.start {
				i++
			}
			if i > 0 && per[d][i-1].end > r.start || i < len(per[d]) && per[d][i].start < r.end {
				want = fuzz.Counts{Delivered: n} // would overlap d's own runs; skip
				break
			}
			per[d] = append(per[d][:i], append([]report{{d, r.start, r.end, false}}, per[d][i:]...)...)
			want = fuzz.Counts{Delivered: n, Duplicated: r.end - r.start}
		}
		l := fuzz.NewLedger()
		if err := l.AddStream(0, []int{0, 1, 2}); err != nil {
			t.Fatal(err)
		}
		var pos [consumers]int
		for {
			var live []int
			for c := range consumers {
				if pos[c] < len(per[c]) {
					live = append(live, c)
				}
			}
			if len(live) == 0 {
				break
			}
			c := live[rng.IntN(len(live))]
			r := per[c][pos[c]]
			pos[c]++
			if err := l.Deliver(c, 0, r.start, r.end); err != nil {
				t.Fatal(err)
			}
			if pos[c] < len(per[c]) && rng.IntN(4) == 0 { // a valid floor: at most its next report
				if err := l.Floor(c, 0, per[c][pos[c]].start-min(per[c][pos[c]].start, uint64(rng.IntN(3)))); err != nil {
					t.Fatal(err)
				}
			}
		}
		for c := range consumers {
			l.Done(c)
		}
		got, err := l.Finish(0, n)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("iteration %d (n %d, mutation %d): got %+v, want %+v", iter, n, mutate, got, want)
		}
	}
}
