package fuzz_test

import (
	"flag"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/shmring/shmring/internal/xproc"
)

var long = flag.Bool("shmring.long", false, "run 50,000 histories per linearizability test instead of 1,000")

// roles holds the child-process bodies of cross-process tests.
var roles = map[string]xproc.Role{}

func TestMain(m *testing.M) {
	// Under the race detector every child would sleep a second on exit.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	xproc.Main(m, roles)
}

// testSeed returns a seed from SHMRING_SEED or a random one, and logs it so
// a failure can be replayed (the operations each client picks replay; the
// interleaving is up to the scheduler).
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
