package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Kill targeting.
const (
	// targetWait bounds the wait for a child to be in the target state;
	// then it is killed wherever it is.
	targetWait = 300 * time.Millisecond
	// publishWait is targetWait for the publish target, whose window is
	// the narrowest (a few hundred ns of a batch's writes).
	publishWait = 2 * targetWait
	// holdFor is the expiry written into a hold: the other side resumes
	// by itself after it even if the supervisor never clears it.
	holdFor = targetWait + 100*time.Millisecond
	// asleepFor is how long a child must sit in one blocking call, on a
	// full (producer) or empty (consumer) ring with a futex registration,
	// to count as asleep in the futex.
	asleepFor = 2 * time.Millisecond
	pollEvery = 100 * time.Microsecond
	// quietWait bounds the wait, before a kill, for the previous kill on
	// the same ring to be measured (so stalls do not overlap).
	quietWait = stallLimit + 500*time.Millisecond
)

// target is where a kill is aimed.
type target uint8

const (
	tIdle    target = iota // between operations
	tCall                  // inside a push or pop call
	tHold                  // holding a reservation (producer) or a peeked message (consumer)
	tBatch                 // inside PushBatch or PopBatch (mid-batch when the ring is full)
	tAsleep                // asleep in the futex on a full (producer) or empty (consumer) ring
	tJoin                  // a broadcast subscriber right after Subscribe returned
	tPublish               // a broadcast producer between a slot's write and its publish
	numTargets
)

var targetNames = [numTargets]string{"idle", "call", "hold", "batch", "asleep", "join", "publish"}

// targets are the targets slot s may be killed at.
func (s *slot) targets() []target {
	t := []target{tIdle, tCall, tHold, tBatch, tAsleep}
	switch {
	case !s.ring.bcast():
	case s.role == "consumer":
		t = append(t, tJoin)
	default:
		// Twice: the window is the hardest to hit, and its takeover is
		// what broadcast_takeover.go is about.
		t = append(t, tPublish, tPublish)
	}
	return t
}

func (t target) String() string { return targetNames[t] }

// killRecord is one kill.
type killRecord struct {
	n      int
	slot   *slot
	inc    uint32
	target target
	hit    bool // the child was in the target state when the signal was sent
	held   bool // the other side was held to get it there
	waited time.Duration
	at     time.Time  // when the signal was sent
	landed childState // the state its record showed after its death
	// base is the ring's received count at the kill; stall the time
	// until it exceeded base+Slots (measured), or until the campaign
	// gave up waiting.
	base     uint64
	stall    time.Duration
	measured bool
	// restart is how long the next incarnation took to attach to its
	// ring after the kill (part of the stall), if it did while the stall
	// was measured.
	restart time.Duration
	// late: the successor starts only after lateRestart (a tethered
	// broadcast subscriber's: its dead tether must be released).
	late bool
	// stops is how often killPublish stopped the child and looked.
	stops int
	// dead is how long after the signal the child was dead (waitDead).
	dead time.Duration
	// state is the ring's and its children's state once the stall had
	// lasted slowStall (ringNow), or "".
	state string
}

// killLoop kills about every interval until until.
func (c *campaign) killLoop(ctx context.Context, until time.Time) {
	rng := rand.New(rand.NewPCG(c.o.Seed, 0x6b696c6c))
	all := append(append([]*slot(nil), c.producers...), c.consumers...)
	for {
		wait := time.Duration(float64(c.o.interval) * (0.5 + rng.Float64()))
		if time.Now().Add(wait).After(until) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		// A frozen ring learns nothing from more kills: aim at the others
		// while there are any.
		live := slices.DeleteFunc(slices.Clone(all), func(s *slot) bool { return c.frozen(s.ring) })
		if len(live) == 0 {
			live = all
		}
		s := live[rng.IntN(len(live))]
		ts := s.targets()
		switch t := ts[rng.IntN(len(ts))]; t {
		case tJoin:
			c.killJoin(ctx, s, until)
		case tPublish:
			c.killPublish(ctx, rng, s, until)
		default:
			c.killOne(ctx, rng, s, t, until)
		}
	}
}

// killJoin kills broadcast subscriber slot s's successor right after its
// Subscribe returned: the running incarnation first, where it is (unless
// it is there already), then the next as it lingers there.
func (c *campaign) killJoin(ctx context.Context, s *slot, until time.Time) {
	for start := time.Now(); c.pendingOn(s.ring) && time.Since(start) < quietWait; {
		time.Sleep(time.Millisecond)
	}
	for i := range 2 {
		if time.Now().After(until) {
			return
		}
		s.mu.Lock()
		ch, inc := s.child, s.inc
		if ch != nil && i == 0 {
			s.linger = true // the next incarnation lingers after Subscribe
		}
		s.mu.Unlock()
		if ch == nil {
			return
		}
		k := &killRecord{slot: s, inc: inc, target: tJoin}
		begin := time.Now()
		stateWord := &c.l.consumer(s.idx).State
		for now := begin; ; now = time.Now() {
			if stateOf(atomic.LoadUint64(stateWord)) == stJoined {
				k.hit = true
				break
			}
			if now.Sub(begin) > targetWait || ctx.Err() != nil {
				break
			}
			time.Sleep(pollEvery)
		}
		if !c.killNow(s, ch, k, begin, nil) || k.hit {
			return
		}
		// The successor: wait for it to attach (it lingers once joined).
		for start := time.Now(); time.Since(start) < targetWait; time.Sleep(pollEvery) {
			s.mu.Lock()
			next := s.child != nil && s.inc != inc
			s.mu.Unlock()
			if next || ctx.Err() != nil {
				break
			}
		}
	}
}

// killPublish kills broadcast producer slot s between a slot's write and
// its publish. While it is in a batch (which writes all its slots, then
// publishes them at once) the supervisor stops it (SIGSTOP) now and then
// and reads on from the published position with its own lossy
// subscriber, the probe: a message there, which a subscriber takes
// through its slot's sequence, was completed and not published, and the
// producer is killed as it stands (SIGKILL); otherwise it goes on
// (SIGCONT). How many the probe found is recorded: the successor's
// takeover must adopt exactly those (contract_broadcast.go).
func (c *campaign) killPublish(ctx context.Context, rng *rand.Rand, s *slot, until time.Time) {
	for start := time.Now(); c.pendingOn(s.ring) && time.Since(start) < quietWait; {
		time.Sleep(time.Millisecond)
	}
	if time.Now().After(until) {
		return
	}
	s.mu.Lock()
	ch, inc := s.child, s.inc
	s.mu.Unlock()
	if ch == nil {
		return
	}
	k := &killRecord{slot: s, inc: inc, target: tPublish}
	stateWord := &c.l.producer(s.idx).State
	pid := ch.Pid()
	begin := time.Now()
	for time.Since(begin) < publishWait && ctx.Err() == nil && !ch.Exited() {
		if stateOf(atomic.LoadUint64(stateWord)) != stBatch {
			time.Sleep(pollEvery)
			continue
		}
		if syscall.Kill(pid, syscall.SIGSTOP) != nil {
			break
		}
		k.stops++
		if waitStopped(pid) {
			if n := c.probeUnpublished(s.ring); n > 0 {
				k.hit = true
				s.mu.Lock()
				p := &s.bprods[inc-1]
				p.Probed, p.Unpublished = true, n
				s.mu.Unlock()
				break // and killed stopped
			}
		}
		syscall.Kill(pid, syscall.SIGCONT)
		// Not in step with the producer's loop.
		time.Sleep(time.Duration(rng.IntN(int(2 * pollEvery))))
	}
	if !c.killNow(s, ch, k, begin, nil) {
		syscall.Kill(pid, syscall.SIGCONT)
	}
}

// waitStopped waits (up to 5 ms) until every thread of process pid is
// stopped, and reports whether they were seen so. Where /proc cannot
// tell, it waits a millisecond and says yes.
func waitStopped(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	for start := time.Now(); time.Since(start) < 5*time.Millisecond; time.Sleep(20 * time.Microsecond) {
		tasks, err := os.ReadDir(dir)
		if err != nil {
			time.Sleep(time.Millisecond)
			return true
		}
		all := true
		for _, t := range tasks {
			b, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
			// The state follows the command name's closing parenthesis.
			i := bytes.LastIndexByte(b, ')')
			if err != nil || i < 0 || i+2 >= len(b) || b[i+2] != 'T' && b[i+2] != 't' {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// probeUnpublished reads broadcast ring r with the supervisor's probe
// subscriber up to the end of what it can read, its producer stopped, and
// returns how many messages it read past the published position: the
// messages the producer completed and did not publish. No system call:
// it runs while the producer is stopped, as often as it can.
func (c *campaign) probeUnpublished(r *crashRing) uint64 {
	behind := r.probe.Lag() // the published position less the probe's cursor: nobody publishes, the producer is stopped
	var read uint64
	for range 4 * r.slots {
		_, err := r.probe.TryPop(c.probeBuf)
		if lap := (*ring.LappedError)(nil); errors.As(err, &lap) {
			read += lap.Missed
			continue
		}
		if err != nil {
			break
		}
		read++
	}
	return read - min(read, behind)
}

// killOne waits (bounded) for slot s's child to be in state t and kills
// it then, or where it is when the wait runs out; not after until.
func (c *campaign) killOne(ctx context.Context, rng *rand.Rand, s *slot, t target, until time.Time) {
	for start := time.Now(); c.pendingOn(s.ring) && time.Since(start) < quietWait; {
		time.Sleep(time.Millisecond)
	}
	if time.Now().After(until) {
		return
	}
	s.mu.Lock()
	ch, inc := s.child, s.inc
	s.mu.Unlock()
	if ch == nil {
		return // between incarnations
	}
	var stateWord *uint64
	var strategy ring.WaitStrategy
	rr := c.l.ring(s.ring.idx)
	holdWord := &rr.HoldConsumers // the other side's
	if s.role == "producer" {
		rec := c.l.producer(s.idx)
		stateWord, strategy = &rec.State, ring.WaitStrategy(atomic.LoadUint32(&rec.Strategy))
	} else {
		rec := c.l.consumer(s.idx)
		stateWord, strategy = &rec.State, ring.WaitStrategy(atomic.LoadUint32(&rec.Strategy))
		holdWord = &rr.HoldProducers
	}
	if t == tAsleep && (strategy == ring.WaitSpin || strategy == ring.WaitYield) {
		t = tCall // this incarnation never sleeps in the futex
	}
	k := &killRecord{slot: s, inc: inc, target: t}
	// A quarter of a tethered subscriber's kills keep its successor away
	// past the stall limit: the producer must get past the dead tether by
	// itself.
	k.late = s.ring.bcast() && s.role == "consumer" && !s.lossy && rng.IntN(4) == 0
	// Asleep needs a full or empty ring: pause the other side. A
	// producer's batch, half the time, too: it then waits mid-batch.
	if t == tAsleep || t == tBatch && s.role == "producer" && rng.IntN(2) == 0 {
		k.held = true
		atomic.StoreInt64(holdWord, time.Now().Add(holdFor).UnixNano()) // the other side pauses at its next operation
	}
	begin := time.Now()
	var same uint64 // for asleep: the packed state seen at sameSince
	var sameSince time.Time
	for now := begin; ; now = time.Now() {
		v := atomic.LoadUint64(stateWord) // the child's latest state
		if c.inTarget(s, t, v, now, &same, &sameSince) {
			k.hit = true
			break
		}
		if now.Sub(begin) > targetWait || ctx.Err() != nil {
			break
		}
		time.Sleep(pollEvery)
	}
	c.killNow(s, ch, k, begin, holdWord)
}

// killNow kills slot s's incarnation ch and records kill k, unless the
// incarnation ended by itself meanwhile; it clears the hold (if any) after
// the kill, and reports whether it killed.
func (c *campaign) killNow(s *slot, ch *xproc.Child, k *killRecord, begin time.Time, holdWord *int64) bool {
	s.mu.Lock()
	if s.child != ch { // it ended by itself meanwhile
		s.mu.Unlock()
		if holdWord != nil {
			atomic.StoreInt64(holdWord, 0)
		}
		return false
	}
	s.kill = k
	s.late = k.late // read by the manager once the child is dead
	dead := s.dead
	s.mu.Unlock()
	k.base = c.received(s.ring)
	k.at = time.Now()
	k.waited = k.at.Sub(begin)
	go ch.Kill() // SIGKILL, then it waits until the child is reaped
	// Measured from now on, however long the child takes to die.
	c.mu.Lock()
	k.n = len(c.kills) + 1
	c.kills = append(c.kills, k)
	c.pending = append(c.pending, k)
	c.mu.Unlock()
	waitDead(ch)
	c.mu.Lock()
	k.dead = time.Since(k.at)
	c.mu.Unlock()
	close(dead) // the manager may start the next incarnation
	if holdWord != nil {
		atomic.StoreInt64(holdWord, 0)
	}
	return true
}

// procfs says whether /proc describes processes here (waitDead).
var procfs = func() bool {
	_, err := os.Stat("/proc/self/stat")
	return err == nil
}()

// waitDead waits until child ch, sent SIGKILL, is dead: none of its
// threads will run its code again, so nothing of it writes the ledger or
// the ring any more. That is its reap, or as /proc tells it (every thread
// exited or in the kernel's exit path), often much sooner. On the 2-CPU
// VM of docs/testing.md a killed child's last thread was seen in D state
// in exit_mmap (unlink_file_vma_batch_process, waiting for the arena
// file's i_mmap lock, with DAMON's pageout scheme scanning memory) for
// 100 ms to over a second now and then, and its reap later still; the
// successor waited for that. What the ring sees of that time (the dead
// handle's liveness lock is held until its files are closed, after the
// memory) counts in the stall as it must.
func waitDead(ch *xproc.Child) {
	if !procfs {
		<-ch.Done()
		return
	}
	// Apart: a read of /proc about a dying process was seen to block for
	// 2 s, and the reap must not wait behind it.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		for !procExited(ch.Pid()) {
			select {
			case <-ch.Done():
				return
			case <-t.C:
			}
		}
	}()
	select {
	case <-ch.Done():
	case <-gone:
	}
}

// procExited reports whether /proc shows process pid, which has not been
// reaped (or whose pid no process has taken since: a reused pid only
// makes this say no), with every thread exited or exiting: none will run
// the child's code again.
func procExited(pid int) bool {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	if err != nil {
		return false
	}
	for _, t := range tasks {
		if !taskExited(filepath.Join(dir, t.Name(), "stat")) {
			return false
		}
	}
	return true
}

// pfExiting is the kernel's PF_EXITING task flag: set as a thread enters
// do_exit, from which it never returns to user code.
const pfExiting = 0x4

// taskExited reads a thread's /proc stat file: exited if it is gone, a
// zombie or dead, or exiting (it may still be tearing the process's
// memory down: seen to take a second and more on this VM, its peer
// entry's liveness lock held until the files are closed after that).
func taskExited(stat string) bool {
	b, err := os.ReadFile(stat)
	if errors.Is(err, fs.ErrNotExist) {
		return true
	}
	// The state and then ppid, pgrp, session, tty_nr, tpgid and flags
	// follow the command name's closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 {
		return false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false
	}
	if f[0] == "Z" || f[0] == "X" {
		return true
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&pfExiting != 0
}

// inTarget reports whether packed state v of slot s's child is target t.
func (c *campaign) inTarget(s *slot, t target, v uint64, now time.Time, same *uint64, since *time.Time) bool {
	st := stateOf(v)
	switch t {
	case tIdle:
		return st == stIdle
	case tCall:
		return st == stPush || st == stPop || st == stReserving
	case tHold:
		return st == stReserve || st == stPeek
	case tBatch:
		return st == stBatch
	}
	// Asleep: waiting in one blocking call (the same state change) for
	// asleepFor, the ring full or empty, and someone registered in the
	// futex (on a shared ring it may be another of the same side; after
	// asleepFor on a ring that cannot move, with a strategy that sleeps,
	// this one is too).
	blocking := st == stWait || st == stBatch
	if !blocking {
		*same = 0
		return false
	}
	if v != *same {
		*same, *since = v, now
		return false
	}
	if now.Sub(*since) < asleepFor {
		return false
	}
	stats := s.ring.handle.Stats()
	if s.ring.recs() {
		// A record ring's Len is its handles' counters, which kills
		// leave short now and then: the registration and the child's
		// 2 ms in one blocking call, the other side held, say it.
		if s.role == "producer" {
			return stats.NotFullWaiters > 0
		}
		return stats.NotEmptyWaiters > 0
	}
	if s.role == "producer" {
		return stats.NotFullWaiters > 0 && stats.Len >= uint64(s.ring.slots)
	}
	if s.ring.bcast() {
		// Len is the tethered subscribers' backlog: ask for this one's.
		return stats.NotEmptyWaiters > 0 && c.subscriberLag(s) == 0
	}
	return stats.NotEmptyWaiters > 0 && stats.Len == 0
}

// subscriberLag is broadcast subscriber slot s's incarnation's lag, or
// ^0 if it has no live entry.
func (c *campaign) subscriberLag(s *slot) uint64 {
	s.mu.Lock()
	ch := s.child
	s.mu.Unlock()
	b, ok := s.ring.handle.(*ring.Broadcast)
	if ch == nil || !ok {
		return ^uint64(0)
	}
	for _, sub := range b.Subscribers() {
		if sub.PID == ch.Pid() && sub.Alive {
			return sub.Lag
		}
	}
	return ^uint64(0)
}
