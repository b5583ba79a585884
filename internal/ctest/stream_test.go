package ctest

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// Streams of 100,000 messages of variable length between a Go and a C
// peer, in both directions, for SPSC and MPMC. Rings of 64 slots make the
// producer block on a full ring; pauses every 10,000 messages make the
// consumer sleep in the futex, so each side's sleepers are woken by the
// other side's publishes and releases.

const (
	streamN    = 100000
	streamSlot = 200
	pauseEvery = 10000
)

var streamCfg = ring.Config{Slots: 64, SlotSize: streamSlot}

type kindCase struct {
	name string
	kind arena.Kind
}

var kinds = []kindCase{{"SPSC", ring.KindSPSC}, {"MPMC", ring.KindMPMC}}

func TestGoToC(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { goToC(t, ctool(t, false), k.kind, streamN) })
	}
}

func goToC(t *testing.T, tool string, kind arena.Kind, n uint64) {
	path, a := newArena(t, kind, streamCfg)
	r, err := ring.Create(a, "r", kind, streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cons := startC(t, tool, "consume", path, "r", "1")
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	sent, sum, err := goProduce(ctx, r, 0, n, pauseEvery)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	out := cons.wait(t)
	if got := field(t, out, "got"); got != n {
		t.Fatalf("C consumer got %d messages, want %d", got, n)
	}
	if b, s := field(t, out, "bytes"), field(t, out, "sum"); b != sent || s != sum {
		t.Fatalf("C consumer: bytes %d sum %d, Go sent bytes %d sum %d", b, s, sent, sum)
	}
	st := r.Stats()
	if st.MsgsOut != n || st.BytesOut != sent {
		t.Fatalf("Go Stats after C consumption: MsgsOut %d BytesOut %d, want %d %d", st.MsgsOut, st.BytesOut, n, sent)
	}
	if c := field(t, out, "sleeps"); c == 0 {
		t.Errorf("the C consumer never slept (pauses every %d messages should make it)", pauseEvery)
	}
	if st.Wakes == 0 {
		t.Errorf("no futex wake counted: the Go producer never woke the sleeping C consumer")
	}
	t.Logf("Go->C %d messages, %d bytes; stats %+v", n, sent, st)
}

func TestCToGo(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { cToGo(t, ctool(t, false), k.kind, streamN) })
	}
}

func cToGo(t *testing.T, tool string, kind arena.Kind, n uint64) {
	path, a := newArena(t, kind, streamCfg)
	r, err := ring.Create(a, "r", kind, streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "0", "1", fmt.Sprint(pauseEvery), "20")
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &checker{next: make([]uint64, 1), strict: true, slotSize: streamSlot}
	// The Go consumer pauses too, so that the C producer blocks on a full
	// ring and sleeps.
	if err := goConsume(ctx, r, c, pauseEvery+pauseEvery/2); err != nil {
		t.Fatalf("after %d messages: %v", c.got, err)
	}
	out := prod.wait(t)
	if c.got != n || c.bytes != field(t, out, "bytes") {
		t.Fatalf("Go consumer got %d messages %d bytes; C sent %s", c.got, c.bytes, out)
	}
	st := r.Stats()
	if st.MsgsIn != n || st.BytesIn != c.bytes || !st.Closed {
		t.Fatalf("Go Stats after C production: MsgsIn %d BytesIn %d Closed %v, want %d %d true", st.MsgsIn, st.BytesIn, st.Closed, n, c.bytes)
	}
	if st.Sleeps == 0 || st.Wakes == 0 {
		t.Errorf("Sleeps %d Wakes %d: the C producer's pauses should have put the Go consumer to sleep", st.Sleeps, st.Wakes)
	}
	// The C producer's entry (released now: PID 0), read at the offsets
	// docs/ring.md gives: MsgsIn at 32, BytesIn at 40, Generation at 60.
	idx := field(t, out, "peer")
	e := rawEntry(t, a, idx)
	if e.msgsIn != n || e.bytesIn != c.bytes || e.pid != 0 || e.gen == 0 || e.roles != 1 {
		t.Errorf("C producer's entry %d: %+v, want MsgsIn %d BytesIn %d, PID 0 (released), Roles 1", idx, e, n, c.bytes)
	}
	t.Logf("C->Go %d messages, %d bytes; stats %+v", n, c.bytes, st)
}

type entry struct {
	pid, roles, gen   uint32
	msgsIn, bytesIn   uint64
	msgsOut, bytesOut uint64
	attach, beat      int64
}

// rawEntry reads peer entry idx of ring "r" from the region's bytes at
// the offsets of docs/ring.md (the ring header gives PeersOffset at 56
// and PeerStride at 68).
func rawEntry(t *testing.T, a *arena.Arena, idx uint64) entry {
	t.Helper()
	reg, err := a.Lookup("r")
	if err != nil {
		t.Fatal(err)
	}
	mem := reg.Bytes()
	le := binary.LittleEndian
	off := le.Uint64(mem[56:]) + idx*uint64(le.Uint32(mem[68:]))
	e := mem[off : off+128]
	return entry{
		pid: le.Uint32(e[0:]), roles: le.Uint32(e[4:]), gen: le.Uint32(e[60:]),
		msgsIn: le.Uint64(e[32:]), bytesIn: le.Uint64(e[40:]),
		msgsOut: le.Uint64(e[80:]), bytesOut: le.Uint64(e[88:]),
		attach: int64(le.Uint64(e[72:])), beat: int64(le.Uint64(e[24:])),
	}
}

// TestMPMCMixed: two C producers and one Go producer into one MPMC ring,
// drained by a C consumer and a Go consumer at once: exactly once, per
// producer FIFO.
func TestMPMCMixed(t *testing.T) {
	tool := ctool(t, false)
	const n = 30000
	path, a := newArena(t, ring.KindMPMC, streamCfg)
	r, err := ring.CreateMPMC(a, "r", streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p0 := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "0", "0")
	p1 := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "1", "0")
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var perr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _, perr = goProduce(ctx, r, 2, n, 0)
	}()
	// The Go consumer has its own handle (one goroutine each is the C
	// contract; the Go handle could be shared but need not be).
	rc, err := ring.OpenMPMC(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	c := &checker{next: make([]uint64, 3), slotSize: streamSlot}
	cerr := make(chan error, 1)
	go func() { cerr <- goConsume(ctx, rc, c, 0) }()
	cons := startC(t, tool, "consume", path, "r", "3")
	p0.wait(t)
	p1.wait(t)
	wg.Wait()
	if perr != nil {
		t.Fatal(perr)
	}
	if err := r.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	out := cons.wait(t)
	if err := <-cerr; err != nil {
		t.Fatal(err)
	}
	if got := c.got + field(t, out, "got"); got != 3*n {
		t.Fatalf("consumers got %d (Go %d, C %d), want %d", got, c.got, got-c.got, 3*n)
	}
	st := r.Stats()
	if st.MsgsIn != 3*n || st.MsgsOut != 3*n || st.Skipped != 0 || st.Redelivered != 0 {
		t.Fatalf("stats %+v", st)
	}
}
