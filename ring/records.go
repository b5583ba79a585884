package ring

// The record ring: capacity in bytes, records of any length from 0 to a
// maximum (Config.SlotSize, at most half the capacity), any number of
// producers (one goroutine at a time per handle) and one consumer. The
// record layout is Agrona's and the BPF ring buffer's: a 16-byte header,
// then the payload, the whole rounded up to 16 bytes.
//
// Positions are byte offsets that only grow (56 bits, compared modulo
// 2^56, so even their wrap is a non-event); a record at position p
// starts at byte p & (Capacity-1) of the data area, and its lap is
// p >> log2(Capacity).
//
// Invariants (W = prod.Pos without the closed bit: the claim position;
// H = cons.Pos without the epoch: the consumer position):
//
//   - 0 <= W - H <= Capacity. Bytes [H, W) hold records, back to back;
//     bytes [W, H+Capacity) are free.
//   - Every record header in [H, W) was written before W moved past it:
//     a consumer that acquire-loads W may read every header below it. Its
//     State says what the record is: busy (claimed, being written),
//     message (committed), padding (the end of the data area, in a ring
//     that is not mirrored) or skip (abandoned: its producer died, was
//     closed or timed out). State also carries the record's lap, so a
//     CAS of a stale State (a repairer that looked a lap ago) cannot land.
//   - Only the holder of the claim lock (prod unit ClaimLock, the
//     holder's tag) writes W, the headers at W and HeadCache; CloseWrite
//     may set W's closed bit at any time, so W moves by CAS.
//   - Only the record's producer moves State from busy to message; only
//     a repairer moves it from busy to skip. Both by CAS, so exactly one
//     lands.
//   - Only the consumer writes H (by CAS, with its epoch in bits 56..62,
//     as an SPSC consumer), after it has finished reading the records
//     below it.
//   - Every peer-written value (W, H, a header's Size, Len, State) is
//     loaded once, checked against the private geometry and the
//     invariants before use: ErrCorrupt, never an access outside the
//     data area.
//
// Why a claim lock and not a bare CAS of W (Agrona's ManyToOneRingBuffer)?
// Between a producer's CAS of W and its header store, a consumer could
// read the header's bytes, still those of an older lap's payload: Agrona
// has the consumer zero every byte it consumed, so that a free byte reads
// "not yet"; for frames of megabytes that doubles the memory traffic. The
// lock (the BPF ring buffer's choice) covers only the header store and
// the CAS of W: a few instructions, after which the record's payload is
// written outside it, in parallel with other producers. The lock is one
// CAS of a word on W's line (which the producer writes anyway); its
// holder's tag names the handle, so a holder that died in it is found by
// its liveness lock and the lock taken from it: whatever it did, W and
// the headers below W are consistent, since W moves last and atomically.
// docs/ring.md gives the ordering argument and the crash contract.
//
// Wrap: in a mirrored ring (ringFlagMirrored: a ring in an arena on
// Linux) every handle maps the data area twice, back to back
// (arena.Mirror), so a record that crosses the end is still one slice.
// Otherwise (a ring over caller memory, a platform without the double
// mapping) a record that would cross the end is preceded by a padding
// record that fills the space to the end, and starts at byte 0.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

const (
	recordHeaderSize = 16
	recordAlign      = 16
	// recordDataAlign is the least alignment of a record ring's data
	// area (the region's alignment in the arena file too): a page, so
	// that the area can be mapped twice.
	recordDataAlign = 4096

	// Record states (the low 3 bits of State; the rest is the lap).
	recBusy      = 1
	recMessage   = 2
	recPadding   = 3
	recSkip      = 4
	recStateMask = 7
	recLapShift  = 3

	// inlineCopyMax: a push of at most this many bytes writes its payload
	// inside the claim lock and publishes the record committed with the
	// CAS of W (one locked instruction fewer); a larger one claims, copies
	// outside the lock, and commits with a CAS of State, so that other
	// producers claim and copy meanwhile.
	inlineCopyMax = 2048
	// lockSpin bounds how long a producer spins for the claim lock held
	// by a live holder before it reports the ring busy (ErrFull): the lock
	// is held for a few instructions, so this is only reached when its
	// holder was descheduled.
	lockSpin = 200 * time.Microsecond
)

// recordHeader is the head of a record in the data area.
type recordHeader struct {
	// Size is the bytes the record takes, header included: a multiple
	// of 16, from 16 to the ring's largest record rounded up. Written at
	// the claim, under the claim lock.
	Size uint32 // 0
	// State is the record's state and lap (recState): stored at the
	// claim; CAS by the producer (commit) or a repairer (skip).
	State uint32 // 4: atomic
	// Len is the payload length, <= Size-16: stored before the commit.
	Len uint32 // 8
	// Owner is the tag (makeTag) of the claiming handle.
	Owner uint32 // 12
}

var (
	_ [recordHeaderSize - unsafe.Sizeof(recordHeader{})]byte
	_ [unsafe.Sizeof(recordHeader{}) - recordHeaderSize]byte
)

// recordProd is a record ring's producer unit: prodUnit's words, then the
// claim lock and the consumer position its holder last saw, on the same
// line (the claimer writes it anyway).
type recordProd struct {
	prodUnit
	// ClaimLock is 0, or the tag of the handle in the claim section.
	ClaimLock uint32 // 16: atomic
	_         uint32 // 20
	// HeadCache is the consumer position the last claimer read: a hint,
	// checked before use, written only under the claim lock.
	HeadCache uint64 // 24: atomic
}

// Records is a handle on a record ring. At any time at most one goroutine
// produces through a handle (TryPush, Push, batches, Reserve/Commit) and
// any number of handles, in any processes, produce at once; at most one
// goroutine (in any process) consumes (TryPop, Pop, batches,
// Peek/Release). The other methods are safe for concurrent use.
type Records struct {
	core
	_ cacheLinePad
	p recProducer
	_ cacheLinePad
	c recConsumer
	_ cacheLinePad

	rp     *recordProd
	data   []byte        // the data area: 2*Capacity bytes if mirrored, else Capacity
	mirror *arena.Mirror // the double mapping, if this handle made one
	mapMu  atomic.Bool   // mirror is set (read by unmapData)
}

// recProducer is the producer side's private state.
type recProducer struct {
	// need is the span the last ErrFull was for, which ready compares
	// the free space against.
	need uint64
	// resv counts this handle's reservations not yet committed (or
	// fenced): while any is, Close keeps the view mapped (unmapData).
	resv int
	pend pending
}

// recConsumer is the consumer side's private state.
type recConsumer struct {
	head      uint64 // next position to read; unsynced until the first consumer operation
	rel       uint64 // the consumer position published (H): the start of the oldest peeked record, or head
	epoch     uint64
	tailCache uint64 // last W seen
	// peeks are the starts of the peeked records not yet released, in
	// order; peekFront indexes the oldest.
	peeks      []uint64
	peekFront  int
	emptyPolls uint32
	// stallPos, stallSince, stallProbe track a busy record at head.
	stallPos   uint64
	stallSince int64
	stallProbe int64
	pend       pending
}

// CreateRecords allocates a region named name in a and initialises a
// record ring in it (cfg.Capacity bytes of records, each up to
// cfg.SlotSize bytes; Slots must be 0). On Linux its data area is mapped
// twice, so records never split at the wrap.
func CreateRecords(a *arena.Arena, name string, cfg Config, opts ...Option) (*Records, error) {
	return created(newRecords(), a, name, cfg, opts)
}

// OpenRecords attaches to the record ring named name in a.
func OpenRecords(a *arena.Arena, name string, opts ...Option) (*Records, error) {
	return opened(newRecords(), a, name, opts)
}

// NewRecords initialises a record ring over caller memory (zeroed,
// 8-byte aligned, at least Size(KindRecords, cfg, padUnit) bytes). Its
// data area is not mirrored: a record that would cross the end is
// preceded by a padding record.
func NewRecords(mem []byte, cfg Config, padUnit int, opts ...Option) (*Records, error) {
	return initialised(newRecords(), mem, cfg, padUnit, opts)
}

// AttachRecords attaches a new handle to a record ring in caller memory.
func AttachRecords(mem []byte, opts ...Option) (*Records, error) {
	return attached(newRecords(), mem, opts)
}

func newRecords() *Records {
	r := &Records{c: recConsumer{head: unsynced, rel: unsynced}}
	r.core.bind(kindRecords, r, &r.p.pend, &r.c.pend)
	return r
}

var _ Ring = (*Records)(nil)

// mapCreate implements dataMapper: a ring created in an arena is mirrored
// if the arena can map its data area twice.
func (r *Records) mapCreate(a *arena.Arena, reg *arena.Region, g *geometry) error {
	m, err := a.MirrorRegion(reg, int64(g.slotsOff), int64(g.capacity))
	if err != nil {
		if !errors.Is(err, arena.ErrUnsupported) && !errors.Is(err, arena.ErrInvalid) {
			// A mapping that failed for want of memory or address space
			// must not make the ring unmirrored for good.
			return err
		}
		// No double mapping here (another OS, or a data area that is not
		// a whole number of the arena's pages: a hugepage arena with a
		// small ring): padding records at the wrap.
		g.mirrored = false
		return nil
	}
	r.mirror = m
	r.mapMu.Store(true)
	g.mirrored = true
	return nil
}

// mapData implements dataMapper.
func (r *Records) mapData() error {
	r.rp = (*recordProd)(unsafe.Pointer(r.prod)) // the producer unit is a whole padding unit (>= 64 bytes)
	g := &r.g
	if !g.mirrored {
		r.data = r.mem[g.slotsOff : g.slotsOff+g.capacity : g.slotsOff+g.capacity]
		return nil
	}
	if r.mirror == nil {
		if r.arena == nil || r.region == nil {
			return ErrUnsupported // caller memory cannot be mapped twice
		}
		m, err := r.arena.MirrorRegion(r.region, int64(g.slotsOff), int64(g.capacity))
		if err != nil {
			if errors.Is(err, arena.ErrUnsupported) || errors.Is(err, arena.ErrInvalid) {
				return wrapUnsupported(err)
			}
			return fmt.Errorf("ring: map the record ring's data area twice: %w", err)
		}
		r.mirror = m
		r.mapMu.Store(true)
	}
	// One view holds the region's start (header, units, peer table) and
	// the data area twice: the handle works through it alone, so that
	// when the arena closes (and the view is replaced by anonymous memory
	// in one mmap) an operation under way sees the file or zeros in all
	// of it, never its W in the file and its headers in zeros.
	b := r.mirror.Bytes()
	if uint64(len(b)) != g.slotsOff+2*g.capacity {
		return corruptf("record ring mirror of %d bytes, want %d", len(b), g.slotsOff+2*g.capacity)
	}
	r.layout(b, *g)
	r.rp = (*recordProd)(unsafe.Pointer(r.prod)) // the view's producer unit
	r.data = b[g.slotsOff : g.slotsOff+2*g.capacity : g.slotsOff+2*g.capacity]
	return nil
}

// unmapData implements dataMapper. Once no call is inside the handle and
// it holds no reservation or peeked record (whose Buf or Data the caller
// may still touch), the view is unmapped at once (a ring opened and closed
// in a loop must not use up the address space); otherwise it is replaced
// by anonymous memory, which a late access reads as zeros, and unmapped
// with the arena's mapping.
func (r *Records) unmapData() {
	if !r.mapMu.Swap(false) || r.mirror == nil {
		return
	}
	if r.waiting.Load() == 0 && r.p.resv == 0 && r.c.peekFront == len(r.c.peeks) {
		_ = r.mirror.Unmap()
		return
	}
	_ = r.mirror.Close()
}

func wrapUnsupported(err error) error {
	if err == nil {
		return nil
	}
	return &unsupportedErr{err}
}

type unsupportedErr struct{ err error }

func (e *unsupportedErr) Error() string {
	return "ring: record ring's data area cannot be mapped twice here: " + e.err.Error()
}
func (e *unsupportedErr) Unwrap() []error { return []error{ErrUnsupported, e.err} }

// Capacity is the size of the ring's data area in bytes.
func (r *Records) Capacity() int { return int(r.g.capacity) }

// Mirrored reports whether the data area is mapped twice (records never
// split at the wrap, no padding records).
func (r *Records) Mirrored() bool { return r.g.mirrored }

// Slots is, for a record ring, the most records it can hold (each takes
// at least 16 bytes): Capacity / 16.
func (r *Records) Slots() int { return int(r.g.slots) }

// SlotSize is the largest record the ring accepts.
func (r *Records) SlotSize() int { return int(r.g.slotSize) }

// Len is the number of records pushed and not yet consumed, from the
// entries' counters (a snapshot; 0 once the handle is closed).
func (r *Records) Len() int {
	if r.shut.Load() != 0 {
		return 0
	}
	var in, out uint64
	for i := 0; i < int(r.g.peers); i++ {
		e := r.peerAt(i)
		in += atomic.LoadUint64(&e.MsgsIn)
		out += atomic.LoadUint64(&e.MsgsOut)
	}
	if in < out {
		return 0
	}
	return int(in - out)
}

// span is the bytes a record of n payload bytes takes.
func span(n uint64) uint64 { return (n + recordHeaderSize + recordAlign - 1) &^ (recordAlign - 1) }

// maxSpan is the largest span a header may give.
func (r *Records) maxSpan() uint64 { return span(r.g.slotSize) }

// Position arithmetic. Positions count bytes modulo M = Capacity * 2^k,
// the largest such multiple of Capacity at most 2^56 (2^56 itself for a
// power-of-two Capacity), so that the byte at pos is at pos mod Capacity
// even across the wrap of the counter.

// dist is a - b modulo M: how far position a is past b; ^0 if either is
// no position (>= M: a hostile word), which every range check refuses.
func (g *geometry) recDist(a, b uint64) uint64 {
	m := g.posMod
	switch {
	case a >= m || b >= m:
		return ^uint64(0)
	case a >= b:
		return a - b
	}
	return a + m - b
}

// recAdd is a + n modulo M, for a position a and n < M.
func (g *geometry) recAdd(a, n uint64) uint64 {
	if a += n; a >= g.posMod {
		a -= g.posMod
	}
	return a
}

// recIndex is the byte of the data area that position pos is at.
func (g *geometry) recIndex(pos uint64) uint64 {
	if g.pow2 {
		return pos & (g.capacity - 1)
	}
	return pos % g.capacity
}

// recLap is position pos's lap, in State's bits 3..31 (the lap mod 2^29).
func (g *geometry) recLap(pos uint64) uint32 {
	l := pos >> g.lapShift
	if !g.pow2 {
		l = pos / g.capacity
	}
	return uint32(l) << recLapShift
}

func (r *Records) dist(a, b uint64) uint64 { return r.g.recDist(a, b) }
func (r *Records) add(a, n uint64) uint64  { return r.g.recAdd(a, n) }
func (r *Records) index(pos uint64) uint64 { return r.g.recIndex(pos) }
func (r *Records) lap(pos uint64) uint32   { return r.g.recLap(pos) }

// hdr returns the header of the record at pos. In bounds: the index is
// below Capacity and 16-aligned, and the data area is at least Capacity
// bytes.
func (r *Records) hdr(pos uint64) *recordHeader {
	return (*recordHeader)(unsafe.Pointer(&r.data[r.index(pos)]))
}

// payload returns the n payload bytes of the record at pos, whose span
// (already checked) is sp.
func (r *Records) payload(pos, n, sp uint64) []byte {
	i := r.index(pos) + recordHeaderSize
	// Mirrored: i+sp-16 < 2*Capacity. Not: the consumer checked that the
	// record ends by the end of the area. The slice expression checks too.
	return r.data[i : i+n : i+sp-recordHeaderSize]
}

// The producer side.

// TryPush copies msg into a new record and commits it. It returns
// ErrFull, ErrTooLarge, ErrClosed or ErrCorrupt, and never blocks (but
// for a claim lock whose holder was descheduled: see lockSpin).
func (r *Records) TryPush(msg []byte) error { return r.counted(r.push(msg)) }

// Push is TryPush that waits while the ring has no room for msg.
func (r *Records) Push(ctx context.Context, msg []byte) error {
	return r.pushWait(ctx, msg, r.TryPush(msg))
}

func (r *Records) push(msg []byte) error {
	if r.shut.Load() != 0 {
		return r.shutErr()
	}
	n := uint64(len(msg))
	if n > r.g.slotSize {
		return ErrTooLarge
	}
	inline := n <= inlineCopyMax
	pos, err := r.claim(span(n), func(pos uint64) {
		if inline {
			copy(r.payload(pos, n, span(n)), msg)
		}
	}, inline, n)
	if err != nil {
		return err
	}
	if !inline {
		copy(r.payload(pos, n, span(n)), msg)
		if err := r.commitAt(pos, n); err != nil {
			return err
		}
	}
	r.pushed(1, n)
	return nil
}

// pushed counts and notifies after records were committed. The caller's
// commit was a CAS (W's or State's): the StoreLoad fence notify needs.
func (r *Records) pushed(k, nbytes uint64) {
	r.cnt.addIn(k, nbytes)
	if r.p.pend.tick() {
		r.slowIn()
	}
	r.notEmpty.notify(int(k), r.peer)
}

// claim takes the claim lock, finds room for a record of span sp at W
// (after a padding record if it would cross the end of a ring that is
// not mirrored), writes its header (committed with length n if commit,
// else busy), calls fill with its position while still holding the lock,
// moves W past it by CAS (the publish) and releases the lock. It returns
// the record's position.
func (r *Records) claim(sp uint64, fill func(pos uint64), commit bool, n uint64) (uint64, error) {
	if err := r.lock(); err != nil {
		r.p.need = recordAlign // the lock, not the room, said no: any room will do for ready
		return 0, err
	}
	r.markRole(RoleProducer)
	pos, err := r.claimLocked(sp, fill, commit, n)
	// Release: W's CAS came first; the next holder's lock CAS acquires
	// everything this holder wrote.
	storeOwned32(&r.rp.ClaimLock, 0)
	return pos, err
}

func (r *Records) claimLocked(sp uint64, fill func(pos uint64), commit bool, n uint64) (uint64, error) {
	g := &r.g
	w := atomic.LoadUint64(&r.prod.Pos) // acquire; we hold the lock: only CloseWrite changes it meanwhile
	if w&closedBit != 0 {
		return 0, ErrClosed
	}
	if w&^(closedBit|spscPosMask) != 0 || w%recordAlign != 0 || w&spscPosMask >= r.g.posMod {
		return 0, corruptf("record ring claim position %#x", w)
	}
	s := w & spscPosMask
	pad := uint64(0)
	if i := r.index(s); !g.mirrored && i+sp > g.capacity {
		pad = g.capacity - i // a multiple of 16: both are
	}
	need := pad + sp
	h := atomic.LoadUint64(&r.rp.HeadCache) & spscPosMask // a hint from the last holder, checked below
	if r.dist(s, h) > g.capacity || r.dist(s, h)+need > g.capacity {
		// Acquire: pairs with the consumer's release CAS of H, after it
		// finished reading the bytes we are about to reuse.
		h = atomic.LoadUint64(&r.cons.Pos) & spscPosMask
		if r.dist(s, h) > g.capacity {
			return 0, corruptf("record ring: consumer position %d vs claim position %d", h, s)
		}
		atomic.StoreUint64(&r.rp.HeadCache, h)
		if r.dist(s, h)+need > g.capacity {
			r.p.need = need // what ready compares the room against
			return 0, ErrFull
		}
	}
	if pad != 0 {
		ph := r.hdr(s)
		ph.Size, ph.Len, ph.Owner = uint32(pad), 0, r.ownerTag
		atomic.StoreUint32(&ph.State, recPadding|r.lap(s)) // published by W's CAS below
		s = r.add(s, pad)
	}
	hd := r.hdr(s)
	hd.Size, hd.Owner = uint32(sp), r.ownerTag
	st := uint32(recBusy)
	if commit {
		hd.Len = uint32(n)
		st = recMessage
	}
	if fill != nil {
		fill(s)
	}
	// Plain-atomic store: W's CAS below publishes it (release) to the
	// consumer that acquire-loads W; nobody reads it before.
	atomic.StoreUint32(&hd.State, st|r.lap(s))
	// CAS (sequentially consistent): publishes the headers (and, if
	// commit, the payload) to the consumer's acquire load of W; fails if
	// CloseWrite set the closed bit; and is the StoreLoad fence before
	// notify's load of NotEmptyWaiters.
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, w, r.add(s, sp)) {
		if atomic.LoadUint64(&r.prod.Pos)&closedBit != 0 {
			return 0, ErrClosed
		}
		return 0, corruptf("record ring claim position changed under the claim lock")
	}
	return s, nil
}

// lock takes the claim lock: a CAS of 0 to our tag. A lock held by a
// live handle is waited for (spinning, then yielding) for at most
// lockSpin; one held by a dead handle is taken over. Never one held by a
// live handle, however long (not even past a claim timeout): its holder's
// stores into the section are not fenced, and would land in the next
// holder's.
func (r *Records) lock() error {
	l := &r.rp.ClaimLock
	tag := r.ownerTag
	// Acquire (CAS): the previous holder's W and headers.
	if atomic.CompareAndSwapUint32(l, 0, tag) {
		return nil
	}
	var start time.Time
	for i := 0; ; i++ {
		v := atomic.LoadUint32(l)
		if v == 0 {
			if atomic.CompareAndSwapUint32(l, 0, tag) {
				return nil
			}
			continue
		}
		if i < 64 {
			spinStep(i)
			continue
		}
		if start.IsZero() {
			start = time.Now()
		}
		if i%16 == 0 {
			if time.Since(start) >= lockSpin {
				if r.lockHolderGone(v) && atomic.CompareAndSwapUint32(l, v, tag) {
					return nil
				}
				return ErrFull
			}
		}
		runtime.Gosched()
	}
}

// lockHolderGone reports whether the handle a claim lock's value names is
// dead or released (its entry's liveness lock is free, its PID 0, or its
// Generation moved on).
func (r *Records) lockHolderGone(v uint32) bool {
	if v == r.ownerTag && v != tagOverflow {
		// Our own entry's tag, which no other handle has, and this handle
		// is not in the claim section (one producer goroutine at a time):
		// a hostile or corrupt write. Take it.
		return true
	}
	if v == tagOverflow {
		return false // a handle without an entry: untestable (docs/ring.md, crash contract)
	}
	if idx := int(v & tagIdxMask); idx == 0 || idx >= int(r.g.peers) || v&^(tagIdxMask|tagGenMask<<tagGenShift) != 0 {
		return true // no handle's tag: a hostile or corrupt write
	}
	return r.tagState(v, repairOpts{deadIdx: -1}) == claimDead
}

// commitAt commits the busy record at pos with payload length n.
func (r *Records) commitAt(pos, n uint64) error {
	hd := r.hdr(pos)
	hd.Len = uint32(n)
	// CAS (sequentially consistent): releases Len and the payload to the
	// consumer's acquire load of State; fails if a repairer made the
	// record a skip record meanwhile (this handle was taken for dead or
	// held it past a claim timeout); the StoreLoad fence before notify.
	if !atomic.CompareAndSwapUint32(&hd.State, recBusy|r.lap(pos), recMessage|r.lap(pos)) {
		return ErrFenced
	}
	return nil
}

// TryPushBatch pushes as many of msgs as fit, in order, under one hold of
// the claim lock with one update of W. It returns how many were pushed;
// the error is non-nil only when none were. A message longer than the
// largest record ends the batch before it.
func (r *Records) TryPushBatch(msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	return r.countedBatch(msgs, n, err)
}

// PushBatch pushes all of msgs, waiting while the ring is full.
func (r *Records) PushBatch(ctx context.Context, msgs [][]byte) (int, error) {
	n, err := r.pushBatch(msgs)
	return r.pushAll(ctx, msgs, n, err)
}

func (r *Records) pushBatch(msgs [][]byte) (int, error) {
	if r.shut.Load() != 0 {
		return 0, r.shutErr()
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if uint64(len(msgs[0])) > r.g.slotSize {
		return 0, ErrTooLarge
	}
	if err := r.lock(); err != nil {
		r.p.need = recordAlign
		return 0, err
	}
	r.markRole(RoleProducer)
	k, nbytes, err := r.batchLocked(msgs)
	storeOwned32(&r.rp.ClaimLock, 0) // release: as in claim
	if err != nil {
		return 0, err
	}
	r.pushed(uint64(k), nbytes)
	return k, nil
}

// batchLocked writes as many of msgs as fit as committed records (with
// padding records where they would cross the end of a ring that is not
// mirrored) and publishes them all with one CAS of W. The claim lock is
// held.
func (r *Records) batchLocked(msgs [][]byte) (int, uint64, error) {
	g := &r.g
	w := atomic.LoadUint64(&r.prod.Pos) // acquire; under the lock
	if w&closedBit != 0 {
		return 0, 0, ErrClosed
	}
	if w&^(closedBit|spscPosMask) != 0 || w%recordAlign != 0 || w&spscPosMask >= r.g.posMod {
		return 0, 0, corruptf("record ring claim position %#x", w)
	}
	s := w & spscPosMask
	h := atomic.LoadUint64(&r.cons.Pos) & spscPosMask // acquire: as in claimLocked
	if r.dist(s, h) > g.capacity {
		return 0, 0, corruptf("record ring: consumer position %d vs claim position %d", h, s)
	}
	atomic.StoreUint64(&r.rp.HeadCache, h)
	free := g.capacity - r.dist(s, h)
	end := s
	k, nbytes := 0, uint64(0)
	for _, m := range msgs {
		n := uint64(len(m))
		if n > g.slotSize {
			break
		}
		sp := span(n)
		pad := uint64(0)
		if i := r.index(end); !g.mirrored && i+sp > g.capacity {
			pad = g.capacity - i
		}
		if pad+sp > free {
			break
		}
		if pad != 0 {
			ph := r.hdr(end)
			ph.Size, ph.Len, ph.Owner = uint32(pad), 0, r.ownerTag
			atomic.StoreUint32(&ph.State, recPadding|r.lap(end)) // published by W's CAS
			end = r.add(end, pad)
		}
		hd := r.hdr(end)
		hd.Size, hd.Len, hd.Owner = uint32(sp), uint32(n), r.ownerTag
		copy(r.payload(end, n, sp), m)
		atomic.StoreUint32(&hd.State, recMessage|r.lap(end)) // published by W's CAS
		end = r.add(end, sp)
		free -= pad + sp
		k++
		nbytes += n
	}
	if k == 0 {
		sp := span(uint64(len(msgs[0])))
		if i := r.index(s); !g.mirrored && i+sp > g.capacity {
			sp += g.capacity - i
		}
		r.p.need = sp
		return 0, 0, ErrFull
	}
	// CAS: publishes every record above; see claimLocked.
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, w, end) {
		if atomic.LoadUint64(&r.prod.Pos)&closedBit != 0 {
			return 0, 0, ErrClosed
		}
		return 0, 0, corruptf("record ring claim position changed under the claim lock")
	}
	return k, nbytes, nil
}

// TryReserve claims a record of up to n bytes written in place: Buf has
// length n and the capacity of the record's span (n rounded up to 16,
// but at most SlotSize); Commit publishes it. Several reservations may be
// outstanding at once, in any number of handles; each is committed
// separately (in any order), and the consumer takes records in the order
// they were reserved, so an uncommitted one holds back the ones after it.
// Hence a blocking Reserve while the handle already holds a reservation
// may wait for ever: the ring can fill behind the first, uncommitted
// record, which the consumer cannot pass. Commit what you hold before
// waiting for room (or take the second one with TryReserve).
func (r *Records) TryReserve(n int) (Reservation, error) { return r.countedRes(r.reserve(n)) }

// Reserve is TryReserve that waits while the ring has no room.
func (r *Records) Reserve(ctx context.Context, n int) (Reservation, error) {
	res, err := r.TryReserve(n)
	return r.reserveWait(ctx, n, res, err)
}

func (r *Records) reserve(n int) (Reservation, error) {
	if r.shut.Load() != 0 {
		return Reservation{}, r.shutErr()
	}
	if err := checkMsgLen(n, r.g.slotSize); err != nil {
		return Reservation{}, err
	}
	sp := span(uint64(n))
	pos, err := r.claim(sp, nil, false, 0)
	if err != nil {
		return Reservation{}, err
	}
	buf := r.payload(pos, uint64(n), sp)
	r.p.resv++
	return Reservation{Buf: buf[:n:min(uint64(cap(buf)), r.g.slotSize)], pos: pos, span: sp, ring: &r.core}, nil
}

// Commit publishes a reserved record holding n bytes (0 <= n <=
// cap(res.Buf)). ErrFenced: the record was passed over (this handle was
// taken for dead, or held it past a claim timeout) and is not published.
func (r *Records) Commit(res Reservation, n int) error {
	if r.shut.Load() != 0 {
		return r.shutErr()
	}
	if res.ring != &r.core {
		return ErrNotReserved
	}
	if n < 0 {
		return ErrInvalid
	}
	pos := res.pos
	// The record must still be below W and not consumed, else its bytes
	// are another record's now.
	w := atomic.LoadUint64(&r.prod.Pos) & spscPosMask // acquire
	h := atomic.LoadUint64(&r.cons.Pos) & spscPosMask // acquire
	if r.dist(pos, h) >= r.dist(w, h) {
		return ErrNotReserved
	}
	hd := r.hdr(pos)
	if n > int(res.span)-recordHeaderSize || n > int(r.g.slotSize) {
		return ErrTooLarge
	}
	if atomic.LoadUint32(&hd.State) != recBusy|r.lap(pos) || hd.Owner != r.ownerTag || uint64(hd.Size) != res.span {
		if atomic.LoadUint32(&hd.State) == recSkip|r.lap(pos) {
			return ErrFenced
		}
		return ErrNotReserved
	}
	r.p.resv--
	if err := r.commitAt(pos, uint64(n)); err != nil {
		return err
	}
	r.pushed(1, uint64(n))
	return nil
}

// The consumer side.

// TryPop copies the next record into dst and returns its length. It
// returns ErrEmpty, io.EOF once the stream is ended and drained,
// io.ErrShortBuffer if dst is too short (the record stays), ErrOutstanding
// while peeked records are outstanding, or ErrCorrupt.
func (r *Records) TryPop(dst []byte) (int, error) { return r.pop(dst) }

// Pop is TryPop that waits while the ring is empty.
func (r *Records) Pop(ctx context.Context, dst []byte) (int, error) {
	n, err := r.TryPop(dst)
	return r.popWait(ctx, dst, n, err)
}

func (r *Records) pop(dst []byte) (int, error) {
	if r.shut.Load() != 0 {
		return 0, r.shutErr()
	}
	if err := r.consPrologue(true); err != nil {
		return 0, err
	}
	pos, n, sp, err := r.next()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(dst)) {
		return 0, io.ErrShortBuffer
	}
	copy(dst, r.payload(pos, n, sp))
	if err := r.releaseTo(r.add(pos, sp), 1, n); err != nil {
		return 0, err
	}
	return int(n), nil
}

// consPrologue starts every consumer operation: one load of H (our own
// line) catches a consumer handle that took over since our last
// operation. excl: the operation needs no peeked record outstanding.
func (r *Records) consPrologue(excl bool) error {
	c := &r.c
	// Acquire: pairs with a consumer handle's release CAS of H.
	if cur := atomic.LoadUint64(&r.cons.Pos); cur != c.rel|c.epoch || int64(cur) < 0 {
		if err := r.resyncCons(cur); err != nil {
			return err
		}
	}
	if excl && c.peekFront < len(c.peeks) {
		return ErrOutstanding
	}
	return nil
}

// resyncCons takes up the consumer side from the shared word cur.
func (r *Records) resyncCons(cur uint64) error {
	c := &r.c
	cur, err := syncConsumerWord(&r.cons.Pos, cur, c.head != unsynced, &c.epoch)
	if err != nil {
		return err
	}
	if cur%recordAlign != 0 {
		return corruptf("record ring consumer position %d not 16-aligned", cur)
	}
	w := atomic.LoadUint64(&r.prod.Pos) & spscPosMask // acquire
	if r.dist(w, cur) > r.g.capacity {
		return corruptf("record ring positions: claim %d, consumer %d, capacity %d", w, cur, r.g.capacity)
	}
	// Records this handle had peeked belong to a position another
	// consumer handle has since moved past: void.
	c.head, c.rel, c.tailCache = cur, cur, w
	c.peeks, c.peekFront = c.peeks[:0], 0
	r.markRole(RoleConsumer)
	return nil
}

// next finds the next message at or after head, passing padding and skip
// records (and repairing a dead producer's busy record into one), and
// returns its position, payload length and span. Passed records move
// head, and are released with the next release; if there is no message
// (ErrEmpty, io.EOF) and no peek is outstanding, at once: the producers
// may be waiting for exactly that room (skip records of a dead producer
// that fill the ring).
func (r *Records) next() (pos, n, sp uint64, err error) {
	pos, n, sp, err = r.next1()
	if (err == ErrEmpty || err == io.EOF) && r.c.head != r.c.rel && r.c.peekFront == len(r.c.peeks) {
		if rerr := r.releaseTo(r.c.head, 0, 0); rerr != nil {
			return 0, 0, 0, rerr
		}
	}
	return pos, n, sp, err
}

func (r *Records) next1() (pos, n, sp uint64, err error) {
	c := &r.c
	g := &r.g
	for steps := uint64(0); ; steps++ {
		if steps > g.slots {
			return 0, 0, 0, corruptf("record ring: no message in %d records", steps)
		}
		if c.head == c.tailCache {
			if err := r.refreshW(); err != nil {
				return 0, 0, 0, err
			}
		}
		hd := r.hdr(c.head)
		// Acquire: pairs with the producer's commit CAS of State (or W's
		// CAS for a record committed at its claim): Len and the payload.
		st := atomic.LoadUint32(&hd.State)
		if st&^recStateMask != r.lap(c.head) {
			return 0, 0, 0, corruptf("record at %d: state %#x, lap %#x expected", c.head, st, r.lap(c.head))
		}
		size := uint64(hd.Size) // loaded once, checked
		avail := r.dist(c.tailCache, c.head)
		if size < recordHeaderSize || size%recordAlign != 0 || size > avail ||
			(!g.mirrored && r.index(c.head)+size > g.capacity) {
			return 0, 0, 0, corruptf("record at %d: size %d (%d bytes claimed)", c.head, size, avail)
		}
		switch st & recStateMask {
		case recMessage:
			if size > r.maxSpan() {
				return 0, 0, 0, corruptf("record at %d: size %d above the largest %d", c.head, size, r.maxSpan())
			}
			n := uint64(hd.Len)
			if n > size-recordHeaderSize || n > g.slotSize {
				return 0, 0, 0, corruptf("record at %d: length %d in %d bytes", c.head, n, size)
			}
			c.emptyPolls = 0
			return c.head, n, size, nil
		case recPadding:
			if g.mirrored || r.index(c.head)+size != g.capacity {
				return 0, 0, 0, corruptf("record at %d: padding of %d bytes does not end the data area", c.head, size)
			}
			c.head = r.add(c.head, size)
		case recSkip:
			if size > r.maxSpan() {
				return 0, 0, 0, corruptf("record at %d: size %d above the largest %d", c.head, size, r.maxSpan())
			}
			c.head = r.add(c.head, size)
		case recBusy:
			if size > r.maxSpan() {
				return 0, 0, 0, corruptf("record at %d: size %d above the largest %d", c.head, size, r.maxSpan())
			}
			if r.stalled(c.head, st, false) {
				continue // made a skip record: pass it
			}
			r.countEmpty()
			return 0, 0, 0, ErrEmpty
		default:
			return 0, 0, 0, corruptf("record at %d: state %#x", c.head, st)
		}
	}
}

// refreshW is next's answer when head reached the cached W: load W again
// (every tailEvery-th empty poll, or when the Closed mirror says so;
// otherwise ErrEmpty without touching the producers' line).
func (r *Records) refreshW() error {
	c := &r.c
	if c.emptyPolls++; r.quietEmpty(c.emptyPolls) && !r.headerReady() {
		r.countEmpty()
		return ErrEmpty
	}
	w := atomic.LoadUint64(&r.prod.Pos) // acquire: pairs with the claim CAS; the headers below it
	t := w & spscPosMask
	if r.dist(t, c.rel) > r.g.capacity || r.dist(c.head, c.rel) > r.dist(t, c.rel) {
		if atomic.LoadUint64(&r.cons.Pos)&spscEpochMask != c.epoch {
			return ErrFenced
		}
		return corruptf("record ring positions: claim %d, consumer %d, read %d", t, c.rel, c.head)
	}
	c.tailCache = t
	if t != c.head {
		return nil
	}
	if w&closedBit != 0 {
		r.repairClosedMirror()
		return io.EOF
	}
	r.countEmpty()
	return ErrEmpty
}

// headerReady is a hint, through the line the consumer reads next
// anyway: the header at head carries this lap's state (a claim landed
// there), so W is worth loading.
func (r *Records) headerReady() bool {
	return atomic.LoadUint32(&r.hdr(r.c.head).State)&^recStateMask == r.lap(r.c.head)
}

// stalled tracks the busy record at pos (state st) and, once it has been
// seen busy for stallGrace, probes its producer: if that is dead (or held
// it past the claim timeout) it makes the record a skip record and
// reports true. A polling consumer reads the clock every 64th poll of the
// record; a waiting one (waiting: from blocked, after a sleep or every 64
// spins) every time.
func (r *Records) stalled(pos uint64, st uint32, waiting bool) bool {
	c := &r.c
	if c.stallPos != pos+1 {
		c.stallPos, c.stallSince, c.stallProbe = pos+1, monoNow(), 0
		return false
	}
	if c.emptyPolls++; !waiting && c.emptyPolls%64 != 0 {
		return false
	}
	now := monoNow()
	held := now - c.stallSince
	if held < int64(stallGrace) || now-c.stallProbe < int64(stallProbeEvery) {
		return false
	}
	c.stallProbe = now
	return r.repairAt(pos, st, repairOpts{held: time.Duration(held), deadIdx: -1})
}

// repairAt makes the busy record at pos (State st) a skip record if its
// producer is dead (or past the claim timeout).
func (r *Records) repairAt(pos uint64, st uint32, o repairOpts) bool {
	hd := r.hdr(pos)
	owner := hd.Owner
	dead := r.tagState(owner, o) == claimDead
	if !dead && !(r.claimTimeout > 0 && o.held >= r.claimTimeout) {
		return false
	}
	// CAS: the lap in st makes a stale repairer's CAS fail; exactly one of
	// this and the producer's commit lands.
	if !atomic.CompareAndSwapUint32(&hd.State, st, recSkip|st&^recStateMask) {
		return false
	}
	atomic.AddUint64(&r.core.hdr.Skipped, 1)
	return true
}

// releaseTo publishes the consumer position end (after reading records
// below it), counting k records of nbytes.
func (r *Records) releaseTo(end, k, nbytes uint64) error {
	c := &r.c
	// CAS (sequentially consistent): releases our reads of the records
	// below end to the producers' acquire load of H, fails if another
	// consumer took over (epoch), and is the StoreLoad fence before
	// notify's load of NotFullWaiters.
	if !atomic.CompareAndSwapUint64(&r.cons.Pos, c.rel|c.epoch, end|c.epoch) {
		return r.releaseFailed()
	}
	c.rel = end
	if c.peekFront == len(c.peeks) {
		c.head = end
	}
	if k > 0 {
		r.cnt.addOut(k, nbytes)
		if c.pend.tick() {
			r.slowOut()
		}
	}
	r.notFull.notify(0, r.peer) // every waiting producer: each needs its own room
	return nil
}

func (r *Records) releaseFailed() error {
	cur := atomic.LoadUint64(&r.cons.Pos)
	if cur&spscEpochMask != r.c.epoch {
		return ErrFenced
	}
	return corruptf("record ring consumer position changed under the consumer")
}

// TryPopBatch pops up to len(bufs) records, one per buffer, with one
// release of the consumer position. It stops before a record that does
// not fit its buffer (io.ErrShortBuffer if it is the first).
func (r *Records) TryPopBatch(bufs [][]byte) (int, error) { return r.popBatch(bufs) }

// PopBatch is TryPopBatch that waits while the ring is empty.
func (r *Records) PopBatch(ctx context.Context, bufs [][]byte) (int, error) {
	n, err := r.TryPopBatch(bufs)
	return r.popBatchWait(ctx, bufs, n, err)
}

func (r *Records) popBatch(bufs [][]byte) (int, error) {
	if r.shut.Load() != 0 {
		return 0, r.shutErr()
	}
	if len(bufs) == 0 {
		return 0, nil
	}
	if err := r.consPrologue(true); err != nil {
		return 0, err
	}
	c := &r.c
	k, nbytes := 0, uint64(0)
	for k < len(bufs) {
		pos, n, sp, err := r.next()
		if err != nil {
			if k == 0 {
				return 0, err
			}
			break
		}
		if n > uint64(len(bufs[k])) {
			if k == 0 {
				return 0, io.ErrShortBuffer
			}
			break
		}
		bufs[k] = bufs[k][:copy(bufs[k], r.payload(pos, n, sp))]
		c.head = r.add(pos, sp)
		k++
		nbytes += n
	}
	if err := r.releaseTo(c.head, uint64(k), nbytes); err != nil {
		return 0, err
	}
	return k, nil
}

// TryPeek returns the next record in place; Release hands it back.
// Several peeks may be outstanding (pipelining): each TryPeek returns the
// record after the previous one, and they are released in the order they
// were peeked.
func (r *Records) TryPeek() (Message, error) { return r.peek() }

// Peek is TryPeek that waits while the ring is empty.
func (r *Records) Peek(ctx context.Context) (Message, error) {
	m, err := r.TryPeek()
	return r.peekWait(ctx, m, err)
}

func (r *Records) peek() (Message, error) {
	if r.shut.Load() != 0 {
		return Message{}, r.shutErr()
	}
	if err := r.consPrologue(false); err != nil {
		return Message{}, err
	}
	c := &r.c
	pos, n, sp, err := r.next()
	if err != nil {
		return Message{}, err
	}
	if c.peekFront == len(c.peeks) {
		c.peeks, c.peekFront = c.peeks[:0], 0
	}
	c.peeks = append(c.peeks, pos)
	c.head = r.add(pos, sp)
	data := r.payload(pos, n, sp)
	return Message{Data: data[:n:min(uint64(cap(data)), r.g.slotSize)], pos: pos, end: c.head, ring: &r.core}, nil
}

// Release hands back a peeked record: the oldest outstanding one
// (ErrNotReserved for any other).
func (r *Records) Release(m Message) error {
	if r.shut.Load() != 0 {
		return r.shutErr()
	}
	c := &r.c
	if m.ring != &r.core || c.peekFront == len(c.peeks) || c.peeks[c.peekFront] != m.pos {
		return ErrNotReserved
	}
	if cur := atomic.LoadUint64(&r.cons.Pos); cur != c.rel|c.epoch { // acquire
		c.peeks, c.peekFront = c.peeks[:0], 0
		if cur&spscEpochMask != c.epoch {
			return ErrFenced
		}
		return corruptf("record ring consumer position changed under the consumer")
	}
	c.peekFront++
	end := m.end
	if c.peekFront < len(c.peeks) {
		end = c.peeks[c.peekFront] // passed records up to the next peek go too
	}
	return r.releaseTo(end, 1, uint64(len(m.Data)))
}

// Discard drops up to n records (n < 0: every record in the ring now)
// without copying them, and returns how many it dropped.
func (r *Records) Discard(n int) (int, error) {
	if r.shut.Load() != 0 {
		return 0, r.shutErr()
	}
	if err := r.consPrologue(true); err != nil {
		return 0, err
	}
	c := &r.c
	k, nbytes := 0, uint64(0)
	for n < 0 || k < n {
		pos, ln, sp, err := r.next()
		if err != nil {
			if k == 0 && err != ErrEmpty {
				return 0, err
			}
			break
		}
		c.head = r.add(pos, sp)
		k++
		nbytes += ln
	}
	if k == 0 && c.head == c.rel {
		return 0, nil
	}
	if err := r.releaseTo(c.head, uint64(k), nbytes); err != nil {
		return 0, err
	}
	return k, nil
}

// ready implements kindOps.
func (r *Records) ready(push bool) bool {
	w := atomic.LoadUint64(&r.prod.Pos) // acquire
	if w&closedBit != 0 {
		if push {
			return true
		}
	}
	t := w & spscPosMask
	h := atomic.LoadUint64(&r.cons.Pos) & spscPosMask // acquire
	if push {
		d := r.dist(t, h)
		// A held claim lock is not "ready" (a dead or untestable holder
		// would otherwise keep the waiter from ever sleeping): blocked
		// reports it as stuck, which bounds the sleep (stallSleep), and
		// the retry after it takes a dead holder's lock. A live holder's
		// section is a few instructions, and the consumer's next release
		// wakes the sleeper anyway.
		if atomic.LoadUint32(&r.rp.ClaimLock) != 0 {
			return false
		}
		return d > r.g.capacity || r.g.capacity-d >= max(r.p.need, recordAlign)
	}
	c := &r.c
	if c.head == unsynced {
		return true
	}
	if r.dist(t, c.head) > r.g.capacity {
		return true // a takeover or corruption: the try says which
	}
	if t == c.head {
		return w&closedBit != 0
	}
	hd := r.hdr(c.head)
	st := atomic.LoadUint32(&hd.State)
	if st&recStateMask != recBusy || st&^recStateMask != r.lap(c.head) {
		return true
	}
	// A busy record: ready if its producer is dead (the try repairs it
	// once it has been stuck for stallGrace), so that a consumer whose
	// producers all died passes it instead of reporting ErrPeerDead.
	return r.tagState(hd.Owner, repairOpts{deadIdx: -1}) == claimDead
}

// watch implements kindOps: a consumer waits for the header at its head,
// a producer for the consumer position.
func (r *Records) watch(push bool) (*uint64, *uint32) {
	if push {
		return &r.cons.Pos, nil
	}
	if r.c.head == unsynced {
		return nil, nil
	}
	return nil, &r.hdr(r.c.head).State
}

// blocked implements kindOps: a waiting consumer repairs a dead
// producer's busy record at its head (next does, through stalled); a
// waiting producer takes a dead holder's claim lock (lock does).
func (r *Records) blocked(push bool) (repaired, stuck bool) {
	if push {
		return false, atomic.LoadUint32(&r.rp.ClaimLock) != 0
	}
	c := &r.c
	if c.head == unsynced {
		return false, false
	}
	w := atomic.LoadUint64(&r.prod.Pos) & spscPosMask // acquire
	if w == c.head || r.dist(w, c.head) > r.g.capacity {
		return false, false
	}
	hd := r.hdr(c.head)
	st := atomic.LoadUint32(&hd.State)
	if st != recBusy|r.lap(c.head) {
		return false, false
	}
	return r.stalled(c.head, st, true), true
}

// repairClaims implements kindOps for Recover: every busy record of a
// dead producer between H and W becomes a skip record, and a dead
// holder's claim lock is freed.
func (r *Records) repairClaims(deadIdx int) (skipped, redelivered int) {
	o := repairOpts{deadIdx: deadIdx, memo: make([]memoEntry, r.g.peers)}
	if v := atomic.LoadUint32(&r.rp.ClaimLock); v != 0 && r.tagState(v, o) == claimDead {
		atomic.CompareAndSwapUint32(&r.rp.ClaimLock, v, 0) // CAS: only if still that holder's
	}
	w := atomic.LoadUint64(&r.prod.Pos) & spscPosMask // acquire
	p := atomic.LoadUint64(&r.cons.Pos) & spscPosMask // acquire
	if r.dist(w, p) > r.g.capacity || p%recordAlign != 0 {
		return 0, 0
	}
	h0 := p
	for steps := uint64(0); p != w && steps <= r.g.slots; steps++ {
		hd := r.hdr(p)
		st := atomic.LoadUint32(&hd.State) // acquire
		size := uint64(hd.Size)
		// Acquire: if the consumer has moved at all since the walk began,
		// the bytes behind it may be a later lap's (a producer writes Size
		// before State): what was read may be torn. Stop; the consumer
		// repairs what it meets itself.
		if atomic.LoadUint64(&r.cons.Pos)&spscPosMask != h0 {
			break
		}
		if st&^recStateMask != r.lap(p) || size < recordHeaderSize || size%recordAlign != 0 || size > r.dist(w, p) {
			break // garbage
		}
		if st&recStateMask == recBusy && r.repairAt(p, st, o) {
			skipped++
		}
		p = r.add(p, size)
	}
	return skipped, 0
}

// Close releases the handle (Detach). A record ring has many producers,
// so no handle's Close ends the stream: CloseWrite does. Reservations the
// handle still holds become skip records once a consumer finds them
// (its entry is released: its records read as a dead handle's).
func (r *Records) Close() error { return r.Detach() }
