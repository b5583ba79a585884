package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTaskExited pins the reading of a thread's /proc stat file that
// waitDead relies on: gone, a zombie, dead, or PF_EXITING in its flags is
// exited; anything else, or a file it cannot make sense of, is not.
func TestTaskExited(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, stat string
		exited     bool
	}{
		{"running", "41 (crash) R 1 41 41 0 -1 4194304 12 0 0 0", false},
		{"sleeping, a command name with spaces and parentheses", "41 (a (b) c) S 1 41 41 0 -1 4194560 12 0 0 0", false},
		{"exiting", "41 (crash) D 1 41 41 0 -1 4194308 12 0 0 0", true},
		{"zombie", "41 (crash) Z 1 41 41 0 -1 4227084 12 0 0 0", true},
		{"dead", "41 (crash) X 1 41 41 0 -1 0 12 0 0 0", true},
		{"truncated", "41 (crash) R 1 41", false},
		{"garbage", "no parenthesis here", false},
		{"gone", "", true},
	} {
		path := filepath.Join(dir, tt.name)
		if tt.stat != "" {
			if err := os.WriteFile(path, []byte(tt.stat+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if got := taskExited(path); got != tt.exited {
			t.Errorf("%s: taskExited = %v, want %v", tt.name, got, tt.exited)
		}
	}
	if procfs && procExited(os.Getpid()) {
		t.Error("this process reads as exited")
	}
}
