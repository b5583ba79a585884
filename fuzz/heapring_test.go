package fuzz_test

import (
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// heapPad is the padding unit of heap rings (a cache line and then some,
// as an arena's would be).
const heapPad = 128

// newHeapRing builds a ring of kind (ring.KindSPSC or ring.KindMPMC) over
// heap memory through the public API only, sized with ring.Size, so the
// race detector sees every access. It returns the creating handle and the
// memory, for attachHeapRing.
func newHeapRing(t testing.TB, kind arena.Kind, cfg ring.Config) (ring.Ring, []byte) {
	t.Helper()
	size, err := ring.Size(kind, cfg, heapPad)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, size)
	var r ring.Ring
	if kind == ring.KindSPSC {
		r, err = ring.NewSPSC(mem, cfg, heapPad)
	} else {
		r, err = ring.NewMPMC(mem, cfg, heapPad)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, mem
}

// attachHeapRing attaches another handle to a ring newHeapRing built, as
// another process would.
func attachHeapRing(t testing.TB, kind arena.Kind, mem []byte) ring.Ring {
	t.Helper()
	var r ring.Ring
	var err error
	if kind == ring.KindSPSC {
		r, err = ring.AttachSPSC(mem)
	} else {
		r, err = ring.AttachMPMC(mem)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}
