package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/ring"
)

// Kill targeting.
const (
	// targetWait bounds the wait for a child to be in the target state;
	// then it is killed wherever it is.
	targetWait = 300 * time.Millisecond
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
	tIdle   target = iota // between operations
	tCall                 // inside a push or pop call
	tHold                 // holding a reservation (producer) or a peeked message (consumer)
	tBatch                // inside PushBatch or PopBatch (mid-batch when the ring is full)
	tAsleep               // asleep in the futex on a full (producer) or empty (consumer) ring
	numTargets
)

var targetNames = [numTargets]string{"idle", "call", "hold", "batch", "asleep"}

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
		c.killOne(ctx, rng, s, target(rng.IntN(int(numTargets))), until)
	}
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
	s.mu.Lock()
	if s.child != ch { // it ended by itself meanwhile
		s.mu.Unlock()
		atomic.StoreInt64(holdWord, 0)
		return
	}
	s.kill = k
	s.mu.Unlock()
	k.base = c.received(s.ring)
	k.at = time.Now()
	k.waited = k.at.Sub(begin)
	ch.Kill() // SIGKILL, then waits until it is reaped
	atomic.StoreInt64(holdWord, 0)
	c.mu.Lock()
	k.n = len(c.kills) + 1
	c.kills = append(c.kills, k)
	c.pending = append(c.pending, k)
	c.mu.Unlock()
}

// inTarget reports whether packed state v of slot s's child is target t.
func (c *campaign) inTarget(s *slot, t target, v uint64, now time.Time, same *uint64, since *time.Time) bool {
	st := stateOf(v)
	switch t {
	case tIdle:
		return st == stIdle
	case tCall:
		return st == stPush || st == stPop
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
	if s.role == "producer" {
		return stats.NotFullWaiters > 0 && stats.Len >= uint64(s.ring.slots)
	}
	return stats.NotEmptyWaiters > 0 && stats.Len == 0
}
