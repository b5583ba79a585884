package fuzz_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/seed"
	"github.com/shmring/shmring/ring"
)

// checkTimeout bounds porcupine on one history; the histories are short,
// so it is only reached if the checker's search explodes.
const checkTimeout = 10 * time.Second

// histories is how many histories each linearizability test checks.
func histories() int {
	if *long {
		return 50_000
	}
	return 1_000
}

// tally counts what a test's histories exercised, so a run that never
// reaches full, empty, EOF or a relaxation says so in its log.
type tally struct {
	histories, ops int
	results        map[string]int
	needed         map[fuzz.Relax]int
}

func newTally() *tally {
	return &tally{results: map[string]int{}, needed: map[fuzz.Relax]int{}}
}

func (t *tally) add(ops []fuzz.Op) {
	t.histories++
	t.ops += len(ops)
	for _, o := range ops {
		t.results[o.Kind.String()+"->"+o.Result.String()]++
	}
}

func (t *tally) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d histories, %d operations;", t.histories, t.ops)
	for _, k := range slices.Sorted(maps.Keys(t.results)) {
		fmt.Fprintf(&b, " %s %d", k, t.results[k])
	}
	b.WriteString("; linearizable as:")
	for _, r := range slices.Sorted(maps.Keys(t.needed)) {
		fmt.Fprintf(&b, " %s %d", r, t.needed[r])
	}
	return b.String()
}

// checkHistory checks ops against the model (strict for SPSC, relaxed for
// MPMC) and, for the tally, finds which relaxations the history needed.
func checkHistory(t *testing.T, tl *tally, h int, capacity int, relax fuzz.Relax, ops []fuzz.Op) {
	t.Helper()
	tl.add(ops)
	if fuzz.IsLinearizable(fuzz.QueueModel(capacity, fuzz.Strict), ops, checkTimeout) {
		tl.needed[fuzz.Strict]++
		return
	}
	if err := fuzz.Check(fuzz.QueueModel(capacity, relax), ops, checkTimeout); err != nil {
		t.Fatalf("history %d (capacity %d, model %s): %v", h, capacity, relax, err)
	}
	r, _ := fuzz.Needed(capacity, ops, checkTimeout)
	tl.needed[r]++
}

// runClients runs each client's workload on its own goroutine, all
// released at once, and returns the first error.
func runClients(clients []*fuzz.Client, handles []ring.Ring, rngs []*rand.Rand, ws []fuzz.Workload) error {
	start := make(chan struct{})
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = clients[i].Run(handles[i], rngs[i], ws[i])
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("client %d: %w", i, err)
		}
	}
	return nil
}

// TestLinearizableMPMC checks short concurrent histories of TryPush,
// TryPop, TryReserve/Commit, TryPeek/Release and Close on small MPMC rings
// over heap memory against a bounded FIFO queue (with the relaxations
// doc.go explains), and that a final drain finds nothing lost.
func TestLinearizableMPMC(t *testing.T) {
	seed := seed.Test(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	tl := newTally()
	for h := range histories() {
		slots := 2 << rng.IntN(2)
		r0, mem := newHeapRing(t, ring.KindMPMC, ring.Config{Slots: slots, SlotSize: fuzz.MsgLen})
		rec := fuzz.NewRecorder(fuzz.ProcessClock())
		n := 3 + rng.IntN(2)
		clients := make([]*fuzz.Client, n)
		handles := make([]ring.Ring, n)
		rngs := make([]*rand.Rand, n)
		ws := make([]fuzz.Workload, n)
		for i := range n {
			clients[i] = rec.Client(i)
			clients[i].Dawdle = runtime.Gosched
			handles[i] = r0
			if rng.IntN(2) == 0 { // a handle of its own, as another process would have
				handles[i] = attachHeapRing(t, ring.KindMPMC, mem)
			}
			rngs[i] = rand.New(rand.NewPCG(seed, uint64(h)<<8|uint64(i)+1))
			ws[i] = fuzz.RandomWorkload(rng, 10, 30)
			ws[i].Gap = runtime.Gosched
		}
		if rng.IntN(5) == 0 {
			c := rng.IntN(n)
			ws[c].CloseAt = rng.IntN(ws[c].Ops)
		}
		if err := runClients(clients, handles, rngs, ws); err != nil {
			t.Fatalf("history %d: %v", h, err)
		}
		if err := rec.Client(n).Drain(r0, slots+1); err != nil {
			t.Fatalf("history %d: drain: %v", h, err)
		}
		checkHistory(t, tl, h, slots, fuzz.Vyukov, rec.Ops())
		for _, r := range handles {
			r.Detach()
		}
	}
	t.Log(tl)
}

// TestLinearizableSPSC is TestLinearizableMPMC for SPSC rings: one
// producer goroutine (which may close the ring) and one consumer, checked
// against the strict queue.
func TestLinearizableSPSC(t *testing.T) {
	seed := seed.Test(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	tl := newTally()
	for h := range histories() {
		slots := 2 << rng.IntN(2)
		r0, mem := newHeapRing(t, ring.KindSPSC, ring.Config{Slots: slots, SlotSize: fuzz.MsgLen})
		cons := r0 // one handle may serve both sides
		if rng.IntN(2) == 0 {
			cons = attachHeapRing(t, ring.KindSPSC, mem)
		}
		rec := fuzz.NewRecorder(fuzz.ProcessClock())
		clients := []*fuzz.Client{rec.Client(0), rec.Client(1)}
		ws := []fuzz.Workload{fuzz.RandomWorkload(rng, 10, 30), fuzz.RandomWorkload(rng, 10, 30)}
		ws[0].PushBias, ws[1].PushBias = 1, 0
		for i := range clients {
			clients[i].Dawdle = runtime.Gosched
			ws[i].Gap = runtime.Gosched
		}
		if rng.IntN(5) == 0 {
			ws[0].CloseAt = rng.IntN(ws[0].Ops)
		}
		rngs := []*rand.Rand{rand.New(rand.NewPCG(seed, uint64(h)<<8|1)), rand.New(rand.NewPCG(seed, uint64(h)<<8|2))}
		if err := runClients(clients, []ring.Ring{r0, cons}, rngs, ws); err != nil {
			t.Fatalf("history %d: %v", h, err)
		}
		if err := rec.Client(2).Drain(cons, slots+1); err != nil {
			t.Fatalf("history %d: drain: %v", h, err)
		}
		checkHistory(t, tl, h, slots, fuzz.Strict, rec.Ops())
		r0.Detach()
		cons.Detach()
	}
	t.Log(tl)
}
