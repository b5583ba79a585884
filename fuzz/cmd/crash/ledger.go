package main

// The shared ledger: a region of the campaign's arena, next to its rings,
// that every child writes with atomics as it works, so that what a child
// recorded survives its SIGKILL (the stores are in the shared mapping, not
// in the dead process). The supervisor reads it while the children run
// (journals, states) and after each death (the dead child's last records).
//
//	0                    ledgerHeader                          128 bytes
//	128                  ringRecord    x Rings                 128 bytes each
//	R = 128 + 128*Rings  producerRecord x Producers            128 bytes each
//	C = R + 128*Prods    consumerRecord x Consumers            256 bytes each
//	J = C + 256*Cons     journal       x Consumers             JournalCap uint64 each
//
// Every field is written by one side only: a ring record's holds, the
// header's Stop and a consumer record's Read by the supervisor; the rest
// of a child's record by the child while it runs, and by the supervisor
// only between two incarnations (the previous one reaped, the next not
// started), so each word has one writer at a time.
//
// Producer p writes stream p: message seq of its stream is encoded by
// fuzz.EncodeMessage(buf, p, seq, n). Before each call that may push
// messages [seq, seq+k) it stores Attempt = seq+k; after the call returned
// nil it stores Committed = seq+k (a PushBatch that pushed done of them:
// seq+done). So at any instant, and in the record a killed producer left
// behind: every number below Committed was committed, none at or above
// Attempt was ever offered to the ring, and [Committed, Attempt) is the
// call that was in flight, whose messages may or may not be in the ring.
// A restarted producer continues at Attempt.
//
// A broadcast producer also stores Base = 1 + the ring's producer
// position once its first call has taken the producer side over (its
// first call is a Reserve, which adopts what a killed predecessor
// completed and publishes nothing of its own; contract.go says why).
//
// A consumer appends every message it receives to its journal as one
// entry, stream<<48 | seq (journalEntry), the moment it has it (before
// Release, for a peeked message), by storing the entry and then Head, the
// number of entries written; the supervisor reads entries [Read, Head) and
// stores Read, and the consumer never runs more than JournalCap entries
// ahead of Read. Before each call that may take messages out of the ring
// it stores ClaimHead = Head and then Claim, how many the call may take
// (1, or the batch length), and stores 0 once what the call returned is
// journaled; while it holds a peeked message that it has journaled and not
// yet released, Held is that entry + 1. A dead consumer's Claim, less what
// it journaled since ClaimHead, bounds the messages that died in its
// memory; its Held names the one message that may come again.
//
// A record-ring producer that reserves several records in one call (they
// are committed in any order) stores Reserved = seq+i+1 once its i-th
// reservation returned: the numbers [Committed, Reserved) of a killed
// producer were claimed, so each was committed or became a skip record.
// A record-ring consumer may hold several peeks at once (pipelined, in
// ring order): before it journals the first it stores HeldFrom = 1 + that
// entry's journal index, after each Release the next one's (0 after the
// last), so a dead consumer's entries [HeldFrom-1, Head) are the messages
// that may come again.
//
// A broadcast subscriber journals the same way, and also each lap (a
// lossy subscriber's *ring.LappedError) as the entry lapEntry(Missed),
// in its place among the messages, followed by lapEndEntry(cursor), the
// cursor the lap left (Subscriber.Cursor): the position after the last
// one it counted. The walk of contract_broadcast.go cannot find where a
// lap began from the entries before it, because a subscriber passes
// holes silently. Right after Subscribe returns it
// stores Join = 1 + its cursor (the ring position of the first message
// it will read), before it journals anything; at io.EOF it stores
// Mismatch, the difference between the Missed its SubscriberStats count
// over the incarnation and the Missed its laps reported (0).

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

const (
	ledgerRegion = "crash-ledger"
	ledgerMagic  = 0x52474c4853415243 // "CRASHLGR"
	// journalCap is each consumer's journal, in entries (a power of two):
	// 1 MiB, about a second of one consumer's messages, which the
	// supervisor drains every millisecond.
	journalCap = 1 << 17
	seqBits    = 48
	seqMask    = 1<<seqBits - 1
	// lapStream is the stream of a journal entry that records a lap
	// (lapEntry): no producer slot has this number.
	lapStream = 1<<(64-seqBits) - 1
	// lapEndStream is the stream of the entry that follows a lap's
	// (lapEndEntry).
	lapEndStream = lapStream - 1
)

// ledgerHeader opens the region.
type ledgerHeader struct {
	Magic      uint64 // 0: ledgerMagic, written once before any child starts
	Rings      uint32 // 8
	Producers  uint32 // 12
	Consumers  uint32 // 16
	JournalCap uint32 // 20
	// Stop is 1 once producers are to finish their call and exit.
	Stop uint32    // 24: atomic, supervisor
	_    [100]byte // 28
}

// ringRecord holds the supervisor's requests to one ring's children.
type ringRecord struct {
	// HoldProducers and HoldConsumers, when not 0, ask that side's
	// children to pause between operations until the word is 0 again or
	// its value (Unix nanoseconds) has passed: the supervisor empties or
	// fills a ring this way to put the other side to sleep in the futex.
	HoldProducers int64     // 0: atomic, supervisor
	HoldConsumers int64     // 8: atomic, supervisor
	_             [112]byte // 16
}

// producerRecord is one producer slot's record.
type producerRecord struct {
	State     uint64   // 0: atomic: packedState
	Committed uint64   // 8: atomic: every number below it was committed
	Attempt   uint64   // 16: atomic: no number at or above it was ever offered
	Strategy  uint32   // 24: the incarnation's ring.WaitStrategy
	Inc       uint32   // 28: incarnation, set by the supervisor
	Started   int64    // 32: atomic: Unix nanoseconds when the incarnation had attached to its ring
	Base      uint64   // 40: atomic: broadcast: 1 + the ring position the incarnation's own messages start at, or 0
	Reserved  uint64   // 48: atomic: records: every number of the call in flight below it is claimed (a reservation returned)
	_         [72]byte // 56
}

// consumerRecord is one consumer slot's record. Read sits on its own
// cache line, away from the words the consumer writes.
type consumerRecord struct {
	State      uint64    // 0: atomic: packedState
	Claim      uint64    // 8: atomic: messages the call in flight may take
	Held       uint64    // 16: atomic: journaled, unreleased peeked entry + 1, or 0
	Head       uint64    // 24: atomic: journal entries written
	Corrupt    uint64    // 32: atomic: messages that failed their checks
	OutOfOrder uint64    // 40: atomic: messages whose number did not increase on its stream within one incarnation
	Strategy   uint32    // 48
	Inc        uint32    // 52
	ClaimHead  uint64    // 56: atomic: Head when Claim was stored
	Started    int64     // 64: atomic: as producerRecord's
	Join       uint64    // 72: atomic: broadcast: 1 + the cursor Subscribe left, or 0
	Mismatch   uint64    // 80: atomic: broadcast: SubscriberStats.Missed less the laps' Missed, at io.EOF
	HeldFrom   uint64    // 88: atomic: records: 1 + the journal index of the oldest journaled, unreleased peek, or 0
	_          [32]byte  // 96
	Read       uint64    // 128: atomic, supervisor: journal entries consumed
	_          [120]byte // 136
}

// A child's state, published in its record's State as seq<<8 | state
// (seq counts the child's state changes, so that two equal loads a while
// apart show that it stayed in one state the whole time).
type childState uint8

const (
	stStarting  childState = iota // set by the supervisor before it starts the child
	stIdle                        // between operations
	stPush                        // in TryPush
	stReserve                     // holding a reservation: between Reserve's return and Commit's
	stPop                         // in TryPop or TryPeek
	stPeek                        // holding a peeked message: between Peek's return and Release's
	stBatch                       // in PushBatch or PopBatch
	stWait                        // in Push, Reserve, Pop or Peek after the Try form found the ring full (producer) or empty (consumer): asleep in the futex, with a strategy that sleeps
	stHeld                        // paused by a ring record's hold
	stDone                        // finished: exiting by itself
	stJoined                      // a broadcast subscriber between Subscribe's return and its first read
	stReserving                   // in TryReserve
	numStates
)

var stateNames = [numStates]string{"starting", "idle", "push", "reserve", "pop", "peek", "batch", "wait", "held", "done", "joined", "reserving"}

func (s childState) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

func stateOf(packed uint64) childState { return childState(packed & 0xff) }

// stateWriter publishes one child's states.
type stateWriter struct {
	word *uint64
	seq  uint64
}

func (w *stateWriter) set(s childState) {
	w.seq++
	atomic.StoreUint64(w.word, w.seq<<8|uint64(s)) // seq-cst: ordered with the record's other stores
}

// journalEntry encodes message seq of stream.
func journalEntry(stream uint32, seq uint64) uint64 { return uint64(stream)<<seqBits | seq&seqMask }

func splitEntry(e uint64) (stream uint32, seq uint64) { return uint32(e >> seqBits), e & seqMask }

// lapEntry records a lap that missed missed messages.
func lapEntry(missed uint64) uint64 { return journalEntry(lapStream, missed) }

// lapEndEntry records the cursor a lap left.
func lapEndEntry(cursor uint64) uint64 { return journalEntry(lapEndStream, cursor) }

// ledgerGeometry is the shape of a ledger; the supervisor passes it to
// every child, which checks it against the header.
type ledgerGeometry struct {
	Rings, Producers, Consumers int
}

const (
	ringsOff     = unsafe.Sizeof(ledgerHeader{})
	ringStride   = unsafe.Sizeof(ringRecord{})
	prodStride   = unsafe.Sizeof(producerRecord{})
	consStride   = unsafe.Sizeof(consumerRecord{})
	journalBytes = journalCap * 8
)

func (g ledgerGeometry) producersOff() uintptr { return ringsOff + uintptr(g.Rings)*ringStride }
func (g ledgerGeometry) consumersOff() uintptr {
	return g.producersOff() + uintptr(g.Producers)*prodStride
}
func (g ledgerGeometry) journalsOff() uintptr {
	return g.consumersOff() + uintptr(g.Consumers)*consStride
}

// size is the region's size in bytes.
func (g ledgerGeometry) size() int64 {
	return int64(g.journalsOff()) + int64(g.Consumers)*journalBytes
}

// ledger is a view of the ledger region.
type ledger struct {
	g   ledgerGeometry
	mem []byte
	hdr *ledgerHeader
}

// newLedger initialises the region mem (the supervisor, before any child).
func newLedger(mem []byte, g ledgerGeometry) (*ledger, error) {
	l, err := viewLedger(mem, g)
	if err != nil {
		return nil, err
	}
	l.hdr.Rings, l.hdr.Producers, l.hdr.Consumers = uint32(g.Rings), uint32(g.Producers), uint32(g.Consumers)
	l.hdr.JournalCap = journalCap
	atomic.StoreUint64(&l.hdr.Magic, ledgerMagic) // release: the fields above first
	return l, nil
}

// openLedger checks that mem holds a ledger of geometry g (a child).
func openLedger(mem []byte, g ledgerGeometry) (*ledger, error) {
	l, err := viewLedger(mem, g)
	if err != nil {
		return nil, err
	}
	h := l.hdr
	if atomic.LoadUint64(&h.Magic) != ledgerMagic || h.Rings != uint32(g.Rings) || h.Producers != uint32(g.Producers) ||
		h.Consumers != uint32(g.Consumers) || h.JournalCap != journalCap {
		return nil, fmt.Errorf("ledger: header %+v does not match geometry %+v", *h, g)
	}
	return l, nil
}

func viewLedger(mem []byte, g ledgerGeometry) (*ledger, error) {
	if int64(len(mem)) < g.size() {
		return nil, fmt.Errorf("ledger: region of %d bytes, geometry %+v needs %d", len(mem), g, g.size())
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%8 != 0 {
		return nil, fmt.Errorf("ledger: region not 8-byte aligned")
	}
	return &ledger{g: g, mem: mem, hdr: (*ledgerHeader)(unsafe.Pointer(&mem[0]))}, nil
}

func (l *ledger) ring(i int) *ringRecord {
	return (*ringRecord)(unsafe.Pointer(&l.mem[ringsOff+uintptr(i)*ringStride]))
}

func (l *ledger) producer(i int) *producerRecord {
	return (*producerRecord)(unsafe.Pointer(&l.mem[l.g.producersOff()+uintptr(i)*prodStride]))
}

func (l *ledger) consumer(i int) *consumerRecord {
	return (*consumerRecord)(unsafe.Pointer(&l.mem[l.g.consumersOff()+uintptr(i)*consStride]))
}

// journal is consumer i's journal; entry n lives at index n%journalCap.
func (l *ledger) journal(i int) []uint64 {
	off := l.g.journalsOff() + uintptr(i)*journalBytes
	return unsafe.Slice((*uint64)(unsafe.Pointer(&l.mem[off])), journalCap)
}

// stopped reports whether producers are to stop.
func (l *ledger) stopped() bool { return atomic.LoadUint32(&l.hdr.Stop) != 0 }
