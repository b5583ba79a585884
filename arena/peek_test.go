package arena

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestPeek(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	a, err := Create(ready, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Alloc("r", 100, 0); err != nil {
		t.Fatal(err)
	}
	a.Close()
	in, err := Peek(ready)
	if err != nil || !in.Ready || in.Blank || in.CreatorPID != os.Getpid() || in.DirCount != 1 ||
		in.TotalSize != 64<<10 || in.AllocNext <= in.DataOffset || in.Created.IsZero() {
		t.Fatalf("Peek(ready) = %+v, %v", in, err)
	}

	// A creator that died after writing the header but before State.
	b, _ := os.ReadFile(ready)
	b[128] = 0 // State
	incomplete := filepath.Join(dir, "incomplete")
	if err := os.WriteFile(incomplete, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if in, err := Peek(incomplete); err != nil || in.Ready || in.Blank || in.CreatorPID != os.Getpid() {
		t.Fatalf("Peek(incomplete) = %+v, %v", in, err)
	}
	blank := filepath.Join(dir, "blank")
	if err := os.WriteFile(blank, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	if in, err := Peek(blank); err != nil || !in.Blank || in.Ready {
		t.Fatalf("Peek(blank) = %+v, %v", in, err)
	}
	foreign := filepath.Join(dir, "foreign")
	if err := os.WriteFile(foreign, []byte("not an arena at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Peek(foreign); !errors.Is(err, ErrNotArena) {
		t.Fatalf("Peek(foreign) = %v, want ErrNotArena", err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(ready, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Peek(link); !errors.Is(err, ErrPermission) {
		t.Fatalf("Peek(symlink) = %v, want ErrPermission", err)
	}
	if _, err := Peek(filepath.Join(dir, "missing")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Peek(missing) = %v, want ErrNotFound", err)
	}
}
