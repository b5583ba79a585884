package ring

// Cross-process arena safety: a child closes its arena handle under a
// blocked call or under load, or finds the arena file truncated by the
// parent under its live mapping; the child must not fault (it would exit
// with "fatal error: fault"), its calls must fail with the right errors,
// and the parent's side of the rings must be left as a killed process
// would leave it, never corrupt.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-arena-close-blocked"] = xpArenaCloseBlocked
	roles["xp-arena-close-load"] = xpArenaCloseLoad
	roles["xp-truncated"] = xpTruncated
}

// TestXProcArenaCloseWakesBlocked: a child blocked in Pop on an empty ring
// (or Push on a full one) closes its arena handle from another goroutine;
// the call returns ErrClosed and arena.ErrClosed at once, and its futex
// registration left the shared waiter count before the mapping changed
// (the parent sees it gone without any repair). The stream is not ended.
func TestXProcArenaCloseWakesBlocked(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		for _, side := range []string{"pop", "push"} {
			t.Run(kind+"-"+side, func(t *testing.T) {
				name := "blocked-" + kind + "-" + side
				r := xpCreate(t, a, kind, name, Config{Slots: 2, SlotSize: 16})
				defer r.Detach()
				out := xproc.Output(t, xproc.StartT(t, "xp-arena-close-blocked", "path="+path, "ring="+name, "kind="+kind, "side="+side), time.Now().Add(xpChildTimeout))
				t.Logf("child: %s", strings.TrimSpace(out))
				st := r.Stats()
				if st.NotEmptyWaiters != 0 || st.NotFullWaiters != 0 {
					t.Fatalf("waiter counts after the child's arena Close: NotEmpty %d, NotFull %d; want 0 (no stale registration)", st.NotEmptyWaiters, st.NotFullWaiters)
				}
				if st.Closed {
					t.Fatal("the child's arena Close ended the stream")
				}
				buf := make([]byte, 16)
				if side == "push" { // the child filled the ring: it is all there
					for i := 0; i < 2; i++ {
						if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "fill" {
							t.Fatalf("pop %d of the child's messages: %q, %v", i, buf[:n], err)
						}
					}
				}
				if err := r.TryPush([]byte("after")); err != nil {
					t.Fatal(err)
				}
				if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "after" {
					t.Fatalf("pop after the child left: %q, %v", buf[:n], err)
				}
			})
		}
	}
}

// xpArenaCloseBlocked blocks a WaitBlock Pop (side=pop) or Push on a ring
// it filled (side=push) until it sleeps in the futex, then closes its
// arena handle and checks how the call returned. Args: path ring kind side.
func xpArenaCloseBlocked(args []string) error {
	a := xproc.ParseArgs(args)
	ar, r, err := xpOpen(a, a["kind"])
	if err != nil {
		return err
	}
	defer ar.Close()
	defer r.Detach()
	r.SetWaitStrategy(WaitBlock)
	push := a["side"] == "push"
	if push {
		for i := 0; i < r.Slots(); i++ {
			if err := r.TryPush([]byte("fill")); err != nil {
				return err
			}
		}
	}
	done := make(chan error, 1)
	go func() {
		if push {
			done <- r.Push(context.Background(), []byte("late"))
		} else {
			_, err := r.Pop(context.Background(), make([]byte, 16))
			done <- err
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for r.Stats().Sleeps == 0 {
		if time.Now().After(deadline) {
			return errors.New("the call never slept")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // into FUTEX_WAIT
	start := time.Now()
	if err := ar.Close(); err != nil {
		return err
	}
	closeTook := time.Since(start)
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		return errors.New("the blocked call did not return within 5s of the arena's Close")
	}
	if !errors.Is(err, ErrClosed) || !errors.Is(err, arena.ErrClosed) {
		return fmt.Errorf("blocked call after the arena's Close: %v, want ErrClosed and arena.ErrClosed", err)
	}
	fmt.Printf("close_us=%d returned=%q\n", closeTook.Microseconds(), err)
	return nil
}

// TestXProcArenaCloseUnderLoad: a child hammers MPMC and SPSC handles
// (every kind of operation, five goroutines) and closes its arena handle
// in the middle. The child must not fault, and every operation it starts
// after the Close fails with ErrClosed. Meanwhile the parent produces and
// consumes on the same rings through its own arena handle: what the
// child's calls under way left behind is what a killed process leaves
// (docs/ring.md, crash contract), so the parent never sees ErrCorrupt.
func TestXProcArenaCloseUnderLoad(t *testing.T) {
	seed := testSeed(t)
	a, path := xpArena(t, 1<<20)
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	for round := 0; round < rounds; round++ {
		sname, mname := fmt.Sprintf("load-s%d", round), fmt.Sprintf("load-m%d", round)
		sp := xpCreate(t, a, "spsc", sname, Config{Slots: 8, SlotSize: 32})
		mp := xpCreate(t, a, "mpmc", mname, Config{Slots: 8, SlotSize: 32})
		child := xproc.StartT(t, "xp-arena-close-load", "path="+path, "spsc="+sname, "mpmc="+mname,
			"seed="+strconv.FormatUint(seed+uint64(round), 10))
		// The parent: the SPSC ring's consumer (the child produces on
		// it), and a producer and a consumer of the MPMC ring.
		var stop atomic.Bool
		var wg sync.WaitGroup
		errc := make(chan error, 3)
		side := func(what string, op func() error) {
			defer wg.Done()
			for !stop.Load() {
				if err := op(); errors.Is(err, ErrCorrupt) {
					errc <- fmt.Errorf("%s in the parent: %w", what, err)
					return
				}
			}
		}
		buf := make([]byte, 32)
		mbuf := make([]byte, 32)
		wg.Add(3)
		go side("SPSC pop", func() error { _, err := sp.TryPop(buf); return err })
		go side("MPMC push", func() error { return mp.TryPush([]byte("parent")) })
		go side("MPMC pop", func() error { _, err := mp.TryPop(mbuf); return err })
		out := xproc.Output(t, child, time.Now().Add(xpChildTimeout))
		stop.Store(true)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Fatal(err)
		}
		if xproc.Field(out, "load") != "ok" {
			t.Fatalf("child output: %s", out)
		}
		// The child is gone; its entries are dead, the rings still work.
		if st := mp.Stats(); st.Peers != 1 {
			t.Fatalf("MPMC after the child: %d live peers, want 1", st.Peers)
		}
		if err := mp.TryPush([]byte("x")); err != nil && err != ErrFull {
			t.Fatalf("MPMC push after the child: %v", err)
		}
		if _, err := sp.TryPop(buf); err != nil && err != ErrEmpty && err != io.EOF {
			t.Fatalf("SPSC pop after the child: %v", err)
		}
		sp.Detach()
		mp.Detach()
	}
}

// xpArenaCloseLoad opens the rings args[spsc] and args[mpmc] through one
// arena handle, hammers them (hammerUntilClosed: the SPSC producer side,
// and both sides of the MPMC ring from three goroutines), closes the
// arena handle after a few milliseconds, and checks what every goroutine
// saw after the Close. Args: path spsc mpmc seed.
func xpArenaCloseLoad(args []string) error {
	a := xproc.ParseArgs(args)
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	defer ar.Close()
	sp, err := OpenSPSC(ar, a["spsc"])
	if err != nil {
		return err
	}
	defer sp.Close()
	mp, err := OpenMPMC(ar, a["mpmc"])
	if err != nil {
		return err
	}
	defer mp.Close()
	seed := uint64(a.Int("seed"))
	var closed atomic.Bool
	var wg sync.WaitGroup
	errs := make([]error, 4)
	run := func(i int, name string, r Ring, producer, consumer bool) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = hammerUntilClosed(name, r, producer, consumer, seed+uint64(i), &closed)
		}()
	}
	run(0, "SPSC producer", sp, true, false)
	for g := 1; g < 4; g++ {
		run(g, fmt.Sprintf("MPMC %d", g), mp, true, true)
	}
	time.Sleep(time.Duration(2+seed%8) * time.Millisecond)
	if err := ar.Close(); err != nil {
		return err
	}
	closed.Store(true)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println("load=ok")
	return nil
}

// TestXProcTruncated: the parent truncates the arena file under a child's
// live mapping (down to the data area: every ring's pages go). The child,
// which touches nothing meanwhile, finds it with Recover (Truncated), and
// from then on nothing of it faults: every operation on each of its rings
// (through the same arena handle) fails with ErrCorrupt and
// arena.ErrTruncated, a Pop it had asleep in the futex returns that too
// once its sleep ends, and the arena handle refuses its methods with
// arena.ErrTruncated.
func TestXProcTruncated(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, n := range []struct{ kind, name string }{{"spsc", "t-spsc"}, {"mpmc", "t-mpmc"}, {"mpmc", "t-wait"}} {
		xpCreate(t, a, n.kind, n.name, Config{Slots: 8, SlotSize: 32}).Detach()
	}
	dataOff := a.DataOffset()
	if err := a.Close(); err != nil { // the parent must not map what it truncates
		t.Fatal(err)
	}
	child := xproc.StartT(t, "xp-truncated", "path="+path)
	xproc.WaitFor(t, "the child to open the rings", child, func() bool { return strings.Contains(child.Stdout(), "ready") })
	if err := os.Truncate(path, dataOff); err != nil {
		t.Fatal(err)
	}
	out := xproc.Output(t, child, time.Now().Add(xpChildTimeout))
	t.Logf("child: %s", strings.TrimSpace(out))
	if xproc.Field(out, "truncated") != "ok" {
		t.Fatalf("child output: %s", out)
	}
}

// xpTruncated: see TestXProcTruncated. Args: path.
func xpTruncated(args []string) error {
	a := xproc.ParseArgs(args)
	fi, err := os.Stat(a["path"])
	if err != nil {
		return err
	}
	ar, err := arena.Open(a["path"])
	if err != nil {
		return err
	}
	var rings []Ring
	for _, name := range []string{"t-spsc", "t-mpmc", "t-wait"} {
		r, err := Open(ar, name)
		if err != nil {
			return err
		}
		rings = append(rings, r)
	}
	for _, r := range rings[:2] {
		if err := r.TryPush([]byte("before")); err != nil {
			return err
		}
	}
	// A consumer asleep on the empty ring. Its sleep bound is raised so
	// that it stays in the futex until the truncation has been found: a
	// sleeper that wakes first touches its peer entry, whose page is
	// gone, and faults (docs/ring.md says so).
	maxSleep = 500 * time.Millisecond
	w := rings[2]
	w.SetWaitStrategy(WaitBlock)
	done := make(chan error, 1)
	go func() { _, err := w.Pop(context.Background(), make([]byte, 32)); done <- err }()
	deadline := time.Now().Add(10 * time.Second)
	for w.Stats().Sleeps == 0 {
		if time.Now().After(deadline) {
			return errors.New("the Pop never slept")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // into FUTEX_WAIT
	fmt.Println("ready")
	for {
		st, err := os.Stat(a["path"])
		if err != nil {
			return err
		}
		if st.Size() < fi.Size() {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the file was not truncated within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	found := time.Now()
	if rec := rings[0].Recover(); !rec.Truncated {
		return fmt.Errorf("Recover after the truncation: %+v, want Truncated", rec)
	}
	var errs []error
	want := func(what string, err error) {
		if !errors.Is(err, ErrCorrupt) || !errors.Is(err, arena.ErrTruncated) {
			errs = append(errs, fmt.Errorf("%s: %v, want ErrCorrupt and arena.ErrTruncated", what, err))
		}
	}
	buf := make([]byte, 32)
	for i, r := range rings {
		want(fmt.Sprintf("ring %d TryPush", i), r.TryPush([]byte("after")))
		_, err := r.TryPop(buf)
		want(fmt.Sprintf("ring %d TryPop", i), err)
		_, err = r.TryPeek()
		want(fmt.Sprintf("ring %d TryPeek", i), err)
		want(fmt.Sprintf("ring %d CloseWrite", i), r.CloseWrite())
		if rec := r.Recover(); !rec.Truncated {
			errs = append(errs, fmt.Errorf("ring %d Recover: %+v, want Truncated", i, rec))
		}
		if r.Len() != 0 || r.Stats() != (Stats{}) || r.Peers() != nil {
			errs = append(errs, fmt.Errorf("ring %d: Len, Stats or Peers not zero", i))
		}
	}
	_, err = ar.Lookup("t-spsc")
	if !errors.Is(err, arena.ErrTruncated) {
		errs = append(errs, fmt.Errorf("Lookup: %v, want arena.ErrTruncated", err))
	}
	var popErr error
	select {
	case popErr = <-done:
	case <-time.After(5 * time.Second):
		return errors.New("the sleeping Pop did not return within 5s of the truncation")
	}
	woke := time.Since(found)
	want("the sleeping Pop", popErr)
	for i, r := range rings {
		if err := r.Close(); err != nil {
			errs = append(errs, fmt.Errorf("ring %d Close: %v", i, err))
		}
	}
	if err := ar.Close(); err != nil {
		errs = append(errs, fmt.Errorf("arena Close: %v", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Printf("truncated=ok pop_returned_ms=%d\n", woke.Milliseconds())
	return nil
}
