package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestGc: --dry-run names exactly the stale and incomplete arenas and
// removes nothing; gc --json then removes exactly those, leaving live,
// initializing and corrupt arenas and every foreign file (the symlink to
// a stale arena included); a second gc finds nothing.
func TestGc(t *testing.T) {
	f := makeFixtures(t)
	before := dirNames(t, f.dir)

	code, out, errOut := runCmd("gc", f.dir, "--dry-run")
	t.Logf("shmring gc --dry-run:\n%s", out)
	if code != exitOK || errOut != "" {
		t.Fatalf("gc --dry-run: exit %d, stderr %q", code, errOut)
	}
	var named []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 || fields[0] != "would" || fields[1] != "remove" {
			t.Fatalf("line %q", line)
		}
		named = append(named, fields[2])
	}
	if fmt.Sprint(named) != fmt.Sprint(f.removable) {
		t.Errorf("dry run names %v, want %v", named, f.removable)
	}
	if after := dirNames(t, f.dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dry run removed files: %v, was %v", after, before)
	}

	code, out, errOut = runCmd("gc", "--json", f.dir)
	if code != exitOK || errOut != "" {
		t.Fatalf("gc: exit %d, stderr %q", code, errOut)
	}
	var results []map[string]any
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	var removed []string
	for _, r := range results {
		if r["action"] != gcRemoved || r["state"] != f.want[r["name"].(string)] || r["path"] == "" {
			t.Errorf("result %v", r)
		}
		removed = append(removed, r["name"].(string))
	}
	if fmt.Sprint(removed) != fmt.Sprint(f.removable) {
		t.Errorf("gc removed %v, want %v", removed, f.removable)
	}
	var want []string
	for _, name := range before {
		if !slices.Contains(f.removable, name) {
			want = append(want, name)
		}
	}
	if after := dirNames(t, f.dir); fmt.Sprint(after) != fmt.Sprint(want) {
		t.Errorf("left %v, want %v", after, want)
	}

	if code, out, _ := runCmd("gc", f.dir); code != exitOK || out != "" {
		t.Errorf("second gc: exit %d, stdout %q", code, out)
	}
	if code, out, _ := runCmd("gc", "--json", f.dir); code != exitOK || strings.TrimSpace(out) != "[]" {
		t.Errorf("second gc --json: exit %d, stdout %q", code, out)
	}
}

// TestGcText: gc prints one line per arena it removed; a missing
// directory exits 1 and a stray argument 2.
func TestGcText(t *testing.T) {
	f := makeFixtures(t)
	code, out, _ := runCmd("gc", f.dir)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != exitOK || len(lines) != len(f.removable) {
		t.Fatalf("gc: exit %d, output:\n%s", code, out)
	}
	for i, name := range f.removable {
		if !strings.HasPrefix(lines[i], "removed "+name+" ("+f.want[name]+": ") {
			t.Errorf("line %q, want one for %s", lines[i], name)
		}
	}
	if code, _, errOut := runCmd("gc", f.dir+"/missing"); code != exitFailure || !strings.Contains(errOut, "cannot read") {
		t.Errorf("missing dir: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ := runCmd("gc", f.dir, f.dir); code != exitUsage {
		t.Errorf("two dirs: exit %d", code)
	}
}
