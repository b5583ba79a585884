package main

import (
	"bytes"
	"path/filepath"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// TestTailRecordsPositionWrap: tail follows a record ring across the wrap
// of its position counter (2^56 for a power-of-two capacity, the largest
// multiple of Capacity below it otherwise).
func TestTailRecordsPositionWrap(t *testing.T) {
	// Regression (second review of the record ring): tail advanced with
	// at += Size, not modulo the position modulus.
	for _, capacity := range []int{4096, 3 * 4096} {
		cfg := ring.Config{Capacity: capacity, SlotSize: 1024}
		size, err := ring.ArenaSize([]ring.Spec{{Kind: ring.KindRecords, Config: cfg}})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "w")
		a, err := arena.Create(path, size)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		r, err := ring.CreateRecords(a, "frames", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		v, err := ring.OpenView(a, "frames")
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		reg, _ := a.Lookup("frames")
		mem := reg.Bytes()
		off := map[string]int64{}
		for _, f := range v.Header() {
			off[f.Name] = f.Offset
		}
		// M: the largest multiple of capacity*2^k <= 2^56
		m := uint64(capacity)
		for m <= 1<<55 {
			m <<= 1
		}
		start := m - 64
		for _, n := range []string{"prod.Pos", "cons.Pos", "prod.HeadCache"} {
			o, ok := off[n]
			if !ok {
				t.Fatalf("no field %s", n)
			}
			atomic.StoreUint64((*uint64)(unsafe.Pointer(&mem[o])), start)
		}
		msgs := []string{"a0", "b1", "c2", "d3", "e4"} // 32 bytes each: two before the wrap, three after
		for _, s := range msgs {
			if err := r.TryPush([]byte(s)); err != nil {
				t.Fatal(err)
			}
		}
		var out, errOut bytes.Buffer
		err = tailRecords(t.Context(), v, &out, &errOut, tailOptions{format: "text", limit: len(msgs), from: ring.Oldest})
		if err != nil || out.String() != "a0\nb1\nc2\nd3\ne4\n" || errOut.String() != "" {
			t.Errorf("capacity %d: tail across the wrap: err %v\nstdout %q\nstderr %q", capacity, err, out.String(), errOut.String())
		}
	}
}
