package xproc

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"testing"
	"time"
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
// nil, 1 if it failed or panicked (the error or the stack is printed on
// stderr), 2 if the role is unknown or its arguments unreadable. A child
// still running at its deadline (SHMRING_XPROC_DEADLINE, which Start and
// Command set) exits with 3. A program that re-executes itself
// calls it first thing in main and exits with the status when ok.
func Dispatch(roles map[string]Role) (status int, ok bool) {
	name := os.Getenv(envRole)
	if name == "" {
		return 0, false
	}
	if v, err := strconv.ParseInt(os.Getenv(envDeadline), 10, 64); err == nil {
		// A child never outlives its deadline, even if its parent died
		// without killing it.
		time.AfterFunc(time.Until(time.Unix(0, v)), func() {
			fmt.Fprintf(os.Stderr, "xproc: role %s: still running at its deadline; exiting\n", name)
			os.Exit(3)
		})
	}
	defer func() {
		// A role that panics fails like one that returns an error (1), not
		// like an unknown role (2); the stack goes to stderr.
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "xproc: role %s panicked: %v\n%s", name, p, debug.Stack())
			status, ok = 1, true
		}
	}()
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
// does not kill the child: the caller bounds the wait; the child exits by
// itself DefaultLifetime after Command.
func Command(t testing.TB, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, err := command(role, args)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	return cmd
}
