package ring

import (
	"sync/atomic"
	"testing"

	"github.com/shmring/shmring/internal/seed"
)

// kinds enumerates the two ring kinds for table tests.
var kinds = []struct {
	name string
	kind ringKind
}{{"SPSC", kindSPSC}, {"MPMC", kindMPMC}}

// newHeapRing builds a ring of the given kind over heap memory (NewHeap),
// where the race detector sees every access.
func newHeapRing(t testing.TB, kind ringKind, cfg Config) (Ring, []byte) {
	t.Helper()
	r, mem, err := NewHeap(kind.region(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, mem
}

// attachHeap attaches another handle to a heap ring.
func attachHeap(t testing.TB, kind ringKind, mem []byte) Ring {
	t.Helper()
	r, err := Attach(mem, kind.region())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testSeed is seed.Test: a seed from SHMRING_SEED or a random one, logged
// so that a failure can be replayed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	return seed.Test(t)
}

func loadU32(p *uint32) uint32 { return atomic.LoadUint32(p) }
func loadU64(p *uint64) uint64 { return atomic.LoadUint64(p) }
