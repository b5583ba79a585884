package spin

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/cpu"
)

// BenchmarkWakeRTT measures the wake-up latency of a wait method: two
// goroutines, each locked to a thread pinned to its own CPU where the
// machine allows, bounce a counter through two words on separate cache
// lines, each waiting for the other's store with the method (1 µs budget
// per wait, as the ring's spin phase uses). ns/op is one round trip, i.e.
// two wake-ups and two cache-line transfers. Sub-benchmarks: the process's
// chosen method, the build's basic hint polling (today's spin loop), and
// polling with no hint; compare them within one run. A measurement, never
// an assertion.
func BenchmarkWakeRTT(b *testing.B) {
	basic := Select(cpu.Detect(), "pause").Method // PAUSE, YIELD or none
	variants := []struct {
		name string
		m    Method
	}{
		{"chosen=" + Current().String(), Current()},
		{"poll=" + basic.String(), basic},
		{"poll=none", MethodNone},
	}
	for _, v := range variants {
		b.Run(strings.ReplaceAll(v.name, "/", "+"), func(b *testing.B) { benchPingPong(b, v.m) })
	}
}

func benchPingPong(b *testing.B, m Method) {
	const budget = time.Microsecond
	var ping, pong padded
	n := uint32(min(uint64(b.N), 1<<31))
	deadline := time.Now().Add(20 * time.Second) // a lost store must not hang the run
	var stuck atomic.Bool
	// await waits until *addr is past old; false if the deadline passed.
	await := func(addr *uint32, old uint32) bool {
		for atomic.LoadUint32(addr) == old {
			if !waitChange32(m, addr, old, budget) && time.Now().After(deadline) {
				stuck.Store(true)
				return false
			}
		}
		return true
	}
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	side := func(cpuIdx int, body func()) {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			// Locked and never unlocked: the thread exits with the
			// goroutine, so its pinned affinity never reaches another
			// goroutine.
			runtime.LockOSThread()
			pinThread(cpuIdx)
			ready.Done()
			<-start
			body()
		}()
	}
	side(0, func() { // initiator
		for i := uint32(1); i <= n; i++ {
			atomic.StoreUint32(&ping.v, i) // publishes i to the echo side
			if !await(&pong.v, i-1) {
				return
			}
		}
	})
	side(1, func() { // echo
		for i := uint32(1); i <= n; i++ {
			if !await(&ping.v, i-1) {
				return
			}
			atomic.StoreUint32(&pong.v, i)
		}
	})
	ready.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	done.Wait()
	b.StopTimer()
	if stuck.Load() {
		b.Fatalf("%v: a side saw no store for 20s", m)
	}
}
