package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shmring/shmring/internal/cpu"
	"github.com/shmring/shmring/internal/spin"
)

// TestInfoWaitMethod checks that `shmring info` reports the process's
// real wait choice, in text and JSON.
func TestInfoWaitMethod(t *testing.T) {
	want := spin.Chosen()
	r := gatherInfo()
	if r.WaitMethod != want.Name || r.WaitReason != want.Reason || r.WaitEnv != want.Env {
		t.Errorf("report wait = %q / %q / %q, want spin.Chosen() %+v", r.WaitMethod, r.WaitReason, r.WaitEnv, want)
	}
	if r.WaitMethod == "" || r.WaitReason == "" || r.WaitBudgetClock == "" {
		t.Errorf("empty wait field: %+v", r)
	}
	if r.EventStream != cpu.Detect().EventStream {
		t.Errorf("event_stream = %v, cpu.Detect says %v", r.EventStream, cpu.Detect().EventStream)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"info", "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d (stderr: %s)", code, stderr.String())
	}
	var fields map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]any{
		"wait_method":       want.Name,
		"wait_reason":       want.Reason,
		"wait_env":          want.Env,
		"wait_budget_clock": spin.BudgetClock(),
		"event_stream":      cpu.Detect().EventStream,
	} {
		if got, ok := fields[key]; !ok || got != want {
			t.Errorf("JSON %s = %#v (present %v), want %#v", key, got, ok, want)
		}
	}

	stdout.Reset()
	if err := runInfo(nil, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !hasInfoRow(stdout.String(), "wait method", want.Name+": "+want.Reason) {
		t.Errorf("no row \"wait method  %s: %s\" in\n%s", want.Name, want.Reason, stdout.String())
	}
}

// TestInfoWaitText checks the optional rows: SHMRING_WAIT only when set,
// the event stream only on arm64.
func TestInfoWaitText(t *testing.T) {
	tests := []struct {
		name    string
		r       infoReport
		rows    [][2]string // key, value substring
		notKeys []string
	}{
		{"unset on amd64",
			infoReport{Arch: "amd64", WaitMethod: "PAUSE", WaitReason: "why", WaitBudgetClock: "clock"},
			[][2]string{{"wait method", "PAUSE: why"}, {"wait budgets", "clock"}},
			[]string{"SHMRING_WAIT", "timer event stream"}},
		{"forced on arm64",
			infoReport{Arch: "arm64", EventStream: true, WaitMethod: "YIELD (SHMRING_WAIT=umwait unsupported)",
				WaitReason: "no", WaitEnv: "umwait", WaitBudgetClock: "clock"},
			[][2]string{{"wait method", "YIELD (SHMRING_WAIT=umwait unsupported): no"},
				{"SHMRING_WAIT", "umwait"}, {"timer event stream", "yes"}},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeInfoText(&out, tt.r); err != nil {
				t.Fatal(err)
			}
			for _, row := range tt.rows {
				if !hasInfoRow(out.String(), row[0], row[1]) {
					t.Errorf("no row %q containing %q in\n%s", row[0], row[1], out.String())
				}
			}
			for _, key := range tt.notKeys {
				if strings.Contains(out.String(), "  "+key+" ") {
					t.Errorf("unexpected row %q in\n%s", key, out.String())
				}
			}
		})
	}
}

// hasInfoRow reports whether text has an indented "key  value..." row whose
// value contains value.
func hasInfoRow(text, key, value string) bool {
	for line := range strings.Lines(text) {
		if rest, ok := strings.CutPrefix(line, "  "+key+" "); ok && strings.Contains(rest, value) {
			return true
		}
	}
	return false
}
