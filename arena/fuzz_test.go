package arena

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmring/shmring/internal/seed"
	"time"
	"unsafe"
)

// FuzzOpen opens arbitrary bytes as an arena file. Whatever the file holds,
// Open must either return a sentinel error or an arena whose directory,
// regions and allocator all behave: regions lie inside the mapping, Lookup
// agrees with Regions, Alloc works (or fails with a sentinel), and the
// arena Alloc leaves behind opens again.
//
// The seed corpus is in testdata/fuzz/FuzzOpen; TestFuzzOpenSeeds builds it
// (SHMRING_WRITE_CORPUS=1 rewrites the files).
//
//	go test -run '^$' -fuzz '^FuzzOpen$' -fuzztime 30s ./arena
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 1<<20 {
			t.Skip("larger than 1 MiB")
		}
		p := filepath.Join(t.TempDir(), "arena")
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := Open(p, WithReadyTimeout(time.Millisecond))
		if err != nil {
			checkSentinel(t, "Open", err)
			return
		}
		regs := checkArena(t, a, -1)
		r, err := a.Alloc(fuzzRegion, 64, 0)
		if err != nil {
			checkSentinel(t, "Alloc", err)
		} else {
			checkRegion(t, a, r)
			checkArena(t, a, len(regs)+1)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// What Open accepted plus what Alloc wrote must open again, with
		// the same regions.
		b, err := Open(p, WithReadyTimeout(time.Millisecond))
		if err != nil {
			t.Fatalf("reopen after Alloc (%v): %v", r != nil, err)
		}
		want := len(regs)
		if r != nil {
			want++
		}
		checkArena(t, b, want)
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

// fuzzRegion is the name FuzzOpen allocates; a seed takes it already.
const fuzzRegion = "fuzz.alloc"

// fuzzSentinels are the errors Open and Alloc may return for a file's
// contents (ErrChecksum, ErrTruncated and ErrByteOrder match them too).
var fuzzSentinels = []error{ErrNotArena, ErrVersion, ErrCorrupt, ErrNotReady, ErrPermission, ErrBadName, ErrInvalid, ErrNoSpace, ErrExists}

func checkSentinel(t *testing.T, op string, err error) {
	t.Helper()
	for _, s := range fuzzSentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: error matches no sentinel: %v", op, err)
}

// checkArena checks the directory of an open arena: Regions succeeds (the
// directory was validated and nobody writes it), has want entries (-1: any),
// and every region lies inside the mapping and is found by Lookup. It
// returns the regions.
func checkArena(t *testing.T, a *Arena, want int) []*Region {
	t.Helper()
	regs, err := a.Regions()
	if err != nil {
		t.Fatalf("Regions after a successful Open: %v", err)
	}
	if want >= 0 && len(regs) != want {
		t.Fatalf("%d regions, want %d", len(regs), want)
	}
	for _, r := range regs {
		checkRegion(t, a, r)
		l, err := a.Lookup(r.Name())
		if err != nil {
			t.Fatalf("Lookup(%q) of a listed region: %v", r.Name(), err)
		}
		if l.Offset() != r.Offset() || l.Size() != r.Size() {
			t.Fatalf("Lookup(%q) = [%d,+%d), Regions says [%d,+%d)", r.Name(), l.Offset(), l.Size(), r.Offset(), r.Size())
		}
		checkRegion(t, a, l)
	}
	return regs
}

// checkRegion checks a region lies in the data area, and that its bytes
// are exactly that range of this handle's mapping.
func checkRegion(t *testing.T, a *Arena, r *Region) {
	t.Helper()
	b := r.Bytes()
	if int64(len(b)) != r.Size() || int64(cap(b)) != r.Size() {
		t.Fatalf("region %q: len %d cap %d, size %d", r.Name(), len(b), cap(b), r.Size())
	}
	if r.Size() <= 0 || r.Offset() < a.DataOffset() || r.Offset() > a.Size() || r.Size() > a.Size()-r.Offset() {
		t.Fatalf("region %q: [%d,+%d) outside data area [%d,%d)", r.Name(), r.Offset(), r.Size(), a.DataOffset(), a.Size())
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(a.mem)))
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))); p != base+uintptr(r.Offset()) {
		t.Fatalf("region %q: bytes at mapping offset %d, region offset %d", r.Name(), p-base, r.Offset())
	}
	if int64(len(a.mem)) != a.Size() {
		t.Fatalf("mapping of %d bytes, arena size %d", len(a.mem), a.Size())
	}
}

// openSeeds builds FuzzOpen's seed corpus: a small valid arena with two
// regions, and damaged copies of it.
func openSeeds(t *testing.T) map[string][]byte {
	t.Helper()
	build := func(dirCap int, names ...string) []byte {
		p := filepath.Join(t.TempDir(), "seed")
		a, err := Create(p, 8192, WithDirCapacity(dirCap), WithPadUnit(128))
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			if _, err := a.Alloc(name, int64(1024>>i), int64(128>>i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := build(4, "ring.a", "ring.b")
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	return map[string][]byte{
		"valid-2-regions":     valid,
		"empty":               {},
		"first-100-bytes":     valid[:100],
		"header-only":         valid[:HeaderSize],
		"first-page":          valid[:4096],
		"all-zero":            make([]byte, len(valid)),
		"not-arena":           []byte("hello, world: not an arena file"),
		"flip-magic":          mod(func(b []byte) { b[0] ^= 0x20 }),
		"flip-version":        mod(func(b []byte) { b[8] ^= 0x02 }),
		"flip-total-size":     mod(func(b []byte) { b[33] ^= 0x10 }),
		"flip-entry-offset":   mod(func(b []byte) { b[HeaderSize+64+1] ^= 0x01 }),
		"flip-entry-name":     mod(func(b []byte) { b[HeaderSize+DirEntrySize] ^= 0x40 }),
		"dir-count-3":         mod(func(b []byte) { hdr(b).DirCount = 3 }),
		"state-not-ready":     mod(func(b []byte) { hdr(b).State = 0 }),
		"state-garbage":       mod(func(b []byte) { hdr(b).State ^= 0x100 }),
		"alloc-cursor-at-end": mod(func(b []byte) { hdr(b).AllocNext = hdr(b).TotalSize - 8 }),
		"ro-compat-feature":   mod(func(b []byte) { hdr(b).RoCompatFeatures = 1 << 5; fixHeader(b) }),
		"entry-overlap":       mod(func(b []byte) { entry(b, 1).Offset = entry(b, 0).Offset + 64; fixEntry(b, 1) }),
		"directory-full":      build(2, "ring.a", "ring.b"),
		"name-taken":          build(4, fuzzRegion),
	}
}

// TestFuzzOpenSeeds checks the committed seed corpus is there, and with
// SHMRING_WRITE_CORPUS=1 rewrites it from openSeeds.
func TestFuzzOpenSeeds(t *testing.T) {
	for name, img := range openSeeds(t) {
		seed.Corpus(t, "FuzzOpen", name, fmt.Sprintf("[]byte(%q)\n", img))
	}
}
