package arena

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

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
