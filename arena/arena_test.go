package arena

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/xproc"
)

func TestMain(m *testing.M) {
	xproc.Main(m, map[string]xproc.Role{
		"child-write":    childWrite,
		"create-or-open": childCreateOrOpen,
	})
}

func tempArena(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "arena")
}

func TestCreateOpenRoundTrip(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !a.IsCreator() || a.Size() != 1<<20 || a.PageSize() != os.Getpagesize() {
		t.Fatalf("geometry: creator=%v size=%d page=%d", a.IsCreator(), a.Size(), a.PageSize())
	}
	if pu := a.PadUnit(); pu < 64 || pu&(pu-1) != 0 {
		t.Fatalf("pad unit %d", pu)
	}
	r, err := a.Alloc("data", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Offset()%int64(a.PadUnit()) != 0 || r.Size() != 1000 || len(r.Bytes()) != 1000 || cap(r.Bytes()) != 1000 {
		t.Fatalf("region %+v", r.info)
	}
	if !bytes.Equal(r.Bytes(), make([]byte, 1000)) {
		t.Fatal("new region not zeroed")
	}
	copy(r.Bytes(), "hello from the creator")

	b, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if b.IsCreator() || b.Size() != a.Size() || b.PadUnit() != a.PadUnit() || b.DataOffset() != a.DataOffset() ||
		b.CreatorPID() != os.Getpid() || !b.Created().Equal(a.Created()) || b.DirCapacity() != DefaultDirCapacity {
		t.Fatal("opened geometry differs from created")
	}
	if maj, _ := b.Version(); maj != VersionMajor {
		t.Fatal("version")
	}
	rb, err := b.Lookup("data")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(rb.Bytes(), []byte("hello from the creator")) || rb.Offset() != r.Offset() || rb.CreatorPID() != os.Getpid() {
		t.Fatal("region contents not shared")
	}
	if _, err := b.Lookup("nope"); !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Lookup(nope): %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := b.Lookup("data"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close: %v", err)
	}
	if _, err := b.Alloc("x", 8, 8); !errors.Is(err, ErrClosed) {
		t.Fatalf("Alloc after Close: %v", err)
	}
	if err := Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Open after Remove: %v", err)
	}
	if err := Remove(p); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
}

func TestCreateBareNameInDevShm(t *testing.T) {
	if _, err := os.Stat(ShmDir); err != nil {
		t.Skip("no /dev/shm")
	}
	name := fmt.Sprintf("shmring-test-%d", os.Getpid())
	a, err := Create(name, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer Remove(name)
	defer a.Close()
	if a.Path() != filepath.Join(ShmDir, name) {
		t.Fatalf("path %s", a.Path())
	}
	if _, err := os.Stat(filepath.Join(ShmDir, name)); err != nil {
		t.Fatal(err)
	}
}

func TestPathNotADirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(file, "arena") // ENOTDIR
	if _, err := Open(p); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(%s): %v, want ErrNotFound", p, err)
	}
	if _, err := Create(p, 1<<20); !errors.Is(err, ErrNotFound) {
		t.Errorf("Create(%s): %v, want ErrNotFound", p, err)
	}
	if err := Remove(p); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove(%s): %v, want ErrNotFound", p, err)
	}
}

func TestCreateExists(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	_, err = Create(p, 64<<10)
	if !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v", err)
	}
	// The failed Create must not have removed the first one's file.
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
}

func TestCreateInvalid(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		size int64
		opts []Option
		want error
	}{
		{"zero size", 0, nil, ErrInvalid},
		{"negative size", -1, nil, ErrInvalid},
		{"too small for directory", 4096, []Option{WithDirCapacity(64)}, ErrInvalid},
		{"pad unit not power of two", 1 << 20, []Option{WithPadUnit(96)}, ErrInvalid},
		{"pad unit too small", 1 << 20, []Option{WithPadUnit(32)}, ErrInvalid},
		{"directory capacity zero", 1 << 20, []Option{WithDirCapacity(0)}, ErrInvalid},
		{"mode with type bits", 1 << 20, []Option{WithMode(fs.ModeDir | 0o600)}, ErrInvalid},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, strconv.Itoa(i))
		_, err := Create(p, tt.size, tt.opts...)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if _, serr := os.Stat(p); serr == nil {
			t.Errorf("%s: failed Create left %s behind", tt.name, p)
		}
	}
}

func TestCreateMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	for _, tt := range []struct {
		opts []Option
		want fs.FileMode
	}{
		{nil, 0o600},
		{[]Option{WithMode(0o640)}, 0o640},
		{[]Option{WithMode(0o660)}, 0o660},
	} {
		p := tempArena(t)
		a, err := Create(p, 64<<10, tt.opts...)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tt.want {
			t.Errorf("mode %v, want %v", fi.Mode(), tt.want)
		}
	}
}

func TestOpenRefusesUnsafeFiles(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	dir := filepath.Dir(p)

	t.Run("symlink", func(t *testing.T) {
		l := filepath.Join(dir, "link")
		if err := os.Symlink(p, l); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(l); !errors.Is(err, ErrPermission) {
			t.Fatalf("Open(symlink): %v", err)
		}
		// Create through a symlink (even a dangling one) never follows it.
		dl := filepath.Join(dir, "dangling")
		if err := os.Symlink(filepath.Join(dir, "target"), dl); err != nil {
			t.Fatal(err)
		}
		// O_CREAT|O_EXCL fails with EEXIST on any existing name, a symlink
		// included.
		if _, err := Create(dl, 64<<10); !errors.Is(err, ErrExists) {
			t.Fatalf("Create through a dangling symlink: %v, want ErrExists", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "target")); err == nil {
			t.Fatal("Create followed the symlink")
		}
	})
	t.Run("hard link", func(t *testing.T) {
		l := filepath.Join(dir, "hard")
		if err := os.Link(p, l); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(l)
		if _, err := Open(p); !errors.Is(err, ErrPermission) {
			t.Fatalf("Open with 2 links: %v", err)
		}
	})
	t.Run("group writable", func(t *testing.T) {
		if err := os.Chmod(p, 0o620); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(p, 0o600)
		if _, err := Open(p); !errors.Is(err, ErrPermission) {
			t.Fatalf("Open(0620): %v", err)
		}
		b, err := Open(p, WithAllowShared())
		if err != nil {
			t.Fatalf("Open(0620, WithAllowShared): %v", err)
		}
		b.Close()
	})
	t.Run("foreign owner", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown")
		}
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		defer os.Chown(p, 0, 0)
		if _, err := Open(p); !errors.Is(err, ErrPermission) || !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Open(foreign owner): %v", err)
		}
		b, err := Open(p, WithAllowOwner(65534))
		if err != nil {
			t.Fatalf("Open with WithAllowOwner: %v", err)
		}
		b.Close()
	})
	t.Run("fifo", func(t *testing.T) {
		f := filepath.Join(dir, "fifo")
		if err := unix.Mkfifo(f, 0o600); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { _, err := Open(f); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrPermission) {
				t.Fatalf("Open(fifo): %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Open(fifo) hung")
		}
	})
	t.Run("directory", func(t *testing.T) {
		if _, err := Open(dir + "/"); err == nil {
			t.Fatal("Open(directory) succeeded")
		}
		sub := filepath.Join(dir, "sub")
		os.Mkdir(sub, 0o700)
		if _, err := Open(sub); !errors.Is(err, ErrPermission) {
			t.Fatalf("Open(directory): %v", err)
		}
	})
	t.Run("bad names", func(t *testing.T) {
		for _, n := range []string{"", "..", "a/../b", "x\x00y", strings.Repeat("n", 300)} {
			if _, err := Open(n); !errors.Is(err, ErrBadName) {
				t.Errorf("Open(%q): %v", n, err)
			}
			if _, err := Create(n, 1<<20); !errors.Is(err, ErrBadName) {
				t.Errorf("Create(%q): %v", n, err)
			}
		}
	})
}

func TestOpenWaitsForSlowCreator(t *testing.T) {
	img := validImage(t)
	p := tempArena(t)
	// A creator that has sized the file but not yet marked it ready.
	pending := append([]byte(nil), img...)
	hdr(pending).State = 0
	if err := os.WriteFile(p, pending, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return
		}
		defer f.Close()
		off := int64(unsafe.Offsetof(header{}.State))
		f.WriteAt(img[off:off+4], off)
	}()
	a, err := Open(p, WithReadyTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("Open racing a slow creator: %v", err)
	}
	a.Close()
}

// TestOpenWaitsFromEmptyFile opens while the creator has made the file but
// not yet sized it: Open must wait through the 0-byte stage, not take the
// size it saw then for the final one.
func TestOpenWaitsFromEmptyFile(t *testing.T) {
	img := validImage(t)
	p := tempArena(t)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		time.Sleep(30 * time.Millisecond)
		wrote <- writeLikeCreator(p, img)
	}()
	a, err := Open(p, WithReadyTimeout(10*time.Second))
	if werr := <-wrote; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("Open racing a creator from a 0-byte file: %v", err)
	}
	a.Close()
}

// writeLikeCreator brings the existing file p to img in a creator's order:
// size it, write everything but the header's State, then State.
func writeLikeCreator(p string, img []byte) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st := int64(unsafe.Offsetof(header{}.State))
	if err := f.Truncate(int64(len(img))); err != nil {
		return err
	}
	if _, err := f.WriteAt(img[:st], 0); err != nil {
		return err
	}
	if _, err := f.WriteAt(img[st+4:], st+4); err != nil {
		return err
	}
	_, err = f.WriteAt(img[st:st+4], st)
	return err
}

// TestOpenSizeTakenBeforeCreatorSizedIt makes the race deterministic: the
// creator sizes and publishes the file between Open's fstat (which saw 0
// bytes) and its read of State.
func TestOpenSizeTakenBeforeCreatorSizedIt(t *testing.T) {
	img := validImage(t)
	p := tempArena(t)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var werr error
	testHookSized = func() { once.Do(func() { werr = writeLikeCreator(p, img) }) }
	defer func() { testHookSized = nil }()
	a, err := Open(p, WithReadyTimeout(time.Second))
	if werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	a.Close()
}

// TestOpenRetriesStaleCopy changes the header between Open's pread and its
// mapping, as a pread that saw State ready without acquire ordering would
// see it: Open must read again and succeed once the two agree, and fail
// with ErrCorrupt only after the ready timeout if they never do.
func TestOpenRetriesStaleCopy(t *testing.T) {
	img := validImage(t)
	other := append([]byte(nil), img...)
	hdr(other).CreatedUnixNano++
	fixHeader(other)
	p := tempArena(t)
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() { testHookMapping = nil }()

	calls := 0
	testHookMapping = func() {
		if calls++; calls == 1 {
			if err := os.WriteFile(p, other, 0); err != nil {
				t.Error(err)
			}
		}
	}
	a, err := Open(p, WithReadyTimeout(5*time.Second))
	if err != nil {
		t.Fatalf("Open with the header changed once while opening: %v", err)
	}
	if calls < 2 || !a.Created().Equal(time.Unix(0, hdr(other).CreatedUnixNano)) {
		t.Fatalf("Open did not read again: %d passes, created %v", calls, a.Created())
	}
	a.Close()

	flip := [][]byte{other, img} // the file holds other now: write the one not just read
	calls = 0
	testHookMapping = func() {
		calls++
		if err := os.WriteFile(p, flip[calls%2], 0); err != nil {
			t.Error(err)
		}
	}
	start := time.Now()
	_, err = Open(p, WithReadyTimeout(50*time.Millisecond))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open with the header changing on every pass: %v, want ErrCorrupt", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || calls < 2 {
		t.Fatalf("Open gave up after %v and %d passes, before the 50ms ready timeout", took, calls)
	}
}

func TestOpenCreatorDied(t *testing.T) {
	p := tempArena(t)
	if err := os.WriteFile(p, make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Open(p, WithReadyTimeout(30*time.Millisecond))
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("Open: %v, want ErrNotReady", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Open took %v with a 30ms ready timeout", took)
	}
}

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
		{"r3", 1 << 40, 8, ErrInvalid},
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

// TestCreateFailureRemovesOnlyItsFile fails a Create after the file is
// made: the file goes, unless the path meanwhile names another file.
func TestCreateFailureRemovesOnlyItsFile(t *testing.T) {
	errInjected := errors.New("injected")
	defer func() { testHookInit = nil }()

	p := tempArena(t)
	testHookInit = func(string) error { return errInjected }
	if _, err := Create(p, 1<<20); !errors.Is(err, errInjected) {
		t.Fatalf("Create: %v", err)
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("failed Create left its file: %v", err)
	}

	// Another process replaces the file while Create runs.
	testHookInit = func(path string) error {
		if err := os.Remove(path); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte("someone else's"), 0o600); err != nil {
			return err
		}
		return errInjected
	}
	if _, err := Create(p, 1<<20); !errors.Is(err, errInjected) {
		t.Fatalf("Create: %v", err)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "someone else's" {
		t.Fatalf("failed Create removed a file it did not create: %q, %v", b, err)
	}
}

func TestCreateSizeCheckedBeforeFileExists(t *testing.T) {
	p := tempArena(t)
	testHookInit = func(string) error { t.Error("Create opened the file for a size it must refuse"); return nil }
	defer func() { testHookInit = nil }()
	if _, err := Create(p, 4096, WithDirCapacity(64)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Create: %v, want ErrInvalid", err)
	}
}

func TestMemoryOptions(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20, WithPrefault(), WithHugePages())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(p, WithPrefault(), WithHugePages())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	// The touch fallback must not change contents.
	r, err := a.Alloc("r", 8192, 4096)
	if err != nil {
		t.Fatal(err)
	}
	copy(r.Bytes(), "keep")
	touchPages(a.mem, a.PageSize())
	if string(r.Bytes()[:4]) != "keep" {
		t.Fatal("touchPages changed memory")
	}
	c, err := Open(p, WithMlock())
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EAGAIN) {
		t.Skipf("mlock not permitted here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// childWrite opens the arena args[0], writes args[2] into region args[1]
// and allocates a region of its own named "child" holding its pid.
func childWrite(args []string) error {
	a, err := Open(args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.Lookup(args[1])
	if err != nil {
		return err
	}
	copy(r.Bytes(), args[2])
	c, err := a.Alloc("child", 64, 64)
	if err != nil {
		return err
	}
	copy(c.Bytes(), strconv.Itoa(os.Getpid()))
	return nil
}

func TestCrossProcess(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Alloc("shared", 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := "written by another process"
	cmd := xproc.Command(t, "child-write", p, "shared", msg)
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := string(r.Bytes()[:len(msg)]); got != msg {
		t.Fatalf("parent read %q", got)
	}
	c, err := a.Lookup("child")
	if err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	if got := string(c.Bytes()[:len(pid)]); got != pid || c.CreatorPID() != cmd.Process.Pid {
		t.Fatalf("child region holds %q (creator %d), want pid %s", got, c.CreatorPID(), pid)
	}
}

// childCreateOrOpen races to create args[0] at the wall-clock time
// args[1] (unix ns); prints "created" or "opened", then allocates a region
// named after args[2].
func childCreateOrOpen(args []string) error {
	start, _ := strconv.ParseInt(args[1], 10, 64)
	time.Sleep(time.Until(time.Unix(0, start)))
	a, err := Create(args[0], 1<<20)
	verdict := "created"
	if errors.Is(err, ErrExists) {
		verdict = "opened"
		a, err = Open(args[0], WithReadyTimeout(10*time.Second))
	}
	if err != nil {
		return err
	}
	defer a.Close()
	if a.Size() != 1<<20 || a.DirCapacity() != DefaultDirCapacity {
		return fmt.Errorf("half-built header: size %d, dir %d", a.Size(), a.DirCapacity())
	}
	if _, err := a.Alloc("p"+args[2], 256, 64); err != nil {
		return err
	}
	fmt.Println(verdict)
	return nil
}

func TestConcurrentCreateOpenProcesses(t *testing.T) {
	const n = 6
	for round := 0; round < 3; round++ {
		p := filepath.Join(t.TempDir(), "race")
		start := strconv.FormatInt(time.Now().Add(300*time.Millisecond).UnixNano(), 10)
		var outs [n]bytes.Buffer
		var cmds [n]*osCmd
		for i := range cmds {
			c := xproc.Command(t, "create-or-open", p, start, strconv.Itoa(i))
			c.Stdout = &outs[i]
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = &osCmd{c.Wait}
		}
		created := 0
		for i, c := range cmds {
			if err := c.wait(); err != nil {
				t.Fatalf("round %d child %d: %v", round, i, err)
			}
			switch strings.TrimSpace(outs[i].String()) {
			case "created":
				created++
			case "opened":
			default:
				t.Fatalf("child %d said %q", i, outs[i].String())
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d creators, want exactly 1", round, created)
		}
		a, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		list, err := a.Regions()
		a.Close()
		if err != nil || len(list) != n {
			t.Fatalf("round %d: %d regions (%v), want %d", round, len(list), err, n)
		}
	}
}

type osCmd struct{ wait func() error }
