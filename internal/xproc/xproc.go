package xproc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

const (
	envRole = "SHMRING_XPROC_ROLE"
	envArgs = "SHMRING_XPROC_ARGS"
)

// Role is the body of a child process.
type Role func(args []string) error

// Main runs the role named by the environment if there is one and exits;
// otherwise it runs the tests. Call it from TestMain.
func Main(m *testing.M, roles map[string]Role) {
	name := os.Getenv(envRole)
	if name == "" {
		os.Exit(m.Run())
	}
	role, ok := roles[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "xproc: unknown role %q\n", name)
		os.Exit(2)
	}
	var args []string
	if s := os.Getenv(envArgs); s != "" {
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			fmt.Fprintf(os.Stderr, "xproc: bad args: %v\n", err)
			os.Exit(2)
		}
	}
	if err := role(args); err != nil {
		fmt.Fprintf(os.Stderr, "xproc: role %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Command returns an unstarted command that re-executes the test binary as
// role with args. Its stderr goes to the test's stderr unless the caller
// changes it.
func Command(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("xproc: %v", err)
	}
	enc, err := json.Marshal(args)
	if err != nil {
		t.Fatalf("xproc: %v", err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envRole+"="+role, envArgs+"="+string(enc))
	cmd.Stderr = os.Stderr
	return cmd
}

// Run runs role to completion and fails the test if it fails.
func Run(t testing.TB, role string, args ...string) {
	t.Helper()
	cmd := Command(t, role, args...)
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("xproc: role %s %v: %v (stdout: %s)", role, args, err, out)
	}
}
