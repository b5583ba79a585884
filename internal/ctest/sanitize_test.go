package ctest

import (
	"testing"

	"github.com/shmring/shmring/ring"
)

// TestSanitizers runs the C side built with -fsanitize=address,undefined
// (every finding fatal) through a stream in each direction, the
// malformed-arena table, and record streams both ways in both layouts.
func TestSanitizers(t *testing.T) {
	tool := ctool(t, true)
	t.Run("GoToC/SPSC", func(t *testing.T) { goToC(t, tool, ring.KindSPSC, 20000) })
	t.Run("CToGo/MPMC", func(t *testing.T) { cToGo(t, tool, ring.KindMPMC, 20000) })
	t.Run("GoToC/MPMC", func(t *testing.T) { goToC(t, tool, ring.KindMPMC, 20000) })
	t.Run("CToGo/SPSC", func(t *testing.T) { cToGo(t, tool, ring.KindSPSC, 20000) })
	t.Run("Malformed", func(t *testing.T) { malformed(t, tool) })
	for _, rc := range recCases {
		t.Run("Records/GoToC/"+rc.name, func(t *testing.T) { recGoToC(t, tool, rc, 10000) })
		t.Run("Records/CToGo/"+rc.name, func(t *testing.T) { recCToGo(t, tool, rc, 10000) })
	}
}
