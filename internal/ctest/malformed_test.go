package ctest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// TestMalformed: the C side refuses damaged arenas and rings with the
// error docs/layout.md and docs/ring.md name, and the Go side agrees.
func TestMalformed(t *testing.T) {
	malformed(t, ctool(t, false))
}

func malformed(t *testing.T, tool string) {
	path, a := newArena(t, ring.KindSPSC, streamCfg)
	r, err := ring.CreateSPSC(a, "r", streamCfg)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := a.Lookup("r")
	if err != nil {
		t.Fatal(err)
	}
	ringOff := reg.Offset()
	_ = r.Close()
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	dir := t.TempDir()
	cases := []struct {
		name   string
		mutate func(b []byte) []byte
		ring   string // also open this ring
		kind   string
		want   string
		goWant error // what arena.Open (or ring.Open) says
		goRing bool
		mode   os.FileMode
	}{
		{"good", nil, "r", "0", "OK", nil, true, 0},
		{"truncated-short", func(b []byte) []byte { return b[:100] }, "", "", "ETRUNCATED", arena.ErrTruncated, false, 0},
		{"truncated-half", func(b []byte) []byte { return b[:len(b)/2] }, "", "", "ETRUNCATED", arena.ErrTruncated, false, 0},
		{"bad-magic", func(b []byte) []byte { b[0] = 'X'; return b }, "", "", "ENOTARENA", arena.ErrNotArena, false, 0},
		{"bad-checksum", func(b []byte) []byte { b[100] ^= 1; return b }, "", "", "ECHECKSUM", arena.ErrChecksum, false, 0},
		{"bad-version", func(b []byte) []byte { le.PutUint16(b[8:], 2); return b }, "", "", "EVERSION", arena.ErrVersion, false, 0},
		{"byte-order", func(b []byte) []byte { le.PutUint32(b[12:], 0x04030201); return b }, "", "", "EBYTEORDER", arena.ErrByteOrder, false, 0},
		{"bad-state", func(b []byte) []byte { le.PutUint32(b[128:], 0x1234); return b }, "", "", "ECORRUPT", arena.ErrCorrupt, false, 0},
		{"not-ready", func(b []byte) []byte { le.PutUint32(b[128:], 0); return b }, "", "", "ENOTREADY", arena.ErrNotReady, false, 0},
		{"dir-checksum", func(b []byte) []byte { b[256+1] ^= 1; return b }, "", "", "ECHECKSUM", arena.ErrChecksum, false, 0},
		{"dir-count", func(b []byte) []byte { le.PutUint32(b[132:], 1000); return b }, "", "", "ECORRUPT", arena.ErrCorrupt, false, 0},
		{"shared-mode", nil, "", "", "EPERM", arena.ErrPermission, false, 0o666},
		{"ring-checksum", func(b []byte) []byte { b[ringOff+112] ^= 1; return b }, "r", "0", "ECHECKSUM", ring.ErrCorrupt, true, 0},
		{"ring-magic", func(b []byte) []byte { b[ringOff] = 'X'; return b }, "r", "0", "EKIND", ring.ErrKind, true, 0},
		{"ring-version", func(b []byte) []byte { le.PutUint16(b[ringOff+8:], 9); return b }, "r", "0", "EVERSION", ring.ErrVersion, true, 0},
		{"ring-kind", nil, "r", fmt.Sprint(uint32(ring.KindMPMC)), "EKIND", ring.ErrKind, false, 0},
		{"ring-not-ready", func(b []byte) []byte { le.PutUint32(b[ringOff+124:], 0); return b }, "r", "0", "ENOTREADY", ring.ErrNotReady, true, 0},
		{"ring-offsets", func(b []byte) []byte {
			le.PutUint64(b[ringOff+72:], le.Uint64(b[ringOff+72:])+8) // SlotsOffset, checksum recomputed
			le.PutUint32(b[ringOff+120:], crc32c(b[ringOff:ringOff+120]))
			return b
		}, "r", "0", "ECORRUPT", ring.ErrCorrupt, true, 0},
		{"no-region", nil, "nope", "0", "ENOTFOUND", arena.ErrNotFound, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			if tc.mutate != nil {
				b = tc.mutate(b)
			}
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.mode != 0 {
				if err := os.Chmod(p, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			args := []string{"open", p, "-", "0", "100"} // the arena only, ready timeout 100 ms
			if tc.ring != "" {
				args = []string{"open", p, tc.ring, tc.kind, "100"}
			}
			out := startC(t, tool, args...).wait(t)
			if got := strings.TrimSpace(out); got != "err="+tc.want {
				t.Errorf("C: %s, want err=%s", got, tc.want)
			}
			// The Go side, for comparison.
			ga, err := arena.Open(p, arena.WithReadyTimeout(100e6))
			if err == nil && tc.goRing {
				_, err = ring.Open(ga, tc.ring, ring.WithOpenTimeout(100e6))
			} else if err == nil && tc.ring != "" {
				_, err = ring.OpenMPMC(ga, tc.ring)
			}
			if ga != nil {
				_ = ga.Close()
			}
			if tc.goWant == nil && err != nil || tc.goWant != nil && !errors.Is(err, tc.goWant) {
				t.Errorf("Go: %v, want %v", err, tc.goWant)
			}
		})
	}
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }
