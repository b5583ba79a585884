package atomicx

import (
	"sync/atomic"
	"testing"
)

// The benchmarks compare each candidate with its sync/atomic baseline in the
// same run. They are single-goroutine measurements of issue cost, not of
// cross-core latency, and are never turned into assertions.

var (
	sink64 uint64
	word64 uint64
)

func BenchmarkStore(b *testing.B) {
	b.Run("atomic.Store64", func(b *testing.B) {
		b.ReportAllocs()
		var v uint64
		for b.Loop() {
			v++
			atomic.StoreUint64(&word64, v)
		}
	})
	b.Run("StoreRelease64", func(b *testing.B) {
		b.ReportAllocs()
		var v uint64
		for b.Loop() {
			v++
			StoreRelease64(&word64, v)
		}
	})
	b.Run("StoreRelease64+Fence", func(b *testing.B) {
		b.ReportAllocs()
		var v uint64
		for b.Loop() {
			v++
			StoreRelease64(&word64, v)
			Fence()
		}
	})
	b.Run("plain", func(b *testing.B) {
		b.ReportAllocs()
		var v uint64
		for b.Loop() {
			v++
			word64 = v
		}
	})
}

func BenchmarkLoad(b *testing.B) {
	b.Run("atomic.Load64", func(b *testing.B) {
		b.ReportAllocs()
		var s uint64
		for b.Loop() {
			s += atomic.LoadUint64(&word64)
		}
		sink64 = s
	})
	b.Run("LoadAcquire64", func(b *testing.B) {
		b.ReportAllocs()
		var s uint64
		for b.Loop() {
			s += LoadAcquire64(&word64)
		}
		sink64 = s
	})
}

func BenchmarkFence(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Fence()
	}
}
