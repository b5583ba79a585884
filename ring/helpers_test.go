package ring

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
)

// kinds enumerates the two ring kinds for table tests.
var kinds = []struct {
	name string
	kind ringKind
}{{"SPSC", kindSPSC}, {"MPMC", kindMPMC}}

// newHeapRing builds a ring of the given kind over heap memory, where the
// race detector sees every access.
func newHeapRing(t testing.TB, kind ringKind, cfg Config) (Ring, []byte) {
	t.Helper()
	ak := KindSPSC
	if kind == kindMPMC {
		ak = KindMPMC
	}
	size, err := Size(ak, cfg, 128)
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, size)
	var r Ring
	if kind == kindSPSC {
		r, err = NewSPSC(mem, cfg, 128)
	} else {
		r, err = NewMPMC(mem, cfg, 128)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, mem
}

// attachHeap attaches another handle to a heap ring.
func attachHeap(t testing.TB, kind ringKind, mem []byte) Ring {
	t.Helper()
	var r Ring
	var err error
	if kind == kindSPSC {
		r, err = AttachSPSC(mem)
	} else {
		r, err = AttachMPMC(mem)
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testSeed returns a seed from SHMRING_SEED or a random one, and logs it so
// a failure can be replayed.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("SHMRING_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SHMRING_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with SHMRING_SEED=%d)", seed, seed)
	return seed
}

func loadU32(p *uint32) uint32 { return atomic.LoadUint32(p) }
