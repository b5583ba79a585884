package ring

import (
	"fmt"
	"hash/crc32"
	"math/bits"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/atomicx"
)

// Ring region layout (docs/ring.md has it byte by byte; TestRingLayout pins
// it). Offsets are from the start of the region, which is aligned to the
// padding unit P recorded in the arena header.
//
//	0        ringHeader (256 bytes: geometry, checksum, ready word)
//	A        producer unit (P bytes): Tail/EnqPos, not-empty eventcount
//	A+P      consumer unit (P bytes): Head/DeqPos, not-full eventcount
//	A+2P     peer table: PeerCapacity entries of max(P,128) bytes (for a
//	         broadcast ring the last Subscribers of them are the
//	         subscribers' entries, each holding its subscriber's cursor)
//	S        slots: Slots x SlotStride bytes
//
// with A = roundup(256, P) and S = roundup(A+2P+PeerCapacity*PeerStride, P).
// Every offset is a function of (kind, P, Slots, SlotSize, PeerCapacity);
// a reader recomputes them and refuses a header that disagrees.

const (
	ringMagic        = "SHMRRING"
	ringVersionMajor = 1
	// ringVersionMinor 1 added ringFlagPeerLocks, 2 ringFlagClaimRepair,
	// 3 the broadcast kind and the header's Subscribers field (zero for
	// the other kinds, so 1.2 rings read the same), 4 the record kind,
	// the header's DataAlign and Capacity fields (zero for the other
	// kinds) and ringFlagMirrored.
	ringVersionMinor = 4
	ringHeaderSize   = 256
	stateReady       = 0x59444552 // "REDY"
	peerEntryMin     = 128

	// closedBit marks the producer position word closed (bit 63).
	// Positions are 63-bit counters; they never reach it.
	closedBit = uint64(1) << 63
	posMask   = closedBit - 1

	// An SPSC position word (prod.Pos, cons.Pos) also carries the side's
	// epoch in bits 56..62: bumped by every handle that takes the side
	// over, so that the publish CAS of the handle it replaced fails
	// (ErrFenced). SPSC positions are 56-bit.
	spscEpochShift = 56
	spscEpochOne   = uint64(1) << spscEpochShift
	spscPosMask    = spscEpochOne - 1
	spscEpochMask  = posMask &^ spscPosMask

	spscSlotHeader  = 8  // Len uint32, Seq uint32
	mpmcSlotHeader  = 16 // Seq uint64, Len uint32, Owner uint32
	bcastSlotHeader = 16 // Seq uint64, Len uint32, reserved uint32
)

// Ring header Flags: incompatible features. A reader refuses a ring with a
// bit it does not know (ErrVersion) instead of misreading it, so a feature
// that older builds would get wrong sets a bit.
const (
	// ringFlagPeerLocks: every handle holds a liveness lock (an
	// open-file-description write lock, arena.LockLive) on the first byte
	// of its peer entry in the arena file while it is attached, and an
	// entry is alive exactly while that byte is locked. Set on every ring
	// created in an arena; an older build, which takes no lock, would look
	// dead and have its entry reclaimed, so it must refuse the ring.
	ringFlagPeerLocks uint32 = 1 << 0
	// ringFlagClaimRepair: claims held by dead handles are repaired in
	// place (mpmc_repair.go): an MPMC slot's Seq may carry skipBit (a skip
	// record), its Owner is the claimant's tag (tagConsumer set while a
	// consumer holds it, 0 once released), and peer entries publish the
	// claim they are making (ProdClaim, ConsClaim); SPSC position words
	// carry the side's epoch in bits 56..62 (spsc_takeover.go). Set on
	// every ring; a ring without it (layout 1.1) is refused, since its
	// handles would neither tag nor publish their claims, and would read
	// an epoch as part of a position.
	ringFlagClaimRepair uint32 = 1 << 1
	// ringFlagMirrored: a record ring (records.go) whose data area every
	// handle maps twice, back to back (arena.Mirror), so that a record may
	// cross the end of the data area and is still one contiguous slice.
	// Without it no record crosses the end: a padding record fills the
	// space before the wrap. A reader that cannot map the area twice must
	// refuse a ring with the flag (ErrUnsupported).
	ringFlagMirrored uint32 = 1 << 2

	knownRingFlags    = ringFlagPeerLocks | ringFlagClaimRepair | ringFlagMirrored
	requiredRingFlags = ringFlagClaimRepair
)

// Region kinds recorded in the arena directory.
const (
	KindSPSC arena.Kind = 0x43535053 // "SPSC"
	KindMPMC arena.Kind = 0x434d504d // "MPMC"
	// KindBroadcast is a broadcast ring (CreateBroadcast): one producer,
	// any number of subscribers, each of which sees every message.
	KindBroadcast arena.Kind = 0x54534342 // "BCST"
	// KindRecords is a record ring (CreateRecords): capacity in bytes,
	// records of any length up to a maximum, any number of producers and
	// one consumer.
	KindRecords arena.Kind = 0x53434552 // "RECS"
)

// ringKind is the one place a ring kind is described: its code in the
// ring header's Kind field, its region kind in the arena directory, its
// slot header size and its name. A new kind adds a constant and a row to
// each method below.
type ringKind uint32

const (
	kindSPSC      ringKind = 1
	kindMPMC      ringKind = 2
	kindBroadcast ringKind = 3
	kindRecords   ringKind = 4
)

var ringKinds = [...]ringKind{kindSPSC, kindMPMC, kindBroadcast, kindRecords}

// region is the kind recorded in the arena directory.
func (k ringKind) region() arena.Kind {
	switch k {
	case kindSPSC:
		return KindSPSC
	case kindMPMC:
		return KindMPMC
	case kindBroadcast:
		return KindBroadcast
	case kindRecords:
		return KindRecords
	}
	return 0
}

// slotHeader is the size of the header in front of every slot's data.
func (k ringKind) slotHeader() uint64 {
	switch k {
	case kindMPMC:
		return mpmcSlotHeader
	case kindBroadcast:
		return bcastSlotHeader
	case kindRecords:
		return recordHeaderSize
	}
	return spscSlotHeader
}

func (k ringKind) String() string {
	switch k {
	case kindSPSC:
		return "SPSC"
	case kindMPMC:
		return "MPMC"
	case kindBroadcast:
		return "broadcast"
	case kindRecords:
		return "records"
	}
	return fmt.Sprintf("kind %d", uint32(k))
}

// newHandle returns an unattached handle of this kind, nil for a kind
// whose handles are not a Ring (broadcast: a producer and subscribers).
func (k ringKind) newHandle() Ring {
	switch k {
	case kindSPSC:
		return newSPSC()
	case kindMPMC:
		return newMPMC()
	case kindRecords:
		return newRecords()
	}
	return nil
}

// kindOfRegion maps an arena directory kind to the ring kind it holds.
func kindOfRegion(k arena.Kind) (ringKind, bool) {
	for _, rk := range ringKinds {
		if rk.region() == k {
			return rk, true
		}
	}
	return 0, false
}

// ringHeader is the first 256 bytes of a ring region. Bytes [0,120) are
// written once before State and covered by Checksum.
type ringHeader struct {
	Magic           [8]byte // 0
	VersionMajor    uint16  // 8
	VersionMinor    uint16  // 10
	Kind            uint32  // 12: a ringKind: 1 SPSC, 2 MPMC, 3 broadcast, 4 records
	Slots           uint32  // 16: for a record ring, Capacity / 16
	SlotSize        uint32  // 20
	SlotStride      uint32  // 24
	PadUnit         uint32  // 28
	RegionSize      uint64  // 32: bytes the ring uses from the region start
	ProdOffset      uint64  // 40
	ConsOffset      uint64  // 48
	PeersOffset     uint64  // 56
	PeerCapacity    uint32  // 64: entries in the peer table, subscribers' included
	PeerStride      uint32  // 68
	SlotsOffset     uint64  // 72
	CreatorPID      uint32  // 80
	Flags           uint32  // 84: incompatible feature flags (ringFlag*); a reader refuses unknown bits
	CreatedUnixNano int64   // 88
	// Subscribers is, for a broadcast ring, how many of the peer table's
	// entries (the last ones) are reserved for subscribers; 0 for the
	// other kinds.
	Subscribers uint32 // 96
	// DataAlign and Capacity are, for a record ring, the alignment of its
	// data area (SlotsOffset, and the region's offset in the arena file:
	// a page, so that the area can be mapped twice) and its size in
	// bytes; 0 for the other kinds.
	DataAlign uint32  // 100
	Capacity  uint64  // 104
	_         [8]byte // 112: reserved, zero
	Checksum  uint32  // 120: CRC-32C of [0,120)
	State     uint32  // 124: atomic; stateReady once initialised
	// Closed mirrors the closed bit of the producer word on a line nobody
	// writes in steady state: consumers polling an empty ring read it
	// instead of the producer's hot line. Set by Close after the bit.
	Closed uint32 // 128: atomic; 1 once closed
	_      uint32 // 132
	// Skipped and Redelivered count the repairs of MPMC claims held by
	// dead (or timed-out) handles (Stats): written only by a repair, so
	// the line stays quiet in steady state.
	Skipped     uint64    // 136: atomic
	Redelivered uint64    // 144: atomic
	_           [104]byte // 152: reserved, zero
}

// prodUnit starts the producer's padded unit. Tail (SPSC) or EnqPos (MPMC)
// is written by producers; the not-empty eventcount lives beside it because
// the producer reads NotEmptyWaiters after every publish and consumers read
// Tail anyway, so co-locating them costs no extra cache line on either side.
type prodUnit struct {
	Pos             uint64 // 0: atomic; next position to publish (SPSC) / claim (MPMC); bit 63 = closed
	NotEmptySeq     uint32 // 8: atomic; futex word consumers sleep on
	NotEmptyWaiters uint32 // 12: atomic; consumers registered to sleep
}

// consUnit starts the consumer's padded unit.
type consUnit struct {
	Pos            uint64 // 0: atomic; next position to consume (SPSC) / claim (MPMC)
	NotFullSeq     uint32 // 8: atomic; futex word producers sleep on
	NotFullWaiters uint32 // 12: atomic; producers registered to sleep
}

// peerEntry is one entry of the peer table: a handle attached to the ring.
// Entry 0 is the shared overflow entry for handles that found no free one.
type peerEntry struct {
	// The first line holds the entry's identity and what its handle's
	// producer side writes; the second what its consumer side writes, so
	// that one handle used by a producer and a consumer goroutine on two
	// cores does not move one line back and forth on every message.
	PID        uint32 // 0: atomic; 0 = free; claimed by CAS
	Roles      uint32 // 4: atomic OR; bit 0 producer, bit 1 consumer (the handle caches its own)
	StartTicks uint64 // 8: process start time (clock ticks since boot) to tell a reused pid
	// ProdClaim and ConsClaim are 1 + the first position this entry's
	// handle is claiming as an MPMC producer (consumer), stored before the
	// claiming CAS and cleared to 0 once the claim is tagged or settled:
	// they tell a repairer whose claim an untagged slot is
	// (mpmc_repair.go).
	ProdClaim         uint64 // 16: atomic
	HeartbeatUnixNano int64  // 24: atomic; last activity (peers.go), for operators
	MsgsIn            uint64 // 32: atomic counters, cumulative per entry
	BytesIn           uint64 // 40
	FullEvents        uint64 // 48
	// SleepingFull and SleepingEmpty count this entry's goroutines
	// registered in NotFullWaiters and NotEmptyWaiters: what to subtract
	// from those when the entry's handle dies while asleep (peers.go).
	SleepingFull   uint32 // 56: atomic
	Generation     uint32 // 60: atomic; incremented by every claim
	ConsClaim      uint64 // 64: atomic
	AttachUnixNano int64  // 72
	MsgsOut        uint64 // 80
	BytesOut       uint64 // 88
	EmptyEvents    uint64 // 96
	Sleeps         uint64 // 104
	Wakes          uint64 // 112
	SleepingEmpty  uint32 // 120: atomic
	_              uint32 // 124
}

var (
	_ [ringHeaderSize - unsafe.Sizeof(ringHeader{})]byte
	_ [unsafe.Sizeof(ringHeader{}) - ringHeaderSize]byte
	_ [peerEntryMin - unsafe.Sizeof(peerEntry{})]byte
	_ [unsafe.Sizeof(peerEntry{}) - peerEntryMin]byte
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func (h *ringHeader) sum() uint32 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(h)), unsafe.Offsetof(h.Checksum))
	return crc32.Checksum(b, castagnoli)
}

// geometry is a process-private copy of a ring's layout, computed from
// (kind, P, Slots, SlotSize, Peers) and never re-read from shared memory.
type geometry struct {
	kind       ringKind
	pad        uint64
	slots      uint64
	mask       uint64
	slotSize   uint64
	slotHeader uint64
	stride     uint64
	prodOff    uint64
	consOff    uint64
	peersOff   uint64
	peers      uint64 // entries in the peer table, subscribers' included
	// subBase is the first subscriber entry (a broadcast ring's last
	// Subscribers entries); == peers for the other kinds. Handles that
	// are not subscribers claim entries in [1, subBase).
	subBase    uint64
	peerStride uint64
	slotsOff   uint64
	size       uint64
	// peerLocks: the ring's handles hold liveness locks (ringFlagPeerLocks).
	peerLocks bool
	// posMask extracts a position from a position word: 63 bits (MPMC),
	// or 56 below the SPSC epoch.
	posMask uint64
	// capacity and dataAlign are a record ring's data-area size and
	// alignment (0 for the other kinds); mirrored its ringFlagMirrored.
	capacity  uint64
	dataAlign uint64
	mirrored  bool
	// posMod is a record ring's position modulus (records.go: Capacity
	// times the largest power of two that keeps it <= 2^56); pow2 says
	// Capacity is a power of two (index and lap by mask and shift).
	posMod uint64
	pow2   bool
	// lapShift is log2(slots): position >> lapShift is its lap.
	lapShift uint
}

func alignUp(x, a uint64) uint64 { return (x + a - 1) &^ (a - 1) }

// computeGeometry derives every offset. Inputs must already be bounded by
// Config.validate and the padding-unit check.
func computeGeometry(kind ringKind, pad uint64, cfg Config) geometry {
	g := geometry{kind: kind, pad: pad, slots: uint64(cfg.Slots), slotSize: uint64(cfg.SlotSize)}
	g.subBase = uint64(cfg.Peers)
	g.peers = g.subBase + uint64(cfg.Subscribers) // Subscribers is 0 but for broadcast
	g.mask = g.slots - 1
	g.lapShift = uint(bits.TrailingZeros64(g.slots))
	g.posMask = posMask
	if kind == kindSPSC || kind == kindBroadcast || kind == kindRecords {
		g.posMask = spscPosMask
	}
	g.slotHeader = kind.slotHeader()
	g.stride = alignUp(g.slotHeader+g.slotSize, 8)
	a := alignUp(ringHeaderSize, pad)
	g.prodOff = a
	g.consOff = a + pad
	g.peersOff = a + 2*pad
	g.peerStride = max(pad, peerEntryMin)
	g.slotsOff = alignUp(g.peersOff+g.peers*g.peerStride, pad)
	if kind == kindRecords {
		// Capacity bytes in units of the record alignment; the data area
		// starts on its own page.
		g.capacity = uint64(cfg.Capacity)
		g.slots, g.stride = g.capacity/recordAlign, recordAlign
		g.mask = g.slots - 1
		g.pow2 = g.capacity&(g.capacity-1) == 0
		g.lapShift = uint(bits.TrailingZeros64(g.capacity)) // for a power of two, a position's lap is pos >> lapShift
		g.posMod = g.capacity
		for g.posMod <= (spscPosMask+1)>>1 { // doubling stays <= 2^56
			g.posMod <<= 1
		}
		g.dataAlign = max(pad, recordDataAlign)
		g.slotsOff = alignUp(g.peersOff+g.peers*g.peerStride, g.dataAlign)
	}
	g.size = g.slotsOff + g.slots*g.stride // < 2^61: slots <= 2^30, stride <= 2^30+24; records: capacity <= 2^40
	return g
}

// Size returns the number of bytes a ring of this kind and config needs in
// an arena whose padding unit is padUnit. kind is KindSPSC, KindMPMC or
// KindBroadcast.
func Size(kind arena.Kind, cfg Config, padUnit int) (int64, error) {
	k, ok := kindOfRegion(kind)
	if !ok {
		return 0, fmt.Errorf("%w: kind %#x is not a ring kind", ErrInvalid, uint32(kind))
	}
	g, err := newGeometry(k, uint64(padUnit), cfg)
	if err != nil {
		return 0, err
	}
	return int64(g.size), nil
}

// Spec names one ring for ArenaSize: its kind (KindSPSC, KindMPMC or
// KindBroadcast) and config.
type Spec struct {
	Kind   arena.Kind
	Config Config
}

// ArenaSize returns the size to give arena.Create, with the same options
// (WithPadUnit, WithDirCapacity), for an arena that holds these rings,
// created in this order: each ring's Size at the padding unit Create will
// record, plus the arena's header, directory and alignment gaps
// (arena.SizeFor).
func ArenaSize(rings []Spec, opts ...arena.Option) (int64, error) {
	pad, err := arena.PadUnitFor(opts...)
	if err != nil {
		return 0, err
	}
	sizes := make([]int64, len(rings))
	for i, r := range rings {
		if sizes[i], err = Size(r.Kind, r.Config, pad); err != nil {
			return 0, fmt.Errorf("ring %d: %w", i, err)
		}
		if r.Kind == KindRecords && recordDataAlign > pad {
			// Its region is page-aligned in the file: room for the gap
			// before it (SizeFor aligns every region to pad only).
			sizes[i] += int64(recordDataAlign - pad)
		}
	}
	return arena.SizeFor(sizes, int64(pad), opts...)
}

// newGeometry validates a caller's config and padding unit and computes
// the geometry of a new ring.
func newGeometry(k ringKind, pad uint64, cfg Config) (geometry, error) {
	cfg = cfg.withDefaults()
	if k == kindBroadcast && cfg.Subscribers == 0 {
		cfg.Subscribers = DefaultSubscribers
	}
	if err := cfg.validateKind(k); err != nil {
		return geometry{}, err
	}
	if err := checkPad(pad); err != nil {
		return geometry{}, err
	}
	g := computeGeometry(k, pad, cfg)
	if g.size > maxRingBytes {
		return geometry{}, fmt.Errorf("%w: ring of %d bytes is too large", ErrInvalid, g.size)
	}
	return g, nil
}

func checkPad(p uint64) error {
	if p < 64 || p > 4096 || p&(p-1) != 0 {
		return fmt.Errorf("%w: padding unit %d", ErrInvalid, p)
	}
	return nil
}

// initRing writes the header of a new ring into mem (zeroed, at least
// g.size bytes, 8-byte aligned) and publishes it.
func initRing(mem []byte, g geometry, pid uint32, now int64) {
	h := (*ringHeader)(unsafe.Pointer(&mem[0])) // len(mem) >= g.size > ringHeaderSize
	copy(h.Magic[:], ringMagic)
	h.VersionMajor = ringVersionMajor
	h.VersionMinor = ringVersionMinor
	h.Kind = uint32(g.kind)
	h.Slots = uint32(g.slots)
	h.SlotSize = uint32(g.slotSize)
	h.SlotStride = uint32(g.stride)
	h.PadUnit = uint32(g.pad)
	h.RegionSize = g.size
	h.ProdOffset = g.prodOff
	h.ConsOffset = g.consOff
	h.PeersOffset = g.peersOff
	h.PeerCapacity = uint32(g.peers)
	h.PeerStride = uint32(g.peerStride)
	h.SlotsOffset = g.slotsOff
	h.CreatorPID = pid
	h.Flags = ringFlagClaimRepair
	if g.peerLocks {
		h.Flags |= ringFlagPeerLocks
	}
	h.CreatedUnixNano = now
	h.Subscribers = uint32(g.peers - g.subBase)
	if g.kind == kindRecords {
		h.DataAlign = uint32(g.dataAlign)
		h.Capacity = g.capacity
		if g.mirrored {
			h.Flags |= ringFlagMirrored
		}
	}
	h.Checksum = h.sum()
	if g.kind == kindMPMC {
		// Vyukov: slot i starts with sequence i (free for the producer of
		// position i).
		for i := uint64(0); i < g.slots; i++ {
			seq := (*uint64)(unsafe.Pointer(&mem[g.slotsOff+i*g.stride])) // in bounds: i < slots
			atomic.StoreUint64(seq, i)
		}
	}
	// Release: every byte above is visible to whoever acquire-loads State
	// and sees stateReady.
	atomic.StoreUint32(&h.State, stateReady)
}

// readHeader validates the ring header in mem (a region of len(mem) bytes)
// and returns the private geometry. State must already have been observed
// ready with an acquire load.
func readHeader(mem []byte, wantKind ringKind, arenaPad uint64) (geometry, error) {
	// Only the fields written before State ([0,124): the checksummed part
	// and Checksum): the rest (Closed, the repair counters) are stored
	// atomically by live handles, and a plain copy of them would race.
	var h ringHeader
	n := unsafe.Offsetof(h.State)
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), n), mem[:n])
	if string(h.Magic[:]) != ringMagic {
		return geometry{}, fmt.Errorf("%w: bad ring magic %q", ErrKind, h.Magic[:])
	}
	if h.VersionMajor != ringVersionMajor {
		return geometry{}, fmt.Errorf("%w: ring layout %d.%d", ErrVersion, h.VersionMajor, h.VersionMinor)
	}
	if got := h.sum(); got != h.Checksum {
		return geometry{}, corruptf("ring header checksum %#08x, computed %#08x", h.Checksum, got)
	}
	if h.Flags&^knownRingFlags != 0 {
		return geometry{}, fmt.Errorf("%w: unknown ring feature flags %#x", ErrVersion, h.Flags&^knownRingFlags)
	}
	if h.Flags&requiredRingFlags != requiredRingFlags {
		return geometry{}, fmt.Errorf("%w: ring layout %d.%d lacks feature flags %#x (created by an older build)",
			ErrVersion, h.VersionMajor, h.VersionMinor, requiredRingFlags&^h.Flags)
	}
	if ringKind(h.Kind) != wantKind {
		return geometry{}, fmt.Errorf("%w: ring kind %d, want %d (%v)", ErrKind, h.Kind, uint32(wantKind), wantKind)
	}
	if h.Subscribers > h.PeerCapacity {
		return geometry{}, corruptf("ring header: %d subscriber entries of %d", h.Subscribers, h.PeerCapacity)
	}
	cfg := Config{Slots: int(h.Slots), SlotSize: int(h.SlotSize), Peers: int(h.PeerCapacity - h.Subscribers), Subscribers: int(h.Subscribers)}
	if ringKind(h.Kind) == kindRecords {
		if h.Capacity > maxRecordCapacity || uint64(h.Slots)*recordAlign != h.Capacity {
			return geometry{}, corruptf("record ring header: capacity %d, %d units", h.Capacity, h.Slots)
		}
		cfg.Slots, cfg.Capacity = 0, int(h.Capacity)
	} else if h.DataAlign != 0 || h.Capacity != 0 || h.Flags&ringFlagMirrored != 0 {
		return geometry{}, corruptf("ring header: record fields set on a %v ring", ringKind(h.Kind))
	}
	if err := cfg.validateKind(ringKind(h.Kind)); err != nil {
		return geometry{}, corruptf("ring header: %v", err)
	}
	if err := checkPad(uint64(h.PadUnit)); err != nil || (arenaPad != 0 && uint64(h.PadUnit) != arenaPad) {
		return geometry{}, corruptf("ring padding unit %d (arena's is %d)", h.PadUnit, arenaPad)
	}
	g := computeGeometry(ringKind(h.Kind), uint64(h.PadUnit), cfg)
	g.peerLocks = h.Flags&ringFlagPeerLocks != 0
	g.mirrored = h.Flags&ringFlagMirrored != 0
	if g.kind == kindRecords && uint64(h.DataAlign) != g.dataAlign {
		return geometry{}, corruptf("record ring data alignment %d, want %d", h.DataAlign, g.dataAlign)
	}
	if h.SlotStride != uint32(g.stride) || h.RegionSize != g.size || h.ProdOffset != g.prodOff ||
		h.ConsOffset != g.consOff || h.PeersOffset != g.peersOff || h.PeerStride != uint32(g.peerStride) ||
		h.SlotsOffset != g.slotsOff {
		return geometry{}, corruptf("ring header offsets disagree with its geometry")
	}
	if g.size > uint64(len(mem)) {
		return geometry{}, corruptf("ring needs %d bytes, region has %d", g.size, len(mem))
	}
	return g, nil
}

// spscSlot is the head of an SPSC slot; the message follows it.
type spscSlot struct {
	Len uint32
	// Seq is uint32(pos+1) once the message of position pos is written:
	// stored (release) after Len and Data and before the producer
	// publishes Tail, so a consumer that finds its cached tail exhausted
	// can see the next message through the slot line it must read anyway,
	// without pulling the Tail line away from the producer.
	Seq uint32
}

// mpmcSlot is the head of an MPMC slot; the message follows it.
type mpmcSlot struct {
	// Seq says whose turn the slot is (mpmc.go's invariants): stored
	// sequentially consistent by the producer after Len and the data, and
	// by the consumer when it hands the slot back.
	Seq uint64
	// Len is the message length, stored (release) before Seq; consumers
	// read it atomically before winning the slot.
	Len uint32
	// Owner is the tag (mpmc_repair.go) of the handle that last claimed
	// the slot: the producer, stored just after its claiming CAS, then the
	// consumer (tagConsumer set); a tag names the claim's lap, so one left
	// from an earlier lap reads as no tag. A repairer uses it to find whose
	// claim stalls the ring.
	Owner uint32
}

// bcastSlot is the head of a broadcast slot; the message follows it.
type bcastSlot struct {
	// Seq is the slot's seqlock word (broadcast.go): 1 + the position
	// whose message the slot holds, with bcastWriting (bit 63) set while
	// the producer rewrites it. 0: never written.
	Seq uint64
	// Len is the message length, stored (release) before Seq clears the
	// writing bit.
	Len uint32
	_   uint32
}

var (
	_ [bcastSlotHeader - unsafe.Sizeof(bcastSlot{})]byte
	_ [unsafe.Sizeof(bcastSlot{}) - bcastSlotHeader]byte
	_ [spscSlotHeader - unsafe.Sizeof(spscSlot{})]byte
	_ [unsafe.Sizeof(spscSlot{}) - spscSlotHeader]byte
	_ [mpmcSlotHeader - unsafe.Sizeof(mpmcSlot{})]byte
	_ [unsafe.Sizeof(mpmcSlot{}) - mpmcSlotHeader]byte
)

// storeRelease32 is a release store of a slot header word that a consumer
// acquire-loads (the SPSC Seq, the MPMC Len): a plain MOV on amd64, STLR
// on arm64; sync/atomic under the race detector, which does not see the
// assembly.
func storeRelease32(addr *uint32, v uint32) {
	if atomicx.Race {
		atomic.StoreUint32(addr, v)
	} else {
		atomicx.StoreRelease32(addr, v)
	}
}

// storeOwned32 and storeOwned64 are release stores of the words of the
// claim protocol (mpmc_repair.go: claim words, slot tags), which readers
// load atomically: a plain MOV on amd64, where every store is a release
// store (TSO) and the compiler keeps stores in program order; STLR
// elsewhere; under the race detector, which would see a plain store racing
// an atomic load, a sequentially consistent store. The stores that must
// be visible before a CAS (a claim word) are published by the CAS.
func storeOwned32(addr *uint32, v uint32) {
	switch {
	case atomicx.Race:
		atomic.StoreUint32(addr, v)
	case runtime.GOARCH == "amd64":
		*addr = v
	default:
		atomicx.StoreRelease32(addr, v)
	}
}

func storeOwned64(addr *uint64, v uint64) {
	switch {
	case atomicx.Race:
		atomic.StoreUint64(addr, v)
	case runtime.GOARCH == "amd64":
		*addr = v
	default:
		atomicx.StoreRelease64(addr, v)
	}
}
