package arena

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/xproc"
)

// childWrite opens the arena args[0], writes args[2] into region args[1]
// and allocates a region of its own named "child" holding its pid.
func childWrite(args []string) error {
	a, err := Open(args[0])
	if err != nil {
		return err
	}
	defer a.Close()
	r, err := a.Lookup(args[1])
	if err != nil {
		return err
	}
	copy(r.Bytes(), args[2])
	c, err := a.Alloc("child", 64, 64)
	if err != nil {
		return err
	}
	copy(c.Bytes(), strconv.Itoa(os.Getpid()))
	return nil
}

func TestCrossProcess(t *testing.T) {
	p := tempArena(t)
	a, err := Create(p, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Alloc("shared", 4096, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := "written by another process"
	cmd := xproc.Command(t, "child-write", p, "shared", msg)
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if got := string(r.Bytes()[:len(msg)]); got != msg {
		t.Fatalf("parent read %q", got)
	}
	c, err := a.Lookup("child")
	if err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	if got := string(c.Bytes()[:len(pid)]); got != pid || c.CreatorPID() != cmd.Process.Pid {
		t.Fatalf("child region holds %q (creator %d), want pid %s", got, c.CreatorPID(), pid)
	}
}

// childCreateOrOpen races to create args[0] at the wall-clock time
// args[1] (unix ns); prints "created" or "opened", then allocates a region
// named after args[2].
func childCreateOrOpen(args []string) error {
	start, _ := strconv.ParseInt(args[1], 10, 64)
	time.Sleep(time.Until(time.Unix(0, start)))
	a, err := Create(args[0], 1<<20)
	verdict := "created"
	if errors.Is(err, ErrExists) {
		verdict = "opened"
		a, err = Open(args[0], WithReadyTimeout(10*time.Second))
	}
	if err != nil {
		return err
	}
	defer a.Close()
	if a.Size() != 1<<20 || a.DirCapacity() != DefaultDirCapacity {
		return fmt.Errorf("half-built header: size %d, dir %d", a.Size(), a.DirCapacity())
	}
	if _, err := a.Alloc("p"+args[2], 256, 64); err != nil {
		return err
	}
	fmt.Println(verdict)
	return nil
}

func TestConcurrentCreateOpenProcesses(t *testing.T) {
	const n = 6
	for round := 0; round < 3; round++ {
		p := filepath.Join(t.TempDir(), "race")
		start := strconv.FormatInt(time.Now().Add(300*time.Millisecond).UnixNano(), 10)
		var outs [n]bytes.Buffer
		var cmds [n]*osCmd
		for i := range cmds {
			c := xproc.Command(t, "create-or-open", p, start, strconv.Itoa(i))
			c.Stdout = &outs[i]
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			cmds[i] = &osCmd{c.Wait}
		}
		created := 0
		for i, c := range cmds {
			if err := c.wait(); err != nil {
				t.Fatalf("round %d child %d: %v", round, i, err)
			}
			switch strings.TrimSpace(outs[i].String()) {
			case "created":
				created++
			case "opened":
			default:
				t.Fatalf("child %d said %q", i, outs[i].String())
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d creators, want exactly 1", round, created)
		}
		a, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		list, err := a.Regions()
		a.Close()
		if err != nil || len(list) != n {
			t.Fatalf("round %d: %d regions (%v), want %d", round, len(list), err, n)
		}
	}
}

type osCmd struct{ wait func() error }
