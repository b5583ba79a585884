package ring

// Invariants of the MPMC ring (Vyukov's bounded MPMC queue over shared
// memory; positions are 63-bit counters that only grow):
//
//   - EnqPos = prod.Pos &^ closedBit is the next position a producer may
//     claim; DeqPos = cons.Pos the next a consumer may claim. Both move
//     only by CAS, by one per claimed slot (or by k for a batch).
//   - Slot i's sequence number Seq says whose turn it is for position p
//     with p & (Slots-1) == i:
//     Seq == p      the slot is free for the producer of p;
//     Seq == p+1    it holds p's message, for the consumer of p;
//     Seq == p+Slots  the consumer of p released it: free for the producer
//     of p+Slots.
//   - A producer that won the CAS for p owns the slot until it stores
//     Seq = p+1; a consumer that won the CAS for p owns it until it stores
//     Seq = p+Slots. So every message is delivered exactly once.
//   - CloseWrite sets bit 63 of prod.Pos, which makes every later producer
//     CAS fail; consumers see EOF only when closed and DeqPos == EnqPos, so
//     a message claimed before CloseWrite is still delivered.
//   - Seq, Len and both positions are peer-written: each is read once,
//     checked against the states above and against SlotSize, and an
//     impossible value returns ErrCorrupt.
//
// Slot format: Seq uint64, Len uint32, Owner uint32 (peer entry index of
// the producer that claimed it, for dead-peer recovery), then SlotSize
// bytes of data; stride rounded up to 8.

import (
	"context"
	"io"
	"sync/atomic"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// MPMC is a handle on a multi-producer multi-consumer ring. All its
// methods are safe for concurrent use by any number of goroutines, and any
// number of handles in any number of processes may produce and consume.
type MPMC struct {
	core
	_ cacheLinePad
	// emptyPolls counts empty polls by this handle's goroutines: written by
	// every consumer that finds the ring empty, so it sits on a line of its
	// own, away from the core fields every producer reads.
	emptyPolls atomic.Uint32
	_          cacheLinePad
	// fullPolls likewise counts full polls, for producers.
	fullPolls atomic.Uint32
	_         cacheLinePad
	// stall remembers the slot each side of this handle (consumer,
	// producer) last saw stuck (mpmc_repair.go); written on slow paths
	// only.
	stall [2]stallTracker
	_     cacheLinePad
}

// CreateMPMC allocates a region named name in a and initialises an MPMC
// ring in it.
func CreateMPMC(a *arena.Arena, name string, cfg Config, opts ...Option) (*MPMC, error) {
	return created(newMPMC(), a, name, cfg, opts)
}

// OpenMPMC attaches to the MPMC ring named name in a, waiting up to the
// open timeout (WithOpenTimeout) for its creator to finish.
func OpenMPMC(a *arena.Arena, name string, opts ...Option) (*MPMC, error) {
	return opened(newMPMC(), a, name, opts)
}

// NewMPMC initialises an MPMC ring over caller memory (zeroed, 8-byte
// aligned, at least Size(KindMPMC, cfg, padUnit) bytes).
func NewMPMC(mem []byte, cfg Config, padUnit int, opts ...Option) (*MPMC, error) {
	return initialised(newMPMC(), mem, cfg, padUnit, opts)
}

// AttachMPMC attaches a new handle to an MPMC ring in caller memory.
func AttachMPMC(mem []byte, opts ...Option) (*MPMC, error) { return attached(newMPMC(), mem, opts) }

// newMPMC binds a handle to the shared shell. MPMC counts straight into
// its peer entry (the handle is shared by goroutines), so it has no
// pending counters.
func newMPMC() *MPMC {
	r := new(MPMC)
	r.core.bind(kindMPMC, r, nil, nil)
	return r
}

// slotAt returns the slot of position pos; the offset is computed from the
// private geometry, so it is inside the ring whatever pos is.
func (r *MPMC) slotAt(pos uint64) (*mpmcSlot, uint64) {
	off := r.g.slotsOff + (pos&r.g.mask)*r.g.stride
	slot := r.mem[off : off+r.g.stride] // bounds-checked (no memory access): the whole slot is in the ring
	return (*mpmcSlot)(unsafe.Pointer(&slot[0])), off + mpmcSlotHeader
}

// claimEnq claims up to want consecutive positions for producing. It
// returns the first position and how many were claimed. With hold, the
// claim outlives the call (a reservation): the claimed slots get our tag
// and the claim word is cleared. Without it the caller publishes before
// it returns (push, pushBatch) and clears the claim word itself once done
// (doneClaim): the word, not a tag, names the claim while it lasts, which
// saves a store per slot.
func (r *MPMC) claimEnq(want uint64, hold bool) (uint64, uint64, error) {
	// The role before the claim, so that a handle in the middle of its
	// first operation (a reservation held, say) already counts as a live
	// producer for ErrPeerDead: one load of the entry's first line, the
	// OR once.
	r.markRole(RoleProducer)
	// Acquire loads of the position and of each Seq; the CAS is
	// sequentially consistent.
	pos := atomic.LoadUint64(&r.prod.Pos)
	for try := 0; ; try++ {
		if try == maxRetries {
			return 0, 0, corruptf("producer position keeps changing (%d retries)", try)
		}
		if pos&closedBit != 0 {
			return 0, 0, ErrClosed
		}
		s, _ := r.slotAt(pos)
		seq := atomic.LoadUint64(&s.Seq)
		dif := int64(seq - pos)
		switch {
		case dif == 0:
			n := uint64(1)
			for n < want {
				s2, _ := r.slotAt(pos + n)
				if atomic.LoadUint64(&s2.Seq) != pos+n {
					break
				}
				n++
			}
			// The claim protocol of mpmc_repair.go: claim word, CAS,
			// tags, claim word cleared. The CAS publishes the claim word
			// to a repairer that sees its effect.
			storeOwned64(&r.peer.ProdClaim, pos+1)
			if atomic.CompareAndSwapUint64(&r.prod.Pos, pos, pos+n) {
				if hold {
					for i := uint64(0); i < n; i++ {
						s2, _ := r.slotAt(pos + i)
						storeOwned32(&s2.Owner, r.ownerTag|r.lapTag(pos+i)) // ours since the CAS
					}
					storeOwned64(&r.peer.ProdClaim, 0) // release: after the tags
				}
				return pos, n, nil
			}
			storeOwned64(&r.peer.ProdClaim, 0)
			pos = atomic.LoadUint64(&r.prod.Pos)
		case dif == -int64(r.g.slots) || dif == 1-int64(r.g.slots) || seq == (pos+1-r.g.slots)|skipBit:
			// The slot still holds (or is being filled or read for) the
			// previous lap, or a skip record consumers have not passed
			// yet: full. Now and then look whether a dead handle's claim
			// is what holds it.
			if r.fullPolls.Add(1)%tailEvery == 0 {
				if repaired, _ := r.blocked(true); repaired {
					pos = atomic.LoadUint64(&r.prod.Pos)
					continue
				}
			}
			return 0, 0, ErrFull
		case seq&skipBit != 0 && int64(seq&^skipBit-pos) > 0:
			// A skip record at or after pos: another producer claimed pos,
			// EnqPos moved.
			np := atomic.LoadUint64(&r.prod.Pos)
			if np == pos {
				return 0, 0, corruptf("slot %d: skip record %d ahead of producer position %d", pos&r.g.mask, seq&^skipBit, pos)
			}
			pos = np
		case dif > 0:
			// Another producer claimed pos; EnqPos must have moved.
			np := atomic.LoadUint64(&r.prod.Pos)
			if np == pos {
				return 0, 0, corruptf("slot %d: sequence %d ahead of producer position %d", pos&r.g.mask, seq, pos)
			}
			pos = np
		default:
			return 0, 0, corruptf("slot %d: sequence %d impossible for producer position %d", pos&r.g.mask, seq, pos)
		}
	}
}

// publishSlot commits a claimed slot holding n bytes. It fails only if a
// repairer turned the claim into a skip record meanwhile (we were taken
// for dead, or held it past a claim timeout): the message is then not
// published, and the caller returns ErrFenced.
func (r *MPMC) publishSlot(pos, n uint64) bool {
	s, _ := r.slotAt(pos)
	// Len is read by consumers before they win the slot (to refuse a
	// short buffer without claiming), so it is written and read atomically;
	// a release store (a plain MOV on amd64) is enough: the CAS below
	// orders it for the consumer that then claims the slot.
	storeRelease32(&s.Len, uint32(n))
	// Sequentially consistent CAS (LOCK CMPXCHG, the cost of the XCHG a
	// store would be): releases the slot's contents to the consumer that
	// acquire-loads Seq == pos+1, orders the publication before notify's
	// load of NotEmptyWaiters, and loses to a repairer's CAS to a skip
	// record, so exactly one of the two lands.
	return atomic.CompareAndSwapUint64(&s.Seq, pos, pos+1)
}

// fenceRest turns the claimed slots [from, to) that a fenced batch will
// not publish into skip records, so consumers do not wait at them.
func (r *MPMC) fenceRest(from, to uint64) {
	for p := from; p < to; p++ {
		s, _ := r.slotAt(p)
		if atomic.CompareAndSwapUint64(&s.Seq, p, (p+1)|skipBit) { // seq-cst: as publishSlot
			atomic.AddUint64(&r.hdr.Skipped, 1)
		}
	}
	r.notEmpty.notify(int(to-from), r.peer)
}

// TryPush copies msg into a free slot and commits it. It returns ErrFull,
// ErrTooLarge, ErrClosed or ErrCorrupt, and never blocks.
func (r *MPMC) TryPush(msg []byte) error { return r.counted(r.push(msg)) }

// Push is TryPush that waits while the ring is full, using the handle's
// wait strategy, until ctx is done.
func (r *MPMC) Push(ctx context.Context, msg []byte) error {
	return r.pushWait(ctx, msg, r.TryPush(msg))
}

func (r *MPMC) push(msg []byte) error {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return r.shutErr()
	}
	if uint64(len(msg)) > r.g.slotSize {
		return ErrTooLarge
	}
	for try := 0; try < fencedRetries; try++ {
		pos, _, err := r.claimEnq(1, false)
		if err != nil {
			return err
		}
		_, data := r.slotAt(pos)
		copy(r.mem[data:data+r.g.slotSize], msg)
		ok := r.publishSlot(pos, uint64(len(msg)))
		storeOwned64(&r.peer.ProdClaim, 0) // the claim is settled
		if ok {
			r.countIn(1, uint64(len(msg)))
			r.notEmpty.notify(1, r.peer)
			return nil
		}
		// Fenced: a repairer passed our claim over (we were stalled past
		// a claim timeout): it is a skip record and msg is not in the
		// ring. Claim again.
	}
	return ErrFenced
}

// fencedRetries bounds how often one push or pop claims again after its
// claim was passed over: a handle stalled that often in a row reports
// ErrFenced instead.
const fencedRetries = 4

// TryPushBatch pushes as many of msgs as fit, claiming their slots with
// one CAS of the shared producer position. It returns how many were
// pushed; the error is non-nil only when none were.
func (r *MPMC) TryPushBatch(msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	return r.countedBatch(msgs, n, err)
}

// PushBatch pushes all of msgs, waiting while the ring is full. It returns
// how many were pushed (all of them unless err != nil).
func (r *MPMC) PushBatch(ctx context.Context, msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	return r.pushAll(ctx, msgs, n, err)
}

func (r *MPMC) pushBatch(msgs [][]byte) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	want := uint64(0)
	for want < uint64(len(msgs)) && uint64(len(msgs[want])) <= r.g.slotSize {
		want++
	}
	if want == 0 {
		return 0, ErrTooLarge
	}
	want = min(want, r.g.slots)
	pos, n, err := r.claimEnq(want, false)
	if err != nil {
		return 0, err
	}
	defer storeOwned64(&r.peer.ProdClaim, 0) // once every claimed slot is settled
	var nbytes uint64
	for i := uint64(0); i < n; i++ {
		m := msgs[i]
		_, data := r.slotAt(pos + i)
		copy(r.mem[data:data+r.g.slotSize], m)
		if !r.publishSlot(pos+i, uint64(len(m))) {
			// Fenced: msgs[i:] are not pushed (the caller may push them
			// again); our claims after i become skip records.
			r.fenceRest(pos+i+1, pos+n)
			if n = i; n == 0 {
				return 0, ErrFenced
			}
			break
		}
		nbytes += uint64(len(m))
	}
	r.countIn(n, nbytes)
	r.notEmpty.notify(int(n), r.peer)
	return int(n), nil
}

// TryReserve claims a free slot for a message of n bytes written in place;
// Commit publishes it. Until then consumers wait at that slot, so commit
// promptly. Each reservation is independent: goroutines may hold several.
func (r *MPMC) TryReserve(n int) (Reservation, error) { return r.countedRes(r.reserve(n)) }

// Reserve is TryReserve that waits while the ring is full.
func (r *MPMC) Reserve(ctx context.Context, n int) (Reservation, error) {
	res, err := r.TryReserve(n)
	return r.reserveWait(ctx, n, res, err)
}

func (r *MPMC) reserve(n int) (Reservation, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return Reservation{}, r.shutErr()
	}
	if err := checkMsgLen(n, r.g.slotSize); err != nil {
		return Reservation{}, err
	}
	pos, _, err := r.claimEnq(1, true)
	if err != nil {
		return Reservation{}, err
	}
	_, data := r.slotAt(pos)
	return Reservation{Buf: r.mem[data : data+uint64(n) : data+r.g.slotSize], pos: pos, ring: &r.core}, nil
}

// Commit publishes a reserved slot holding a message of n bytes.
func (r *MPMC) Commit(res Reservation, n int) error {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return r.shutErr()
	}
	if res.ring != &r.core {
		return ErrNotReserved
	}
	if err := checkMsgLen(n, r.g.slotSize); err != nil {
		return err
	}
	s, _ := r.slotAt(res.pos)
	if seq := atomic.LoadUint64(&s.Seq); seq != res.pos { // claimed, not yet published
		if seq == res.pos+1 {
			return ErrNotReserved // committed already
		}
		return ErrFenced
	}
	if !r.publishSlot(res.pos, uint64(n)) {
		return ErrFenced
	}
	r.countIn(1, uint64(n))
	r.notEmpty.notify(1, r.peer)
	return nil
}

// claimDeq claims up to want consecutive committed positions whose
// messages fit the limits. fits(i, n) reports whether message i of length
// n may be taken. It returns the first position and how many were claimed.
// hold is as for claimEnq: a peek tags its slot; a pop or popBatch, which
// releases before it returns, leaves the claim word to name the claim and
// clears it itself.
func (r *MPMC) claimDeq(want uint64, fits func(i, n uint64) error, hold bool) (uint64, uint64, error) {
	r.markRole(RoleConsumer) // as in claimEnq
	pos := atomic.LoadUint64(&r.cons.Pos)
	for try := 0; ; try++ {
		if try == maxRetries {
			return 0, 0, corruptf("consumer position keeps changing (%d retries)", try)
		}
		s, _ := r.slotAt(pos)
		seq := atomic.LoadUint64(&s.Seq) // acquire: pairs with publishSlot
		dif := int64(seq - (pos + 1))
		switch {
		// brokenSkipSeqCheck is false except in the test-only shmring_broken
		// build, which claims unpublished slots to prove the tests notice.
		case dif == 0 || (brokenSkipSeqCheck && dif == -1):
			// Length read once, after the acquire of Seq; if our CAS below
			// succeeds nobody could have changed the slot in between.
			ln := uint64(atomic.LoadUint32(&s.Len))
			var err error
			if ln > r.g.slotSize {
				err = corruptf("slot %d: length %d exceeds slot size %d", pos&r.g.mask, ln, r.g.slotSize)
			} else {
				err = fits(0, ln)
			}
			if err != nil {
				// Only report it if the message is still ours to take:
				// a stale position may have shown another lap's length.
				if np := atomic.LoadUint64(&r.cons.Pos); np != pos {
					pos = np
					continue
				}
				return 0, 0, err
			}
			n := uint64(1)
			for n < want {
				s2, _ := r.slotAt(pos + n)
				if atomic.LoadUint64(&s2.Seq) != pos+n+1 {
					break
				}
				l2 := uint64(atomic.LoadUint32(&s2.Len))
				if l2 > r.g.slotSize || fits(n, l2) != nil {
					break
				}
				n++
			}
			// The claim protocol of mpmc_repair.go, as in claimEnq.
			storeOwned64(&r.peer.ConsClaim, pos+1)
			if atomic.CompareAndSwapUint64(&r.cons.Pos, pos, pos+n) {
				if hold {
					for i := uint64(0); i < n; i++ {
						s2, _ := r.slotAt(pos + i)
						storeOwned32(&s2.Owner, r.ownerTag|tagConsumer|r.lapTag(pos+i)) // ours since the CAS
					}
					storeOwned64(&r.peer.ConsClaim, 0) // release: after the tags
				}
				return pos, n, nil
			}
			storeOwned64(&r.peer.ConsClaim, 0)
			pos = atomic.LoadUint64(&r.cons.Pos)
		case seq == (pos+1)|skipBit:
			// A skip record: a claim a dead (or timed-out) producer never
			// committed. Claim it like a message and release it at once.
			storeOwned64(&r.peer.ConsClaim, pos+1)
			if atomic.CompareAndSwapUint64(&r.cons.Pos, pos, pos+1) {
				storeOwned64(&r.peer.ConsClaim, 0)
				// Seq-cst CAS, as releaseSlot; it fails only if a repairer
				// released it for us (we were taken for dead).
				if atomic.CompareAndSwapUint64(&s.Seq, seq, pos+r.g.slots) {
					r.notFull.notify(1, r.peer)
				}
			} else {
				storeOwned64(&r.peer.ConsClaim, 0)
			}
			pos = atomic.LoadUint64(&r.cons.Pos)
		case dif == -1 || dif == -int64(r.g.slots) || seq == (pos+1-r.g.slots)|skipBit:
			// Nothing committed at pos yet (free, being filled, or the
			// previous lap's consumer still reading): empty, unless the
			// stream ended; the Closed mirror is read instead of the
			// producers' hot word (core.quietEmpty).
			if r.quietEmpty(r.emptyPolls.Add(1)) {
				return 0, 0, ErrEmpty
			}
			e := atomic.LoadUint64(&r.prod.Pos) // acquire
			if e&closedBit != 0 {
				r.repairClosedMirror()
			}
			if e&closedBit != 0 && e&posMask == pos {
				return 0, 0, io.EOF
			}
			// A producer claimed pos and has not committed it: if the
			// claim is stuck, see whether its holder is dead.
			if e&posMask != pos && r.stuckAt(pos) && r.unstick(pos, false) {
				pos = atomic.LoadUint64(&r.cons.Pos)
				continue
			}
			return 0, 0, ErrEmpty
		case seq&skipBit != 0 && int64(seq&^skipBit-(pos+1)) > 0:
			// A later lap's skip record: another consumer moved on.
			np := atomic.LoadUint64(&r.cons.Pos)
			if np == pos {
				return 0, 0, corruptf("slot %d: skip record %d ahead of consumer position %d", pos&r.g.mask, seq&^skipBit, pos)
			}
			pos = np
		case dif > 0:
			np := atomic.LoadUint64(&r.cons.Pos)
			if np == pos {
				return 0, 0, corruptf("slot %d: sequence %d ahead of consumer position %d", pos&r.g.mask, seq, pos)
			}
			pos = np
		default:
			return 0, 0, corruptf("slot %d: sequence %d impossible for consumer position %d", pos&r.g.mask, seq, pos)
		}
	}
}

// releaseSlot hands a consumed slot to the producer of the next lap. It
// fails only if a repairer handed the message to another consumer
// meanwhile (we were taken for dead, or held it past a claim timeout):
// the caller must then not deliver it. Owner keeps our tag, whose lap says
// it is stale once the next producer claims the slot.
func (r *MPMC) releaseSlot(pos uint64) bool {
	s, _ := r.slotAt(pos)
	// Sequentially consistent CAS (the cost of the XCHG a store would be):
	// releases our reads of the slot, orders this before notify's load of
	// NotFullWaiters, and loses to a repairer's republish CAS.
	return atomic.CompareAndSwapUint64(&s.Seq, pos+1, pos+r.g.slots)
}

// TryPop copies the next message into dst and returns its length. It
// returns ErrEmpty, io.EOF once the stream is ended and drained,
// io.ErrShortBuffer if dst is too short (the message stays in the ring),
// or ErrCorrupt; it never blocks.
func (r *MPMC) TryPop(dst []byte) (int, error) { return r.countedN(r.pop(dst)) }

// Pop is TryPop that waits while the ring is empty, using the handle's
// wait strategy, until ctx is done. It returns io.EOF once the stream is
// ended and drained.
func (r *MPMC) Pop(ctx context.Context, dst []byte) (int, error) {
	n, err := r.TryPop(dst)
	return r.popWait(ctx, dst, n, err)
}

func (r *MPMC) pop(dst []byte) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	limit := uint64(len(dst))
	fits := func(_, n uint64) error {
		if n > limit {
			return io.ErrShortBuffer
		}
		return nil
	}
	for try := 0; try < fencedRetries; try++ {
		pos, _, err := r.claimDeq(1, fits, false)
		if err != nil {
			return 0, err
		}
		s, data := r.slotAt(pos)
		n := uint64(atomic.LoadUint32(&s.Len)) // ours since the CAS; checked in claimDeq, re-check against a racing hostile write
		if n > limit {
			n = limit
		}
		copy(dst, r.mem[data:data+n])
		ok := r.releaseSlot(pos)
		storeOwned64(&r.peer.ConsClaim, 0) // the claim is settled
		if ok {
			r.countOut(1, n)
			r.notFull.notify(1, r.peer)
			return int(n), nil
		}
		// Fenced: a repairer handed the message to another consumer (we
		// were stalled past a claim timeout); it is not ours. Take the
		// next one.
	}
	return 0, ErrFenced
}

// TryPopBatch pops up to len(bufs) messages, claiming them with one CAS.
// Message i is copied into bufs[i][:cap(bufs[i])] and bufs[i] resliced to
// its length. (If a message of the batch was handed to another consumer
// meanwhile, because this handle was stalled past a claim timeout, it is
// left out and the buffers after it move up by swapping: bufs keeps the
// same set of buffers.) It returns how many were popped; the error is non-nil only
// when none were.
func (r *MPMC) TryPopBatch(bufs [][]byte) (int, error) { return r.countedN(r.popBatch(bufs)) }

// PopBatch waits until at least one message is available, then pops up to
// len(bufs) like TryPopBatch.
func (r *MPMC) PopBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := r.TryPopBatch(bufs)
	return r.popBatchWait(ctx, bufs, n, err)
}

func (r *MPMC) popBatch(bufs [][]byte) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	pos, k, err := r.claimDeq(min(uint64(len(bufs)), r.g.slots), func(i, n uint64) error {
		if n > uint64(cap(bufs[i])) {
			return io.ErrShortBuffer
		}
		return nil
	}, false)
	if err != nil {
		return 0, err
	}
	defer storeOwned64(&r.peer.ConsClaim, 0) // once every claimed slot is released
	var nbytes uint64
	got := uint64(0)
	for i := uint64(0); i < k; i++ {
		s, data := r.slotAt(pos + i)
		n := min(uint64(atomic.LoadUint32(&s.Len)), uint64(cap(bufs[i])))
		bufs[i] = bufs[i][:n]
		copy(bufs[i], r.mem[data:data+n])
		if !r.releaseSlot(pos + i) {
			continue // fenced: another consumer has it (see below)
		}
		if got != i {
			// A message before this one was fenced: keep the delivered
			// ones at the front, swapping buffers rather than copying
			// into one that may be too short.
			bufs[got], bufs[i] = bufs[i], bufs[got]
		}
		got++
		nbytes += n
	}
	if got == 0 {
		return 0, ErrFenced
	}
	r.countOut(got, nbytes)
	r.notFull.notify(int(k), r.peer)
	return int(got), nil
}

func noLimit(_, _ uint64) error { return nil }

// TryPeek claims the next message and returns it in place; Release hands
// its slot back. Until then producers of the next lap wait at that slot,
// so release promptly.
func (r *MPMC) TryPeek() (Message, error) { return r.countedMsg(r.peek()) }

// Peek is TryPeek that waits while the ring is empty.
func (r *MPMC) Peek(ctx context.Context) (Message, error) {
	m, err := r.TryPeek()
	return r.peekWait(ctx, m, err)
}

func (r *MPMC) peek() (Message, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return Message{}, r.shutErr()
	}
	pos, _, err := r.claimDeq(1, noLimit, true)
	if err != nil {
		return Message{}, err
	}
	s, data := r.slotAt(pos)
	n := min(uint64(atomic.LoadUint32(&s.Len)), r.g.slotSize)
	return Message{Data: r.mem[data : data+n : data+n], pos: pos, ring: &r.core}, nil
}

// Release hands back the slot of a message returned by TryPeek or Peek.
func (r *MPMC) Release(m Message) error {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return r.shutErr()
	}
	if m.ring != &r.core {
		return ErrNotReserved
	}
	s, _ := r.slotAt(m.pos)
	if seq := atomic.LoadUint64(&s.Seq); seq != m.pos+1 {
		if seq == m.pos+r.g.slots {
			return ErrNotReserved // released already
		}
		return ErrFenced // handed to another consumer (or released and reused)
	}
	if !r.releaseSlot(m.pos) {
		return ErrFenced
	}
	r.countOut(1, uint64(len(m.Data)))
	r.notFull.notify(1, r.peer)
	return nil
}

// ready implements kindOps: whether a producer (push) or consumer
// operation could make progress now, or fail for good. It reads the
// shared words, not the Closed mirror: the caller is about to sleep.
func (r *MPMC) ready(push bool) bool {
	if push {
		p := atomic.LoadUint64(&r.prod.Pos)
		if p&closedBit != 0 {
			return true
		}
		s, _ := r.slotAt(p)
		return atomic.LoadUint64(&s.Seq) == p
	}
	c := atomic.LoadUint64(&r.cons.Pos)
	s, _ := r.slotAt(c)
	if seq := atomic.LoadUint64(&s.Seq); seq == c+1 || seq == (c+1)|skipBit {
		return true // a message, or a skip record to pass over
	}
	// Closed is final only once drained: a slot claimed before CloseWrite but
	// not yet published must still be waited for (without spinning). About
	// to sleep, so read the producer word itself rather than the mirror.
	p := atomic.LoadUint64(&r.prod.Pos)
	return p&closedBit != 0 && p&posMask == c
}

// watch implements kindOps: the Seq of the slot at the side's shared
// position, which the other side hands over next.
func (r *MPMC) watch(push bool) (*uint64, *uint32) {
	w := &r.cons.Pos
	if push {
		w = &r.prod.Pos
	}
	s, _ := r.slotAt(atomic.LoadUint64(w))
	return &s.Seq, nil
}

// Close releases this handle (see Detach). It never ends the stream: with
// many producers, one leaving is not the end; call CloseWrite for that.
// Idempotent; call it after the handle's last operation.
func (r *MPMC) Close() error { return r.Detach() }

// Discard drops up to n of the messages consumers would take next (n < 0:
// every message claimed by producers when it is called), claiming and
// releasing them without copying, and returns how many it dropped. They
// count as consumed (Stats.MsgsOut, BytesOut). With nothing to drop it
// returns 0 and nil, or io.EOF once the stream is ended and drained. A
// message still being written by its producer ends the discard there.
func (r *MPMC) Discard(n int) (int, error) {
	if r.shut.Load() != 0 { // a closed handle: orders nothing (closed.go)
		return 0, r.shutErr()
	}
	end := atomic.LoadUint64(&r.prod.Pos) & posMask // acquire: "in the ring now" for n < 0
	total := 0
	for n < 0 || total < n {
		want := r.g.slots
		if n > 0 {
			want = min(want, uint64(n-total))
		}
		if n < 0 {
			d := atomic.LoadUint64(&r.cons.Pos)
			if d >= end {
				if e := atomic.LoadUint64(&r.prod.Pos); total == 0 && e&closedBit != 0 && e&posMask == d {
					return 0, io.EOF // ended and drained
				}
				break
			}
			want = min(want, end-d)
		}
		pos, k, err := r.claimDeq(want, noLimit, false)
		if err != nil {
			if total > 0 || err == ErrEmpty {
				break
			}
			return 0, err
		}
		var nbytes, got uint64
		for i := uint64(0); i < k; i++ {
			s, _ := r.slotAt(pos + i)
			ln := min(uint64(atomic.LoadUint32(&s.Len)), r.g.slotSize)
			if r.releaseSlot(pos + i) { // fenced: another consumer has it
				got++
				nbytes += ln
			}
		}
		storeOwned64(&r.peer.ConsClaim, 0) // the claim is settled
		r.countOut(got, nbytes)
		r.notFull.notify(int(k), r.peer)
		total += int(got)
	}
	return total, nil
}
