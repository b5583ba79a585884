package spin

import (
	"math"
	"runtime"
	"testing"
)

func TestPauseReturns(t *testing.T) {
	Pause()
}

func TestPauseN(t *testing.T) {
	for _, n := range []int{0, -1, math.MinInt, 1, 2, 1000} {
		PauseN(n) // must return; n <= 0 issues no hint and must not loop
	}
}

func TestPauseZeroAllocs(t *testing.T) {
	if a := testing.AllocsPerRun(100, func() { Pause(); PauseN(4) }); a != 0 {
		t.Fatalf("Pause+PauseN allocate %v times per call, want 0", a)
	}
}

func TestHintKnown(t *testing.T) {
	switch Hint {
	case "PAUSE", "YIELD", "none":
	default:
		t.Fatalf("Hint = %q, want PAUSE, YIELD or none", Hint)
	}
	t.Logf("GOARCH=%s Hint=%s", runtime.GOARCH, Hint)
}
