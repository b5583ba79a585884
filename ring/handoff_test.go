package ring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"
)

// withLongSleeps makes a lost wake-up a multi-second stall instead of the
// 100 ms safety net, so tests can tell the two apart.
func withLongSleeps(t *testing.T) {
	old := maxSleep
	maxSleep = 20 * time.Second
	t.Cleanup(func() { maxSleep = old })
}

// TestMPMCOutOfOrderCommitsWakeEveryone: two consumers sleep; two producers
// commit positions 1 then 0. The wake for position 1 goes to a consumer that
// finds position 0 still empty; the baton pass must get both messages
// delivered promptly anyway.
func TestMPMCOutOfOrderCommitsWakeEveryone(t *testing.T) {
	withLongSleeps(t)
	r, _ := newHeapRing(t, kindMPMC, Config{Slots: 8, SlotSize: 8})
	r.SetWaitStrategy(WaitBlock)
	r0, _ := r.TryReserve(1)
	r1, _ := r.TryReserve(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	took := make(chan time.Duration, 2)
	start := time.Now()
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]byte, 8)
			if _, err := r.Pop(ctx, dst); err != nil {
				t.Error(err)
			}
			took <- time.Since(start)
		}()
	}
	waitSleepers(t, r.(*MPMC).notEmpty.waiters, 2)
	if err := r.Commit(r1, 1); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := r.Commit(r0, 1); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(took)
	for d := range took {
		if d > 5*time.Second {
			t.Fatalf("a consumer took %v: a wake-up was lost", d)
		}
	}
}

// waitSleepers waits (bounded) until n waiters are registered.
func waitSleepers(t *testing.T, w *uint32, n uint32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for loadU32(w) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d waiters registered", loadU32(w), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond) // let them reach futex_wait
}

// waitLongSleep waits (bounded) until one waiter is registered on w and
// still is after its call's first, short sleep (firstSleep) must have
// ended: it then sits in a sleep of up to maxSleep, so that a test can act
// on a registration that stays put.
func waitLongSleep(t *testing.T, w *uint32, alive func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if loadU32(w) == 1 {
			time.Sleep(firstSleep + 5*time.Millisecond)
			if loadU32(w) == 1 {
				return
			}
		}
		if time.Now().After(deadline) || (alive != nil && !alive()) {
			t.Fatalf("no waiter stayed registered on the word (%d now)", loadU32(w))
		}
		time.Sleep(time.Millisecond)
	}
}

// TestMPMCClosedWithPendingClaimDoesNotSpin: after Close, a consumer
// waiting for a slot claimed before Close must sleep, not spin.
func TestMPMCClosedWithPendingClaimDoesNotSpin(t *testing.T) {
	r, _ := newHeapRing(t, kindMPMC, Config{Slots: 8, SlotSize: 8})
	r.SetWaitStrategy(WaitBlock)
	res, err := r.TryReserve(1)
	if err != nil {
		t.Fatal(err)
	}
	r.CloseWrite()
	before := cpuTime()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := r.Pop(ctx, make([]byte, 8)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop: %v, want DeadlineExceeded (a message is still pending)", err)
	}
	if used := cpuTime() - before; used > 150*time.Millisecond {
		t.Fatalf("a blocked Pop used %v of CPU in 300ms", used)
	}
	// The pending claim still arrives, then EOF.
	if err := r.Commit(res, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pop(context.Background(), make([]byte, 8)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Pop(context.Background(), make([]byte, 8)); err != io.EOF {
		t.Fatalf("after drain: %v", err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestTokensBelongToTheirRing: a reservation or message of one ring is
// refused by another.
func TestTokensBelongToTheirRing(t *testing.T) {
	for _, k := range kinds {
		a, _ := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
		b, _ := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 8})
		res, err := a.TryReserve(4)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(res, 4); err != ErrNotReserved {
			t.Errorf("%s: foreign Commit: %v", k.name, err)
		}
		if err := a.Commit(res, 4); err != nil {
			t.Fatal(err)
		}
		b.TryPush([]byte("x"))
		m, err := a.TryPeek()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Release(m); err != ErrNotReserved {
			t.Errorf("%s: foreign Release: %v", k.name, err)
		}
		if err := b.Release(Message{}); err != ErrNotReserved {
			t.Errorf("%s: zero Release: %v", k.name, err)
		}
		if err := b.Commit(Reservation{}, 0); err != ErrNotReserved {
			t.Errorf("%s: zero Commit: %v", k.name, err)
		}
	}
}

// TestSPSCHandleTakeover: a producer (or consumer) handle that resumes
// after another handle of the same side worked continues from the shared
// position: nothing overwritten, nothing delivered twice.
// TestSPSCHandleTakeover: a handle's first operation on a side takes it
// over; the handle it replaced is fenced from then on (ErrFenced, nothing
// published or consumed), on both sides, and a fenced producer's Close
// does not end its successor's stream.
func TestSPSCHandleTakeover(t *testing.T) {
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 8})
	a := r
	b := attachHeap(t, kindSPSC, mem)
	c1 := attachHeap(t, kindSPSC, mem)
	c2 := attachHeap(t, kindSPSC, mem)
	for _, step := range []struct {
		h   Ring
		msg string
		err error
	}{{a, "a1", nil}, {b, "b1", nil}, {b, "b2", nil}, {a, "a2", ErrFenced}} {
		if err := step.h.TryPush([]byte(step.msg)); err != step.err {
			t.Fatalf("push %s: %v, want %v", step.msg, err, step.err)
		}
	}
	if _, err := a.TryPushBatch([][]byte{[]byte("a3")}); err != ErrFenced {
		t.Fatalf("fenced TryPushBatch: %v", err)
	}
	if _, err := a.TryReserve(1); err != ErrFenced {
		t.Fatalf("fenced TryReserve: %v", err)
	}
	if err := a.Close(); err != nil || b.IsClosed() {
		t.Fatalf("fenced producer's Close: %v, closed %v: it must not end the successor's stream", err, b.IsClosed())
	}
	dst := make([]byte, 8)
	var got []string
	for _, h := range []Ring{c1, c2, c2} {
		n, err := h.TryPop(dst)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(dst[:n]))
	}
	if want := []string{"a1", "b1", "b2"}; !equalStrings(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := c1.TryPop(dst); err != ErrFenced {
		t.Fatalf("replaced consumer's pop: %v, want ErrFenced", err)
	}
	if _, err := c1.TryPeek(); err != ErrFenced {
		t.Fatalf("replaced consumer's peek: %v, want ErrFenced", err)
	}
	if _, err := c2.TryPop(dst); err != ErrEmpty {
		t.Fatalf("after takeover: %v", err)
	}
	if st := c2.Stats(); st.MsgsIn != 3 || st.MsgsOut != 3 || st.Len != 0 {
		t.Fatalf("stats %+v: the epochs must not show in the counts", st)
	}
}

// TestSPSCFencedInFlight: a producer (consumer) replaced between its
// prologue and its publish (release) CAS, as one paused there would be,
// publishes (consumes) nothing: the CAS fails on the epoch.
func TestSPSCFencedInFlight(t *testing.T) {
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 8})
	a := r.(*SPSC)
	b := attachHeap(t, kindSPSC, mem)
	if err := a.TryPush([]byte("a1")); err != nil {
		t.Fatal(err)
	}
	res, err := a.TryReserve(2) // a passed its prologue and filled the slot...
	if err != nil {
		t.Fatal(err)
	}
	copy(res.Buf, "a2")
	if err := b.TryPush([]byte("b1")); err != nil { // ...b takes over (reusing the slot)...
		t.Fatal(err)
	}
	if err := a.Commit(res, 2); err != ErrFenced { // ...a's Commit writes nothing
		t.Fatalf("Commit after the takeover: %v, want ErrFenced", err)
	}
	m, err := a.TryPeek() // a consumes too
	if err != nil || string(m.Data) != "a1" {
		t.Fatalf("TryPeek: %q %v", m.Data, err)
	}
	dst := make([]byte, 8)
	if n, err := b.TryPop(dst); err != nil || string(dst[:n]) != "a1" { // b takes the consumer side
		t.Fatalf("b's pop: %q %v", dst[:n], err)
	}
	if err := a.Release(m); err != ErrFenced {
		t.Fatalf("Release after the takeover: %v, want ErrFenced", err)
	}
	if n, err := b.TryPop(dst); err != nil || string(dst[:n]) != "b1" {
		t.Fatalf("b's pop: %q %v (a's Release must not have consumed it)", dst[:n], err)
	}
	if _, err := b.TryPop(dst); err != ErrEmpty {
		t.Fatalf("after: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCancelWakesSleeper: a Pop sleeping in the futex with a context that
// has no deadline returns promptly when the context is cancelled, and a
// Close wakes a sleeping Push.
func TestCancelWakesSleeper(t *testing.T) {
	withLongSleeps(t)
	for _, k := range kinds {
		r, _ := newHeapRing(t, k.kind, Config{Slots: 2, SlotSize: 8})
		r.SetWaitStrategy(WaitBlock)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := r.Pop(ctx, make([]byte, 8)); done <- err }()
		time.Sleep(30 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s: Pop: %v", k.name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: cancelled Pop still asleep", k.name)
		}
		r.TryPush([]byte("1"))
		r.TryPush([]byte("2"))
		go func() { done <- r.Push(context.Background(), []byte("3")) }()
		time.Sleep(30 * time.Millisecond)
		r.CloseWrite()
		select {
		case err := <-done:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("%s: Push after Close: %v", k.name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: Close did not wake a sleeping Push", k.name)
		}
	}
}

// TestCancelAfterHandoff: a blocking call whose context is cancelled just
// after the other side made it ready (published a message, freed a slot)
// completes instead of reporting the cancellation, whichever reaches the
// sleeping waiter first: the wake-up or the cancellation. A caller that
// cancels once its peer is done (it exited after its last push) must not
// lose that last message.
func TestCancelAfterHandoff(t *testing.T) {
	withLongSleeps(t)
	const rounds = 20
	type blocked func(r Ring, ctx context.Context) error
	consumers := map[string]blocked{
		"Pop": func(r Ring, ctx context.Context) error {
			n, err := r.Pop(ctx, make([]byte, 8))
			if err == nil && n != 1 {
				err = fmt.Errorf("%d bytes", n)
			}
			return err
		},
		"Peek": func(r Ring, ctx context.Context) error {
			m, err := r.Peek(ctx)
			if err == nil {
				err = r.Release(m)
			}
			return err
		},
		"PopBatch": func(r Ring, ctx context.Context) error {
			n, err := r.PopBatch(ctx, [][]byte{make([]byte, 8), make([]byte, 8)})
			if err == nil && n != 1 {
				err = fmt.Errorf("%d messages", n)
			}
			return err
		},
	}
	producers := map[string]blocked{
		"Push": func(r Ring, ctx context.Context) error { return r.Push(ctx, []byte("x")) },
		"PushBatch": func(r Ring, ctx context.Context) error {
			n, err := r.PushBatch(ctx, [][]byte{[]byte("x")})
			if err == nil && n != 1 {
				err = fmt.Errorf("%d pushed", n)
			}
			return err
		},
	}
	for _, k := range kinds {
		for _, strategy := range []WaitStrategy{WaitBlock, WaitAdaptive} {
			for _, side := range []struct {
				push bool
				ops  map[string]blocked
			}{{false, consumers}, {true, producers}} {
				for name, op := range side.ops {
					for i := 0; i < rounds; i++ {
						r, _ := newHeapRing(t, k.kind, Config{Slots: 2, SlotSize: 8})
						r.SetWaitStrategy(strategy)
						if side.push {
							r.TryPush([]byte("1"))
							r.TryPush([]byte("2"))
						}
						ctx, cancel := context.WithCancel(context.Background())
						done := make(chan error, 1)
						go func() { done <- op(r, ctx) }()
						time.Sleep(3 * time.Millisecond) // into its wait (asleep with WaitBlock)
						var err error
						if side.push {
							_, err = r.TryPop(make([]byte, 8))
						} else {
							err = r.TryPush([]byte("m"))
						}
						cancel()
						if err != nil {
							t.Fatal(err)
						}
						select {
						case err := <-done:
							if err != nil {
								t.Fatalf("%s %v %s round %d: %v after the hand-off, then the cancellation", k.name, strategy, name, i, err)
							}
						case <-time.After(5 * time.Second):
							t.Fatalf("%s %v %s: still waiting", k.name, strategy, name)
						}
						cancel()
						r.Close()
					}
				}
			}
		}
	}
}
