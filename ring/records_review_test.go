package ring

// Adversarial review of the record ring (records.go): each test pins one
// finding. Tests that fail on the current records.go are skipped with
// "BUG:" unless REC_REVIEW_BUGS=1, so the branch stays green.

import (
	"context"
	"errors"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// reviewBug names the bug a regression test was written for (the
// independent review of the record ring found it; it is fixed).
func reviewBug(t *testing.T, what string) {
	t.Helper()
	_ = what
}

// newRecMem makes a ring over caller memory (not mirrored) with extra
// guard bytes after it, filled with 0xAA.
func newRecMem(t *testing.T, cfg Config, guard int, opts ...Option) (*Records, []byte, []byte) {
	t.Helper()
	size, err := Size(KindRecords, cfg, 64)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]byte, int(size)+guard)
	g := all[size:]
	for i := range g {
		g[i] = 0xAA
	}
	r, err := NewRecords(all[:size:size], cfg, 64, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, all[:size], g
}

// setPositions puts W and H at pos (a fresh ring: nothing consumed).
func setPositions(r *Records, pos uint64) {
	atomic.StoreUint64(&r.prod.Pos, pos)
	atomic.StoreUint64(&r.cons.Pos, pos)
	atomic.StoreUint64(&r.rp.HeadCache, pos)
}

// TestReviewLapWrapBatch: a batch whose records cross the 2^56 position
// wrap, in a ring of 2^28 bytes or more: batchLocked computes the lap of an
// unmasked position (end >= 2^56), whose bit 56 lands in the State's lap
// bits, and the consumer (masked position) reads it as corrupt.
func TestReviewLapWrapBatch(t *testing.T) {
	reviewBug(t, "batchLocked: r.lap(end) of an unmasked end past 2^56 (capacity >= 2^28)")
	cfg := Config{Capacity: 1 << 28, SlotSize: 64}
	r, _, _ := newRecMem(t, cfg, 0)
	setPositions(r, 1<<56-32)
	msgs := [][]byte{[]byte("a"), []byte("b"), []byte("c")}
	if n, err := r.TryPushBatch(msgs); n != 3 || err != nil {
		t.Fatalf("push batch: %d %v", n, err)
	}
	buf := make([]byte, 64)
	for i, want := range []string{"a", "b", "c"} {
		n, err := r.TryPop(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("pop %d: %q %v, want %q", i, buf[:n], err, want)
		}
	}
}

// TestReviewLapWrapPadding: the same in claimLocked: a record after a
// padding record that ends exactly at 2^56 (s += pad unmasked).
func TestReviewLapWrapPadding(t *testing.T) {
	reviewBug(t, "claimLocked: s += pad not masked; r.lap(s) of s = 2^56 (capacity >= 2^28)")
	cfg := Config{Capacity: 1 << 28, SlotSize: 64}
	r, _, _ := newRecMem(t, cfg, 0)
	setPositions(r, 1<<56-16) // index Capacity-16: a 32-byte record pads 16
	if err := r.TryPush(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := r.TryPop(buf); err != nil || n != 10 {
		t.Fatalf("pop: %d %v", n, err)
	}
}

// TestReviewUnalignedW: a hostile W that is not 16-aligned. claimLocked
// checks W's high bits but not its alignment, so in padding mode the
// padding header at index Capacity-8 is written across the end of the
// data area (outside the ring's memory).
func TestReviewUnalignedW(t *testing.T) {
	reviewBug(t, "claimLocked/batchLocked: W not checked for 16-alignment: header written outside the data area")
	cfg := Config{Capacity: 4096, SlotSize: 256}
	r, _, guard := newRecMem(t, cfg, 64)
	pos := uint64(4096 - 8)
	atomic.StoreUint64(&r.prod.Pos, pos)
	atomic.StoreUint64(&r.cons.Pos, pos)
	err := r.TryPush([]byte("hello"))
	for i, b := range guard {
		if b != 0xAA {
			t.Fatalf("byte %d past the ring's memory written (%#x); push said %v", i, b, err)
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("push with W %d: %v, want ErrCorrupt", pos, err)
	}
}

// TestReviewPushBusyLoopPadding: in padding mode a Push that needs a
// padding record waits for pad+span bytes, but ready compares the free
// space with span alone: with span <= free < pad+span, ready says true and
// every try fails, so the waiter never sleeps (a busy loop for as long as
// the consumer does not move).
func TestReviewPushBusyLoopPadding(t *testing.T) {
	reviewBug(t, "ready(push): need ignores the padding: Push busy-loops")
	cfg := Config{Capacity: 4096, SlotSize: 1024}
	r, _, _ := newRecMem(t, cfg, 0, WithWaitStrategy(WaitBlock))
	// W at index 4096-64, H 256 bytes behind the wrap: free 256+... set
	// H so that free = 512: a 496-byte message (span 512) fits without
	// padding, but it needs 64 bytes of padding first.
	w := uint64(4096 - 64)
	h := w + 512 - 4096
	setPositions(r, w)
	atomic.StoreUint64(&r.cons.Pos, h)
	atomic.StoreUint64(&r.rp.HeadCache, h)
	if err := r.TryPush(make([]byte, 496)); err != ErrFull {
		t.Fatalf("try push: %v, want ErrFull", err)
	}
	before := atomic.LoadUint64(&r.peer.Sleeps)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := r.Push(ctx, make([]byte, 496))
	slept := atomic.LoadUint64(&r.peer.Sleeps) - before
	t.Logf("push: %v after %v, %d sleeps", err, time.Since(start), slept)
	if slept == 0 {
		t.Fatalf("Push waited %v without one futex sleep: a busy loop", time.Since(start))
	}
}

var _ = unsafe.Pointer(nil)

// TestReviewStolenLockResumedHolder: WithClaimTimeout lets a producer take
// the claim lock from a live holder that is only descheduled (here: held
// inside claimLocked's fill). The holder then resumes and stores its
// State over the header of the record the thief claimed at the same W (and
// would release the thief's lock, or a later holder's): a record the thief
// reserved and never committed is delivered, with the stalled holder's Len
// and whatever bytes the reservation held.
func TestReviewStolenLockResumedHolder(t *testing.T) {
	// Fixed: a live holder's lock is never taken, claim timeout or not:
	// b waits (ErrFull) while a is in its section, and claims after it.
	cfg := Config{Capacity: 4096, SlotSize: 256}
	a, mem, _ := newRecMem(t, cfg, 0)
	b, err := AttachRecords(mem, WithClaimTimeout(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	inFill, resume := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.claim(span(8), func(uint64) { close(inFill); <-resume }, true, 8)
		done <- err
	}()
	<-inFill
	stop := time.Now().Add(20 * time.Millisecond) // ten claim timeouts
	for time.Now().Before(stop) {
		if _, err := b.TryReserve(100); err != ErrFull {
			t.Fatalf("reserve while a live handle holds the claim lock: %v, want ErrFull", err)
		}
	}
	close(resume) // the descheduled holder runs on
	if err := <-done; err != nil {
		t.Fatalf("the holder's claim: %v", err)
	}
	res, err := b.TryReserve(100)
	if err != nil {
		t.Fatalf("reserve after the holder left: %v", err)
	}
	buf := make([]byte, 256)
	if n, err := c.TryPop(buf); err != nil || n != 8 {
		t.Fatalf("pop of the holder's record: %d %v", n, err)
	}
	if _, err := c.TryPop(buf); err != ErrEmpty {
		t.Fatalf("pop before the reservation's commit: %v, want ErrEmpty", err)
	}
	if err := b.Commit(res, 5); err != nil {
		t.Fatal(err)
	}
	if n, err := c.TryPop(buf); err != nil || n != 5 {
		t.Fatalf("pop of the reservation: %d %v", n, err)
	}
}

// TestReviewStolenLockDoubleHolder: the resumed holder of a stolen claim
// lock releases it with a plain store of 0 whoever holds it now, so a
// third producer enters the claim section beside the thief.
func TestReviewStolenLockDoubleHolder(t *testing.T) {
	t.Skip("fixed by design: a live holder's lock is never taken (TestReviewStolenLockResumedHolder), so no robbed holder can release another's")
	cfg := Config{Capacity: 4096, SlotSize: 256}
	a, mem, _ := newRecMem(t, cfg, 0)
	b, err := AttachRecords(mem, WithClaimTimeout(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	c, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	aIn, aGo, aDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := a.claim(span(8), func(uint64) { close(aIn); <-aGo }, true, 8)
		aDone <- err
	}()
	<-aIn
	bIn, bGo, bDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := b.claim(span(8), func(uint64) { close(bIn); <-bGo }, true, 8)
			if err != ErrFull || time.Now().After(deadline) {
				bDone <- err
				return
			}
		}
	}()
	select {
	case <-bIn: // b stole the lock and is in its claim section
	case err := <-bDone:
		t.Fatalf("b: %v", err)
	}
	close(aGo)
	<-aDone // a's claim fails and stores 0 in the lock b holds
	err = c.TryPush([]byte("c"))
	close(bGo)
	berr := <-bDone
	t.Logf("c's push while b held the lock: %v; b's claim: %v", err, berr)
	if err == nil {
		t.Fatalf("c pushed while b held the claim lock (b then says %v)", berr)
	}
}

// TestReviewBufAfterClose: a mirrored ring's Reservation.Buf (and a
// peeked Message.Data) point into the mirror, which Detach unmaps: a write
// to an outstanding reservation after Close faults, where on every other
// kind (and a padding-mode record ring) the bytes stay mapped while the
// arena is open. Documented nowhere; a late write from a producer
// goroutine that raced Close crashes the process.
func TestReviewBufAfterClose(t *testing.T) {
	_, r := recordsArena(t, Config{Capacity: 4096, SlotSize: 256})
	if !r.Mirrored() {
		t.Skip("not mirrored here")
	}
	res, err := r.TryReserve(16)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	faulted := func() (f bool) {
		defer func() {
			if recover() != nil {
				f = true
			}
		}()
		res.Buf[0] = 1
		return false
	}()
	if faulted {
		t.Log("RISK confirmed: writing an outstanding reservation's Buf after Close faults (mirror unmapped)")
	}
}

// TestReviewRepairLatencyBlocking: a consumer blocked in Pop (WaitBlock)
// behind a dead handle's reservation. stalled reads the clock only every
// 64th call, and a sleeping waiter calls it twice per sleep of at most
// stallSleep, so the repair waits ~32 sleeps instead of one grace period.
func TestReviewRepairLatencyBlocking(t *testing.T) {
	cfg := Config{Capacity: 4096, SlotSize: 256}
	_, mem, _ := newRecMem(t, cfg, 0)
	p1, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	cons, err := AttachRecords(mem, WithWaitStrategy(WaitBlock))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if _, err := p1.TryReserve(10); err != nil {
		t.Fatal(err)
	}
	if err := p2.TryPush([]byte("x")); err != nil {
		t.Fatal(err)
	}
	p1.Close() // its reservation is a dead handle's now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 64)
	start := time.Now()
	n, err := cons.Pop(ctx, buf)
	el := time.Since(start)
	t.Logf("pop after the dead reservation: %q %v in %v (grace %v, stallSleep %v)", buf[:n], err, el, stallGrace, stallSleep)
	if err != nil {
		t.Fatal(err)
	}
	if el > 30*time.Millisecond {
		t.Logf("RISK/NIT: the repair took %v", el)
	}
}

// TestReviewClaimTimeoutStaleSince: lockHolderGone measures the claim
// timeout from the first time this handle ever saw the holder's tag in the
// lock (lockSince is reset only when another value is seen), not from the
// start of the current hold: a producer with WithClaimTimeout that once
// saw handle X hold the lock steals it from X's next hold after lockSpin
// (200 µs), however briefly X holds it. Under contention (three or more
// producers, a CAS lost for 200 µs) that is a steal from a running holder,
// with the corruption of TestReviewStolenLockResumedHolder.
func TestReviewClaimTimeoutStaleSince(t *testing.T) {
	reviewBug(t, "lockHolderGone: lockSince not reset per hold: the claim timeout fires on a fresh, short hold")
	cfg := Config{Capacity: 4096, SlotSize: 256}
	x, mem, _ := newRecMem(t, cfg, 0)
	timeout := 20 * time.Millisecond
	y, err := AttachRecords(mem, WithClaimTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	hold := func() (func(), chan error) {
		in, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			_, err := x.claim(span(8), func(uint64) { close(in); <-release }, true, 8)
			done <- err
		}()
		<-in
		return func() { close(release) }, done
	}
	// First hold: y sees x's tag and gives up (ErrFull), x releases.
	rel, done := hold()
	if err := y.TryPush([]byte("y")); err != ErrFull {
		t.Fatalf("y's push during x's first hold: %v, want ErrFull", err)
	}
	rel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * timeout) // x idle
	// Second hold: y's push should wait out x's short hold, not steal it.
	rel, done = hold()
	start := time.Now()
	err = y.TryPush([]byte("y"))
	held := time.Since(start)
	rel()
	xerr := <-done
	t.Logf("y's push %v after x held the lock %v (timeout %v); x's claim: %v", err, held, timeout, xerr)
	if err == nil && held < timeout {
		t.Fatalf("y took x's claim lock after a hold of %v < claim timeout %v (x then: %v)", held, timeout, xerr)
	}
}

// TestReviewSkipsNotReleased: next() passes skip (and padding) records by
// moving the private head only; pop returns ErrEmpty at W without
// releasing them. A ring whose free space is held by a dead handle's
// reservations (now skip records) stays full for producers while the
// consumer waits for a message they cannot push: Push and Pop both wait
// until their contexts end.
func TestReviewSkipsNotReleased(t *testing.T) {
	reviewBug(t, "pop/peek/popBatch: records passed at W are not released on ErrEmpty: producers stay full")
	cfg := Config{Capacity: 4096, SlotSize: 2032}
	_, mem, _ := newRecMem(t, cfg, 0)
	dead, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := AttachRecords(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	for i := 0; i < 2; i++ {
		if _, err := dead.TryReserve(2032); err != nil {
			t.Fatal(err)
		}
	}
	dead.Close() // its two reservations fill the ring
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	popped := make(chan error, 1)
	go func() {
		buf := make([]byte, 4096)
		_, err := cons.Pop(ctx, buf)
		popped <- err
	}()
	perr := prod.Push(ctx, []byte("after the dead reservations"))
	cerr := <-popped
	t.Logf("push: %v; pop: %v; skipped %d", perr, cerr, prod.Stats().Skipped)
	if perr != nil || cerr != nil {
		t.Fatalf("push %v, pop %v: the skip records at the consumer's head were never released", perr, cerr)
	}
}

// TestReviewHeldLockBusyLoop: a claim lock that is never freed (held by an
// overflow-entry handle that died, or any value whose holder cannot be
// tested, e.g. a hostile one) makes ready(push) true forever
// (ClaimLock != 0), so Push never sleeps: it burns a CPU until its
// context ends.
func TestReviewHeldLockBusyLoop(t *testing.T) {
	// Fixed: ready(push) is false while the lock is held; blocked bounds the sleep.
	cfg := Config{Capacity: 4096, SlotSize: 256}
	r, _, _ := newRecMem(t, cfg, 0, WithWaitStrategy(WaitBlock))
	atomic.StoreUint32(&r.rp.ClaimLock, tagOverflow) // an overflow handle's, say, killed in the claim
	before := atomic.LoadUint64(&r.peer.Sleeps)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	err := r.Push(ctx, []byte("x"))
	slept := atomic.LoadUint64(&r.peer.Sleeps) - before
	t.Logf("push: %v, %d sleeps", err, slept)
	if slept == 0 {
		t.Fatal("Push waited behind a held claim lock without one futex sleep: a busy loop")
	}
}
