package arena

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestAlloc(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 256<<10, WithDirCapacity(4), WithPadUnit(128))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tests := []struct {
		name        string
		size, align int64
		want        error
	}{
		{"r1", 10, 8, nil},
		{"r2", 100, 4096, nil},
		{"r1", 10, 8, ErrExists},
		{"", 10, 8, ErrBadName},
		{"has space", 10, 8, ErrBadName},
		{strings.Repeat("x", 64), 10, 8, ErrBadName},
		{"r3", 10, 12, ErrInvalid},
		{"r3", 10, 4, ErrInvalid},
		{"r3", 10, 1 << 20, ErrInvalid},
		{"r3", 0, 8, ErrInvalid},
		{"r3", 1 << 40, 8, ErrNoSpace}, // larger than the data area
		{"r3", 250 << 10, 8, ErrNoSpace},
		{"r3", 64, 0, nil},
		{"r4", 8, 8, nil},
		{"r5", 8, 8, ErrNoSpace}, // directory full
	}
	var regions []*Region
	for _, tt := range tests {
		r, err := a.Alloc(tt.name, tt.size, tt.align)
		if tt.want != nil {
			if !errors.Is(err, tt.want) {
				t.Errorf("Alloc(%q,%d,%d): %v, want %v", tt.name, tt.size, tt.align, err, tt.want)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Alloc(%q,%d,%d): %v", tt.name, tt.size, tt.align, err)
		}
		align := tt.align
		if align == 0 {
			align = 128
		}
		if r.Offset()%align != 0 || r.Align() != align || r.Offset() < a.DataOffset() {
			t.Errorf("%s: offset %d align %d", tt.name, r.Offset(), r.Align())
		}
		regions = append(regions, r)
	}
	list, err := a.Regions()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(regions) {
		t.Fatalf("Regions: %d, want %d", len(list), len(regions))
	}
	for i, r := range list {
		if r.Name() != regions[i].Name() || r.Offset() != regions[i].Offset() || r.Kind() != KindRaw {
			t.Errorf("Regions[%d] = %s@%d", i, r.Name(), r.Offset())
		}
		if r.Created().IsZero() {
			t.Errorf("Regions[%d] has no creation time", i)
		}
	}
}

func TestAllocConcurrent(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			h := a
			if g%2 == 1 {
				h = b
			}
			for i := 0; i < 6; i++ {
				name := fmt.Sprintf("g%d-%d", g, i)
				r, err := h.Alloc(name, int64(64+g*i), 64)
				if err != nil {
					errs <- err
					return
				}
				// Anyone can look it up at once.
				if _, err := a.Lookup(name); err != nil {
					errs <- err
					return
				}
				r.Bytes()[0] = byte(g)
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	list, err := b.Regions()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 48 {
		t.Fatalf("%d regions, want 48", len(list))
	}
	// Regions reopened from scratch validate too (no overlaps, cursor ok).
	c, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// TestHostilePeerAfterOpen corrupts the directory under an open handle and
// checks that lookups fail with ErrCorrupt and Alloc refuses to write.
func TestHostilePeerAfterOpen(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Alloc("x", 64, 8); err != nil {
		t.Fatal(err)
	}
	b, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mem := a.mem
	h := hdr(mem)
	h.DirCount = 1 << 30
	if _, err := b.Lookup("x"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Lookup with huge count: %v", err)
	}
	if _, err := b.Regions(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Regions with huge count: %v", err)
	}
	if _, err := b.Alloc("y", 64, 8); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Alloc with huge count: %v", err)
	}
	h.DirCount = 1
	e := entry(mem, 0)
	e.Offset = 1 << 50 // checksum now wrong
	if _, err := b.Lookup("x"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Lookup of a corrupted entry: %v", err)
	}
	e.Checksum = e.sum() // checksum right, bounds wrong
	if _, err := b.Lookup("x"); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Lookup of an out-of-bounds entry: %v", err)
	}
	// Scribbling over the immutable header (checksum and all) does not move
	// our bounds: with TotalSize doubled in the mapping, an entry that ends
	// past the real end but inside the scribbled size is still refused.
	realSize := uint64(b.Size())
	h.TotalSize = 2 * realSize
	h.Checksum = h.sum()
	h.AllocNext = realSize // in range for the realSize geometry, so the entry is what fails
	for _, bad := range [][2]uint64{{realSize - 32, 64}, {realSize, 64}, {realSize + 4096, 8}} {
		e.Offset, e.Size = bad[0], bad[1]
		e.Checksum = e.sum()
		if r, err := b.Lookup("x"); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Lookup of [%d,+%d) with TotalSize scribbled to %d: %v, %v; want ErrCorrupt", bad[0], bad[1], h.TotalSize, r, err)
		}
		if _, err := b.Regions(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Regions with [%d,+%d) and TotalSize scribbled to %d: %v, want ErrCorrupt", bad[0], bad[1], h.TotalSize, err)
		}
	}
	if b.Size() != int64(realSize) {
		t.Fatal("geometry re-read from shared memory")
	}
}

// TestAllocReadsCursorOnce checks that Alloc uses the allocation cursor it
// validated, and stores nothing when the directory is corrupt.
func TestAllocReadsCursorOnce(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	first, err := a.Alloc("first", 100, 64)
	if err != nil {
		t.Fatal(err)
	}
	h := hdr(a.mem)
	good := h.AllocNext

	t.Run("corrupt cursor", func(t *testing.T) {
		defer func() { h.AllocNext = good }()
		h.AllocNext = 1 << 50
		// Leftovers in the next slot, as an allocator that died would leave.
		slot := entry(a.mem, 1)
		copy(slot.Name[:], "leftover")
		slot.State = 0x1234
		before := append([]byte(nil), a.mem[:HeaderSize+2*DirEntrySize]...)
		if _, err := a.Alloc("second", 64, 64); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Alloc with AllocNext %#x: %v, want ErrCorrupt", h.AllocNext, err)
		}
		if !bytes.Equal(a.mem[:HeaderSize+2*DirEntrySize], before) {
			t.Fatal("failed Alloc wrote to the header or directory")
		}
		if h.DirCount != 1 {
			t.Fatalf("DirCount %d, want 1", h.DirCount)
		}
	})

	t.Run("cursor changed after the scan", func(t *testing.T) {
		testHookScanned = func(a *Arena) { hdr(a.mem).AllocNext = 1 << 50 }
		defer func() { testHookScanned = nil }()
		r, err := a.Alloc("second", 64, 64)
		if err != nil {
			t.Fatalf("Alloc with AllocNext changed after the scan: %v", err)
		}
		if want := alignUp(first.Offset()+first.Size(), 64); r.Offset() != want {
			t.Fatalf("region at %d, want %d (the validated cursor)", r.Offset(), want)
		}
		if got, want := h.AllocNext, uint64(r.Offset()+r.Size()); got != want {
			t.Fatalf("AllocNext %d, want %d", got, want)
		}
		if _, err := a.Regions(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPendingAllocDoesNotBlockReaders holds the directory lock from another
// open file description: an Alloc waiting for it must not hold up Lookup or
// Regions on the same handle, and must give up with ErrBusy.
func TestPendingAllocDoesNotBlockReaders(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20, WithLockTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Alloc("x", 64, 8); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Alloc("y", 64, 8)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // let Alloc start waiting for the lock
	start := time.Now()
	if _, err := a.Lookup("x"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Regions(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Fatalf("Lookup and Regions took %v while an Alloc waited for the lock", took)
	}
	select {
	case err := <-done:
		t.Fatalf("Alloc returned %v while another description held the lock", err)
	default:
	}
	if err := <-done; !errors.Is(err, ErrBusy) {
		t.Fatalf("Alloc: %v, want ErrBusy", err)
	}
}

// TestAllocSize: a size invalid in itself is ErrInvalid; a size larger than
// the data area, or than what is left of it, is ErrNoSpace and not
// ErrInvalid, whatever the alignment; a region of exactly the data area
// fits.
func TestAllocSize(t *testing.T) {
	a, err := Create(tempArena(t), 64<<10, WithDirCapacity(8))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	data := a.Size() - a.DataOffset()
	page := int64(a.PageSize())
	tests := []struct {
		name        string
		size, align int64
		want        error
	}{
		{"zero", 0, 8, ErrInvalid},
		{"negative", -1, 8, ErrInvalid},
		{"most negative", math.MinInt64, 8, ErrInvalid},
		{"bad alignment", 8, 12, ErrInvalid},
		{"bad alignment, too large", data + 1, 12, ErrInvalid},
		{"data area plus one", data + 1, 8, ErrNoSpace},
		{"data area plus one, page aligned", data + 1, page, ErrNoSpace},
		{"whole arena", a.Size(), 8, ErrNoSpace},
		{"1 TiB", 1 << 40, 8, ErrNoSpace},
		{"largest int64", math.MaxInt64, 8, ErrNoSpace},
		{"largest int64, page aligned", math.MaxInt64, page, ErrNoSpace},
	}
	for _, tt := range tests {
		_, err := a.Alloc("r", tt.size, tt.align)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: Alloc(r,%d,%d): %v, want %v", tt.name, tt.size, tt.align, err, tt.want)
		}
		if tt.want == ErrNoSpace && errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Alloc(r,%d,%d): %v also matches ErrInvalid", tt.name, tt.size, tt.align, err)
		}
	}
	if _, err := a.Lookup("r"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused Alloc left a region: %v", err)
	}

	// What is left: the data area less the first region, rounded up.
	if _, err := a.Alloc("first", 8, 8); err != nil {
		t.Fatal(err)
	}
	left := data - 8
	for _, size := range []int64{left + 1, data} {
		if _, err := a.Alloc("r", size, 8); !errors.Is(err, ErrNoSpace) || errors.Is(err, ErrInvalid) {
			t.Errorf("Alloc(r,%d,8) with %d bytes left: %v, want ErrNoSpace", size, left, err)
		}
	}
	if _, err := a.Alloc("r", left, page); !errors.Is(err, ErrNoSpace) {
		t.Errorf("Alloc(r,%d,%d) with %d bytes left before the alignment: %v, want ErrNoSpace", left, page, left, err)
	}
	if _, err := a.Alloc("rest", left, 8); err != nil {
		t.Fatalf("Alloc of exactly what is left (%d bytes): %v", left, err)
	}

	b, err := Create(tempArena(t), 64<<10, WithDirCapacity(8))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if r, err := b.Alloc("all", data, page); err != nil || r.Offset() != b.DataOffset() || r.Size() != data {
		t.Fatalf("Alloc of the whole data area (%d bytes): %v", data, err)
	}
}

// TestRegionErrorText: errors about a region say "region" and never
// "file"; they still match the sentinels and the fs errors those wrap.
// Errors about the arena file keep saying file.
func TestRegionErrorText(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 64<<10, WithDirCapacity(2))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Alloc("x", 8, 8); err != nil {
		t.Fatal(err)
	}
	check := func(op string, err error, want ...error) {
		t.Helper()
		for _, w := range want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want it to match %v", op, err, w)
			}
		}
		if err == nil {
			return
		}
		if msg := err.Error(); !strings.Contains(msg, "region") || strings.Contains(strings.ToLower(msg), "file") {
			t.Errorf("%s: %q should say region, not file", op, msg)
		}
	}
	_, err = a.Lookup("missing")
	check("Lookup(missing)", err, ErrNotFound, fs.ErrNotExist)
	_, err = a.Alloc("x", 8, 8)
	check("Alloc(x) again", err, ErrExists, fs.ErrExist)
	_, err = a.Alloc("a/b", 8, 8)
	check("Alloc(a/b)", err, ErrBadName, fs.ErrInvalid)
	_, err = a.Lookup("a/b")
	check("Lookup(a/b)", err, ErrBadName, fs.ErrInvalid)
	_, err = a.Alloc("", 8, 8)
	check("Alloc(\"\")", err, ErrBadName)
	_, err = a.Alloc("big", 1<<40, 8)
	check("Alloc(big)", err, ErrNoSpace)
	_, err = a.Alloc("bad", 0, 8)
	check("Alloc(bad, size 0)", err, ErrInvalid)
	_, err = a.Alloc("rest", a.Size()-a.DataOffset(), 8)
	check("Alloc(rest)", err, ErrNoSpace)

	_, err = Open(p + ".missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "file") {
		t.Errorf("Open of a missing arena file: %v, want ErrNotFound saying file", err)
	}
}
