package main

// The board: a region of the arena, next to the two rings, in which every
// process keeps its counters with atomic stores as it works. The
// orchestrator reads it for the rates it prints while the run goes on and
// for the checks at the end, and what a strategy had stored is still
// there after it was killed with SIGKILL (the stores went to the shared
// mapping, not to the dead process's memory).
//
//	0     boardHeader               64 bytes
//	64    procRecord x maxProcs     256 bytes each
//
// Record 0 is the feed's, 1 the gateway's, and 2, 3, ... are the strategy
// processes' in the order they were started (a restarted strategy gets a
// record of its own). Each word has one writer: the header's Mark is the
// orchestrator's, a record's OrdRecv the gateway's, and the rest of a
// record its own process's. Nobody else writes a word, so plain atomic
// stores and loads are enough: a reader sees each counter at some recent
// value, and a process's last stores before it exited (or died) once it
// has gone.

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

const (
	boardRegion = "board"
	boardMagic  = 0x44524f424b544b4d // "MKTBOARD"
	maxProcs    = 32
	feedRec     = 0
	gatewayRec  = 1
	firstStrat  = 2
)

type boardHeader struct {
	Magic uint64 // 0: written once, before any child starts
	// Mark is the CLOCK_MONOTONIC time of the kill (0: none yet): the
	// feed counts the reserves that waited and ended after it apart
	// (procRecord.MarkWaits), which is how long the dead subscriber held
	// the feed.
	Mark int64    // 8: atomic, orchestrator
	_    [48]byte // 16
}

type procRecord struct {
	PID   uint64 // 0: the process, at its start
	Ready int64  // 8: CLOCK_MONOTONIC when attached to its rings
	Done  int64  // 16: CLOCK_MONOTONIC when it finished cleanly
	// Count: feed: quotes published; strategy: quotes read; gateway:
	// orders received.
	Count uint64 // 24

	// Strategy: JoinedAt is 1 + its cursor at Subscribe (the number of
	// the first quote it will read), First and Last 1 + the numbers of
	// the first and last quotes it read; Laps and Missed the lossy
	// subscriber's laps and the quotes it lost to them. Before each
	// Push of order n it stores OrdAttempt = n+1, and after it OrdSent
	// = n+1: every order below OrdSent is in the ring, none at or above
	// OrdAttempt was offered to it.
	JoinedAt   uint64 // 32
	First      uint64 // 40
	Last       uint64 // 48
	Laps       uint64 // 56
	Missed     uint64 // 64
	OrdAttempt uint64 // 72
	OrdSent    uint64 // 80

	// Feed: the reserves that found the ring full (a tethered subscriber
	// a ring behind), their total and longest wait; MarkWaits those that
	// ended after the header's Mark, and MarkMaxNs the longest reserve
	// (Try, and wait if it had to) that ended after it.
	Waits     uint64 // 88
	WaitNs    uint64 // 96
	MaxWaitNs uint64 // 104
	MarkWaits uint64 // 112
	MarkMaxNs uint64 // 120

	// Gateway: tick-to-gateway latency (quote published to order
	// received) percentiles, stored at the end.
	LatP50, LatP99, LatMax uint64   // 128
	_                      [40]byte // 152

	// OrdRecv: the orders of this strategy the gateway has received
	// (IDs below it, with none missing: the gateway checks).
	OrdRecv uint64   // 192: atomic, gateway
	_       [56]byte // 200
}

type board struct {
	hdr   *boardHeader
	procs []procRecord
}

const boardSize = int64(unsafe.Sizeof(boardHeader{})) + maxProcs*int64(unsafe.Sizeof(procRecord{}))

// newBoard allocates the board in a (the orchestrator).
func newBoard(a *arena.Arena) (*board, error) {
	reg, err := a.Alloc(boardRegion, boardSize, 64)
	if err != nil {
		return nil, err
	}
	b, err := boardOf(reg.Bytes())
	if err != nil {
		return nil, err
	}
	atomic.StoreUint64(&b.hdr.Magic, boardMagic)
	return b, nil
}

// openBoard finds the board in a (a child).
func openBoard(a *arena.Arena) (*board, error) {
	reg, err := a.Lookup(boardRegion)
	if err != nil {
		return nil, err
	}
	b, err := boardOf(reg.Bytes())
	if err != nil {
		return nil, err
	}
	if m := atomic.LoadUint64(&b.hdr.Magic); m != boardMagic {
		return nil, fmt.Errorf("board: magic %#x, want %#x", m, uint64(boardMagic))
	}
	return b, nil
}

func boardOf(mem []byte) (*board, error) {
	if int64(len(mem)) < boardSize || uintptr(unsafe.Pointer(unsafe.SliceData(mem)))%8 != 0 {
		return nil, fmt.Errorf("board: region of %d bytes (want %d, 8-aligned)", len(mem), boardSize)
	}
	p := unsafe.Pointer(unsafe.SliceData(mem))
	return &board{
		hdr:   (*boardHeader)(p),
		procs: unsafe.Slice((*procRecord)(unsafe.Add(p, unsafe.Sizeof(boardHeader{}))), maxProcs),
	}, nil
}

// proc is record i, which the caller has checked is below maxProcs.
func (b *board) proc(i int) *procRecord { return &b.procs[i] }

func (r *procRecord) ready() { atomic.StoreInt64(&r.Ready, monoNow()) }
func (r *procRecord) done()  { atomic.StoreInt64(&r.Done, monoNow()) }
