package ring

// Repair of MPMC claims whose holder died (or, with WithClaimTimeout, holds
// them too long). A Vyukov ring has two kinds of claim that stall others:
//
//   - a producer that won the CAS for position q owns slot q until it
//     stores Seq = q+1; consumers wait at q meanwhile, and producers one
//     lap later;
//   - a consumer that won the CAS for q owns the slot until it stores
//     Seq = q+Slots; producers of position q+Slots wait at it.
//
// A handle killed between the two freezes the ring for everyone. Repair
// needs to know whose claim a stuck slot is, and whether that handle is
// alive; it then moves the slot on with one CAS of its Seq, which the
// holder's own publish (also a CAS now) cannot race: exactly one of the two
// wins, and a holder that loses gets ErrFenced.
//
// Whose claim. A handle's tag is its peer entry index (10 bits), the
// entry's Generation at its claim (21 bits) and tagConsumer; entry 0 (the
// shared overflow entry) has tagOverflow, whose liveness is unknown.
// Claiming is, for producers and consumers alike:
//
//	1. store 1+pos in the entry's claim word (ProdClaim, ConsClaim);
//	2. CAS the shared position (the claim);
//	3. store the tag in the Owner of every claimed slot;
//	4. store 0 in the claim word.
//
// and release stores Owner = 0 before its Seq CAS. So a repairer that saw
// the claim's effect (the position past q) and finds Owner carrying the
// claimant's role knows the claimant from the tag; finding it untagged
// (the claimant is between steps 2 and 3) it looks for claim words that
// cover q (a claim word covers [pos, pos+Slots)): the claimant's is there
// until after step 3 (program order, and the CAS publishes step 1). A live
// covering claimant means "wait"; only dead ones means dead; none at all
// means the claimant is past step 3 (look again) or, rarely, that another
// goroutine of the same handle overwrote its claim word (unknown: only the
// claim timeout then moves the slot).
//
// The slot states a repairer acts on, for position q, with E and D the
// producer and consumer positions (mpmc.go has the normal states):
//
//	A  Seq == q,         D <= q < E   producer claim not committed
//	                                  -> CAS Seq to (q+1)|skipBit: a skip record
//	B  Seq == q+1,       D > q        consumer claim not released; acted on
//	                                  only once E == q+Slots (a producer waits
//	                                  for the slot) -> republish: CAS E to E+1,
//	                                  tag, CAS Seq to E+1: the message is
//	                                  delivered again, at position E
//	C  Seq == (q+1)|skip, D > q       a consumer claimed a skip record and did
//	                                  not release it -> CAS Seq to q+Slots
//	D  Seq == q-Slots+1, D <= q < E   a republish of q-Slots claimed q and its
//	                                  republisher died before the Seq CAS
//	                                  -> CAS Seq to q+1
//
// Consumers pass over skip records (claim them like a message, release at
// once). Skipped and Redelivered in the ring header count the repairs.
//
// When. Nothing here runs in steady state. A handle looks at the slot
// that blocks it only on its slow paths: every tailEvery-th empty or full
// poll, and every wake of a blocking call (which then sleeps at most
// stallSleep). A slot must be seen stuck for stallGrace before its holder's
// liveness is probed (one fcntl lock test), and probes run at most every
// stallProbeEvery per handle, so a claim that is merely slow costs nothing
// and a dead one is repaired within a few milliseconds of the first look.

import (
	"sync/atomic"
	"time"
)

// skipBit marks a slot's Seq as a skip record: positions are below 2^63,
// so no normal Seq has it.
const skipBit = uint64(1) << 63

// Owner tags.
const (
	tagIdxMask  = 1<<10 - 1
	tagConsumer = 1 << 10
	tagGenShift = 11
	tagGenMask  = 1<<21 - 1
	// tagOverflow is the tag of handles without an entry of their own.
	tagOverflow = uint32(tagGenMask) << tagGenShift
	// tagRepaired marks a consumer claim whose holder a repairer found
	// dead, stored before it republishes the message: should the
	// repairer die too, the next one knows at once (state D's Owner is
	// then this or the repairer's own producer tag, never the original
	// producer's).
	tagRepaired = ^uint32(0)
)

// makeTag is the producer tag of entry idx (>= 1) claimed at generation gen.
func makeTag(idx int, gen uint32) uint32 {
	return uint32(idx)&tagIdxMask | (gen&tagGenMask)<<tagGenShift
}

// Repair timing.
const (
	// stallGrace is how long a slot must be seen stuck before its holder's
	// liveness is probed: far above any healthy claim (tens of
	// nanoseconds, or a reservation the application is filling).
	stallGrace = time.Millisecond
	// stallProbeEvery bounds how often one handle probes.
	stallProbeEvery = 2 * time.Millisecond
	// stallSleep bounds a blocking call's futex sleep while the slot it
	// waits at is stuck, so the repair comes within milliseconds even
	// when nobody will wake it.
	stallSleep = 2 * time.Millisecond
)

// stallTracker is a handle's memory of the slot it last saw stuck. Its
// fields are process-private and written only on slow paths; goroutines
// of the handle share it, and a race among them at worst delays a probe.
type stallTracker struct {
	key   atomic.Uint64 // 1 + the stuck position, 0 none
	since atomic.Int64  // UnixNano when it was first seen stuck
	probe atomic.Int64  // UnixNano of the last liveness probe
}

// claimState is what a repairer knows of a claim's holder.
type claimState int

const (
	claimAlive claimState = iota
	claimUnknown
	claimDead
)

// blocked implements kindOps for a waiting call: it looks at the slot
// that blocks a producer (push) or consumer, repairs it if its holder is
// dead (or timed out), and reports whether it repaired something and
// whether a claim (rather than an empty or full ring) is what blocks.
func (r *MPMC) blocked(push bool) (repaired, stuck bool) {
	e := atomic.LoadUint64(&r.prod.Pos) & posMask // acquire
	d := atomic.LoadUint64(&r.cons.Pos)           // acquire
	q := d
	if push {
		if e < r.g.slots {
			return false, false
		}
		q = e - r.g.slots
		if d <= q {
			// Behind the consumers only if a producer claim at q is not
			// committed (state A); otherwise simply full.
			s, _ := r.slotAt(q)
			if atomic.LoadUint64(&s.Seq) != q {
				return false, false
			}
		}
	} else if e <= d {
		return false, false // empty: nothing claimed at D
	}
	if !r.stuckAt(q) {
		return false, false
	}
	return r.unstick(q, push), true
}

// stuckAt reports whether slot q is in one of the states a repair acts on.
func (r *MPMC) stuckAt(q uint64) bool {
	return r.repairAt(q, 0, -1, true)
}

// unstick tracks slot q, seen stuck by a producer (push) or consumer, and
// repairs it once it has been stuck for stallGrace and its holder is dead
// (or held it past the claim timeout). It reports whether it changed the
// slot. Each side has its own tracker, so a handle blocked on both sides
// at different slots tracks both.
func (r *MPMC) unstick(q uint64, push bool) bool {
	now := time.Now().UnixNano()
	t := &r.stall[0]
	if push {
		t = &r.stall[1]
	}
	if t.key.Load() != q+1 {
		t.key.Store(q + 1)
		t.since.Store(now)
		t.probe.Store(0)
		return false
	}
	held := now - t.since.Load()
	if held < int64(stallGrace) || now-t.probe.Load() < int64(stallProbeEvery) {
		return false
	}
	t.probe.Store(now)
	if r.repairAt(q, time.Duration(held), -1, false) {
		t.key.Store(0)
		return true
	}
	return false
}

// repairAt repairs slot q if it is in state A, B, C or D and its holder
// is dead, or has held it for held >= the claim timeout; entry deadIdx (if
// >= 0) counts as dead whatever its lock says (a claimer reusing it).
// With dryRun it only reports whether q is in one of those states.
func (r *MPMC) repairAt(q uint64, held time.Duration, deadIdx int, dryRun bool) bool {
	n := r.g.slots
	s, _ := r.slotAt(q)
	// Acquire loads, positions first: a claim whose effect we see has its
	// claim word (stored before the CAS) visible to us too.
	e := atomic.LoadUint64(&r.prod.Pos)
	closed := e&closedBit != 0
	e &= posMask
	d := atomic.LoadUint64(&r.cons.Pos)
	seq := atomic.LoadUint64(&s.Seq)
	owner := atomic.LoadUint32(&s.Owner)
	if e-d > n && d-e > n { // garbage positions: not ours to repair
		return false
	}
	// move says whether the claim's holder is dead or timed out; with
	// dryRun the state alone answers, and nothing below it runs.
	move := func(consumer bool) bool {
		if dryRun {
			return true
		}
		st := r.claimant(owner, consumer, q, deadIdx)
		return st == claimDead || r.claimTimeout > 0 && held >= r.claimTimeout
	}
	switch {
	case seq == q && d <= q && q < e && e-q <= n: // A
		if !move(false) || dryRun {
			return dryRun
		}
		if atomic.CompareAndSwapUint64(&s.Seq, q, (q+1)|skipBit) { // seq-cst: against the holder's publish CAS
			atomic.AddUint64(&r.hdr.Skipped, 1)
			r.notEmpty.notify(1, r.peer)
			return true
		}
	case seq == q+1 && d > q && d-q <= n: // B
		if e != q+n || closed || !move(true) || dryRun {
			return dryRun && e == q+n && !closed
		}
		return r.republish(s, q, e)
	case seq == (q+1)|skipBit && d > q && d-q <= n: // C
		if !move(true) || dryRun {
			return dryRun
		}
		if atomic.CompareAndSwapUint64(&s.Seq, seq, q+n) { // seq-cst: as releaseSlot
			r.notFull.notify(1, r.peer)
			return true
		}
	case q >= n && seq == q-n+1 && d <= q && q < e && e-q <= n: // D
		if !move(false) || dryRun {
			return dryRun
		}
		if atomic.CompareAndSwapUint64(&s.Seq, seq, q+1) { // seq-cst: publishes the message again
			atomic.AddUint64(&r.hdr.Redelivered, 1)
			r.notEmpty.notify(1, r.peer)
			return true
		}
	}
	return false
}

// republish hands the message of slot q, claimed by a consumer that died
// holding it, to the consumers again at position p = q+Slots, where a
// producer now waits for the slot: we claim p as a producer would (claim
// word, CAS, tag), and one CAS of Seq from q+1 to p+1 publishes the same
// bytes as p's message. A repairer killed between the two CASes leaves
// state D, which the next repairer completes.
func (r *MPMC) republish(s *mpmcSlot, q, p uint64) bool {
	storeOwned32(&s.Owner, tagRepaired) // published by the CAS below
	storeOwned64(&r.peer.ProdClaim, p+1)
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, p, p+1) { // seq-cst: the claim; fails if closed or moved
		storeOwned64(&r.peer.ProdClaim, 0)
		return false
	}
	storeOwned32(&s.Owner, r.ownerTag)
	storeOwned64(&r.peer.ProdClaim, 0)
	if atomic.CompareAndSwapUint64(&s.Seq, q+1, p+1) { // seq-cst: publishes it again
		atomic.AddUint64(&r.hdr.Redelivered, 1)
		r.notEmpty.notify(1, r.peer)
		return true
	}
	// The consumer was not dead but late (a claim timeout), and released
	// the slot after all: it is now free for position p, which is ours.
	// Nothing to deliver there: a skip record.
	if atomic.CompareAndSwapUint64(&s.Seq, p, (p+1)|skipBit) {
		atomic.AddUint64(&r.hdr.Skipped, 1)
		r.notEmpty.notify(1, r.peer)
	}
	return true
}

// claimant says whether the holder of a claim at q is alive. owner is the
// slot's Owner; consumer says which role's claim it is. An Owner of the
// other role means the claimant has not tagged the slot yet: the claim
// words tell.
func (r *MPMC) claimant(owner uint32, consumer bool, q uint64, deadIdx int) claimState {
	role := uint32(0)
	if consumer {
		role = tagConsumer
	}
	if owner != 0 && owner&tagConsumer == role {
		return r.tagState(owner, deadIdx)
	}
	return r.claimWordState(consumer, q, deadIdx)
}

// tagState tests the handle a tag names.
func (r *MPMC) tagState(tag uint32, deadIdx int) claimState {
	if tag == tagRepaired {
		return claimDead
	}
	idx := int(tag & tagIdxMask)
	if idx == 0 || idx >= int(r.g.peers) {
		return claimUnknown // the overflow entry (or garbage)
	}
	if idx == deadIdx {
		return claimDead
	}
	e := r.peerAt(idx)
	if atomic.LoadUint32(&e.Generation)&tagGenMask != tag>>tagGenShift {
		// Claimed again since: the tagged handle released the entry (it
		// can no longer commit) or died.
		return claimDead
	}
	return r.entryState(idx)
}

// entryState tests entry idx's handle.
func (r *MPMC) entryState(idx int) claimState {
	if idx == 0 {
		return claimUnknown
	}
	pid := atomic.LoadUint32(&r.peerAt(idx).PID)
	if pid == 0 {
		return claimDead // released
	}
	alive, locked := r.peerAlive(idx, pid)
	switch {
	case alive:
		return claimAlive
	case r.g.peerLocks && !locked:
		return claimUnknown // a lock ring we cannot test locks on
	}
	return claimDead
}

// claimWordState looks for the claimant of an untagged claim at q among
// the entries' claim words.
func (r *MPMC) claimWordState(consumer bool, q uint64, deadIdx int) claimState {
	sawDead := false
	for i := 0; i < int(r.g.peers); i++ {
		e := r.peerAt(i)
		w := &e.ProdClaim
		if consumer {
			w = &e.ConsClaim
		}
		c := atomic.LoadUint64(w) // acquire
		if c == 0 || q-(c-1) >= r.g.slots {
			continue
		}
		st := claimDead
		if i != deadIdx {
			st = r.entryState(i)
		}
		if st != claimDead {
			return claimAlive // alive or unknown: it may be the claimant
		}
		sawDead = true
	}
	if sawDead {
		return claimDead
	}
	return claimUnknown
}

// repairClaims implements kindOps for Recover: it repairs every claim of a
// dead handle it finds between the consumers' lap behind and the producer
// position, and returns how many slots it skipped and redelivered.
// deadIdx, if >= 0, is an entry the caller is reusing (its handle is
// dead whatever the lock says).
func (r *MPMC) repairClaims(deadIdx int) (skipped, redelivered int) {
	s0 := atomic.LoadUint64(&r.hdr.Skipped)
	r0 := atomic.LoadUint64(&r.hdr.Redelivered)
	e := atomic.LoadUint64(&r.prod.Pos) & posMask
	d := atomic.LoadUint64(&r.cons.Pos)
	if e-d > r.g.slots && d-e > r.g.slots {
		return 0, 0
	}
	lo := uint64(0)
	if d > r.g.slots {
		lo = d - r.g.slots
	}
	for q := lo; q < e && q < d+r.g.slots; q++ {
		r.repairAt(q, 0, deadIdx, false)
	}
	return int(atomic.LoadUint64(&r.hdr.Skipped) - s0), int(atomic.LoadUint64(&r.hdr.Redelivered) - r0)
}
