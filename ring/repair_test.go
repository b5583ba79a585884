package ring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/internal/xproc"
)

// Tests of mpmc_repair.go: each repair path, across processes where a
// process must die at a chosen point, with the counter that shows it.

func init() {
	roles["xp-reserve-hold"] = xpRingRole("mpmc", xpReserveHold)
	roles["xp-peek-hold"] = xpRingRole("mpmc", xpPeekHold)
}

// xpReserveHold claims a slot with TryReserve, half fills it, says
// "reserved" and waits to be killed before committing.
func xpReserveHold(ctx context.Context, _ xproc.Args, r Ring) error {
	res, err := r.TryReserve(8)
	if err != nil {
		return err
	}
	copy(res.Buf, "garba")
	fmt.Println("reserved")
	<-ctx.Done()
	return errors.New("not killed")
}

// xpPeekHold claims the next message with Peek, says "peeked" and waits to
// be killed before releasing it.
func xpPeekHold(ctx context.Context, _ xproc.Args, r Ring) error {
	m, err := r.Peek(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("peeked %s\n", m.Data)
	<-ctx.Done()
	return errors.New("not killed")
}

// killChild starts role on the ring, waits for it to print what, and
// kills it with SIGKILL.
func killChild(t *testing.T, path, ring, role, what string) {
	t.Helper()
	child := xproc.StartT(t, role, "path="+path, "ring="+ring)
	xproc.WaitFor(t, "the child to say "+what, child, func() bool { return bytes.Contains([]byte(child.Stdout()), []byte(what)) })
	if err := syscall.Kill(child.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-child.Done()
}

// TestKilledProducerClaimSkipped: a producer killed between TryReserve and
// Commit no longer freezes an MPMC ring. A consumer asleep in Pop (and one
// polling TryPop) gets the next producer's message within a bounded time,
// the dead claim is a skip record (Stats.Skipped), never delivered.
func TestKilledProducerClaimSkipped(t *testing.T) {
	requireLocks(t)
	for _, wait := range []WaitStrategy{WaitBlock, WaitAdaptive, WaitSpin} {
		t.Run(wait.String(), func(t *testing.T) {
			a, path := xpArena(t, 1<<20)
			r := xpCreate(t, a, "mpmc", "skip", Config{Slots: 8, SlotSize: 16})
			defer r.Detach()
			r.SetWaitStrategy(wait)
			killChild(t, path, "skip", "xp-reserve-hold", "reserved")
			if err := r.TryPush([]byte("after")); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			buf := make([]byte, 16)
			start := time.Now()
			n, err := r.Pop(ctx, buf)
			took := time.Since(start)
			if err != nil || string(buf[:n]) != "after" {
				t.Fatalf("Pop after the killed claim: %q, %v", buf[:n], err)
			}
			t.Logf("resumed after %v", took)
			if took > time.Second {
				t.Errorf("resumed after %v: the repair should come within milliseconds", took)
			}
			if st := r.Stats(); st.Skipped != 1 || st.MsgsIn != 2 || st.MsgsOut != 2 || st.Len != 0 {
				t.Fatalf("stats %+v: want 1 skipped of 2 positions, all consumed", st)
			}
			// The ring goes on: a full lap through the repaired slot.
			for i := 0; i < 20; i++ {
				if err := r.TryPush([]byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
				if n, err := r.TryPop(buf); err != nil || n != 1 || buf[0] != byte(i) {
					t.Fatalf("lap %d: %v %v", i, buf[:n], err)
				}
			}
		})
	}
}

// TestKilledProducerRecover: Recover repairs a dead producer's claim at
// once, before any consumer has looked, and says so.
func TestKilledProducerRecover(t *testing.T) {
	requireLocks(t)
	a, path := xpArena(t, 1<<20)
	r := xpCreate(t, a, "mpmc", "recover-skip", Config{Slots: 8, SlotSize: 16})
	defer r.Detach()
	killChild(t, path, "recover-skip", "xp-reserve-hold", "reserved")
	if rec := r.Recover(); rec.Skipped != 1 || rec.DeadPeers != 1 {
		t.Fatalf("Recover: %+v, want 1 skipped, 1 dead peer", rec)
	}
	if rec := r.Recover(); rec.Skipped != 0 {
		t.Fatalf("second Recover: %+v, want nothing left to skip", rec)
	}
	// The skip record is passed over without any delay.
	if _, err := r.TryPop(make([]byte, 16)); err != ErrEmpty {
		t.Fatalf("TryPop over the skip record: %v, want ErrEmpty", err)
	}
	if st := r.Stats(); st.MsgsOut != 1 || st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestKilledConsumerClaimRedelivered: a consumer killed between Peek and
// Release no longer stalls producers one lap later: the producer that
// needs the slot hands the message to the consumers again
// (Stats.Redelivered), and it is delivered, intact.
func TestKilledConsumerClaimRedelivered(t *testing.T) {
	requireLocks(t)
	for _, wait := range []WaitStrategy{WaitBlock, WaitAdaptive} {
		t.Run(wait.String(), func(t *testing.T) {
			a, path := xpArena(t, 1<<20)
			const slots = 8
			r := xpCreate(t, a, "mpmc", "redeliver", Config{Slots: slots, SlotSize: 16})
			defer r.Detach()
			r.SetWaitStrategy(wait)
			if err := r.TryPush([]byte("m0")); err != nil {
				t.Fatal(err)
			}
			killChild(t, path, "redeliver", "xp-peek-hold", "peeked m0")
			for i := 1; i < slots; i++ {
				if err := r.TryPush(fmt.Appendf(nil, "m%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 16)
			if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "m1" {
				t.Fatalf("TryPop: %q %v", buf[:n], err)
			}
			// Position 8 needs the dead consumer's slot: m0 goes there,
			// and m8 to position 9, m1's slot.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := r.Push(ctx, []byte("m8")); err != nil {
				t.Fatalf("Push after the killed consumer: %v", err)
			}
			t.Logf("resumed after %v", time.Since(start))
			var got []string
			for {
				n, err := r.TryPop(buf)
				if err == ErrEmpty {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(buf[:n]))
			}
			want := []string{"m2", "m3", "m4", "m5", "m6", "m7", "m0", "m8"}
			if !slices.Equal(got, want) {
				t.Fatalf("popped %q, want %q (m0 redelivered where the producer waited)", got, want)
			}
			if st := r.Stats(); st.Redelivered != 1 || st.Skipped != 0 {
				t.Fatalf("stats %+v: want 1 redelivered", st)
			}
		})
	}
}

// TestClaimTimeout: a live handle that holds a claim past another
// handle's claim timeout is passed over, and its late Commit or Release
// says ErrFenced, publishing nothing.
func TestClaimTimeout(t *testing.T) {
	t.Run("producer", func(t *testing.T) {
		r, mem := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16})
		o, err := AttachMPMC(mem, WithClaimTimeout(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.TryReserve(4)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.TryPush([]byte("b")); err != nil {
			t.Fatal(err)
		}
		// Without the timeout a handle waits for the live holder.
		plain := attachHeap(t, kindMPMC, mem)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		_, err = plain.Pop(ctx, make([]byte, 16))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pop without a claim timeout: %v, want to wait for the live holder", err)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		buf := make([]byte, 16)
		n, err := o.Pop(ctx, buf)
		if err != nil || string(buf[:n]) != "b" {
			t.Fatalf("Pop with a claim timeout: %q, %v", buf[:n], err)
		}
		copy(res.Buf, "late")
		if err := r.Commit(res, 4); !errors.Is(err, ErrFenced) {
			t.Fatalf("late Commit: %v, want ErrFenced", err)
		}
		if _, err := o.TryPop(buf); err != ErrEmpty {
			t.Fatalf("after the fenced Commit: %v, want ErrEmpty (nothing published)", err)
		}
		if st := o.Stats(); st.Skipped != 1 {
			t.Fatalf("stats %+v: want 1 skipped", st)
		}
	})
	t.Run("consumer", func(t *testing.T) {
		const slots = 4
		r, mem := newHeapRing(t, kindMPMC, Config{Slots: slots, SlotSize: 16})
		o, err := AttachMPMC(mem, WithClaimTimeout(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < slots; i++ {
			if err := r.TryPush([]byte{'a' + byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		m, err := r.TryPeek()
		if err != nil || string(m.Data) != "a" {
			t.Fatalf("TryPeek: %q %v", m.Data, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		buf := make([]byte, 16)
		for i := 1; i < slots; i++ { // b, c, d
			if _, err := o.TryPop(buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.Push(ctx, []byte("e")); err != nil {
			t.Fatalf("Push past the held peek: %v", err)
		}
		if err := r.Release(m); !errors.Is(err, ErrFenced) {
			t.Fatalf("late Release: %v, want ErrFenced", err)
		}
		var got []string
		for {
			n, err := o.TryPop(buf)
			if err != nil {
				break
			}
			got = append(got, string(buf[:n]))
		}
		if !slices.Equal(got, []string{"a", "e"}) {
			t.Fatalf("after the timeout: %q, want a (redelivered) then e", got)
		}
		if st := o.Stats(); st.Redelivered != 1 {
			t.Fatalf("stats %+v: want 1 redelivered", st)
		}
	})
}

// claimUntagged claims position pos of an MPMC ring the way a handle of
// entry idx killed between its claim CAS and its tag store leaves it:
// the position moved, the claim word set, no tag.
func claimUntagged(t *testing.T, r *MPMC, idx int, consumer bool) uint64 {
	t.Helper()
	e := r.peerAt(idx)
	if consumer {
		pos := atomic.LoadUint64(&r.cons.Pos)
		atomic.StoreUint64(&e.ConsClaim, pos+1)
		if !atomic.CompareAndSwapUint64(&r.cons.Pos, pos, pos+1) {
			t.Fatal("consumer position moved")
		}
		return pos
	}
	pos := atomic.LoadUint64(&r.prod.Pos)
	atomic.StoreUint64(&e.ProdClaim, pos+1)
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, pos, pos+1) {
		t.Fatal("producer position moved")
	}
	return pos
}

// TestUntaggedClaims: a handle killed between its claim CAS and its tag
// store is found through its claim word; one whose claim word shows it
// alive is waited for.
func TestUntaggedClaims(t *testing.T) {
	const dead = 5
	t.Run("dead-producer", func(t *testing.T) {
		r, _ := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16, Peers: 8})
		m := r.(*MPMC)
		fakeDeadPeer(t, &m.core, dead, RoleProducer)
		claimUntagged(t, m, dead, false)
		if err := r.TryPush([]byte("b")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		buf := make([]byte, 16)
		if n, err := r.Pop(ctx, buf); err != nil || string(buf[:n]) != "b" {
			t.Fatalf("Pop: %q %v", buf[:n], err)
		}
		if st := r.Stats(); st.Skipped != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
	t.Run("live-producer", func(t *testing.T) {
		r, _ := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16, Peers: 8})
		m := r.(*MPMC)
		fakeDeadPeer(t, &m.core, dead, RoleProducer)
		claimUntagged(t, m, dead, false)
		// Our own (live) entry's claim word covers the slot too: it may be
		// ours, in the instant between CAS and tag.
		atomic.StoreUint64(&m.peer.ProdClaim, 1)
		if err := r.TryPush([]byte("b")); err != nil {
			t.Fatal(err)
		}
		atomic.StoreUint64(&m.peer.ProdClaim, 1) // TryPush cleared it
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := r.Pop(ctx, make([]byte, 16)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pop: %v, want to wait while a live claim word covers the slot", err)
		}
		if st := r.Stats(); st.Skipped != 0 {
			t.Fatalf("stats %+v: skipped a claim a live handle may hold", st)
		}
	})
	t.Run("dead-consumer", func(t *testing.T) {
		const slots = 4
		r, _ := newHeapRing(t, kindMPMC, Config{Slots: slots, SlotSize: 16, Peers: 8})
		m := r.(*MPMC)
		fakeDeadPeer(t, &m.core, dead, RoleConsumer)
		for i := 0; i < slots; i++ {
			if err := r.TryPush([]byte{'a' + byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		claimUntagged(t, m, dead, true) // "a", with the producer's tag still on it
		buf := make([]byte, 16)
		if _, err := r.TryPop(buf); err != nil { // "b": room for "e" after "a"
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Push(ctx, []byte("e")); err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			n, err := r.TryPop(buf)
			if err != nil {
				break
			}
			got = append(got, string(buf[:n]))
		}
		if !slices.Equal(got, []string{"c", "d", "a", "e"}) {
			t.Fatalf("popped %q", got)
		}
	})
}

// TestRepublishCompleted: a repairer killed between the two CASes of a
// republish (state D) leaves the position claimed and the message in
// place; the next consumer to reach it completes the republish.
func TestRepublishCompleted(t *testing.T) {
	const slots, dead = 4, 5
	r, _ := newHeapRing(t, kindMPMC, Config{Slots: slots, SlotSize: 16, Peers: 8})
	m := r.(*MPMC)
	fakeDeadPeer(t, &m.core, dead, RoleProducer|RoleConsumer)
	for i := 0; i < slots; i++ {
		if err := r.TryPush([]byte{'a' + byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	claimUntagged(t, m, dead, true)  // a handle takes "a" and dies; a repairer finds it dead,
	claimUntagged(t, m, dead, false) // claims position 4 for it, and dies too
	atomic.StoreUint64(&m.peerAt(dead).ConsClaim, 0)
	var got []string
	buf := make([]byte, 16)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(got) < slots {
		n, err := r.Pop(ctx, buf)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		got = append(got, string(buf[:n]))
	}
	if !slices.Equal(got, []string{"b", "c", "d", "a"}) {
		t.Fatalf("popped %q", got)
	}
	if st := r.Stats(); st.Redelivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestReclaimRepairsClaims: a handle that reuses a dead entry whose claim
// word is set repairs that claim before its own claims overwrite the
// word.
func TestReclaimRepairsClaims(t *testing.T) {
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16, Peers: 3})
	m := r.(*MPMC)
	// Entries 1 (ours) and 2; make 2 a dead producer with an untagged claim.
	fakeDeadPeer(t, &m.core, 2, RoleProducer)
	claimUntagged(t, m, 2, false)
	n := attachHeap(t, kindMPMC, mem) // takes entry 2, the only one left
	if idx := n.(*MPMC).peerIdx; idx != 2 {
		t.Fatalf("new handle took entry %d, want the dead one, 2", idx)
	}
	if st := r.Stats(); st.Skipped != 1 {
		t.Fatalf("stats after the reclaim: %+v, want the dead claim skipped", st)
	}
	if c := atomic.LoadUint64(&m.peerAt(2).ProdClaim); c != 0 {
		t.Fatalf("reclaimed entry's claim word %d", c)
	}
}

// TestSkipRecordsInBatches: TryPopBatch passes over skip records and
// stops a batch at one, and producers go round them.
func TestSkipRecordsInBatches(t *testing.T) {
	const slots = 8
	r, _ := newHeapRing(t, kindMPMC, Config{Slots: slots, SlotSize: 16, Peers: 8})
	m := r.(*MPMC)
	fakeDeadPeer(t, &m.core, 5, RoleProducer)
	if _, err := r.TryPushBatch([][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	claimUntagged(t, m, 5, false)
	if _, err := r.TryPushBatch([][]byte{[]byte("c"), []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if rec := r.Recover(); rec.Skipped != 1 {
		t.Fatalf("Recover: %+v", rec)
	}
	var got []string
	for len(got) < 4 {
		bufs := [][]byte{make([]byte, 16), make([]byte, 16), make([]byte, 16), make([]byte, 16)}
		n, err := r.TryPopBatch(bufs)
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		for _, b := range bufs[:n] {
			got = append(got, string(b))
		}
	}
	if !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("popped %q", got)
	}
	for i := 0; i < 3*slots; i++ { // laps through the skip record's slot
		if err := r.TryPush([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.TryPop(make([]byte, 16)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSweepSurplusRegistration: a registration in the shared waiter count
// that no entry accounts for (a sleeper killed between its two
// registration steps) is taken out: by Recover at once, and by the idle
// wakes of a ring in use after two looks.
func TestSweepSurplusRegistration(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r, _ := newHeapRing(t, k.kind, Config{Slots: 8, SlotSize: 16})
			c := r.(interface{ base() *core }).base()
			atomic.AddUint32(&c.prod.NotEmptyWaiters, 1)
			atomic.AddUint32(&c.cons.NotFullWaiters, 2)
			if rec := r.Recover(); rec.Sleepers != 3 {
				t.Fatalf("Recover: %+v, want 3 registrations taken out", rec)
			}
			if st := r.Stats(); st.NotEmptyWaiters != 0 || st.NotFullWaiters != 0 {
				t.Fatalf("waiters after Recover: %d/%d", st.NotEmptyWaiters, st.NotFullWaiters)
			}
			// Without Recover: the pushes' wakes find nobody and look.
			atomic.AddUint32(&c.prod.NotEmptyWaiters, 1)
			buf := make([]byte, 16)
			deadline := time.Now().Add(5 * time.Second)
			for loadU32(&c.prod.NotEmptyWaiters) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the leaked registration was never taken out")
				}
				if err := r.TryPush([]byte("x")); err != nil {
					t.Fatal(err)
				}
				if _, err := r.TryPop(buf); err != nil {
					t.Fatal(err)
				}
				time.Sleep(3 * time.Millisecond)
			}
			// A live sleeper's registration is never taken.
			atomic.AddUint32(&c.prod.NotEmptyWaiters, 1)
			atomic.AddUint32(&c.peer.SleepingEmpty, 1)
			if rec := r.Recover(); rec.Sleepers != 0 {
				t.Fatalf("Recover took a registration an entry accounts for: %+v", rec)
			}
			if got := loadU32(&c.prod.NotEmptyWaiters); got != 1 {
				t.Fatalf("waiters %d, want the live one", got)
			}
		})
	}
}

// TestOlderLayoutRefused: a ring whose header lacks the claim-repair flag
// (layout 1.1, written by an older build, whose handles neither tag their
// claims nor carry SPSC epochs) is refused with ErrVersion, never
// misread; so is one with a flag this build does not know.
func TestOlderLayoutRefused(t *testing.T) {
	for _, k := range kinds {
		for _, tc := range []struct {
			name  string
			flags func(uint32) uint32
		}{
			{"1.1", func(f uint32) uint32 { return f &^ ringFlagClaimRepair }},
			{"unknown-bit", func(f uint32) uint32 { return f | 1<<7 }},
		} {
			t.Run(k.name+"/"+tc.name, func(t *testing.T) {
				_, mem := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 16})
				h := (*ringHeader)(unsafe.Pointer(&mem[0]))
				h.Flags = tc.flags(h.Flags)
				if tc.name == "1.1" {
					h.VersionMinor = 1
				}
				h.Checksum = h.sum()
				if _, err := Attach(mem, k.kind.region()); !errors.Is(err, ErrVersion) {
					t.Fatalf("Attach: %v, want ErrVersion", err)
				}
			})
		}
	}
}

func init() {
	roles["xp-reserve-stuck"] = xpRingRole("mpmc", xpReserveStuck)
}

// xpReserveStuck reserves a slot, says "reserved", waits (a stuck live
// producer) until the ring shows its claim was passed over, then commits
// and says what Commit returned.
func xpReserveStuck(ctx context.Context, _ xproc.Args, r Ring) error {
	res, err := r.TryReserve(4)
	if err != nil {
		return err
	}
	copy(res.Buf, "late")
	fmt.Println("reserved")
	for r.Stats().Skipped == 0 {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("commit: %v\n", r.Commit(res, 4))
	return nil
}

// TestClaimTimeoutStoppedProducer: a producer process stopped (SIGSTOP)
// while it holds a reservation blocks an MPMC ring only until a handle
// with a claim timeout passes its claim over; resumed, its Commit says
// ErrFenced and publishes nothing.
func TestClaimTimeoutStoppedProducer(t *testing.T) {
	requireLocks(t)
	a, path := xpArena(t, 1<<20)
	r := xpCreate(t, a, "mpmc", "stuck", Config{Slots: 8, SlotSize: 16})
	defer r.Detach()
	child := xproc.StartT(t, "xp-reserve-stuck", "path="+path, "ring=stuck")
	xproc.WaitFor(t, "the child to reserve", child, func() bool { return bytes.Contains([]byte(child.Stdout()), []byte("reserved")) })
	if err := syscall.Kill(child.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	o, err := OpenMPMC(a, "stuck", WithClaimTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Detach()
	if err := o.TryPush([]byte("next")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 16)
	start := time.Now()
	n, err := o.Pop(ctx, buf)
	if err != nil || string(buf[:n]) != "next" {
		t.Fatalf("Pop past the stopped producer's claim: %q %v", buf[:n], err)
	}
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Fatalf("passed the claim over after %v, before the 50 ms timeout", took)
	}
	if err := syscall.Kill(child.Pid(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, child.Stderr())
	}
	if !bytes.Contains([]byte(child.Stdout()), []byte("commit: ring: fenced")) {
		t.Fatalf("the resumed producer's Commit: %s", child.Stdout())
	}
	if _, err := o.TryPop(buf); err != ErrEmpty {
		t.Fatalf("after the fenced Commit: %v, want ErrEmpty", err)
	}
	if st := o.Stats(); st.Skipped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDiscard: Discard drops the next messages without copying them, as
// many as asked or all that are in the ring, counts them as consumed, and
// answers like a pop where nothing is there.
func TestDiscard(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r, _ := newHeapRing(t, k.kind, Config{Slots: 16, SlotSize: 16})
			for i := 0; i < 10; i++ {
				if err := r.TryPush([]byte{byte(i), 0}); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range []struct {
				n, want int
			}{{0, 0}, {3, 3}, {2, 2}} {
				if got, err := r.Discard(tc.n); err != nil || got != tc.want {
					t.Fatalf("Discard(%d): %d, %v; want %d", tc.n, got, err, tc.want)
				}
			}
			buf := make([]byte, 16)
			if n, err := r.TryPop(buf); err != nil || n != 2 || buf[0] != 5 {
				t.Fatalf("pop after discarding 5: %v %v, want message 5", buf[:n], err)
			}
			if got, err := r.Discard(-1); err != nil || got != 4 {
				t.Fatalf("Discard(-1): %d, %v; want the 4 left", got, err)
			}
			if got, err := r.Discard(-1); err != nil || got != 0 {
				t.Fatalf("Discard on an empty ring: %d, %v", got, err)
			}
			if got, err := r.Discard(5); err != nil || got != 0 {
				t.Fatalf("Discard(5) on an empty ring: %d, %v", got, err)
			}
			if st := r.Stats(); st.MsgsOut != 10 || st.Len != 0 {
				t.Fatalf("stats %+v: the discarded count as consumed", st)
			}
			if err := r.TryPush([]byte("after")); err != nil {
				t.Fatal(err)
			}
			if n, err := r.TryPop(buf); err != nil || string(buf[:n]) != "after" {
				t.Fatalf("pop after Discard: %q %v", buf[:n], err)
			}
			if err := r.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Discard(-1); err != io.EOF {
				t.Fatalf("Discard when closed and drained: %v, want io.EOF", err)
			}
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := r.Discard(1); !errors.Is(err, ErrClosed) {
				t.Fatalf("Discard on a closed handle: %v", err)
			}
		})
	}
	t.Run("SPSC-outstanding", func(t *testing.T) {
		r, _ := newHeapRing(t, kindSPSC, Config{Slots: 4, SlotSize: 16})
		if err := r.TryPush([]byte("a")); err != nil {
			t.Fatal(err)
		}
		m, err := r.TryPeek()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Discard(1); err != ErrOutstanding {
			t.Fatalf("Discard with a peek held: %v, want ErrOutstanding", err)
		}
		if err := r.Release(m); err != nil {
			t.Fatal(err)
		}
	})
}

func init() {
	roles["xp-discard-join"] = xpRingRole("", xpDiscardJoin)
}

// xpDiscardJoin is a restarted consumer that wants only new messages: it
// drops what is in the ring, says how many, and pops the next one.
func xpDiscardJoin(ctx context.Context, _ xproc.Args, r Ring) error {
	n, err := r.Discard(-1)
	if err != nil {
		return err
	}
	fmt.Printf("discarded %d\n", n)
	buf := make([]byte, r.SlotSize())
	m, err := r.Pop(ctx, buf)
	if err != nil {
		return err
	}
	fmt.Printf("got %s\n", buf[:m])
	return nil
}

// TestDiscardOnRestart: a consumer process restarted on a ring that
// filled while it was away drops the backlog with Discard(-1) and gets
// the first message pushed after it joined.
func TestDiscardOnRestart(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run(kind, func(t *testing.T) {
			name := "discard-" + kind
			r := xpCreate(t, a, kind, name, Config{Slots: 64, SlotSize: 16})
			defer r.Detach()
			for i := 0; i < 50; i++ {
				if err := r.TryPush([]byte("old")); err != nil {
					t.Fatal(err)
				}
			}
			child := xproc.StartT(t, "xp-discard-join", "path="+path, "ring="+name, "kind="+kind)
			xproc.WaitFor(t, "the child to discard", child, func() bool { return bytes.Contains([]byte(child.Stdout()), []byte("discarded")) })
			if err := r.TryPush([]byte("new")); err != nil {
				t.Fatal(err)
			}
			if err := child.Wait(); err != nil {
				t.Fatalf("child: %v\n%s", err, child.Stderr())
			}
			if out := child.Stdout(); !strings.Contains(out, "discarded 50") || !strings.Contains(out, "got new") {
				t.Fatalf("child said %q, want it to discard the 50 old messages and get the new one", out)
			}
		})
	}
}
