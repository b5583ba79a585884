package ring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
)

func init() {
	roles["xp-attach-hold"] = xpRingRole("", xpAttachHold)
}

// xpAttachHold attaches, pushes one message (which gives it the producer
// role), says "attached" and waits to be killed.
func xpAttachHold(ctx context.Context, _ xproc.Args, r Ring) error {
	if err := r.TryPush([]byte("held")); err != nil {
		return err
	}
	fmt.Println("attached")
	<-ctx.Done()
	return errors.New("not killed")
}

func requireLocks(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("liveness locks are Linux-only; the pid test is covered by TestPidLiveness")
	}
}

func alivePIDs(ps []Peer) (alive, dead []int) {
	for _, p := range ps {
		if p.Alive {
			alive = append(alive, p.PID)
		} else {
			dead = append(dead, p.PID)
		}
	}
	return alive, dead
}

// TestPeerLivenessKilled: a handle in a process killed with SIGKILL is
// dead at once (its liveness lock went with the process), Stats counts it
// as dead and not as a peer, and a new handle reclaims its entry once the
// free ones are taken.
func TestPeerLivenessKilled(t *testing.T) {
	requireLocks(t)
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run(kind, func(t *testing.T) {
			name := "live-" + kind
			r := xpCreate(t, a, kind, name, Config{Slots: 8, SlotSize: 16, Peers: 3}) // entries 1 and 2
			defer r.Detach()
			child := xproc.StartT(t, "xp-attach-hold", "path="+path, "ring="+name, "kind="+kind)
			xproc.WaitFor(t, "the child to attach", child, func() bool { return strings.Contains(child.Stdout(), "attached") })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.WaitPeers(ctx, RoleProducer, 1); err != nil {
				t.Fatalf("WaitPeers for the child producer: %v", err)
			}
			if st := r.Stats(); st.Peers != 2 || st.DeadPeers != 0 {
				t.Fatalf("with the child attached: Peers %d, DeadPeers %d", st.Peers, st.DeadPeers)
			}
			for _, p := range r.Peers() {
				if !p.Alive || !p.Locked {
					t.Fatalf("live peer %+v: want Alive and Locked", p)
				}
			}
			if err := syscall.Kill(child.Pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-child.Done()
			st := r.Stats()
			if st.Peers != 1 || st.DeadPeers != 1 {
				t.Fatalf("after SIGKILL: Peers %d, DeadPeers %d; want 1, 1", st.Peers, st.DeadPeers)
			}
			alive, dead := alivePIDs(r.Peers())
			if len(alive) != 1 || alive[0] != os.Getpid() || len(dead) != 1 || dead[0] != child.Pid() {
				t.Fatalf("after SIGKILL: alive %v, dead %v (child %d)", alive, dead, child.Pid())
			}
			// The dead entry keeps its counters until reclaimed: the
			// child's push is there.
			for _, p := range r.Peers() {
				if !p.Alive && (p.MsgsIn != 1 && kind == "mpmc" || p.Roles != RoleProducer) {
					t.Fatalf("dead entry %+v: want its producer role and (MPMC) its 1 message", p)
				}
			}
			// No free entry is left (Peers: 3 is entries 1 and 2): a new
			// handle reclaims the dead one.
			h, err := xpOpenRing(a, kind, name)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if st := r.Stats(); st.Peers != 2 || st.DeadPeers != 0 {
				t.Fatalf("after reclaiming: Peers %d, DeadPeers %d; want 2, 0", st.Peers, st.DeadPeers)
			}
		})
	}
}

// TestPeerLivenessClosedArena: an arena handle closed under a ring handle
// takes the ring handle's liveness lock with it: its entry is dead to the
// others (the handle is unusable anyway).
func TestPeerLivenessClosedArena(t *testing.T) {
	requireLocks(t)
	a, path := xpArena(t, 1<<20)
	r := xpCreate(t, a, "spsc", "closed-arena", Config{Slots: 8, SlotSize: 16})
	defer r.Detach()
	b, err := arena.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSPSC(b, "closed-arena"); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Peers != 2 {
		t.Fatalf("Peers %d, want 2", st.Peers)
	}
	b.Close()
	if st := r.Stats(); st.Peers != 1 || st.DeadPeers != 1 {
		t.Fatalf("after closing the second arena handle: Peers %d, DeadPeers %d", st.Peers, st.DeadPeers)
	}
}

// TestArenaRingMemoryAttach: a handle attached to an arena ring through
// its bytes alone, which can take no liveness lock, works but claims no
// entry of its own (one would look dead to the others): it counts into the
// overflow entry.
func TestArenaRingMemoryAttach(t *testing.T) {
	requireLocks(t)
	a, _ := xpArena(t, 1<<20)
	r := xpCreate(t, a, "spsc", "mem-attach", Config{Slots: 8, SlotSize: 16})
	defer r.Detach()
	h, err := AttachSPSC(r.Region().Bytes())
	if err != nil {
		t.Fatalf("AttachSPSC over an arena ring's bytes: %v", err)
	}
	defer h.Close()
	if h.peerIdx != 0 {
		t.Fatalf("a lockless handle claimed entry %d", h.peerIdx)
	}
	if st := r.Stats(); st.Peers != 1 || st.DeadPeers != 0 {
		t.Fatalf("Stats %+v: want only the creator, alive", st)
	}
	if err := r.TryPush([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := h.TryPop(make([]byte, 16)); err != nil || n != 1 {
		t.Fatalf("pop through the memory handle: %d, %v", n, err)
	}
}

// TestPidLiveness: the fallback test for rings over caller memory: a dead
// pid, a live pid whose start time differs (a reused pid) and a zombie
// are dead; this process with its own start time is alive.
func TestPidLiveness(t *testing.T) {
	if !pidAlive(selfPID, processStartTicks()) {
		t.Fatal("this process reads as dead")
	}
	if runtime.GOOS == "linux" && pidAlive(selfPID, processStartTicks()+1) {
		t.Fatal("this pid with another start time (a reused pid) reads as alive")
	}
	child := xproc.StartT(t, "xp-attach-hold", "path=/nonexistent", "ring=x", "kind=spsc") // exits 1 at once
	<-child.Done()
	if pidAlive(uint32(child.Pid()), 0) {
		t.Fatal("a reaped child reads as alive")
	}
	if runtime.GOOS != "linux" {
		return
	}
	// A zombie: started and exited but not yet reaped.
	attr := &syscall.ProcAttr{Files: []uintptr{0, 1, 2}}
	pid, err := syscall.ForkExec("/bin/true", []string{"true"}, attr)
	if err != nil {
		t.Skipf("no /bin/true: %v", err)
	}
	defer syscall.Wait4(pid, nil, 0, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, zombie, ok := procStat(uint32(pid)); ok && zombie {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never became a zombie")
		}
		time.Sleep(time.Millisecond)
	}
	if pidAlive(uint32(pid), 0) {
		t.Fatal("a zombie reads as alive")
	}
}

// TestHeapPeers: Peers and Stats on a ring over caller memory use the pid
// test and see the handles of this process as alive; Close frees entries.
func TestHeapPeers(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			r, mem := newHeapRing(t, k.kind, Config{Slots: 8, SlotSize: 16})
			h := attachHeap(t, k.kind, mem)
			ps := r.Peers()
			if len(ps) != 2 || !ps[0].Alive || ps[0].Locked || ps[0].PID != os.Getpid() {
				t.Fatalf("Peers %+v", ps)
			}
			h.Close()
			if st := r.Stats(); st.Peers != 1 || st.DeadPeers != 0 {
				t.Fatalf("after Close: %+v", st)
			}
		})
	}
}

// TestPeersOnOneArenaHandle: handles that share one Arena handle (and so
// one open file description for their locks) stay apart: each holds its
// own entry, a release frees only its own, and a reused entry gets its new
// handle's role.
func TestPeersOnOneArenaHandle(t *testing.T) {
	requireLocks(t)
	a, _ := xpArena(t, 1<<20)
	r1 := xpCreate(t, a, "mpmc", "one-arena", Config{Slots: 16, SlotSize: 16, Peers: 3})
	r2, err := OpenMPMC(a, "one-arena")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for i := 0; i < 10; i++ {
		if err := r1.TryPush([]byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	r1.Close()
	r3, err := OpenMPMC(a, "one-arena") // reuses r1's entry
	if err != nil {
		t.Fatal(err)
	}
	defer r3.Close()
	if err := r3.TryPush([]byte("n")); err != nil {
		t.Fatal(err)
	}
	ps := r2.Peers()
	if len(ps) != 2 {
		t.Fatalf("peers %+v, want r2 and r3", ps)
	}
	for _, p := range ps {
		if !p.Alive || !p.Locked {
			t.Fatalf("peer %+v: want alive by its lock", p)
		}
		if p.Index == r3.peerIdx && p.Roles != RoleProducer {
			t.Fatalf("the reused entry's roles %v, want producer (its 11th message overall)", p.Roles)
		}
	}
	if r2.peerIdx == r3.peerIdx {
		t.Fatalf("r2 and r3 share entry %d", r2.peerIdx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r2.WaitPeers(ctx, RoleProducer, 1); err != nil {
		t.Fatalf("WaitPeers for r3: %v", err)
	}
}

// TestRemoveLiveArena: arena.Remove refuses while a process is attached to
// one of the arena's rings, and succeeds once it was killed.
func TestRemoveLiveArena(t *testing.T) {
	requireLocks(t)
	a, path := xpArena(t, 1<<20)
	r := xpCreate(t, a, "spsc", "remove-live", Config{Slots: 8, SlotSize: 16})
	defer r.Detach()
	child := xproc.StartT(t, "xp-attach-hold", "path="+path, "ring=remove-live", "kind=spsc")
	xproc.WaitFor(t, "the child to attach", child, func() bool { return strings.Contains(child.Stdout(), "attached") })
	if err := arena.Remove(path); !errors.Is(err, arena.ErrInUse) {
		t.Fatalf("Remove with a live ring handle in another process: %v, want ErrInUse", err)
	}
	if err := syscall.Kill(child.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-child.Done()
	if err := arena.Remove(path); err != nil { // this process's own handle does not count
		t.Fatalf("Remove after the other process died: %v", err)
	}
}

func init() {
	roles["xp-sleep-pop"] = xpRingRole("", xpSleepPop)
	roles["xp-sleep-push"] = xpRingRole("", xpSleepPush)
}

// xpSleepPop sleeps in Pop on an empty ring until killed.
func xpSleepPop(ctx context.Context, _ xproc.Args, r Ring) error {
	r.SetWaitStrategy(WaitBlock)
	fmt.Println("sleeping")
	_, err := r.Pop(ctx, make([]byte, r.SlotSize()))
	return fmt.Errorf("woke with %v; should have been killed", err)
}

// xpSleepPush fills the ring and sleeps in Push until killed.
func xpSleepPush(ctx context.Context, _ xproc.Args, r Ring) error {
	r.SetWaitStrategy(WaitBlock)
	for r.TryPush([]byte("x")) == nil {
	}
	fmt.Println("sleeping")
	err := r.Push(ctx, []byte("y"))
	return fmt.Errorf("woke with %v; should have been killed", err)
}

// TestKilledAsleep: a handle killed while asleep in the futex leaves its
// registration in the shared waiter count; the first wake that finds
// nobody (the survivor's next push or pop) takes it out, so later ones make
// no FUTEX_WAKE, and the dead entry's counts read 0. Recover reports it.
func TestKilledAsleep(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, tc := range []struct{ kind, role string }{
		{"spsc", "xp-sleep-pop"}, {"mpmc", "xp-sleep-pop"},
		{"spsc", "xp-sleep-push"}, {"mpmc", "xp-sleep-push"},
	} {
		t.Run(tc.kind+"-"+tc.role, func(t *testing.T) {
			name := "asleep-" + tc.kind + "-" + tc.role
			r := xpCreate(t, a, tc.kind, name, Config{Slots: 4, SlotSize: 16})
			defer r.Detach()
			c := r.(interface{ base() *core }).base()
			waiters := &c.prod.NotEmptyWaiters
			if tc.role == "xp-sleep-push" {
				waiters = &c.cons.NotFullWaiters
			}
			child := xproc.StartT(t, tc.role, "path="+path, "ring="+name, "kind="+tc.kind)
			xproc.WaitFor(t, "the child to sleep", child, func() bool { return loadU32(waiters) == 1 && r.Stats().Sleeps > 0 })
			if err := syscall.Kill(child.Pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-child.Done()
			if got := loadU32(waiters); got != 1 {
				t.Fatalf("waiters after the kill: %d, want the dead sleeper's 1", got)
			}
			// The survivor's next operation on the other side notifies:
			// its wake finds nobody and repairs.
			buf := make([]byte, 16)
			if tc.role == "xp-sleep-pop" {
				if err := r.TryPush([]byte("m")); err != nil {
					t.Fatal(err)
				}
			} else if _, err := r.TryPop(buf); err != nil {
				t.Fatal(err)
			}
			if got := loadU32(waiters); got != 0 {
				t.Fatalf("waiters after a wake found nobody: %d, want 0 (repaired)", got)
			}
			for _, p := range r.Peers() {
				if !p.Alive {
					e := c.peerAt(p.Index)
					if loadU32(&e.SleepingEmpty) != 0 || loadU32(&e.SleepingFull) != 0 {
						t.Fatalf("dead entry %d still counts sleepers", p.Index)
					}
				}
			}
			if rec := r.Recover(); rec.DeadPeers != 1 || rec.Sleepers != 0 {
				t.Fatalf("Recover after the automatic repair: %+v, want 1 dead peer, 0 sleepers left", rec)
			}
		})
	}
}

// TestRecoverReportsSleepers: Recover on demand takes a dead sleeper's
// registration out and says so.
func TestRecoverReportsSleepers(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	r := xpCreate(t, a, "mpmc", "recover-sleepers", Config{Slots: 4, SlotSize: 16})
	defer r.Detach()
	c := r.(interface{ base() *core }).base()
	child := xproc.StartT(t, "xp-sleep-pop", "path="+path, "ring=recover-sleepers", "kind=mpmc")
	xproc.WaitFor(t, "the child to sleep", child, func() bool { return loadU32(&c.prod.NotEmptyWaiters) == 1 })
	waitLongSleep(t, &c.prod.NotEmptyWaiters, nil) // past its call's short first sleep
	syscall.Kill(child.Pid(), syscall.SIGKILL)
	<-child.Done()
	if rec := r.Recover(); rec.DeadPeers != 1 || rec.Sleepers != 1 {
		t.Fatalf("Recover: %+v, want 1 dead peer with 1 sleeper", rec)
	}
	if got := loadU32(&c.prod.NotEmptyWaiters); got != 0 {
		t.Fatalf("waiters after Recover: %d", got)
	}
	if rec := r.Recover(); rec.Sleepers != 0 {
		t.Fatalf("second Recover: %+v (idempotent)", rec)
	}
}

// TestWrongRepairNeverWraps: if a repair ever takes a live sleeper's
// registration out (a handle judged dead wrongly), the sleeper's own
// unregistration must not drive the counts below zero: the cost is at most
// one wake-up that waits for the sleep bound, and later wake-ups are
// prompt again.
func TestWrongRepairNeverWraps(t *testing.T) {
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16})
	cons := attachHeap(t, kindMPMC, mem)
	cons.SetWaitStrategy(WaitBlock)
	c := cons.(interface{ base() *core }).base()
	popped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := cons.Pop(ctx, make([]byte, 16))
		popped <- err
	}()
	waitLongSleep(t, &c.prod.NotEmptyWaiters, nil)      // past its call's short first sleep
	if n := c.unregisterSleepers(c.peer, nil); n != 1 { // the wrong repair
		t.Fatalf("repair took %d registrations, want 1", n)
	}
	if err := r.TryPush([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := <-popped; err != nil {
		t.Fatalf("pop after the wrong repair: %v", err)
	}
	if w, s := loadU32(&c.prod.NotEmptyWaiters), loadU32(&c.peer.SleepingEmpty); w != 0 || s != 0 {
		t.Fatalf("after the sleeper woke: Waiters %#x, SleepingEmpty %#x; want 0, 0", w, s)
	}
	// Prompt again: a sleeper is woken by the next push, not by the bound.
	for i := 0; i < 3; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cons.Pop(ctx, make([]byte, 16))
			popped <- err
		}()
		waitLongSleep(t, &c.prod.NotEmptyWaiters, nil)
		start := time.Now()
		if err := r.TryPush([]byte("b")); err != nil {
			t.Fatal(err)
		}
		if err := <-popped; err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 50*time.Millisecond {
			t.Fatalf("wake-up %d took %v: the counts are still off", i, el)
		}
	}
}

func init() {
	roles["xp-consume-hold"] = xpRingRole("", xpConsumeHold)
}

// xpConsumeHold pops one message (which gives it the consumer role), says
// "attached" and waits to be killed.
func xpConsumeHold(ctx context.Context, _ xproc.Args, r Ring) error {
	if _, err := r.Pop(ctx, make([]byte, r.SlotSize())); err != nil {
		return err
	}
	fmt.Println("attached")
	<-ctx.Done()
	return errors.New("not killed")
}

// TestPeerDead: a call blocked on a ring that only dead handles could
// change returns ErrPeerDead (within the 100 ms check period, plus a sleep),
// whatever the wait strategy; while a handle of the other side lives, or if
// none ever worked it, the call waits for its deadline.
func TestPeerDead(t *testing.T) {
	a, path := xpArena(t, 1<<20)
	for _, kind := range []string{"spsc", "mpmc"} {
		for _, w := range []WaitStrategy{WaitBlock, WaitSpin, WaitAdaptive} {
			t.Run(fmt.Sprintf("%s-%v-consumer", kind, w), func(t *testing.T) {
				name := fmt.Sprintf("dead-prod-%s-%v", kind, w)
				r := xpCreate(t, a, kind, name, Config{Slots: 4, SlotSize: 16})
				defer r.Detach()
				r.SetWaitStrategy(w)
				buf := make([]byte, 16)
				// Nobody ever produced: wait for the deadline.
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				_, err := r.Pop(ctx, buf)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Pop with no producer ever: %v, want the deadline", err)
				}
				child := xproc.StartT(t, "xp-attach-hold", "path="+path, "ring="+name, "kind="+kind)
				xproc.WaitFor(t, "the producer to attach", child, func() bool { return strings.Contains(child.Stdout(), "attached") })
				if _, err := r.TryPop(buf); err != nil { // its message
					t.Fatal(err)
				}
				// A live producer: wait for the deadline.
				ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
				_, err = r.Pop(ctx, buf)
				cancel()
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Pop with a live idle producer: %v, want the deadline", err)
				}
				syscall.Kill(child.Pid(), syscall.SIGKILL)
				<-child.Done()
				ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				start := time.Now()
				_, err = r.Pop(ctx, buf)
				if !errors.Is(err, ErrPeerDead) {
					t.Fatalf("Pop after the only producer died: %v, want ErrPeerDead", err)
				}
				if el := time.Since(start); el > 2*time.Second {
					t.Fatalf("ErrPeerDead after %v", el)
				}
			})
		}
		t.Run(kind+"-producer", func(t *testing.T) {
			name := "dead-cons-" + kind
			r := xpCreate(t, a, kind, name, Config{Slots: 4, SlotSize: 16})
			defer r.Detach()
			r.SetWaitStrategy(WaitBlock)
			if err := r.TryPush([]byte("first")); err != nil {
				t.Fatal(err)
			}
			child := xproc.StartT(t, "xp-consume-hold", "path="+path, "ring="+name, "kind="+kind)
			xproc.WaitFor(t, "the consumer to attach", child, func() bool { return strings.Contains(child.Stdout(), "attached") })
			for r.TryPush([]byte("x")) == nil {
			}
			syscall.Kill(child.Pid(), syscall.SIGKILL)
			<-child.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Push(ctx, []byte("y")); !errors.Is(err, ErrPeerDead) {
				t.Fatalf("Push on a full ring whose only consumer died: %v, want ErrPeerDead", err)
			}
			if n, err := r.PushBatch(ctx, [][]byte{[]byte("z")}); n != 0 || !errors.Is(err, ErrPeerDead) {
				t.Fatalf("PushBatch: %d, %v, want ErrPeerDead", n, err)
			}
		})
	}
}

// deadPID returns the pid of a child that has exited and been reaped.
func deadPID(t *testing.T) uint32 {
	t.Helper()
	child := xproc.StartT(t, "xp-attach-hold", "path=/nonexistent", "ring=x", "kind=spsc") // fails at once
	<-child.Done()
	return uint32(child.Pid())
}

// fakeDeadPeer fills free entry i with a dead process's handle of role.
func fakeDeadPeer(t *testing.T, c *core, i int, role Role) {
	t.Helper()
	e := c.peerAt(i)
	if loadU32(&e.PID) != 0 {
		t.Fatalf("entry %d is not free", i)
	}
	atomic.StoreUint32(&e.Roles, uint32(role))
	atomic.StoreUint32(&e.PID, deadPID(t))
}

// TestPeerDeadNotBeforeEOF: a ring closed by a producer that died before
// setting the Closed mirror still ends with io.EOF, not ErrPeerDead.
func TestPeerDeadNotBeforeEOF(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			_, mem := newHeapRing(t, k.kind, Config{Slots: 4, SlotSize: 16, Peers: 8})
			cons := attachHeap(t, k.kind, mem)
			c := cons.(interface{ base() *core }).base()
			fakeDeadPeer(t, c, 5, RoleProducer)
			atomic.OrUint64(&c.prod.Pos, closedBit) // the bit without the mirror
			for _, w := range []WaitStrategy{WaitBlock, WaitSpin, WaitYield} {
				cons.SetWaitStrategy(w)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := cons.Pop(ctx, make([]byte, 16))
				cancel()
				if err != io.EOF {
					t.Fatalf("%v: Pop on a closed, drained ring with a dead producer: %v, want io.EOF", w, err)
				}
			}
		})
	}
}

// TestPeerDeadWaitsForALiveProducer: a live MPMC producer holding its
// first reservation counts as alive (its role is set at the claim), so a
// consumer waiting behind it is not told ErrPeerDead because an earlier
// producer died.
func TestPeerDeadWaitsForALiveProducer(t *testing.T) {
	r, mem := newHeapRing(t, kindMPMC, Config{Slots: 4, SlotSize: 16, Peers: 8})
	prod := attachHeap(t, kindMPMC, mem)
	cons := attachHeap(t, kindMPMC, mem)
	_ = r
	c := cons.(interface{ base() *core }).base()
	fakeDeadPeer(t, c, 6, RoleProducer)
	res, err := prod.TryReserve(4) // first operation of a live producer, not committed
	if err != nil {
		t.Fatal(err)
	}
	cons.SetWaitStrategy(WaitBlock)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	_, err = cons.Pop(ctx, make([]byte, 16))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Pop behind a live producer's reservation: %v, want the deadline", err)
	}
	if err := prod.Commit(res, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.TryPop(make([]byte, 16)); err != nil {
		t.Fatal(err)
	}
}

// TestOtherSideLocal: the adaptive wait's one-P hint is true only while
// every handle of the other side is in this process.
func TestOtherSideLocal(t *testing.T) {
	r, mem := newHeapRing(t, kindSPSC, Config{Slots: 8, SlotSize: 8})
	c := r.(*SPSC)
	if c.otherSideLocal(true) || c.otherSideLocal(false) {
		t.Fatal("no handle has a role yet, but the other side counts as local")
	}
	if err := c.TryPush([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if !c.otherSideLocal(false) {
		t.Fatal("the producer is this process's handle, but a consumer does not see it as local")
	}
	if c.otherSideLocal(true) {
		t.Fatal("nobody consumes, but a producer sees a local consumer")
	}
	// Another process's entry with the producer role makes it non-local.
	other, err := AttachSPSC(mem)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.TryPush([]byte("y")); err != nil && !errors.Is(err, ErrFenced) {
		t.Fatal(err)
	}
	atomic.StoreUint32(&other.peer.PID, uint32(os.Getpid())+1)
	if c.otherSideLocal(false) {
		t.Fatal("a producer entry of another pid counts as local")
	}
	atomic.StoreUint32(&other.peer.PID, uint32(os.Getpid()))
}
