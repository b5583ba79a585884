package ctest

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// Killed peers: a C producer killed with SIGKILL is recovered by Go
// survivors (SPSC: taken over; MPMC: its tagged claim repaired into a skip
// record), and a killed Go producer (a re-executed child of the test
// binary) is recovered by the C side.

var roles = map[string]xproc.Role{
	"go-hold": goHold,
}

// goHold: open the ring, push n messages of producer 0, then leave the
// next position claimed and print "holding": MPMC with a reservation (its
// Owner tagged), a record ring with a reservation (a busy record), SPSC with the slot written and its Seq stored but the
// tail not published (a producer killed between the two). Then wait to
// be killed.
func goHold(args []string) error {
	a0 := xproc.ParseArgs(args)
	n := a0.Uint64("n")
	a, err := arena.Open(a0["path"])
	if err != nil {
		return err
	}
	r, err := ring.Open(a, "r")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	if _, _, err := goProduce(ctx, r, 0, n, 0); err != nil {
		return err
	}
	ss := r.SlotSize()
	m := fillMsg(make([]byte, msgLen(n, 0, ss)), 0, n)
	switch r := r.(type) {
	case *ring.Records:
		res, err := r.Reserve(ctx, len(m))
		if err != nil {
			return err
		}
		copy(res.Buf, m)
	case *ring.MPMC:
		res, err := r.Reserve(ctx, len(m))
		if err != nil {
			return err
		}
		copy(res.Buf, m)
	case *ring.SPSC:
		// What a producer killed between its slot's Seq store and its tail
		// CAS leaves: written by hand through the ring's bytes
		// (docs/ring.md SPSC slot; offsets from the ring header).
		reg, err := a.Lookup("r")
		if err != nil {
			return err
		}
		mem := reg.Bytes()
		slots := uint64(binary.LittleEndian.Uint32(mem[16:]))
		stride := uint64(binary.LittleEndian.Uint32(mem[24:]))
		off := binary.LittleEndian.Uint64(mem[72:]) + (n&(slots-1))*stride
		binary.LittleEndian.PutUint32(mem[off:], uint32(len(m)))
		copy(mem[off+8:], m)
		atomic.StoreUint32((*uint32)(unsafe.Pointer(&mem[off+4])), uint32(n+1))
	}
	fmt.Println("holding")
	time.Sleep(childTimeout)
	return nil
}

// TestKilledCProducerSPSC: the C producer dies holding a reservation;
// a Go producer takes the side over (epoch bump), the stream goes on with
// nothing lost but the reserved message, and the C entry reads dead.
func TestKilledCProducerSPSC(t *testing.T) {
	tool := ctool(t, false)
	const k, n = 1000, 3000
	path, a := newArena(t, ring.KindSPSC, streamCfg)
	r, err := ring.CreateSPSC(a, "r", streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &checker{next: make([]uint64, 1), strict: true, slotSize: streamSlot}
	cerr := make(chan error, 1)
	go func() { cerr <- goConsume(ctx, r, c, 0) }()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "0", "1", "0", "0", fmt.Sprint(k))
	prod.waitOutput(t, "holding")
	prod.kill()
	if st := r.Stats(); st.DeadPeers != 1 {
		t.Fatalf("after the kill: DeadPeers %d, want 1 (the C entry's liveness lock is gone)", st.DeadPeers)
	}
	p2, err := ring.OpenSPSC(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, streamSlot)
	for s := uint64(k); s < n; s++ {
		if err := p2.Push(ctx, fillMsg(buf[:msgLen(s, 0, streamSlot)], 0, s)); err != nil {
			t.Fatalf("Go producer after takeover, message %d: %v", s, err)
		}
	}
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-cerr; err != nil {
		t.Fatalf("Go consumer after %d messages: %v", c.got, err)
	}
	if c.got != n {
		t.Fatalf("got %d, want %d", c.got, n)
	}
}

// TestKilledCProducerMPMC: the C producer dies holding a tagged
// reservation; the Go consumer, stuck at that slot, finds the C entry dead
// (no liveness lock), turns the claim into a skip record and goes on.
func TestKilledCProducerMPMC(t *testing.T) {
	tool := ctool(t, false)
	const k, m = 1000, 2000
	path, a := newArena(t, ring.KindMPMC, streamCfg)
	r, err := ring.CreateMPMC(a, "r", streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &checker{next: make([]uint64, 2), slotSize: streamSlot}
	cerr := make(chan error, 1)
	go func() { cerr <- goConsume(ctx, r, c, 0) }()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(k+10), "0", "0", "0", "0", fmt.Sprint(k))
	prod.waitOutput(t, "holding")
	prod.kill()
	p2, err := ring.OpenMPMC(a, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, _, err := goProduce(ctx, p2, 1, m, 0); err != nil {
		t.Fatal(err)
	}
	if err := p2.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := <-cerr; err != nil {
		t.Fatalf("Go consumer after %d messages: %v", c.got, err)
	}
	if c.got != k+m || c.next[0] != k || c.next[1] != m {
		t.Fatalf("got %d (producer 0 up to %d, producer 1 up to %d), want %d", c.got, c.next[0], c.next[1], k+m)
	}
	if st := r.Stats(); st.Skipped != 1 {
		t.Fatalf("Skipped %d, want 1 (the dead C claim)", st.Skipped)
	}
}

// TestKilledGoProducerMPMC: a Go producer dies holding a tagged
// reservation; the C consumer repairs the claim (skip record) and drains
// what a C producer pushes after it.
func TestKilledGoProducerMPMC(t *testing.T) {
	tool := ctool(t, false)
	const k, m = 500, 2000
	path, a := newArena(t, ring.KindMPMC, streamCfg)
	r, err := ring.CreateMPMC(a, "r", streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cons := startC(t, tool, "consume", path, "r", "2")
	child := xproc.StartT(t, "go-hold", "path="+path, fmt.Sprintf("n=%d", k))
	xproc.WaitFor(t, "go-hold holding", child, func() bool { return strings.Contains(child.Stdout(), "holding") })
	child.Kill()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(m), "1", "1")
	prod.wait(t)
	out := cons.wait(t)
	if got := field(t, out, "got"); got != k+m {
		t.Fatalf("C consumer got %d, want %d", got, k+m)
	}
	if sk := field(t, out, "skipped"); sk != 1 {
		t.Fatalf("Skipped %d, want 1 (the dead Go claim)", sk)
	}
	if st := r.Stats(); st.Skipped != 1 || st.MsgsOut != k+m+1 {
		t.Fatalf("Go Stats: %+v", st)
	}
}

// TestKilledGoProducerSPSC: a Go producer dies between a slot's Seq and
// its tail CAS; the Go consumer takes that message through Seq (its head
// is then ahead of the tail); a C producer takes the side over, adopts the
// slot (docs gap 1: head ahead of tail at a takeover) and goes on.
func TestKilledGoProducerSPSC(t *testing.T) {
	tool := ctool(t, false)
	const k, n = 500, 3000
	path, a := newArena(t, ring.KindSPSC, streamCfg)
	r, err := ring.CreateSPSC(a, "r", streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), childTimeout)
	defer cancel()
	c := &checker{next: make([]uint64, 1), strict: true, slotSize: streamSlot}
	child := xproc.StartT(t, "go-hold", "path="+path, fmt.Sprintf("n=%d", k))
	buf := make([]byte, streamSlot)
	for c.got < k+1 { // the last one through its Seq: the tail still says k
		n, err := r.Pop(ctx, buf)
		if err != nil {
			t.Fatalf("after %d: %v", c.got, err)
		}
		if err := c.check(buf[:n]); err != nil {
			t.Fatal(err)
		}
	}
	xproc.WaitFor(t, "go-hold holding", child, func() bool { return strings.Contains(child.Stdout(), "holding") })
	child.Kill()
	prod := startC(t, tool, "produce", path, "r", fmt.Sprint(n), "0", "1", "0", "0", "0", fmt.Sprint(k+1))
	if err := goConsume(ctx, r, c, 0); err != nil {
		t.Fatalf("after %d: %v (C producer: %s %s)", c.got, err, prod.out.String(), prod.errb.String())
	}
	prod.wait(t)
	if c.got != n {
		t.Fatalf("got %d, want %d", c.got, n)
	}
}
