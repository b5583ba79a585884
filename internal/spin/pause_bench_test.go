package spin

import (
	"runtime"
	"testing"
)

// The benchmarks report the cost of one hint on this machine; compare
// BenchmarkPause with BenchmarkGosched, the fallback a spin loop uses when
// there is no hint, in the same run. They are measurements, never
// assertions.

func BenchmarkPause(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Pause()
	}
}

func BenchmarkPauseN(b *testing.B) {
	const n = 16
	b.Run("16", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			PauseN(n)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/hint")
	})
}

func BenchmarkGosched(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		runtime.Gosched()
	}
}
