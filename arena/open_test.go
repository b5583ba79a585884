package arena

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
