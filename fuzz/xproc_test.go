package fuzz_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/seed"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Cross-process histories: the parent creates rings h0, h1, ... and a
// barrier region in an arena; each child process opens the arena and, for
// each history in turn, meets the others at that history's barrier, runs a
// random workload on the history's ring, and appends its operations
// (stamped with CLOCK_MONOTONIC, which all processes share) to its log
// file. The parent then drains each ring, merges the logs and checks each
// history.
//
// The barrier region holds, per history, an arrival count and a start
// time: the last child to arrive stores a start time a little ahead, and
// every child spins until the clock reaches it, so the workloads overlap
// even though the children arrive at different moments.

const (
	xpRole         = "linearize-mpmc"
	xpBarrierBytes = 16                   // per history: arrivals uint64, start int64
	xpLead         = 2 * time.Millisecond // start time ahead of the last arrival
	xpWait         = 20 * time.Second     // bound on waiting at one barrier
)

func init() { roles[xpRole] = linearizeChild }

// TestLinearizableMPMCProcesses runs histories whose clients are separate
// processes sharing MPMC rings in an arena.
func TestLinearizableMPMCProcesses(t *testing.T) {
	const children = 3
	n := 50
	if *long {
		n = 1000
	}
	seed := seed.Test(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	path := filepath.Join(dir, "arena")
	a, err := arena.Create(path, int64(n)*16<<10+1<<20, arena.WithDirCapacity(n+8))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rings := make([]*ring.MPMC, n)
	slots := make([]int, n)
	for h := range n {
		slots[h] = 2 << rng.IntN(2)
		r, err := ring.CreateMPMC(a, "h"+strconv.Itoa(h), ring.Config{Slots: slots[h], SlotSize: fuzz.MsgLen})
		if err != nil {
			t.Fatal(err)
		}
		rings[h] = r
	}
	if _, err := a.Alloc("barrier", int64(n*xpBarrierBytes), 0); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(2 * time.Minute)
	logs := make([]string, children)
	procs := make([]*xproc.Child, children)
	for i := range children {
		logs[i] = filepath.Join(dir, fmt.Sprintf("child%d.log", i))
		procs[i] = xproc.StartT(t, xpRole, path, logs[i], strconv.Itoa(i), strconv.Itoa(children), strconv.Itoa(n), strconv.FormatUint(seed, 10))
	}
	xproc.WaitAll(t, deadline, procs, nil)

	hist := make([][]fuzz.Op, n)
	for _, l := range logs {
		f, err := os.Open(l)
		if err != nil {
			t.Fatal(err)
		}
		err = fuzz.ReadLog(f, hist)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	tl := newTally()
	for h := range n {
		rec := fuzz.NewRecorder(fuzz.MonotonicClock)
		if err := rec.Client(children).Drain(rings[h], slots[h]+1); err != nil {
			t.Fatalf("history %d: drain: %v", h, err)
		}
		checkHistory(t, tl, h, slots[h], fuzz.Vyukov, append(hist[h], rec.Ops()...))
		rings[h].Detach()
	}
	t.Log(tl)
}

// linearizeChild is a child's body: args are the arena path, the log
// path, the child's index, the number of children and histories, and the
// seed.
func linearizeChild(args []string) error {
	if len(args) != 6 {
		return fmt.Errorf("want 6 arguments, got %q", args)
	}
	idx, err1 := strconv.Atoi(args[2])
	children, err2 := strconv.Atoi(args[3])
	n, err3 := strconv.Atoi(args[4])
	seed, err4 := strconv.ParseUint(args[5], 10, 64)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	a, err := arena.Open(args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	bar, err := a.Lookup("barrier")
	if err != nil {
		return err
	}
	if bar.Size() < int64(n*xpBarrierBytes) {
		return fmt.Errorf("barrier region of %d bytes", bar.Size())
	}
	f, err := os.Create(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	log := fuzz.NewLogWriter(f)
	// A dawdle and a gap of a few microseconds of spinning (a one-goroutine
	// process has nobody to yield to) leave windows in which the other
	// processes' operations land.
	spin := func(d time.Duration) func() {
		return func() {
			for end := fuzz.MonotonicClock() + int64(d); fuzz.MonotonicClock() < end; {
			}
		}
	}
	for h := range n {
		r, err := ring.OpenMPMC(a, "h"+strconv.Itoa(h))
		if err != nil {
			return err
		}
		rng := rand.New(rand.NewPCG(seed, uint64(h)<<8|uint64(idx)+1))
		w := fuzz.RandomWorkload(rng, 10, 30)
		w.Gap = spin(time.Duration(rng.IntN(3000)))
		if h%children == idx && rng.IntN(5) == 0 {
			w.CloseAt = rng.IntN(w.Ops)
		}
		c := fuzz.NewRecorder(fuzz.MonotonicClock).Client(idx)
		c.Dawdle = spin(time.Duration(500 + rng.IntN(5000)))
		b := bar.Bytes()[h*xpBarrierBytes:]
		if err := barrier((*uint64)(unsafe.Pointer(&b[0])), (*int64)(unsafe.Pointer(&b[8])), children); err != nil {
			return fmt.Errorf("history %d: %w", h, err)
		}
		if err := c.Run(r, rng, w); err != nil {
			return fmt.Errorf("history %d: %w", h, err)
		}
		if err := log.Write(h, c.Ops()); err != nil {
			return err
		}
		r.Detach()
	}
	return log.Flush()
}

// barrier waits, at most xpWait, until all children have arrived and the
// start time the last of them set has come.
func barrier(arrived *uint64, start *int64, children int) error {
	// Sequentially consistent add and store: the last arrival's store of
	// the start time is seen by every child that then loads it.
	if atomic.AddUint64(arrived, 1) == uint64(children) {
		atomic.StoreInt64(start, fuzz.MonotonicClock()+int64(xpLead))
	}
	deadline := time.Now().Add(xpWait)
	for {
		if s := atomic.LoadInt64(start); s != 0 {
			for fuzz.MonotonicClock() < s {
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("barrier: %d of %d children after %v", atomic.LoadUint64(arrived), children, xpWait)
		}
		time.Sleep(20 * time.Microsecond)
	}
}
