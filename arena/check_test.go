package arena

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/seed"
)

// checkFile writes img to a file and runs Check on it without waiting.
func checkImage(t *testing.T, img []byte) []Problem {
	t.Helper()
	p := filepath.Join(t.TempDir(), "arena")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	probs, err := Check(p, WithReadyTimeout(0))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return probs
}

// want is one problem a test expects: at off, in field, matching err.
type want struct {
	off   int64
	field string
	err   error
}

// TestCheckFindsDamage plants damage into a valid image (validImage: three
// regions "a", "b", "c" in a directory of 8) one kind at a time and
// expects Check to name each fault at its offset and field, with the
// sentinel Open would have returned; cases with several faults expect all
// of them (Open stops at the first).
func TestCheckFindsDamage(t *testing.T) {
	valid := validImage(t)
	e := func(i int, field string) int64 { return HeaderSize + int64(i)*DirEntrySize + entryFieldOffset(field) }
	hf := headerFieldOffset
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	for _, tc := range []struct {
		name string
		img  []byte
		want []want
		only bool // exactly these problems, no others
	}{
		{"healthy", valid, nil, true},
		{"bad magic", mod(func(b []byte) { b[1] = 'X' }), []want{{0, "header.Magic", ErrNotArena}}, true},
		{"major version", mod(func(b []byte) { hdr(b).VersionMajor = 2; fixHeader(b) }), []want{{8, "header.VersionMajor", ErrVersion}}, true},
		{"other byte order", bigEndianHeader(append([]byte(nil), valid...)), []want{{12, "header.ByteOrder", ErrByteOrder}}, true},
		{"byte order mark", mod(func(b []byte) { hdr(b).ByteOrder = 7; fixHeader(b) }), []want{{12, "header.ByteOrder", ErrCorrupt}}, true},
		{"checksum flip", mod(func(b []byte) { b[hf("CreatorPID")] ^= 1 }), []want{{124, "header.Checksum", ErrChecksum}}, true},
		{"required feature", mod(func(b []byte) { hdr(b).IncompatFeatures = 1 << 3; fixHeader(b) }), []want{{16, "header.IncompatFeatures", ErrVersion}}, true},
		{"truncated file", valid[:len(valid)/2], []want{{32, "header.TotalSize", ErrTruncated}}, true},
		{"longer file", append(append([]byte(nil), valid...), make([]byte, 4096)...), []want{{32, "header.TotalSize", ErrCorrupt}}, true},
		{"page size 0", mod(func(b []byte) { hdr(b).PageSize = 0; fixHeader(b) }), []want{{40, "header.PageSize", ErrCorrupt}, {HeaderSize, "directory", ErrCorrupt}}, true},
		{"entry size", mod(func(b []byte) { hdr(b).DirEntrySize = 64; fixHeader(b) }), []want{{52, "header.DirEntrySize", ErrCorrupt}}, false},
		{"data offset", mod(func(b []byte) { hdr(b).DataOffset = 100; fixHeader(b) }), []want{{80, "header.DataOffset", ErrCorrupt}}, false},
		{"state not ready", mod(func(b []byte) { hdr(b).State = 0 }), []want{{128, "header.State", ErrNotReady}}, true},
		{"state garbage", mod(func(b []byte) { hdr(b).State = 0x1234 }), []want{{128, "header.State", ErrCorrupt}}, true},
		{"blank", make([]byte, 8192), []want{{128, "header.State", ErrNotReady}}, true},
		{"short header", valid[:100], []want{{100, "file", ErrTruncated}}, true},
		{"foreign short file", []byte("#!/bin/sh\n"), []want{{0, "header.Magic", ErrNotArena}}, true},
		{"dir count over capacity", mod(func(b []byte) { hdr(b).DirCount = 9 }), []want{{132, "header.DirCount", ErrCorrupt}, {e(3, "State"), "dir[3].State", ErrCorrupt}}, true},
		{"unpublished run", mod(func(b []byte) { hdr(b).DirCount = 8 }), []want{{e(3, "State"), "dir[3].State", ErrCorrupt}}, true},
		{"cursor outside", mod(func(b []byte) { hdr(b).AllocNext = 1 }), []want{{136, "header.AllocNext", ErrCorrupt}}, true},
		{"entry beyond cursor", mod(func(b []byte) { hdr(b).AllocNext = uint64(entry(b, 2).Offset) }), []want{{e(2, "Size"), "dir[2].Size", ErrCorrupt}}, true},
		{"entry out of data area", mod(func(b []byte) { entry(b, 1).Offset = 4096; fixEntry(b, 1) }), []want{{e(1, "Offset"), "dir[1].Offset", ErrCorrupt}}, true},
		{"overlapping entries", mod(func(b []byte) { entry(b, 2).Offset = entry(b, 1).Offset + 8; fixEntry(b, 2) }), []want{{e(2, "Offset"), "dir[2].Offset", ErrCorrupt}}, true},
		{"duplicate names", mod(func(b []byte) { entry(b, 2).Name = entry(b, 0).Name; fixEntry(b, 2) }), []want{{e(2, "Name"), "dir[2].Name", ErrCorrupt}}, true},
		{"entry checksum", mod(func(b []byte) { entry(b, 1).CreatorPID ^= 4 }), []want{{e(1, "Checksum"), "dir[1].Checksum", ErrChecksum}}, true},
		{"entry name", mod(func(b []byte) { entry(b, 0).Name[0] = 0x07; fixEntry(b, 0) }), []want{{e(0, "Name"), "dir[0].Name", ErrCorrupt}}, true},
		{"entry align", mod(func(b []byte) { entry(b, 0).Align = 3; fixEntry(b, 0) }), []want{{e(0, "Align"), "dir[0].Align", ErrCorrupt}}, true},
		{"entry size 0", mod(func(b []byte) { entry(b, 2).Size = 0; fixEntry(b, 2) }), []want{{e(2, "Size"), "dir[2].Size", ErrCorrupt}}, true},
		{"entry unaligned", mod(func(b []byte) { entry(b, 1).Offset += 8; fixEntry(b, 1) }), []want{{e(1, "Offset"), "dir[1].Offset", ErrCorrupt}}, false},
		{"header reserved (once)", mod(func(b []byte) { b[100] = 1; fixHeader(b) }), []want{{100, "header.reserved", ErrCorrupt}}, true},
		{"header reserved (mutable)", mod(func(b []byte) { b[200] = 1 }), []want{{200, "header.reserved", ErrCorrupt}}, true},
		{"entry flags", mod(func(b []byte) { entry(b, 0).Flags = 2; fixEntry(b, 0) }), []want{{e(0, "Flags"), "dir[0].Flags", ErrCorrupt}}, true},
		{"entry reserved", mod(func(b []byte) { b[e(1, "CreatedUnixNano")+8] = 1; fixEntry(b, 1) }), []want{{e(1, "CreatedUnixNano") + 8, "dir[1].reserved", ErrCorrupt}}, true},
		{"several at once", mod(func(b []byte) {
			entry(b, 2).Offset = entry(b, 1).Offset + 8
			fixEntry(b, 2)
			entry(b, 0).CreatorPID ^= 1
			b[hf("CreatorPID")] ^= 1
			b[240] = 9
		}), []want{
			{124, "header.Checksum", ErrChecksum},
			{240, "header.reserved", ErrCorrupt},
			{e(0, "Checksum"), "dir[0].Checksum", ErrChecksum},
			{e(2, "Offset"), "dir[2].Offset", ErrCorrupt},
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probs := checkImage(t, tc.img)
			for _, w := range tc.want {
				found := false
				for _, p := range probs {
					if p.Offset == w.off && p.Field == w.field && errors.Is(p.Err, w.err) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem at %d in %s matching %v; found:\n%s", w.off, w.field, w.err, problemList(probs))
				}
			}
			if tc.only && len(probs) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(probs), len(tc.want), problemList(probs))
			}
			for i := 1; i < len(probs); i++ {
				if probs[i].Offset < probs[i-1].Offset {
					t.Errorf("problems out of offset order:\n%s", problemList(probs))
				}
			}
		})
	}
}

func problemList(probs []Problem) string {
	var b strings.Builder
	for _, p := range probs {
		fmt.Fprintf(&b, "  %v\n", p)
	}
	return b.String()
}

// TestCheckFile: what Check says about files it cannot read (an error and
// no problems) and about the file checks Open makes (problems at 0).
func TestCheckFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Check(filepath.Join(dir, "missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing file: %v, want ErrNotFound", err)
	}
	p := filepath.Join(dir, "arena")
	if err := os.WriteFile(p, validImage(t), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if probs, err := Check(link); !errors.Is(err, ErrPermission) || probs != nil {
		t.Errorf("symlink: %v, %v; want ErrPermission", probs, err)
	}
	if probs, err := Check(dir); !errors.Is(err, ErrPermission) || probs != nil {
		t.Errorf("directory: %v, %v; want ErrPermission", probs, err)
	}
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	probs, err := Check(p, WithReadyTimeout(0))
	if err != nil || len(probs) != 1 || probs[0].Field != "file" || !errors.Is(probs[0].Err, ErrPermission) {
		t.Errorf("group-writable: %v, %v", probs, err)
	}
	if probs, err := Check(p, WithAllowShared()); err != nil || len(probs) != 0 {
		t.Errorf("group-writable with WithAllowShared: %v, %v", probs, err)
	}
}

// TestCheckWaitsBounded: a file that is not ready is a problem after the
// ready timeout, not a wait beyond it; a file that becomes ready within
// it is healthy.
func TestCheckWaitsBounded(t *testing.T) {
	valid := validImage(t)
	p := filepath.Join(t.TempDir(), "arena")
	notReady := append([]byte(nil), valid...)
	hdr(notReady).State = 0
	if err := os.WriteFile(p, notReady, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	probs, err := Check(p, WithReadyTimeout(50*time.Millisecond))
	if took := time.Since(start); took < 50*time.Millisecond || took > 2*time.Second {
		t.Errorf("Check took %v with a 50ms ready timeout", took)
	}
	if err != nil || len(probs) != 1 || !errors.Is(probs[0].Err, ErrNotReady) {
		t.Fatalf("not ready: %v, %v", probs, err)
	}
	// A creator that finishes while Check waits.
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if _, err := f.WriteAt(valid[128:132], 128); err != nil {
			t.Error(err)
		}
	}()
	probs, err = Check(p, WithReadyTimeout(2*time.Second))
	<-done
	if err != nil || len(probs) != 0 {
		t.Errorf("after the creator finished: %v, %v", probs, err)
	}
}

// checkSentinels are the errors every Problem wraps one of.
var checkSentinels = []error{ErrNotArena, ErrVersion, ErrCorrupt, ErrNotReady, ErrPermission}

// FuzzCheck checks arbitrary bytes as an arena file. Check must not fail
// (the file is readable), every Problem must lie inside the file's
// header and directory and wrap a sentinel, and Check must agree with
// Open: it finds a problem whenever Open refuses the file, and when Open
// accepts it, only what Open ignores (reserved bytes, entry flags).
//
// The seed corpus is in testdata/fuzz/FuzzCheck (FuzzOpen's seeds and a
// few of Check's own); TestFuzzCheckSeeds builds it
// (SHMRING_WRITE_CORPUS=1 rewrites the files).
//
//	go test -run '^$' -fuzz '^FuzzCheck$' -fuzztime 30s ./arena
func FuzzCheck(f *testing.F) {
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 1<<20 {
			t.Skip("larger than 1 MiB")
		}
		p := filepath.Join(t.TempDir(), "arena")
		if err := os.WriteFile(p, img, 0o600); err != nil {
			t.Fatal(err)
		}
		probs, err := Check(p, WithReadyTimeout(0))
		if err != nil {
			t.Fatalf("Check of a regular file: %v", err)
		}
		end := int64(max(len(img), HeaderSize+MaxDirCapacity*DirEntrySize))
		ignored := true
		for _, pr := range probs {
			if pr.Offset < 0 || pr.Offset > end {
				t.Errorf("problem at offset %d outside the file: %v", pr.Offset, pr)
			}
			ok := false
			for _, s := range checkSentinels {
				ok = ok || errors.Is(pr.Err, s)
			}
			if !ok || pr.Field == "" {
				t.Errorf("problem matches no sentinel or names no field: %v", pr)
			}
			if !strings.HasSuffix(pr.Field, ".reserved") && !strings.HasSuffix(pr.Field, ".Flags") {
				ignored = false
			}
		}
		if len(probs) > maxProblems+1 {
			t.Errorf("%d problems, more than the bound", len(probs))
		}
		a, err := Open(p, WithReadyTimeout(0))
		if err != nil {
			if len(probs) == 0 {
				t.Fatalf("Open refuses the file (%v), Check finds nothing", err)
			}
			return
		}
		a.Close()
		if !ignored {
			t.Fatalf("Open accepts the file, Check finds:\n%s", problemList(probs))
		}
	})
}

// checkSeeds is FuzzCheck's seed corpus: FuzzOpen's, and damage only
// Check sees.
func checkSeeds(t *testing.T) map[string][]byte {
	seeds := openSeeds(t)
	valid := seeds["valid-2-regions"]
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	seeds["reserved-header"] = mod(func(b []byte) { b[200] = 1 })
	seeds["entry-flags"] = mod(func(b []byte) { entry(b, 0).Flags = 1; fixEntry(b, 0) })
	seeds["page-size-0"] = mod(func(b []byte) { hdr(b).PageSize = 0; fixHeader(b) })
	seeds["unpublished-run"] = mod(func(b []byte) { hdr(b).DirCount = 4 })
	seeds["several"] = mod(func(b []byte) {
		b[70] ^= 1
		entry(b, 1).Offset = entry(b, 0).Offset
		hdr(b).AllocNext = 3
	})
	return seeds
}

// TestFuzzCheckSeeds checks the committed seed corpus is there (and with
// SHMRING_WRITE_CORPUS=1 rewrites it); go test runs FuzzCheck on it.
func TestFuzzCheckSeeds(t *testing.T) {
	for name, img := range checkSeeds(t) {
		seed.Corpus(t, "FuzzCheck", name, fmt.Sprintf("[]byte(%q)\n", img))
	}
}
