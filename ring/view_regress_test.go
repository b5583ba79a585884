package ring

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmring/shmring/arena"
)

// Regressions found in review: View.Check reported problems for documented healthy states that
// a stalled (preempted) or killed producer/repairer leaves stable, so the
// p1/q1-reread snapshot does not filter them out.

func reviewArena(t *testing.T) (string, *arena.Arena) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rv")
	a, err := arena.Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return p, a
}

func reviewCheck(t *testing.T, p, name string) {
	t.Helper()
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	v, err := OpenView(ro, name)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if probs := v.Check(); len(probs) != 0 {
		t.Errorf("healthy %s ring: Check = %v", name, probs)
	}
}

// SPSC: producer stopped between its Seq store and its tail CAS; the
// consumer takes the message through Seq (head ahead of tail, legal).
func TestViewRegressCheckSPSCHeadAhead(t *testing.T) {
	p, a := reviewArena(t)
	prod, err := CreateSPSC(a, "s", Config{Slots: 8, SlotSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cons, err := OpenSPSC(a, "s")
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := prod.TryPush([]byte("a")); err != nil {
		t.Fatal(err)
	}
	// What push does up to (not including) publish.
	pos := prod.p.tail
	off := prod.slotOff(pos)
	h := (*spscSlot)(unsafe.Pointer(&prod.mem[off]))
	h.Len = 1
	prod.mem[off+spscSlotHeader] = 'b'
	storeRelease32(&h.Seq, uint32(pos+1))
	var buf [64]byte
	for i := 0; i < 2; i++ {
		if _, err := cons.TryPop(buf[:]); err != nil {
			t.Fatalf("pop %d: %v", i, err)
		}
	}
	reviewCheck(t, p, "s")
}

// Broadcast, wrapped ring: producer between endWrite and its publish CAS
// (or mid-batch); a subscriber reads ahead of the tail through Seq.
func TestViewRegressCheckBroadcastUnpublished(t *testing.T) {
	p, a := reviewArena(t)
	b, err := CreateBroadcast(a, "b", Config{Slots: 8, SlotSize: 64, Subscribers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := Subscribe(a, "b", SubscribeOptions{Lossy: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 9; i++ {
		if err := b.TryPush([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	var buf [64]byte
	for i := 0; i < 20; i++ {
		if _, err := s.TryPop(buf[:]); err == ErrEmpty {
			break
		}
	}
	pos := b.p.tail
	b.writeSlot(pos, []byte("y")) // push, minus publish
	b.endWrite(pos, 1)
	if _, err := s.TryPop(buf[:]); err != nil {
		t.Fatalf("subscriber read ahead of the tail: %v", err)
	}
	reviewCheck(t, p, "b")
}

// MPMC state D: a republisher claimed E and has not yet moved Seq.
func TestViewRegressCheckMPMCStateD(t *testing.T) {
	p, a := reviewArena(t)
	r, err := CreateMPMC(a, "m", Config{Slots: 8, SlotSize: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 8; i++ {
		if err := r.TryPush([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// A consumer claims position 0 and dies (state B) ...
	if !atomic.CompareAndSwapUint64(&r.cons.Pos, 0, 1) {
		t.Fatal("cons CAS")
	}
	// ... a repairer's republish claims E=8 and dies before its Seq CAS.
	if !atomic.CompareAndSwapUint64(&r.prod.Pos, 8, 9) {
		t.Fatal("prod CAS")
	}
	reviewCheck(t, p, "m")
}

// View.Close after the arena's Close never releases the pin (the CAS from
// 0 fails: arenaGone set shut), so the anonymous replacement of the whole
// mapping stays reserved for the life of the process.
func TestViewRegressViewCloseAfterArenaCloseLeaksPin(t *testing.T) {
	p, _ := reviewArena(t)
	w, err := arena.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateSPSC(w, "s", Config{Slots: 8, SlotSize: 64}); err != nil {
		t.Fatal(err)
	}
	ro, err := arena.Open(p, arena.ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := ro.Lookup("s")
	if err != nil {
		t.Fatal(err)
	}
	addr := uintptr(unsafe.Pointer(&reg.Bytes()[0]))
	v, err := OpenView(ro, "s")
	if err != nil {
		t.Fatal(err)
	}
	ro.Close()
	v.Close()
	if perms := reviewMapPerms(addr); perms != "" {
		t.Errorf("after arena.Close and View.Close the range is still mapped (%s): the view's pin leaked", perms)
	}
}

func reviewMapPerms(addr uintptr) string {
	b, _ := os.ReadFile("/proc/self/maps")
	for _, l := range strings.Split(string(b), "\n") {
		var lo, hi uintptr
		var perms string
		if _, err := fmt.Sscanf(l, "%x-%x %s", &lo, &hi, &perms); err == nil && addr >= lo && addr < hi {
			return perms
		}
	}
	return ""
}
