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

// TestMain lets the test binary stand in for the command: the campaign
// starts children by re-executing os.Executable, which here is this
// binary.
func TestMain(m *testing.M) { xproc.Main(m, roles) }

var verdictRE = regexp.MustCompile(`(?m)^crash: (PASS|FAIL) (\d+) kills, (\d+) messages \(([a-z+]+)\) in [0-9.]+s: (\d+) lost, (\d+) duplicated, (\d+) corrupt, (\d+) out of order, (\d+) leaked; stall .*$`)

// campaign runs the command with args and returns its output, its error
// and the verdict line's groups.
func campaignRun(t *testing.T, args ...string) (string, error, []string) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append(args, "-dir", t.TempDir()), &out)
	t.Log("\n" + out.String())
	m := verdictRE.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no verdict line (run: %v)", err)
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), m[0]) {
		t.Errorf("the verdict is not the last line")
	}
	return out.String(), err, m
}

func TestCrashSPSC(t *testing.T) {
	if testing.Short() {
		t.Skip("a campaign of a few seconds")
	}
	_, err, m := campaignRun(t, "-duration", "4s", "-kind", "spsc", "-kills-per-sec", "8")
	if err != nil || m[1] != "PASS" {
		t.Fatalf("run: %v, verdict %q", err, m[0])
	}
	if n, _ := strconv.Atoi(m[2]); n < 10 {
		t.Errorf("only %d kills in 4s", n)
	}
	if n, _ := strconv.Atoi(m[3]); n < 1000 {
		t.Errorf("only %d messages in 4s", n)
	}
}

// TestCrashMPMC: a short campaign on an MPMC ring, which passes only
// because dead handles' claims are repaired (a dead producer's claimed
// slot becomes a skip record, a dead consumer's claimed message is
// redelivered): without that, a kill inside a claim freezes the ring.
func TestCrashMPMC(t *testing.T) {
	if testing.Short() {
		t.Skip("a campaign of a few seconds")
	}
	_, err, m := campaignRun(t, "-duration", "4s", "-kind", "mpmc", "-kills-per-sec", "8")
	if err != nil || m[1] != "PASS" {
		t.Fatalf("run: %v, verdict %q", err, m[0])
	}
}

// TestCrashBroadcast: a short campaign on a broadcast ring alone, with
// its producer and subscribers killed at every target.
func TestCrashBroadcast(t *testing.T) {
	if testing.Short() {
		t.Skip("a campaign of a few seconds")
	}
	out, err, m := campaignRun(t, "-duration", "4s", "-kind", "broadcast", "-kills-per-sec", "8")
	if err != nil || m[1] != "PASS" || m[4] != "broadcast" {
		t.Fatalf("run: %v, verdict %q", err, m[0])
	}
	if n, _ := strconv.Atoi(m[2]); n < 10 {
		t.Errorf("only %d kills in 4s", n)
	}
	if n, _ := strconv.Atoi(m[3]); n < 1000 {
		t.Errorf("only %d messages in 4s", n)
	}
	if !regexp.MustCompile(`(?m)^crash: bcast: \d+ messages published .* \d+ tethered generations delivered [1-9]\d*, \d+ lossy delivered [1-9]`).MatchString(out) {
		t.Errorf("no broadcast ring line with deliveries to both kinds of subscriber")
	}
}

// TestCrashRecords: a short campaign on a record ring alone (192 KiB, not
// a power of two), its producers killed holding reservations and in
// large pushes, its consumer holding pipelined peeks.
func TestCrashRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("a campaign of a few seconds")
	}
	out, err, m := campaignRun(t, "-duration", "4s", "-kind", "records", "-kills-per-sec", "8", "-rec-capacity", "196608")
	if err != nil || m[1] != "PASS" || m[4] != "records" {
		t.Fatalf("run: %v, verdict %q", err, m[0])
	}
	if n, _ := strconv.Atoi(m[2]); n < 10 {
		t.Errorf("only %d kills in 4s", n)
	}
	if !regexp.MustCompile(`(?m)^crash: records: [1-9]\d* delivered .* Skipped \d+ \(\d+ reserved and never delivered\), MsgsIn \d+, MsgsOut \d+`).MatchString(out) {
		t.Errorf("no record ring line")
	}
}

// TestCrashCatchesFaults: each fault planted in a child fails the
// campaign with the count it should raise, on an SPSC ring (where the
// consumer's own order check sees a reordering) and on a broadcast ring
// (where the verifier sees it in the journal of one subscriber process).
func TestCrashCatchesFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("campaigns of a few seconds")
	}
	for _, kind := range []string{"spsc", "broadcast", "records"} {
		for _, tt := range []struct {
			inject string
			group  int // the verdict's count that must be non-zero
		}{
			{"drop", 5},    // lost
			{"dup", 6},     // duplicated
			{"corrupt", 7}, // corrupt
			{"torn", 7},    // corrupt
			{"reorder", 8}, // out of order
		} {
			t.Run(kind+"/"+tt.inject, func(t *testing.T) {
				_, err, m := campaignRun(t, "-duration", "1500ms", "-kind", kind, "-producers", "1", "-kills-per-sec", "3", "-inject", tt.inject)
				if !errors.Is(err, fuzz.ErrFailed) || m[1] != "FAIL" {
					t.Fatalf("run: %v, verdict %q: want FAIL", err, m[0])
				}
				if m[tt.group] == "0" {
					t.Errorf("fault not counted: %q", m[0])
				}
			})
		}
	}
}
