package xproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var roles = map[string]Role{
	"echo": func(args []string) error {
		fmt.Println(strings.Join(args, " "))
		return nil
	},
	"fail": func(args []string) error {
		fmt.Println("partial=1")
		return errors.New("the role failed on purpose")
	},
	"panic": func(args []string) error { panic("on purpose") },
	"spec": SpecRole(func(s testSpec) error {
		fmt.Printf("name=%s n=%d\n", s.Name, s.N)
		return nil
	}),
	"hang": func(args []string) error {
		fmt.Println("hanging")
		// Sleep, not select{}: with no other goroutine the runtime would
		// end a select{} as a deadlock (exit 2) outside the race build.
		for {
			time.Sleep(time.Hour)
		}
	},
	"env": func(args []string) error {
		fmt.Printf("value=%s gorace=%q\n", os.Getenv(args[0]), os.Getenv("GORACE"))
		return nil
	},
	// extra prints what it reads from inherited file descriptor 3.
	"extra": func(args []string) error {
		f := os.NewFile(3, "extra")
		if f == nil {
			return errors.New("no file descriptor 3")
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		fmt.Printf("read=%s\n", b)
		return nil
	},
}

func TestMain(m *testing.M) { Main(m, roles) }

func TestStartWait(t *testing.T) {
	c := StartT(t, "echo", "a=1", "b=two")
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if out := c.Stdout(); out != "a=1 b=two\n" {
		t.Fatalf("stdout %q", out)
	}
	if got := IntField(t, c.Stdout(), "a"); got != 1 {
		t.Fatalf("IntField a = %d", got)
	}
	if !c.Exited() || c.Err() != nil || c.Pid() <= 0 {
		t.Fatalf("Exited %v, Err %v, Pid %d", c.Exited(), c.Err(), c.Pid())
	}
}

func TestFailure(t *testing.T) {
	c := StartT(t, "fail")
	err := c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("Wait = %v, want exit status 1", err)
	}
	for _, want := range []string{"fail", "the role failed on purpose", "partial=1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestUnknownRole(t *testing.T) {
	err := StartT(t, "no-such-role").Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(err.Error(), "unknown role") {
		t.Fatalf("Wait = %v, want exit status 2 and unknown role", err)
	}
}

// TestNeverHangs: a child that hangs is killed at its deadline, when its
// context ends, or at a shorter wait's deadline, and each says so.
func TestNeverHangs(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		start      func() (*Child, error)
		wait       func(*Child) error
	}{
		{"deadline", "still running at its deadline",
			func() (*Child, error) {
				return Start(context.Background(), Options{Role: "hang", Deadline: time.Now().Add(200 * time.Millisecond)})
			}, (*Child).Wait},
		{"context", "context done: context deadline exceeded",
			func() (*Child, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				t.Cleanup(cancel)
				return Start(ctx, Options{Role: "hang"})
			}, (*Child).Wait},
		{"wait", "still running at the wait's deadline",
			func() (*Child, error) { return Start(context.Background(), Options{Role: "hang"}) },
			func(c *Child) error { return c.WaitUntil(time.Now().Add(200 * time.Millisecond)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.start()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Kill()
			start := time.Now()
			err = tt.wait(c)
			if el := time.Since(start); el > 20*time.Second {
				t.Errorf("returned after %v", el)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "hanging") {
				t.Fatalf("err = %v, want it to say %q and show the child's stdout", err, tt.want)
			}
		})
	}
}

func TestEnvAndRace(t *testing.T) {
	c, err := Start(context.Background(), Options{Role: "env", Args: []string{"XPROC_TEST_VAR"}, Env: []string{"XPROC_TEST_VAR=set"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	out := c.Stdout()
	if Field(out, "value") != "set" || !strings.Contains(out, "atexit_sleep_ms=0") {
		t.Fatalf("child saw %q", out)
	}
}

func TestExtraFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("inherited"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out strings.Builder
	c, err := Start(context.Background(), Options{Role: "extra", ExtraFiles: []*os.File{f}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := Field(out.String(), "read"); got != "inherited" {
		t.Fatalf("child read %q from fd 3", got)
	}
	if c.Stdout() != "" {
		t.Fatalf("Stdout %q with Options.Stdout set", c.Stdout())
	}
}

func TestWaitAllAndWaitFor(t *testing.T) {
	// The watched child hangs, so it cannot exit before the condition
	// holds (WaitFor fails the test if the watched child exits first).
	a, h := StartT(t, "echo", "x=1"), StartT(t, "hang")
	WaitFor(t, "a to exit", h, a.Exited)
	h.Kill()
	WaitAll(t, time.Now().Add(time.Minute), []*Child{a}, nil)
	if Output(t, a, time.Now().Add(time.Minute)) != "x=1\n" {
		t.Fatalf("Output %q", a.Stdout())
	}
}

func TestArgs(t *testing.T) {
	a := ParseArgs([]string{"n=12", "path=/a=b", "n=13"})
	if a.Int("n") != 13 || a["path"] != "/a=b" || a.Uint64("n") != 13 {
		t.Fatalf("ParseArgs = %v", a)
	}
	if Field("a=1 b=2\na=3", "a") != "3" || Field("a=1", "c") != "" {
		t.Fatal("Field")
	}
	for _, f := range []func(){
		func() { ParseArgs([]string{"novalue"}) },
		func() { a.Int("path") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a malformed argument")
				}
			}()
			f()
		}()
	}
}

type testSpec struct {
	Name string
	N    int
}

func TestSpecRole(t *testing.T) {
	args, err := SpecArgs(testSpec{"a b", 7})
	if err != nil {
		t.Fatal(err)
	}
	c := StartT(t, "spec", args...)
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if out := c.Stdout(); out != "name=a b n=7\n" {
		t.Fatalf("stdout %q", out)
	}
	for _, bad := range [][]string{nil, {"{"}, {"{}", "{}"}} {
		if err := StartT(t, "spec", bad...).Wait(); err == nil || !strings.Contains(err.Error(), "spec") {
			t.Errorf("args %q: Wait = %v, want a spec error", bad, err)
		}
	}
}

// TestChildExitsAtItsOwnDeadline: a child whose parent never kills it (the
// parent died, say) exits by itself at the deadline it was given, with
// status 3.
func TestChildExitsAtItsOwnDeadline(t *testing.T) {
	own := deadlineEnv(time.Now().Add(300 * time.Millisecond))
	c, err := Start(context.Background(), Options{Role: "hang", Env: []string{own}, Deadline: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	err = c.WaitUntil(time.Now().Add(20 * time.Second))
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(err.Error(), "still running at its deadline; exiting") {
		t.Fatalf("Wait = %v, want exit status 3 from the child's own deadline", err)
	}
}

// TestPanickingRole: a role that panics fails with status 1 and its stack.
func TestPanickingRole(t *testing.T) {
	err := StartT(t, "panic").Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(err.Error(), "panicked: on purpose") {
		t.Fatalf("Wait = %v, want exit status 1 and the panic", err)
	}
}

// TestPath starts another program (the shell) with Options.Path: it gets
// Args as its command line, the parent's environment plus Env, and is
// named by Role in messages.
func TestPath(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	c, err := Start(context.Background(), Options{Role: "shell", Path: sh,
		Args: []string{"-c", `echo "value=$XPROC_TEST_VAR home=${HOME:+set}"; exit 3`}, Env: []string{"XPROC_TEST_VAR=set"}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(err.Error(), "shell") {
		t.Fatalf("Wait: %v", err)
	}
	if out := c.Stdout(); Field(out, "value") != "set" || (os.Getenv("HOME") != "" && Field(out, "home") != "set") {
		t.Fatalf("stdout %q", out)
	}
}
