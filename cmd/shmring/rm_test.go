package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestRmRefusesLivePeer: rm refuses an arena while a process other than
// its own has a handle on one of its rings, naming that peer, and --force
// removes it anyway.
func TestRmRefusesLivePeer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "busy")
	// Created here, then held only by the child.
	a, r, err := openFixture(p, true)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	a.Close()
	c := xproc.StartT(t, roleHold, "path="+p)
	xproc.WaitFor(t, "the holder's ring", c, func() bool { return xproc.Field(c.Stdout(), "ready") == "1" })

	code, out, errOut := runCmd("rm", p)
	t.Logf("shmring rm:\n%s", errOut)
	if code != exitFailure || out != "" || !exists(p) {
		t.Fatalf("rm of a busy arena: exit %d, stdout %q, file there %v", code, out, exists(p))
	}
	peer := fmt.Sprintf("pid %d  ring jobs", c.Pid())
	if !strings.Contains(errOut, "1 live peer") || !strings.Contains(errOut, peer) || !strings.Contains(errOut, "--force") {
		t.Errorf("stderr does not list the peer (%q) and --force:\n%s", peer, errOut)
	}

	code, out, errOut = runCmd("rm", "--force", p)
	if code != exitOK || !strings.Contains(out, "removed "+p) || !strings.Contains(errOut, peer) || exists(p) {
		t.Errorf("rm --force: exit %d, stdout %q, stderr %q, file there %v", code, out, errOut, exists(p))
	}
}

// TestRmFiles: rm removes a stale arena; refuses, always, a file that is
// not an arena (--force included), a symlink, a directory and a missing
// name, going on with the other arguments and exiting 1; exits 2 with no
// argument.
func TestRmFiles(t *testing.T) {
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	c := xproc.StartT(t, roleCreate, "path="+path("stale"))
	if err := c.WaitUntil(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path("notes.txt"), []byte("keep me\n"))
	if err := os.Symlink(path("notes.txt"), path("link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path("subdir"), 0o700); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd("rm", path("notes.txt"), path("stale"), path("link"), path("subdir"), path("missing"))
	t.Logf("stdout:\n%sstderr:\n%s", out, errOut)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if exists(path("stale")) || out != "removed "+path("stale")+"\n" {
		t.Errorf("stale arena not removed (stdout %q)", out)
	}
	for name, why := range map[string]string{"notes.txt": "not a shmring arena", "link": "symbolic link", "subdir": "directory", "missing": "no such arena"} {
		if name != "missing" && !exists(path(name)) {
			t.Errorf("%s was removed", name)
		}
		if !strings.Contains(errOut, path(name)+": ") || !strings.Contains(errOut, why) {
			t.Errorf("stderr does not say %s: %s", name, why)
		}
	}
	if code, _, _ := runCmd("rm", "--force", path("notes.txt")); code != exitFailure || !exists(path("notes.txt")) {
		t.Errorf("rm --force of a foreign file: exit %d, file there %v", code, exists(path("notes.txt")))
	}
	if code, _, errOut := runCmd("rm"); code != exitUsage || !strings.Contains(errOut, "usage: shmring rm") {
		t.Errorf("rm with no argument: exit %d, stderr %q", code, errOut)
	}
}

// TestRmInitializing: an arena whose creator is still creating it is not
// removed without --force.
func TestRmInitializing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	a, r, err := openFixture(src, true)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	a.Close()
	p := filepath.Join(dir, "initializing")
	writeFile(t, p, withUint32(readFile(t, src), hdrStateOffset, 0))
	if code, _, errOut := runCmd("rm", p); code != exitFailure || !exists(p) || !strings.Contains(errOut, "still creating") {
		t.Errorf("rm: exit %d, stderr %q, file there %v", code, errOut, exists(p))
	}
	if code, _, _ := runCmd("rm", "--force", p); code != exitOK || exists(p) {
		t.Errorf("rm --force: exit %d, file there %v", code, exists(p))
	}
}
