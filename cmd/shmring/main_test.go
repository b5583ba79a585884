package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/shmring/shmring/internal/cpu"
)

func TestInfoText(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runInfo(nil, &stdout, &stderr); err != nil {
		t.Fatalf("runInfo: %v (stderr: %s)", err, stderr.String())
	}
	out := stdout.String()
	t.Logf("shmring info:\n%s", out)
	if stderr.Len() != 0 {
		t.Errorf("unexpected stderr: %q", stderr.String())
	}

	c := cpu.Detect()
	wantRows := []struct{ key, value string }{
		{"version", runtime.Version()},
		{"GOOS/GOARCH", runtime.GOOS + "/" + runtime.GOARCH},
		{"vendor", c.Vendor},
		{"family/model", fmt.Sprintf("%d/%d", c.Family, c.Model)},
		{"runtime.NumCPU", fmt.Sprint(runtime.NumCPU())},
		{"cache line (L1D)", ""},
		{"hypervisor", ""},
		{"wait instructions", ""},
		{"pad unit (new arenas)", fmt.Sprintf("%d bytes: %s", c.PadUnit(), c.PadReason())},
		{"spin hint", c.SpinHint()},
		{"page size", fmt.Sprintf("%d bytes", os.Getpagesize())},
		{"/dev/shm", ""},
		{"THP shmem_enabled", ""},
	}
	lines := strings.Split(out, "\n")
	for _, want := range wantRows {
		found := false
		for _, line := range lines {
			if strings.HasPrefix(line, "  "+want.key+" ") && strings.Contains(line, want.value) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no row %q containing %q", want.key, want.value)
		}
	}
	for _, heading := range []string{"Go", "CPU", "What shmring chose", "Memory"} {
		if !strings.Contains(out, "\n"+heading+"\n") && !strings.HasPrefix(out, heading+"\n") {
			t.Errorf("missing section heading %q", heading)
		}
	}
	for i, line := range lines {
		if strings.TrimRight(line, " \t") != line {
			t.Errorf("line %d has trailing blanks: %q", i+1, line)
		}
	}
}

func TestInfoJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"info", "--json"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit status %d, want %d (stderr: %s)", code, exitOK, stderr.String())
	}

	var fields map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &fields); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, stdout.String())
	}
	c := cpu.Detect()
	if got, ok := fields["pad_unit"].(float64); !ok || int(got) != c.PadUnit() {
		t.Errorf("pad_unit = %#v, want %d", fields["pad_unit"], c.PadUnit())
	}
	if got := fields["arch"]; got != runtime.GOARCH {
		t.Errorf("arch = %#v, want %q", got, runtime.GOARCH)
	}
	for _, key := range []string{
		"go_version", "goos", "cpu_vendor", "cpu_brand", "logical_cpus", "num_cpu",
		"cache_line", "hypervisor", "wait_instructions", "pad_reason", "spin_hint",
		"page_size", "dev_shm_exists", "dev_shm_tmpfs", "thp_shmem",
	} {
		if _, ok := fields[key]; !ok {
			t.Errorf("field %q missing", key)
		}
	}
	if _, ok := fields["wait_instructions"].([]any); !ok {
		t.Errorf("wait_instructions = %#v, want an array (never null)", fields["wait_instructions"])
	}

	// Every field must survive a strict round trip through the report type.
	dec := json.NewDecoder(bytes.NewReader(stdout.Bytes()))
	dec.DisallowUnknownFields()
	var r infoReport
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("decode into infoReport: %v", err)
	}
	if r.SpinHint != c.SpinHint() {
		t.Errorf("spin_hint = %q, want %q", r.SpinHint, c.SpinHint())
	}
}

func TestRunExitStatus(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		want       int
		wantStdout string // substring; "" means stdout must be empty
		wantStderr string // substring; "" means stderr must be empty
	}{
		{"no arguments", nil, exitUsage, "", "Commands:"},
		{"unknown command", []string{"frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"help", []string{"help"}, exitOK, "info", ""},
		{"-h", []string{"-h"}, exitOK, "Commands:", ""},
		{"--help", []string{"--help"}, exitOK, "Commands:", ""},
		{"help for a command", []string{"help", "info"}, exitOK, "-json", ""},
		{"help for an unknown command", []string{"help", "frobnicate"}, exitUsage, "", `unknown command "frobnicate"`},
		{"help with two arguments", []string{"help", "info", "info"}, exitUsage, "", "usage: shmring help"},
		{"info", []string{"info"}, exitOK, "pad unit", ""},
		{"info -h", []string{"info", "-h"}, exitOK, "", "usage: shmring info"},
		{"info bad flag", []string{"info", "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{"info stray argument", []string{"info", "extra"}, exitUsage, "", `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := run(tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("run(%q) = %d, want %d\nstderr: %s", tt.args, got, tt.want, stderr.String())
			}
			check := func(stream string, got *bytes.Buffer, want string) {
				switch {
				case want == "" && got.Len() != 0:
					t.Errorf("%s = %q, want empty", stream, got.String())
				case !strings.Contains(got.String(), want):
					t.Errorf("%s = %q, want it to contain %q", stream, got.String(), want)
				}
			}
			check("stdout", &stdout, tt.wantStdout)
			check("stderr", &stderr, tt.wantStderr)
		})
	}
}

func TestCommandsTable(t *testing.T) {
	seen := map[string]bool{"help": true} // help is built into run
	for _, c := range commands {
		if c.name == "" || c.summary == "" || c.run == nil {
			t.Errorf("incomplete command entry: %+v", c)
		}
		if seen[c.name] {
			t.Errorf("command %q listed twice (or shadows help)", c.name)
		}
		seen[c.name] = true

		// Every command must answer -h with its own usage and status 0.
		var stdout bytes.Buffer
		if code := run([]string{"help", c.name}, &stdout, &stdout); code != exitOK {
			t.Errorf("shmring help %s: exit status %d", c.name, code)
		}
		if !strings.Contains(stdout.String(), "usage: shmring "+c.name) {
			t.Errorf("shmring help %s printed %q", c.name, stdout.String())
		}
	}
}

func TestTHPMode(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"always within_size advise [never] deny force", "never"},
		{"[always] within_size advise never deny force\n", "always"},
		{"always [advise] never", "advise"},
		{"never", "never"},
		{"[]", "[]"},
		{"", unavailable},
		{"  \n", unavailable},
	}
	for _, tt := range tests {
		if got := thpMode(tt.in); got != tt.want {
			t.Errorf("thpMode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStatShm(t *testing.T) {
	dir := t.TempDir()
	if exists, tmpfs, detail := statShm(dir + "/missing"); exists || tmpfs || detail != "missing" {
		t.Errorf("statShm(missing) = %v, %v, %q", exists, tmpfs, detail)
	}
	if exists, _, detail := statShm(dir); !exists || detail == "" {
		t.Errorf("statShm(%s) = exists %v, %q", dir, exists, detail)
	}
}
