package xproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The environment that carries a child's role and arguments.
const (
	envRole = "SHMRING_XPROC_ROLE"
	envArgs = "SHMRING_XPROC_ARGS"
	// envDeadline carries the child's deadline (Unix nanoseconds) to the
	// child itself, whose Dispatch exits at it: a parent that dies without
	// killing its children (a go test -timeout panic, a SIGKILL) leaves no
	// child running past its deadline.
	envDeadline = "SHMRING_XPROC_DEADLINE"
)

// DefaultLifetime is how long a child started with a zero Options.Deadline
// may run before it is killed. Nothing should come near it; it exists so
// that a child that hangs is killed rather than left behind.
const DefaultLifetime = 5 * time.Minute

// waitDelay bounds how long Wait waits for a killed child's output pipes
// to close (a grandchild could hold them open).
const waitDelay = 5 * time.Second

// Options say how to start a child.
type Options struct {
	// Role names the body the child runs (a key of the roles passed to
	// Main or Dispatch); Args are its arguments.
	Role string
	Args []string
	// Path, if set, is another program to start instead of this binary
	// (a peer written in another language, such as bench's C peer): it
	// gets Args as its command line and no role or deadline variable
	// (it must bound itself); Role then only names it in messages.
	Path string
	// Env is added to the parent's environment (a later entry for the
	// same variable wins, so Env may override anything, GORACE included).
	Env []string
	// ExtraFiles are inherited as file descriptors 3, 4, ... (see
	// exec.Cmd.ExtraFiles). The parent keeps its own copies open.
	ExtraFiles []*os.File
	// Stdout and Stderr receive the child's output. A nil one is captured
	// instead and read with Child.Stdout or Child.Stderr. To read the
	// output as a stream, pass the writing end of an os.Pipe and close it
	// in the parent after Start.
	Stdout, Stderr io.Writer
	// Deadline is when the child is killed if it is still running; zero
	// means DefaultLifetime after Start.
	Deadline time.Time
}

// Child is a started child process.
type Child struct {
	role     string
	args     []string
	cmd      *exec.Cmd
	deadline time.Time
	stdout   *lockedBuffer // nil unless captured
	stderr   *lockedBuffer
	exited   chan struct{} // closed when cmd.Wait has returned
	err      error         // the child's result, valid once exited is closed

	mu     sync.Mutex
	killed string // why we killed it, if we did
}

// Start starts the binary of this process again as a child running
// o.Role (or the program o.Path). The child is killed when ctx is done or o.Deadline passes,
// whichever is first; Start returns at once.
//
// In a test binary the child is given -test.run=^$, so that a package
// whose TestMain does not call Main runs no tests in the child instead of
// all of them again.
func Start(ctx context.Context, o Options) (*Child, error) {
	if o.Role == "" {
		return nil, errors.New("xproc: Start without a role")
	}
	var cmd *exec.Cmd
	if o.Path != "" {
		cmd = exec.Command(o.Path, o.Args...)
		cmd.Env = os.Environ() // what the deadline and Env are added to
	} else {
		var err error
		if cmd, err = command(o.Role, o.Args); err != nil {
			return nil, err
		}
	}
	c := &Child{role: o.Role, args: o.Args, cmd: cmd, deadline: o.Deadline, exited: make(chan struct{})}
	if c.deadline.IsZero() {
		c.deadline = time.Now().Add(DefaultLifetime)
	}
	// The child's own exit at the deadline is the backstop; the parent's
	// kill below is what normally ends a child past it, a little earlier.
	cmd.Env = append(cmd.Env, deadlineEnv(c.deadline.Add(time.Second)))
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.ExtraFiles = o.ExtraFiles
	cmd.WaitDelay = waitDelay
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	if o.Stdout == nil {
		c.stdout = new(lockedBuffer)
		cmd.Stdout = c.stdout
	}
	if o.Stderr == nil {
		c.stderr = new(lockedBuffer)
		cmd.Stderr = c.stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("xproc: start %s: %w", o.Role, err)
	}
	go func() {
		err := cmd.Wait()
		if err != nil {
			c.mu.Lock()
			if c.killed != "" {
				err = fmt.Errorf("%s; killed (%w)", c.killed, err)
			}
			c.mu.Unlock()
			err = fmt.Errorf("child %s: %w%s", c, err, c.output())
		}
		c.err = err
		close(c.exited)
	}()
	go func() {
		timer := time.NewTimer(time.Until(c.deadline))
		defer timer.Stop()
		select {
		case <-c.exited:
		case <-ctx.Done():
			c.kill(fmt.Sprintf("context done: %v", ctx.Err()))
		case <-timer.C:
			c.kill(fmt.Sprintf("still running at its deadline %s", c.deadline.Format(time.TimeOnly)))
		}
	}()
	return c, nil
}

// command builds the re-execution of this binary as role with args.
func command(role string, args []string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("xproc: %w", err)
	}
	enc, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("xproc: %w", err)
	}
	var flags []string
	if testing.Testing() {
		flags = append(flags, "-test.run=^$")
	}
	cmd := exec.Command(exe, flags...)
	// Under -race a process sleeps a second at exit (atexit_sleep_ms) so
	// that racing goroutines can still report; a child has finished its
	// work by then, and a dozen children would add a dozen seconds.
	race := "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Env = append(os.Environ(), race, envRole+"="+role, envArgs+"="+string(enc), deadlineEnv(time.Now().Add(DefaultLifetime)))
	return cmd, nil
}

func deadlineEnv(t time.Time) string { return envDeadline + "=" + strconv.FormatInt(t.UnixNano(), 10) }

// kill kills the child unless it has exited, recording why.
func (c *Child) kill(why string) {
	select {
	case <-c.exited:
		return
	default:
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The reason is recorded only if this kill reached the process, under
	// the lock the Wait goroutine reads it with: a child that ended by
	// itself meanwhile is not reported as killed.
	if c.killed == "" && c.cmd.Process.Kill() == nil {
		c.killed = why
	}
}

// Kill kills the child if it is still running and waits for it to exit.
func (c *Child) Kill() {
	c.kill("killed by the parent")
	<-c.exited
}

// Wait waits for the child to exit, which it does by its deadline at the
// latest, and returns nil if it exited with status 0. Otherwise the error
// names the child and says how it ended, with its captured output.
func (c *Child) Wait() error {
	<-c.exited
	return c.err
}

// WaitUntil is Wait that kills the child if it is still running at
// deadline.
func (c *Child) WaitUntil(deadline time.Time) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		c.kill(fmt.Sprintf("still running at the wait's deadline %s", deadline.Format(time.TimeOnly)))
		<-c.exited
	}
	return c.err
}

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.exited }

// Exited reports whether the child has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}

// Err is Wait's result if the child has exited, and nil if it has not.
func (c *Child) Err() error {
	if !c.Exited() {
		return nil
	}
	return c.err
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Stdout is what the child has written to its stdout so far, if it was
// captured (Options.Stdout nil).
func (c *Child) Stdout() string { return c.stdout.String() }

// Stderr is what the child has written to its stderr so far, if it was
// captured (Options.Stderr nil).
func (c *Child) Stderr() string { return c.stderr.String() }

// String names the child by its role and arguments.
func (c *Child) String() string { return fmt.Sprintf("%s %q", c.role, c.args) }

// output formats the captured output for an error message.
func (c *Child) output() string {
	var b strings.Builder
	if c.stderr != nil {
		fmt.Fprintf(&b, "\nstderr:\n%s", c.stderr)
	}
	if c.stdout != nil {
		fmt.Fprintf(&b, "\nstdout:\n%s", c.stdout)
	}
	return b.String()
}

// lockedBuffer is a bytes.Buffer that the child's output copier writes
// while the parent reads it. A nil one reads as empty.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
