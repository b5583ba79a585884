package bridge

import (
	"math/rand/v2"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/shmring/shmring/internal/seed"
)

// TestWindowModel checks the dedupe window against a map of every seq
// seen, over a stream with duplicates, reordering within the window and
// losses.
func TestWindowModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(seed.Test(t), 0))
	var w window
	seen := map[uint64]bool{}
	const n = 100000
	var wire []uint64
	for s := uint64(1); s <= n; s++ {
		if rng.IntN(100) == 0 {
			continue // lost
		}
		wire = append(wire, s)
		if rng.IntN(50) == 0 {
			wire = append(wire, s) // duplicated at once
		}
	}
	// Reorder: swap elements at most 1000 apart, and duplicate late.
	for i := range wire {
		if rng.IntN(20) == 0 {
			j := min(len(wire)-1, i+rng.IntN(1000))
			wire[i], wire[j] = wire[j], wire[i]
		}
	}
	for i := 0; i < len(wire); i += 97 {
		if i > 3000 {
			wire = append(wire, wire[i-rng.IntN(3000)])
		}
	}
	// The window starts at the first seq that arrives, as In starts it
	// (not always 1: the reordering may have moved another to the front).
	w.start(wire[0])
	var fresh0, dups int
	for _, s := range wire {
		got := w.observe(s)
		want := fresh
		if seen[s] {
			want = duplicate
		}
		if got != want {
			t.Fatalf("seq %d: verdict %d, want %d (base %d max %d)", s, got, want, w.Base, w.Max)
		}
		if got == fresh {
			w.mark(s)
			seen[s] = true
			fresh0++
		} else {
			dups++
		}
	}
	var missing uint64
	for s := w.First + 1; s < w.Max; s++ { // Missing counts the gaps above First
		if !seen[s] {
			missing++
		}
	}
	if w.Missing != missing {
		t.Fatalf("Missing %d, want %d", w.Missing, missing)
	}
	t.Logf("fresh %d dups %d missing %d late %d", fresh0, dups, w.Missing, w.Late)
}

func TestWindowJoinLate(t *testing.T) {
	var w window
	w.start(1000)
	w.mark(1000)
	if w.observe(999) != fresh { // reordered just before the join
		t.Fatal("999 refused")
	}
	w.mark(999)
	if w.Missing != 0 {
		t.Fatalf("Missing %d", w.Missing)
	}
	if w.observe(1000) != duplicate || w.observe(999) != duplicate {
		t.Fatal("duplicate accepted")
	}
}

func TestIdentityHeaders(t *testing.T) {
	h := nats.Header{}
	setIdentity(h, "host:a:r/1", 42)
	id, ok := identityOf(h)
	if !ok || id.Producer != "host:a:r/1" || id.Seq != 42 || h.Get(HeaderMsgID) != "host:a:r/1:42" {
		t.Fatalf("%v %v %v", id, ok, h)
	}
	for _, bad := range []nats.Header{{}, {HeaderProducer: {"p"}}, {HeaderProducer: {"p"}, HeaderSeq: {"x"}}, {HeaderProducer: {"p"}, HeaderSeq: {"0"}}} {
		if _, ok := identityOf(bad); ok {
			t.Fatalf("accepted %v", bad)
		}
	}
}

// TestWindowHoles: a seq redelivered long after the window slid past it
// (JetStream redelivers after the ack wait) is still accepted, once.
func TestWindowHoles(t *testing.T) {
	var w window
	w.start(1)
	for s := uint64(1); s <= 3*WindowSize; s++ {
		if s >= 100 && s < 140 {
			continue // held back
		}
		if w.observe(s) != fresh {
			t.Fatalf("seq %d refused", s)
		}
		w.mark(s)
	}
	if w.Missing != 40 || w.NHoles != 40 {
		t.Fatalf("Missing %d holes %d, want 40", w.Missing, w.NHoles)
	}
	for s := uint64(100); s < 140; s++ {
		if w.observe(s) != fresh {
			t.Fatalf("late seq %d refused", s)
		}
		w.mark(s)
		if w.observe(s) != duplicate {
			t.Fatalf("seq %d accepted twice", s)
		}
	}
	if w.Missing != 0 || w.NHoles != 0 || w.observe(5) != duplicate {
		t.Fatalf("Missing %d holes %d", w.Missing, w.NHoles)
	}
}
