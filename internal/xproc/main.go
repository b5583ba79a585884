package xproc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Role is the body of a child process. It fails the child by returning an
// error.
type Role func(args []string) error

// Main runs the role named by the environment if there is one and exits;
// otherwise it runs the tests and exits. Call it from TestMain.
func Main(m *testing.M, roles map[string]Role) {
	if status, ok := Dispatch(roles); ok {
		os.Exit(status)
	}
	os.Exit(m.Run())
}

// Dispatch runs the role named by the environment, if there is one, and
// reports that it did and the status to exit with: 0 if the role returned
// nil, 1 if it failed (the error is printed on stderr), 2 if the role is
// unknown or its arguments unreadable. A program that re-executes itself
// calls it first thing in main and exits with the status when ok.
func Dispatch(roles map[string]Role) (status int, ok bool) {
	name := os.Getenv(envRole)
	if name == "" {
		return 0, false
	}
	role, found := roles[name]
	if !found {
		fmt.Fprintf(os.Stderr, "xproc: unknown role %q\n", name)
		return 2, true
	}
	var args []string
	if s := os.Getenv(envArgs); s != "" {
		if err := json.Unmarshal([]byte(s), &args); err != nil {
			fmt.Fprintf(os.Stderr, "xproc: role %s: bad args: %v\n", name, err)
			return 2, true
		}
	}
	if err := role(args); err != nil {
		fmt.Fprintf(os.Stderr, "xproc: role %s: %v\n", name, err)
		return 1, true
	}
	return 0, true
}

// Command returns an unstarted command that re-executes the test binary as
// role with args, for a test that wants the exec.Cmd itself. Its stderr
// goes to the test's stderr unless the caller changes it. Unlike Start, it
// sets no deadline: the caller bounds the wait.
func Command(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, err := command(role, args)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	return cmd
}
