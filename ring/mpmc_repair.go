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
// Whose claim. A handle's tag is its peer entry index (10 bits),
// tagConsumer, the lap of the claimed position (4 bits: position/Slots
// mod 16) and the entry's Generation at its claim (17 bits); entry 0 (the
// shared overflow entry) has tagOverflow, whose liveness is unknown.
// Claiming is, for producers and consumers alike:
//
//	1. store 1+pos in the entry's claim word (ProdClaim, ConsClaim);
//	2. CAS the shared position (the claim);
//	3. store the tag in the Owner of every claimed slot;
//	4. store 0 in the claim word (a release store: after the tags).
//
// A claim settled within the call that made it (push, pushBatch, pop,
// popBatch: claim, copy, publish or release) skips step 3 and does step 4
// once its slots are settled: its word names it all along. Only the claims
// that outlive the call (TryReserve, TryPeek) are tagged.
//
// A repairer that saw the claim's effect (the position past q) and finds
// in Owner a tag of the claimant's role and of q's lap knows the
// claimant. Any other Owner is a tag left by an earlier claim of the slot
// (another role, or another lap): the claimant is between steps 2 and 3,
// and the claim words tell. The claimant's word covers q from before the
// CAS until after its tag (the CAS publishes step 1, and step 4 is a
// release store). A live entry whose word is within a lap of q either way
// may be the claimant (a sibling goroutine of the handle may have
// overwritten its word with a nearby position): wait. Otherwise a dead
// entry whose word covers [pos, pos+Slots) ∋ q is the claimant; the
// repairer then reads Owner again, and a tag that appeared meanwhile
// means the claimant tagged and cleared (look again later). No word at
// all: unknown (only the claim timeout moves such a slot). A handle that
// reuses a dead entry settles the claims its words cover first.
//
// The slot states a repairer acts on, for position q, with E and D the
// producer and consumer positions (mpmc.go has the normal states):
//
//	A  Seq == q,         D <= q < E   producer claim not committed; holder
//	                                  dead -> CAS Seq to (q+1)|skipBit, a
//	                                  skip record
//	B  Seq == q+1,       D > q        consumer claim not released; holder
//	                                  dead, and E == q+Slots (a producer
//	                                  waits for the slot) -> republish: claim
//	                                  E as a producer does (steps 1, 2, 4),
//	                                  CAS Seq to E+1: the same bytes are
//	                                  delivered again, at position E
//	C  Seq == (q+1)|skip, D > q       a consumer claimed a skip record and has
//	                                  not released it -> CAS Seq to q+Slots
//	D  Seq == q-Slots+1, D <= q < E   a republish of q-Slots claimed q and has
//	                                  not yet moved Seq -> CAS Seq to q+1
//
// C and D need no liveness test: their CAS is the one the holder itself
// would make, so whichever of the two lands first does the holder's work
// and the other fails harmlessly. Consumers pass over skip records (claim
// them like a message, release at once). Skipped and Redelivered in the
// ring header count the repairs.
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
	tagLapShift = 11
	tagLapMask  = 0xF << tagLapShift
	tagGenShift = 15
	tagGenMask  = 1<<17 - 1
	// tagOverflow is the tag of handles without an entry of their own
	// (index 0, generation all ones).
	tagOverflow = uint32(tagGenMask) << tagGenShift
	// tagDead | lap | role (index 0, generation 1: no handle's tag) marks
	// a claim its settler found dead: a handle reusing a dead entry
	// whose claim word covers a consumer claim that cannot be repaired
	// yet (state B before producers come round).
	tagDead = 1 << tagGenShift
)

// makeTag is the tag of entry idx (>= 1) claimed at generation gen,
// without role and lap.
func makeTag(idx int, gen uint32) uint32 {
	return uint32(idx)&tagIdxMask | (gen&tagGenMask)<<tagGenShift
}

// isTag reports whether an Owner value (role and lap aside) is a handle's
// tag: an entry's, or tagOverflow; not 0 (never written) nor tagDead.
func isTag(v uint32) bool {
	return v&tagIdxMask != 0 || v>>tagGenShift == tagGenMask
}

// lapTag is the lap bits of position pos's tags.
func (r *MPMC) lapTag(pos uint64) uint32 {
	return uint32(pos>>r.g.lapShift) << tagLapShift & tagLapMask
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
	seq   atomic.Uint64 // the slot's Seq when first seen stuck: a new state restarts the clock
	since atomic.Int64  // UnixNano when it was first seen stuck
	probe atomic.Int64  // UnixNano of the last liveness probe
}

// memoEntry is one cached liveness answer: st is claimState+1 (0: none).
type memoEntry struct {
	gen uint32
	st  claimState
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
	return r.repairAt(q, repairOpts{dryRun: true})
}

// clockBase makes the stall tracker's clock monotonic (time.Since reads
// the monotonic clock): a wall-clock step must not hold a repair off.
var clockBase = time.Now()

func monoNow() int64 { return int64(time.Since(clockBase)) }

// unstick tracks slot q, seen stuck by a producer (push) or consumer, and
// repairs it once it has been stuck for stallGrace and its holder is dead
// (or held it past the claim timeout). It reports whether it changed the
// slot. Each side has its own tracker, so a handle blocked on both sides
// at different slots tracks both.
func (r *MPMC) unstick(q uint64, push bool) bool {
	now := monoNow()
	t := &r.stall[0]
	if push {
		t = &r.stall[1]
	}
	s, _ := r.slotAt(q)
	seq := atomic.LoadUint64(&s.Seq)
	if t.key.Load() != q+1 || t.seq.Load() != seq {
		// A new slot, or a new claim of it (a producer's claim became a
		// consumer's): the claim timeout counts from now.
		t.key.Store(q + 1)
		t.seq.Store(seq)
		t.since.Store(now)
		t.probe.Store(0)
		return false
	}
	held := now - t.since.Load()
	if held < int64(stallGrace) || now-t.probe.Load() < int64(stallProbeEvery) {
		return false
	}
	t.probe.Store(now)
	if r.repairAt(q, repairOpts{held: time.Duration(held), deadIdx: -1}) {
		// The next slot is often the next claim of the same dead batch:
		// probe it at once when it is seen stuck.
		t.key.Store(q + 2)
		n, _ := r.slotAt(q + 1)
		t.seq.Store(atomic.LoadUint64(&n.Seq))
		t.since.Store(now - int64(stallGrace))
		t.probe.Store(0)
		return true
	}
	return false
}

// repairOpts says how repairAt judges a holder.
type repairOpts struct {
	// held is how long the caller has seen the slot stuck, for the claim
	// timeout (0: dead holders only).
	held time.Duration
	// deadIdx, if >= 0, is an entry to count as dead whatever its lock
	// says (a claimer reusing it).
	deadIdx int
	// memo, if non-nil, caches entry liveness for one pass (Recover),
	// each answer valid only while the entry's Generation is unchanged
	// (a reclaim during the pass makes a dead entry live).
	memo []memoEntry
	// dryRun only reports whether q is in a state a repair acts on.
	dryRun bool
}

// repairAt repairs slot q if it is in state A or B and its holder is dead
// (or has held it for at least the claim timeout), or in state C or D. It
// reports whether it changed the slot (with dryRun: whether q is in one of
// those states).
func (r *MPMC) repairAt(q uint64, o repairOpts) bool {
	n := r.g.slots
	s, _ := r.slotAt(q)
	// Acquire loads, positions first: a claim whose effect we see has its
	// claim word (stored before the CAS) visible to us too.
	e := atomic.LoadUint64(&r.prod.Pos)
	closed := e&closedBit != 0
	e &= posMask
	d := atomic.LoadUint64(&r.cons.Pos)
	seq := atomic.LoadUint64(&s.Seq)
	if e-d > n && d-e > n { // garbage positions: not ours to repair
		return false
	}
	// dead says whether the claim's holder is dead or timed out.
	dead := func(consumer bool) bool {
		st := r.claimant(s, consumer, q, o)
		return st == claimDead || r.claimTimeout > 0 && o.held >= r.claimTimeout
	}
	switch {
	case seq == q && d <= q && q < e && e-q <= n: // A
		if o.dryRun || !dead(false) {
			return o.dryRun
		}
		if atomic.CompareAndSwapUint64(&s.Seq, q, (q+1)|skipBit) { // seq-cst: against the holder's publish CAS
			atomic.AddUint64(&r.hdr.Skipped, 1)
			r.notEmpty.notify(1, r.peer)
			return true
		}
	case seq == q+1 && d > q && d-q <= n: // B
		if e != q+n || closed {
			return false
		}
		if o.dryRun || !dead(true) {
			return o.dryRun
		}
		return r.republish(s, q, e)
	case seq == (q+1)|skipBit && d > q && d-q <= n: // C
		if o.dryRun {
			return true
		}
		if atomic.CompareAndSwapUint64(&s.Seq, seq, q+n) { // seq-cst: the holder's own release
			r.notFull.notify(1, r.peer)
			return true
		}
	case q >= n && seq == q-n+1 && d <= q && q < e && e-q <= n: // D
		if o.dryRun {
			return true
		}
		if atomic.CompareAndSwapUint64(&s.Seq, seq, q+1) { // seq-cst: the republisher's own publish
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
// word, CAS, claim word cleared), and one CAS of Seq from q+1 to p+1
// publishes the same bytes as p's message. Between the two CASes the slot
// is in state D, which any repairer completes with the same CAS. We store
// nothing else in the slot: it is not ours until our CAS lands.
func (r *MPMC) republish(s *mpmcSlot, q, p uint64) bool {
	// The claim word stays until the slot is settled: should we die
	// before the fallback below, it says whose claim of p that was.
	storeOwned64(&r.peer.ProdClaim, p+1)
	defer storeOwned64(&r.peer.ProdClaim, 0)
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, p, p+1) { // seq-cst: the claim; fails if closed or moved
		return false
	}
	if atomic.CompareAndSwapUint64(&s.Seq, q+1, p+1) { // seq-cst: publishes it again
		atomic.AddUint64(&r.hdr.Redelivered, 1)
		r.notEmpty.notify(1, r.peer)
		return true
	}
	// The consumer was not dead but late (a claim timeout) and released
	// the slot after all, so it is free for position p, which is ours:
	// nothing to deliver there, a skip record. (If another repairer
	// completed our republish instead, Seq is p+1 and this fails.)
	if atomic.CompareAndSwapUint64(&s.Seq, p, (p+1)|skipBit) {
		atomic.AddUint64(&r.hdr.Skipped, 1)
		r.notEmpty.notify(1, r.peer)
	}
	return true
}

// claimant says whether the holder of the claim at q (slot s) of the
// given role is alive.
func (r *MPMC) claimant(s *mpmcSlot, consumer bool, q uint64, o repairOpts) claimState {
	owner := atomic.LoadUint32(&s.Owner)
	role := uint32(0)
	if consumer {
		role = tagConsumer
	}
	lap := r.lapTag(q)
	if owner == tagDead|lap|role {
		return claimDead
	}
	if owner&(tagConsumer|tagLapMask) == role|lap && isTag(owner) {
		return r.tagState(owner, o)
	}
	// Untagged for this claim: the claim words say.
	st := r.claimWordState(consumer, q, o)
	if st == claimDead && atomic.LoadUint32(&s.Owner) != owner {
		return claimUnknown // tagged meanwhile: judge the tag next time
	}
	return st
}

// tagState tests the handle a tag names.
func (c *core) tagState(tag uint32, o repairOpts) claimState {
	r := c
	idx := int(tag & tagIdxMask)
	if idx == 0 || idx >= int(r.g.peers) {
		return claimUnknown // the overflow entry (or garbage)
	}
	if idx == o.deadIdx {
		return claimDead
	}
	e := r.peerAt(idx)
	if atomic.LoadUint32(&e.Generation)&tagGenMask != tag>>tagGenShift {
		// Claimed again since: the tagged handle released the entry (it
		// can no longer commit) or died.
		return claimDead
	}
	return r.entryState(idx, o)
}

// entryState tests entry idx's handle.
func (c *core) entryState(idx int, o repairOpts) claimState {
	r := c
	if idx == 0 {
		return claimUnknown
	}
	if idx == o.deadIdx {
		return claimDead
	}
	gen := atomic.LoadUint32(&r.peerAt(idx).Generation)
	if o.memo != nil && o.memo[idx].st != 0 && o.memo[idx].gen == gen {
		return o.memo[idx].st - 1
	}
	st := claimDead // released, if the PID says 0
	if pid := atomic.LoadUint32(&r.peerAt(idx).PID); pid != 0 {
		alive, locked := r.peerAlive(idx, pid)
		switch {
		case alive:
			st = claimAlive
		case r.g.peerLocks && !locked:
			st = claimUnknown // a lock ring we cannot test locks on
		}
	}
	if o.memo != nil {
		o.memo[idx] = memoEntry{gen: gen, st: st + 1}
	}
	return st
}

// claimWordState looks for the claimant of an untagged claim at q among
// the entries' claim words: a live (or unknown) entry whose word is within
// a lap of q may be it; failing that, a dead entry whose word covers q is.
func (r *MPMC) claimWordState(consumer bool, q uint64, o repairOpts) claimState {
	sawDead := false
	for i := 0; i < int(r.g.peers); i++ {
		e := r.peerAt(i)
		w := &e.ProdClaim
		if consumer {
			w = &e.ConsClaim
		}
		c := atomic.LoadUint64(w) // acquire
		if c == 0 {
			continue
		}
		from := c - 1
		ahead, behind := q-from, from-q // one of them is the distance
		if ahead >= r.g.slots && behind >= r.g.slots {
			continue
		}
		if r.entryState(i, o) != claimDead {
			return claimAlive // alive or unknown, and near: it may be the claimant
		}
		if ahead < r.g.slots {
			sawDead = true // covers q
		}
	}
	if sawDead {
		return claimDead
	}
	return claimUnknown
}

// repairClaims implements kindOps for Recover: it repairs every claim of a
// dead handle it finds between the consumers' lap behind and the producer
// position, and returns how many slots it skipped and redelivered
// (repairs made meanwhile by other handles are counted too). deadIdx, if
// >= 0, is an entry the caller is reusing: its handle is dead whatever the
// lock says, and the claims its words cover that cannot be repaired yet
// are marked dead (tagDead) before the caller clears the words.
func (r *MPMC) repairClaims(deadIdx int) (skipped, redelivered int) {
	s0 := atomic.LoadUint64(&r.hdr.Skipped)
	r0 := atomic.LoadUint64(&r.hdr.Redelivered)
	o := repairOpts{deadIdx: deadIdx, memo: make([]memoEntry, r.g.peers)}
	e := atomic.LoadUint64(&r.prod.Pos) & posMask
	d := atomic.LoadUint64(&r.cons.Pos)
	if e-d <= r.g.slots || d-e <= r.g.slots {
		lo := uint64(0)
		if d > r.g.slots {
			lo = d - r.g.slots
		}
		for q := lo; q < e && q < d+r.g.slots; q++ {
			r.repairAt(q, o)
		}
	}
	if deadIdx > 0 {
		r.settleClaimWords(deadIdx, o)
	}
	return int(atomic.LoadUint64(&r.hdr.Skipped) - s0), int(atomic.LoadUint64(&r.hdr.Redelivered) - r0)
}

// settleClaimWords is the rest of a reuse of dead entry idx, before the
// caller clears its claim words: every claim a word covers that the scan
// could not settle because a live entry's word was near (a claim racing
// ours, which lasts instructions) is looked at again until it is settled
// or settleWait passes. A dead producer's claim is then skipped; a dead
// consumer's claim that cannot be repaired yet (state B before producers
// come round) is marked dead in its Owner by a CAS from the untagged value
// seen, so that it stays known once the word is gone. (A live claimant's
// tag store would have made the CAS fail; one that lands after it
// overwrites the mark, which is right: the mark is only read where the
// claimant's tag is not.)
func (r *MPMC) settleClaimWords(idx int, o repairOpts) {
	deadline := monoNow() + int64(settleWait)
	for _, consumer := range []bool{false, true} {
		w := &r.peerAt(idx).ProdClaim
		if consumer {
			w = &r.peerAt(idx).ConsClaim
		}
		c := atomic.LoadUint64(w)
		if c == 0 {
			continue
		}
		for q := c - 1; q < c-1+r.g.slots; q++ {
			if !r.settleOne(q, consumer, o, deadline) {
				break // past the claims (positions not claimed yet)
			}
		}
	}
}

// settleOne settles the claim at q for settleClaimWords. It reports false
// once q is beyond every claim of that role.
func (r *MPMC) settleOne(q uint64, consumer bool, o repairOpts, deadline int64) bool {
	s, _ := r.slotAt(q)
	lap := r.lapTag(q)
	for {
		e := atomic.LoadUint64(&r.prod.Pos) & posMask
		d := atomic.LoadUint64(&r.cons.Pos)
		seq := atomic.LoadUint64(&s.Seq)
		if consumer && q >= d || !consumer && q >= e {
			return false
		}
		owner := atomic.LoadUint32(&s.Owner)
		role := uint32(0)
		if consumer {
			role = tagConsumer
		}
		held := consumer && seq == q+1 && d-q <= r.g.slots || !consumer && seq == q && q >= d
		if !held || owner&(tagConsumer|tagLapMask) == role|lap && isTag(owner) || owner == tagDead|role|lap {
			return true // settled, or tagged (the tag says whose it is), or marked
		}
		if st := r.claimant(s, consumer, q, o); st == claimDead {
			if consumer {
				atomic.CompareAndSwapUint32(&s.Owner, owner, tagDead|tagConsumer|lap)
			} else {
				r.repairAt(q, o)
			}
			return true
		}
		if monoNow() > deadline {
			return true
		}
		clear(o.memo) // look again
		time.Sleep(100 * time.Microsecond)
	}
}

// settleWait bounds how long a reuse waits for a live claim word that
// covers a dead consumer's claim to go away.
const settleWait = 20 * time.Millisecond
