package arena

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/xproc"
)

func TestMain(m *testing.M) {
	xproc.Main(m, map[string]xproc.Role{
		"child-write":    childWrite,
		"create-or-open": childCreateOrOpen,
		"hold-live":      childHoldLive,
		"mirror-write":   childMirrorWrite,
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
