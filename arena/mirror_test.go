package arena

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	"github.com/shmring/shmring/internal/xproc"
)

// mirrorArena creates an arena with a page-aligned region "ring" of pages
// pages and returns both.
func mirrorArena(t *testing.T, pages int64, opts ...Option) (string, *Arena, *Region) {
	t.Helper()
	if !mirrorSupported {
		t.Skip("mirrored mappings are not supported here")
	}
	p := tempArena(t)
	a, err := Create(p, 1<<20, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	ps := int64(a.PageSize())
	r, err := a.Alloc("ring", pages*ps, ps)
	if err != nil {
		t.Fatal(err)
	}
	return p, a, r
}

func mustMirror(t *testing.T, a *Arena, r *Region, off, n int64) *Mirror {
	t.Helper()
	m, err := a.Mirror(r, off, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// TestMirrorAliases writes through each half and through the region and
// reads the byte back through the other two.
func TestMirrorAliases(t *testing.T) {
	_, a, r := mirrorArena(t, 4)
	ps := int64(a.PageSize())
	off, n := ps, 2*ps // the middle two pages of the region
	m := mustMirror(t, a, r, off, n)
	v, file := m.Bytes(), r.Bytes()
	if int64(len(v)) != 2*n {
		t.Fatalf("len(Bytes) = %d, want %d", len(v), 2*n)
	}
	for _, i := range []int64{0, 1, ps - 1, ps, n - 1} {
		v[i] = byte(i) + 1
		if v[i+n] != byte(i)+1 || file[off+i] != byte(i)+1 {
			t.Fatalf("write at %d: second half %d, file %d", i, v[i+n], file[off+i])
		}
		v[i+n] = byte(i) + 2
		if v[i] != byte(i)+2 || file[off+i] != byte(i)+2 {
			t.Fatalf("write at %d+n: first half %d, file %d", i, v[i], file[off+i])
		}
		file[off+i] = byte(i) + 3
		if v[i] != byte(i)+3 || v[i+n] != byte(i)+3 {
			t.Fatalf("file write at %d: halves %d, %d", i, v[i], v[i+n])
		}
	}
	// The pages of the region outside the mirror are not in it.
	file[off-1], file[off+n] = 0xaa, 0xbb
	if bytes.IndexByte(v, 0xaa) >= 0 || bytes.IndexByte(v, 0xbb) >= 0 {
		t.Fatal("the mirror shows bytes outside its range")
	}
}

// TestMirrorWrap copies a record across the end of the range: it reads
// back contiguous through the view, and lies split at the end and the
// start of the range in the file.
func TestMirrorWrap(t *testing.T) {
	_, a, r := mirrorArena(t, 2)
	n := r.Size()
	m := mustMirror(t, a, r, 0, n)
	rec := make([]byte, 1000)
	for i := range rec {
		rec[i] = byte(i*7 + 1)
	}
	at := n - 300
	copy(m.Bytes()[at:], rec)
	if !bytes.Equal(m.Bytes()[at:at+int64(len(rec))], rec) {
		t.Fatal("record not contiguous through the view")
	}
	file := r.Bytes()
	if !bytes.Equal(file[at:n], rec[:300]) || !bytes.Equal(file[:len(rec)-300], rec[300:]) {
		t.Fatal("record not split across the end and the start of the range in the file")
	}
	// And the other way: written split in the file, read whole.
	copy(file[n-10:], "0123456789")
	copy(file, "abcdef")
	if got := string(m.Bytes()[n-10 : n+6]); got != "0123456789abcdef" {
		t.Fatalf("read across the wrap: %q", got)
	}
}

func TestMirrorInvalid(t *testing.T) {
	if !mirrorSupported {
		t.Skip("mirrored mappings are not supported here")
	}
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ps := int64(a.PageSize())
	r, err := a.Alloc("ring", 4*ps, ps)
	if err != nil {
		t.Fatal(err)
	}
	// A region that does not start on a page: only offsets that bring it
	// to one are valid.
	if _, err := a.Alloc("odd", 3*ps, 64); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alloc("pad", 64, 64); err != nil {
		t.Fatal(err)
	}
	odd2, err := a.Alloc("odd2", 3*ps, 64)
	if err != nil || odd2.Offset()%ps == 0 {
		t.Fatalf("odd2 at %d: %v", odd2.Offset(), err)
	}
	toPage := alignUp(odd2.Offset(), ps) - odd2.Offset()
	b, err := Open(p) // another handle on the same file
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	other, err := b.Lookup("ring")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		r      *Region
		off, n int64
		ok     bool
	}{
		{"whole region", r, 0, 4 * ps, true},
		{"last page", r, 3 * ps, ps, true},
		{"nil region", nil, 0, ps, false},
		{"region of another handle", other, 0, ps, false},
		{"zero size", r, 0, 0, false},
		{"negative size", r, 0, -ps, false},
		{"negative offset", r, -ps, ps, false},
		{"offset not on a page", r, 64, ps, false},
		{"size not whole pages", r, 0, ps + 64, false},
		{"past the end", r, 2 * ps, 3 * ps, false},
		{"offset past the end", r, 5 * ps, ps, false},
		{"offset+size overflows", r, math.MaxInt64 - ps + 1, ps, false},
		{"huge size", r, 0, math.MaxInt64 &^ (ps - 1), false},
		{"region off a page, offset 0", odd2, 0, ps, false},
		{"region off a page, offset to the page", odd2, toPage, ps, true},
		{"region off a page, too long", odd2, toPage, 3 * ps, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := a.Mirror(tt.r, tt.off, tt.n)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if int64(len(m.Bytes())) != 2*tt.n {
					t.Fatalf("len %d", len(m.Bytes()))
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || m != nil {
				t.Fatalf("Mirror(%d, %d) = %v, %v; want ErrInvalid", tt.off, tt.n, m, err)
			}
		})
	}
}

func TestMirrorUnsupported(t *testing.T) {
	if mirrorSupported {
		t.Skip("mirrored mappings are supported here")
	}
	a, err := Create(tempArena(t), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ps := int64(a.PageSize())
	r, err := a.Alloc("ring", ps, ps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Mirror(r, 0, ps); !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Mirror = %v, want ErrUnsupported", err)
	}
	if _, err := a.Mirror(r, 0, ps+1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Mirror of a bad size = %v, want ErrInvalid on every system", err)
	}
}

func TestMirrorAfterClose(t *testing.T) {
	_, a, r := mirrorArena(t, 1)
	a.Close()
	if m, err := a.Mirror(r, 0, r.Size()); !errors.Is(err, ErrClosed) || m != nil {
		t.Fatalf("Mirror after Close = %v, %v; want ErrClosed", m, err)
	}
}

// TestMirrorArenaClose closes the arena under a live mirror (with and
// without a pin holding the main mapping): the view reads zeros, takes
// writes that no other handle sees, and Mirror.Close still unmaps it once.
func TestMirrorArenaClose(t *testing.T) {
	for _, pinned := range []bool{false, true} {
		t.Run("pinned="+strconv.FormatBool(pinned), func(t *testing.T) {
			p, a, r := mirrorArena(t, 2)
			n := r.Size()
			var pin *Pin
			if pinned {
				var err error
				if pin, err = a.Pin(nil); err != nil {
					t.Fatal(err)
				}
				defer pin.Unpin()
			}
			m, err := a.Mirror(r, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			v := m.Bytes()
			copy(v, "before close")
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(v, make([]byte, len(v))) {
				t.Fatal("the view does not read zeros after the arena's Close")
			}
			copy(v[n-4:], "after close") // across the wrap: both halves are anonymous
			b, err := Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			rb, err := b.Lookup("ring")
			if err != nil {
				t.Fatal(err)
			}
			if got := string(rb.Bytes()[:12]); got != "before close" {
				t.Fatalf("file holds %q, want the write from before Close", got)
			}
			if !bytes.Equal(rb.Bytes()[n-4:], make([]byte, 4)) {
				t.Fatalf("a write after Close reached the file: %q", rb.Bytes()[n-4:])
			}
			addr := uintptr(unsafe.Pointer(&v[0]))
			if !isMapped(t, addr) {
				t.Fatal("the view is not mapped before Mirror.Close")
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if pinned {
				// The main mapping is still there (anonymous, pinned): the
				// closed view stays, anonymous, until it goes.
				if !isMapped(t, addr) {
					t.Fatal("the view was unmapped before the pinned main mapping")
				}
				pin.Unpin()
			}
			if isMapped(t, addr) {
				t.Fatal("the view is still mapped after Mirror.Close and the main mapping's unmap")
			}
			if err := m.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			a.mu.Lock()
			live := len(a.mirrors)
			a.mu.Unlock()
			if live != 0 {
				t.Fatalf("%d mirrors still tracked", live)
			}
		})
	}
}

// TestMirrorTruncated truncates the file under a live mirror: without the
// replacement, the reads below would die of SIGBUS.
func TestMirrorTruncated(t *testing.T) {
	p, a, r := mirrorArena(t, 4)
	m := mustMirror(t, a, r, 0, r.Size())
	copy(m.Bytes(), "live")
	if err := os.Truncate(p, a.DataOffset()); err != nil {
		t.Fatal(err)
	}
	if err := a.CheckSize(); !errors.Is(err, ErrTruncated) {
		t.Fatalf("CheckSize = %v", err)
	}
	v := m.Bytes()
	if !bytes.Equal(v, make([]byte, len(v))) {
		t.Fatal("the view does not read zeros after the truncation")
	}
	v[len(v)-1] = 1
	if _, err := a.Mirror(r, 0, r.Size()); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Mirror on a broken arena = %v, want ErrTruncated", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorReadOnly(t *testing.T) {
	p, a, r := mirrorArena(t, 1)
	copy(r.Bytes(), "from the writer")
	b, err := Open(p, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rb, err := b.Lookup("ring")
	if err != nil {
		t.Fatal(err)
	}
	m := mustMirror(t, b, rb, 0, rb.Size())
	n := rb.Size()
	if string(m.Bytes()[:15]) != "from the writer" || string(m.Bytes()[n:n+15]) != "from the writer" {
		t.Fatal("read-only mirror does not show the file")
	}
	_ = a
}

func TestMirrorPrefault(t *testing.T) {
	_, a, r := mirrorArena(t, 2, WithPrefault())
	m := mustMirror(t, a, r, 0, r.Size())
	m.Bytes()[0] = 7
	if r.Bytes()[0] != 7 {
		t.Fatal("prefaulted mirror does not alias")
	}
}

// TestMirrorConcurrent races Mirror, Mirror.Close and the arena's Close
// (for the race detector: the tracking is under a.mu).
func TestMirrorConcurrent(t *testing.T) {
	_, a, r := mirrorArena(t, 1)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				m, err := a.Mirror(r, 0, r.Size())
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				_ = m.Bytes()[0]
				if i%2 == 0 {
					if err := m.Close(); err != nil {
						t.Error(err)
					}
				} else {
					defer m.Close()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.Close()
	}()
	wg.Wait()
}

// childMirrorWrite opens the arena args[0], mirrors all of region args[1]
// and writes args[2] across the end of the range.
func childMirrorWrite(args []string) error {
	a, err := Open(args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.Lookup(args[1])
	if err != nil {
		return err
	}
	m, err := a.Mirror(r, 0, r.Size())
	if err != nil {
		return err
	}
	defer m.Close()
	copy(m.Bytes()[r.Size()-int64(len(args[2])/2):], args[2])
	return nil
}

func TestMirrorCrossProcess(t *testing.T) {
	p, _, r := mirrorArena(t, 2)
	msg := "written by another process through its mirror"
	if err := xproc.Command(t, "mirror-write", p, "ring", msg).Run(); err != nil {
		t.Fatalf("child: %v", err)
	}
	n, h := r.Size(), len(msg)/2
	if got := string(r.Bytes()[n-int64(h):]) + string(r.Bytes()[:len(msg)-h]); got != msg {
		t.Fatalf("parent read %q", got)
	}
}

// isMapped says whether addr lies in a mapping of this process
// (/proc/self/maps; the test is skipped where there is none).
func isMapped(t *testing.T, addr uintptr) bool {
	t.Helper()
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	for _, line := range bytes.Split(maps, []byte("\n")) {
		rng, _, _ := bytes.Cut(line, []byte(" "))
		lo, hi, ok := bytes.Cut(rng, []byte("-"))
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(string(lo), 16, 64)
		h, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h {
			return true
		}
	}
	return false
}

// TestMirrorCloseWhileOpen: Mirror.Close on an open arena replaces the view
// with anonymous memory (a slice still held reads zeros, writes reach
// nothing) and the arena's Close unmaps it.
func TestMirrorCloseWhileOpen(t *testing.T) {
	_, a, r := mirrorArena(t, 2)
	n := r.Size()
	m, err := a.Mirror(r, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	v := m.Bytes()
	copy(v, "kept")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(v[:4], make([]byte, 4)) {
		t.Fatal("a closed view does not read zeros")
	}
	copy(v, "late")
	if got := string(r.Bytes()[:4]); got != "kept" {
		t.Fatalf("the file holds %q after a write to a closed view", got)
	}
	addr := uintptr(unsafe.Pointer(&v[0]))
	if !isMapped(t, addr) {
		t.Fatal("a closed view was unmapped while the arena is open")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if isMapped(t, addr) {
		t.Fatal("the closed view outlived the arena's mapping")
	}
}

// TestMirrorRegion: the view holds the region's start, then the mirrored
// range twice.
func TestMirrorRegion(t *testing.T) {
	_, a, r := mirrorArena(t, 3)
	page := int64(a.PageSize())
	m, err := a.MirrorRegion(r, page, 2*page)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v := m.Bytes()
	if int64(len(v)) != 5*page {
		t.Fatalf("view of %d bytes, want %d", len(v), 5*page)
	}
	copy(r.Bytes(), "head")
	if string(v[:4]) != "head" {
		t.Fatal("the view does not start with the region")
	}
	copy(v[page+2*page-3:], "wrap!")
	if string(r.Bytes()[3*page-3:]) != "wra" || string(r.Bytes()[page:page+2]) != "p!" {
		t.Fatalf("a write across the mirrored end did not land in the file's range: %q %q", r.Bytes()[3*page-3:], r.Bytes()[page:page+2])
	}
}
