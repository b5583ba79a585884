package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/shmring/shmring/fuzz"
	"github.com/shmring/shmring/internal/xproc"
)

// TestMain lets the test binary stand in for the command: run starts
// children by re-executing os.Executable, which here is this binary.
func TestMain(m *testing.M) { xproc.Main(m, roles) }

var verdictRE = regexp.MustCompile(`(?m)^soak: (PASS|FAIL) (\d+) messages \((\d+) producers, (\d+) consumers, ([a-z+]+)\) in [0-9.]+s: (\d+) lost, (\d+) duplicated, (\d+) out of order, (\d+) corrupt$`)

func TestSoak(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-duration", "3s", "-dir", t.TempDir()}, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	m := verdictRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no verdict line")
	}
	if m[1] != "PASS" || m[3] != "2" || m[4] != "2" || m[5] != "spsc+mpmc+records" {
		t.Errorf("verdict %q", m[0])
	}
	if n, _ := strconv.Atoi(m[2]); n < 1000 {
		t.Errorf("only %d messages in 3s", n)
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), m[0]) {
		t.Errorf("the verdict is not the last line")
	}
}

// TestSoakCatchesFaults: each injected fault fails the soak with the
// count it should raise.
func TestSoakCatchesFaults(t *testing.T) {
	for _, tt := range []struct {
		kind   string
		inject string
		group  int // the verdict's count that must be non-zero
	}{
		{"mpmc", "drop", 6},    // lost
		{"mpmc", "dup", 8},     // out of order (both copies reached one consumer) ...
		{"mpmc", "corrupt", 9}, // corrupt
		{"records", "drop", 6},
		{"records", "dup", 8},
		{"records", "corrupt", 9},
	} {
		t.Run(tt.kind+"/"+tt.inject, func(t *testing.T) {
			var out bytes.Buffer
			var err error
			// On a loaded machine the children may not get going within
			// a short run: a run that moved no message proves nothing,
			// and is repeated, longer.
			for _, d := range []string{"500ms", "2s", "5s"} {
				out.Reset()
				err = run(context.Background(), []string{"-duration", d, "-kind", tt.kind, "-producers", "1", "-consumers", "2",
					"-dir", t.TempDir(), "-inject", tt.inject}, &out)
				if m := verdictRE.FindStringSubmatch(out.String()); m == nil || m[2] != "0" {
					break
				}
			}
			t.Log("\n" + out.String())
			if !errors.Is(err, fuzz.ErrFailed) {
				t.Fatalf("run: %v, want the soak to fail", err)
			}
			m := verdictRE.FindStringSubmatch(out.String())
			if m == nil || m[1] != "FAIL" {
				t.Fatal("no FAIL verdict")
			}
			if tt.inject == "dup" {
				// ... or duplicated (they reached different consumers);
				// either way the ring counters disagree with the producer.
				if m[7] == "0" && m[8] == "0" {
					t.Errorf("duplicate not counted: %q", m[0])
				}
				if !strings.Contains(out.String(), "MsgsIn") {
					t.Errorf("counter mismatch not reported")
				}
				return
			}
			if m[tt.group] == "0" {
				t.Errorf("fault not counted: %q", m[0])
			}
		})
	}
}
