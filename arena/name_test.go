package arena

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestRegionNames: Alloc and AllocKind refuse a name that is not printable
// ASCII (NUL and other control characters), that holds a '/', or that is
// "." or "..", with ErrBadName; Lookup answers such a name with ErrBadName
// too, and never panics.
func TestRegionNames(t *testing.T) {
	a, err := Create(tempArena(t), 1<<20, WithDirCapacity(64))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"a.b", true},
		{"...", true},
		{".hidden", true},
		{"a..b", true},
		{"a\\b", true},
		{"~!#$%&*+-:;<=>?@[]^_`{|}", true},
		{strings.Repeat("x", MaxNameLen), true},
		{"", false},
		{strings.Repeat("x", MaxNameLen+1), false},
		{strings.Repeat("x", 300), false},
		{".", false},
		{"..", false},
		{"/", false},
		{"a/b", false},
		{"/a", false},
		{"a/", false},
		{"../a", false},
		{"a/../b", false},
		{"x\x00y", false},
		{"\x00", false},
		{"a\nb", false},
		{"a\tb", false},
		{"a b", false},
		{"\x1b[0m", false},
		{"del\x7f", false},
		{"caf\u00e9", false},
	}
	for _, tt := range tests {
		r, err := a.AllocKind(tt.name, Kind(7), 64, 0)
		if tt.ok {
			if err != nil {
				t.Errorf("AllocKind(%q): %v", tt.name, err)
				continue
			}
			if r.Name() != tt.name {
				t.Errorf("AllocKind(%q) named the region %q", tt.name, r.Name())
			}
			if l, err := a.Lookup(tt.name); err != nil || l.Offset() != r.Offset() {
				t.Errorf("Lookup(%q) of an allocated region: %v", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrBadName) || !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("AllocKind(%q): %v, want ErrBadName", tt.name, err)
		}
		if _, err := a.Alloc(tt.name, 64, 0); !errors.Is(err, ErrBadName) {
			t.Errorf("Alloc(%q): %v, want ErrBadName", tt.name, err)
		}
		if _, err := a.Lookup(tt.name); !errors.Is(err, ErrBadName) {
			t.Errorf("Lookup(%q): %v, want ErrBadName", tt.name, err)
		}
	}
	// Nothing refused reached the directory.
	list, err := a.Regions()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if err := checkRegionName(r.Name()); err != nil {
			t.Errorf("Regions lists %q: %v", r.Name(), err)
		}
	}
}

// TestRegionNameFromEarlierBuild: an earlier build allowed '/', "." and
// ".." in region names. Its arenas still open, list and look such a region
// up, and take new regions; only a new region of such a name is refused.
func TestRegionNameFromEarlierBuild(t *testing.T) {
	for _, name := range []string{"a/b", ".", ".."} {
		img := validImage(t)
		e := entry(img, 0) // region "a"
		e.Name = [64]byte{}
		copy(e.Name[:], name)
		fixEntry(img, 0)
		p := tempArena(t)
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := Open(p)
		if err != nil {
			t.Fatalf("Open with a region named %q: %v", name, err)
		}
		list, err := a.Regions()
		if err != nil || len(list) != 3 || list[0].Name() != name {
			t.Errorf("Regions with a region named %q: %v, %v", name, list, err)
		}
		if r, err := a.Lookup(name); err != nil || r.Offset() != int64(e.Offset) {
			t.Errorf("Lookup(%q) of an existing region: %v", name, err)
		}
		if _, err := a.Alloc("new", 8, 8); err != nil {
			t.Errorf("Alloc(new) beside a region named %q: %v", name, err)
		}
		if _, err := a.Alloc("c/d", 8, 8); !errors.Is(err, ErrBadName) {
			t.Errorf("Alloc(c/d) beside a region named %q: %v, want ErrBadName", name, err)
		}
		a.Close()
	}
}
