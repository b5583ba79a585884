package seed

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// Env is the environment variable that overrides the seed.
const Env = "SHMRING_SEED"

// Test returns the seed for t: the value of Env if it is set (decimal, or
// hexadecimal with 0x), otherwise a random one. It logs the seed with the
// command-line setting that replays it, and fails the test if Env is set
// but not a number.
func Test(t testing.TB) uint64 {
	t.Helper()
	s, err := parse(os.Getenv(Env))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d (replay with %s=%d)", s, Env, s)
	return s
}

// parse is the seed that the value v of Env asks for.
func parse(v string) (uint64, error) {
	if v == "" {
		return rand.Uint64(), nil
	}
	s, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", Env, v, err)
	}
	return s, nil
}
