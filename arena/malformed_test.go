package arena

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
	"unsafe"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// validImage builds a real arena with three regions and returns its bytes.
func validImage(t *testing.T) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "img")
	a, err := Create(p, 64<<10, WithDirCapacity(8), WithPadUnit(128))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		name        string
		size, align int64
	}{{"a", 100, 64}, {"b", 4096, 4096}, {"c", 8, 8}} {
		if _, err := a.Alloc(r.name, r.size, r.align); err != nil {
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

func hdr(b []byte) *header { return (*header)(unsafe.Pointer(&b[0])) }

func entry(b []byte, i int) *dirEntry {
	return (*dirEntry)(unsafe.Pointer(&b[HeaderSize+i*DirEntrySize]))
}

func fixHeader(b []byte)       { h := hdr(b); h.Checksum = h.sum() }
func fixEntry(b []byte, i int) { e := entry(b, i); e.Checksum = e.sum() }

// bigEndianHeader rewrites the header of an image as a big-endian host
// would have written it: every integer field byte-swapped, the checksum
// computed over the swapped bytes and stored big-endian.
func bigEndianHeader(b []byte) []byte {
	for name, f := range fieldOffsets()["header"] {
		if name == "Magic" {
			continue
		}
		slices.Reverse(b[f[0] : f[0]+f[1]])
	}
	binary.BigEndian.PutUint32(b[headerSumLen:], crc32.Checksum(b[:headerSumLen], castagnoli))
	return b
}

// TestOpenMalformed writes one malformed arena per kind of damage and checks
// Open reports the right sentinel error, without panicking or hanging.
func TestOpenMalformed(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(b []byte) []byte
		want   []error // every one must match; nil means Open succeeds
	}{
		{"empty file", func(b []byte) []byte { return nil }, []error{ErrNotReady}},
		{"all zero (creator died before writing)", func(b []byte) []byte { return make([]byte, len(b)) }, []error{ErrNotReady}},
		{"short garbage", func(b []byte) []byte { return []byte("hello, world") }, []error{ErrNotArena}},
		{"short with magic", func(b []byte) []byte { return b[:100] }, []error{ErrTruncated, ErrCorrupt}},
		{"bad magic", func(b []byte) []byte { copy(b, "NOTARENA"); return b }, []error{ErrNotArena}},
		{"ELF file", func(b []byte) []byte { copy(b, "\x7fELF\x02\x01\x01\x00"); return b }, []error{ErrNotArena}},
		{"major version 2", func(b []byte) []byte { hdr(b).VersionMajor = 2; fixHeader(b); return b }, []error{ErrVersion}},
		{"major version 0", func(b []byte) []byte { hdr(b).VersionMajor = 0; fixHeader(b); return b }, []error{ErrVersion}},
		{"newer minor version is fine", func(b []byte) []byte { hdr(b).VersionMinor = 7; fixHeader(b); return b }, nil},
		{"other byte order", func(b []byte) []byte {
			h := hdr(b)
			h.ByteOrder = bits.ReverseBytes32(byteOrderMark)
			h.State = bits.ReverseBytes32(stateReady)
			fixHeader(b)
			return b
		}, []error{ErrByteOrder, ErrVersion}},
		{"other byte order, not yet ready", func(b []byte) []byte {
			h := hdr(b)
			h.ByteOrder = bits.ReverseBytes32(byteOrderMark)
			h.State = 0
			fixHeader(b)
			return b
		}, []error{ErrByteOrder, ErrVersion}},
		{"written by a big-endian host", bigEndianHeader, []error{ErrByteOrder, ErrVersion}},
		{"garbage byte order mark", func(b []byte) []byte { hdr(b).ByteOrder = 0xdeadbeef; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"header checksum", func(b []byte) []byte { hdr(b).CreatedUnixNano ^= 1; return b }, []error{ErrChecksum, ErrCorrupt}},
		{"reserved header byte flipped", func(b []byte) []byte { b[100] ^= 0x40; return b }, []error{ErrChecksum}},
		{"unknown required feature", func(b []byte) []byte { hdr(b).IncompatFeatures = 1 << 40; fixHeader(b); return b }, []error{ErrVersion}},
		{"unknown optional feature is fine", func(b []byte) []byte { hdr(b).CompatFeatures = 1 << 40; fixHeader(b); return b }, nil},
		{"unknown read-only feature: open, but no Alloc", func(b []byte) []byte { hdr(b).RoCompatFeatures = 1 << 3; fixHeader(b); return b }, nil},
		{"page size not a power of two", func(b []byte) []byte { hdr(b).PageSize = 5000; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"page size zero", func(b []byte) []byte { hdr(b).PageSize = 0; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"padding unit 48", func(b []byte) []byte { hdr(b).PadUnit = 48; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"header size field", func(b []byte) []byte { hdr(b).HeaderSize = 512; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"directory entry size field", func(b []byte) []byte { hdr(b).DirEntrySize = 64; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"directory offset", func(b []byte) []byte { hdr(b).DirOffset = 1 << 62; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"directory capacity zero", func(b []byte) []byte { hdr(b).DirCapacity = 0; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"directory capacity huge", func(b []byte) []byte { hdr(b).DirCapacity = 1 << 31; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"data offset inside directory", func(b []byte) []byte { hdr(b).DataOffset = 512; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"data offset past end", func(b []byte) []byte { hdr(b).DataOffset = 1 << 40; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"total size not page multiple", func(b []byte) []byte { hdr(b).TotalSize -= 8; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"total size zero", func(b []byte) []byte { hdr(b).TotalSize = 0; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"total size larger than file", func(b []byte) []byte { hdr(b).TotalSize += 4096; fixHeader(b); return b }, []error{ErrTruncated, ErrCorrupt}},
		{"total size absurd", func(b []byte) []byte { hdr(b).TotalSize = 1 << 63; fixHeader(b); return b }, []error{ErrCorrupt}},
		{"file truncated", func(b []byte) []byte { return b[:len(b)-4096] }, []error{ErrTruncated, ErrCorrupt}},
		{"file longer than header says", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }, []error{ErrCorrupt}},
		{"state not ready", func(b []byte) []byte { hdr(b).State = 0; return b }, []error{ErrNotReady}},
		{"state garbage", func(b []byte) []byte { hdr(b).State = 0x12345678; return b }, []error{ErrCorrupt}},
		{"directory count above capacity", func(b []byte) []byte { hdr(b).DirCount = 9; return b }, []error{ErrCorrupt}},
		{"allocation cursor past end", func(b []byte) []byte { hdr(b).AllocNext = 1 << 50; return b }, []error{ErrCorrupt}},
		{"allocation cursor inside directory", func(b []byte) []byte { hdr(b).AllocNext = 300; return b }, []error{ErrCorrupt}},
		{"entry out of bounds", func(b []byte) []byte { entry(b, 1).Offset = 1 << 40; fixEntry(b, 1); return b }, []error{ErrCorrupt}},
		{"entry size overflows", func(b []byte) []byte { entry(b, 2).Size = ^uint64(0) - 4; fixEntry(b, 2); return b }, []error{ErrCorrupt}},
		{"entry inside header", func(b []byte) []byte { entry(b, 0).Offset = 64; fixEntry(b, 0); return b }, []error{ErrCorrupt}},
		{"entries overlap", func(b []byte) []byte { e := entry(b, 2); e.Offset = entry(b, 1).Offset + 8; fixEntry(b, 2); return b }, []error{ErrCorrupt}},
		{"entry misaligned", func(b []byte) []byte { entry(b, 1).Offset += 8; fixEntry(b, 1); return b }, []error{ErrCorrupt}},
		{"entry alignment not a power of two", func(b []byte) []byte { entry(b, 0).Align = 96; fixEntry(b, 0); return b }, []error{ErrCorrupt}},
		{"entry alignment 4", func(b []byte) []byte { entry(b, 2).Align = 4; fixEntry(b, 2); return b }, []error{ErrCorrupt}},
		{"entry alignment 1", func(b []byte) []byte { entry(b, 2).Align = 1; fixEntry(b, 2); return b }, []error{ErrCorrupt}},
		{"entry alignment 0", func(b []byte) []byte { entry(b, 2).Align = 0; fixEntry(b, 2); return b }, []error{ErrCorrupt}},
		{"entry alignment above page size", func(b []byte) []byte { entry(b, 1).Align = 1 << 20; fixEntry(b, 1); return b }, []error{ErrCorrupt}},
		{"entry size zero", func(b []byte) []byte { entry(b, 0).Size = 0; fixEntry(b, 0); return b }, []error{ErrCorrupt}},
		{"entry checksum", func(b []byte) []byte { entry(b, 1).Size++; return b }, []error{ErrChecksum, ErrCorrupt}},
		{"duplicate names", func(b []byte) []byte { copy(entry(b, 2).Name[:], "a\x00"); fixEntry(b, 2); return b }, []error{ErrCorrupt}},
		{"entry counted but not published", func(b []byte) []byte { entry(b, 1).State = 0; return b }, []error{ErrCorrupt}},
		{"entry name not terminated", func(b []byte) []byte {
			e := entry(b, 0)
			for i := range e.Name {
				e.Name[i] = 'x'
			}
			fixEntry(b, 0)
			return b
		}, []error{ErrCorrupt}},
		{"entry name empty", func(b []byte) []byte { entry(b, 0).Name = [64]byte{}; fixEntry(b, 0); return b }, []error{ErrCorrupt}},
		{"entry name not printable", func(b []byte) []byte { entry(b, 0).Name[0] = 0x07; fixEntry(b, 0); return b }, []error{ErrCorrupt}},
		{"entry beyond allocation cursor", func(b []byte) []byte { hdr(b).AllocNext = entry(b, 1).Offset; return b }, []error{ErrCorrupt}},
	}
	if len(tests) < 15 {
		t.Fatalf("only %d cases", len(tests))
	}
	dir := t.TempDir()
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(validImage(t))
			p := filepath.Join(dir, "m"+string(rune('a'+i%26))+time.Now().Format("150405.000000000"))
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			a, err := Open(p, WithReadyTimeout(20*time.Millisecond))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Open took %v", took)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Open: %v, want success", err)
				}
				if _, err := a.Regions(); err != nil {
					t.Errorf("Regions: %v", err)
				}
				if _, err := a.Lookup("b"); err != nil {
					t.Errorf("Lookup: %v", err)
				}
				// Allocation needs every read-only-compatible feature known.
				_, err = a.Alloc("new", 8, 8)
				if ro := hdr(b).RoCompatFeatures &^ knownRoCompat; ro != 0 {
					if !errors.Is(err, ErrVersion) {
						t.Errorf("Alloc with unknown read-only features %#x: %v, want ErrVersion", ro, err)
					}
				} else if err != nil {
					t.Errorf("Alloc: %v", err)
				}
				a.Close()
				return
			}
			if err == nil {
				a.Close()
				t.Fatalf("Open succeeded, want %v", tt.want)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Open: %v\nwant errors.Is(err, %v)", err, w)
				}
			}
		})
	}
}
