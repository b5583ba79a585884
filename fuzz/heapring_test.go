package fuzz_test

import (
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// newHeapRing builds a ring of kind (ring.KindSPSC or ring.KindMPMC) over
// heap memory through the public API (ring.NewHeap), so the race detector
// sees every access. It returns the creating handle and the memory, for
// attachHeapRing.
func newHeapRing(t testing.TB, kind arena.Kind, cfg ring.Config) (ring.Ring, []byte) {
	t.Helper()
	r, mem, err := ring.NewHeap(kind, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, mem
}

// attachHeapRing attaches another handle to a ring newHeapRing built, as
// another process would.
func attachHeapRing(t testing.TB, kind arena.Kind, mem []byte) ring.Ring {
	t.Helper()
	r, err := ring.Attach(mem, kind)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
