package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/shmring/shmring/arena"
)

func runRm(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("rm", "ARENA... [--force]",
		"Rm removes arenas, named as everywhere else (a bare name is in "+arena.ShmDir+", a name with\n"+
			"a slash a path). It refuses a file that is not a shmring arena, always. It refuses\n"+
			"an arena while a peer of another process is attached to one of its rings (and\n"+
			"lists those peers), or while its creator is still creating it: --force removes\n"+
			"it anyway, and the processes that have it mapped keep using the unlinked file.\n"+
			"Each ARENA is tried in turn; exit status 1 if any was not removed.", stderr)
	force := flags.Bool("force", false, "remove even while peers of other processes are attached")
	pos, err := parseArgs(flags, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError(flags, "no arena named")
	}
	failed := false
	for _, name := range pos {
		if err := removeArena(name, *force, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "shmring rm: %s: %v\n", safeText(name), err)
			failed = true
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// removeArena removes one arena, saying so on stdout, or returns why not
// (after listing the live peers that stopped it on stderr).
func removeArena(name string, force bool, stdout, stderr io.Writer) error {
	p, err := arena.Resolve(name)
	if err != nil {
		return errors.New(reason(err, name))
	}
	e, err := classify(p, time.Now())
	if err != nil {
		return errors.New("no such arena")
	}
	if !isArena(e.State) {
		return fmt.Errorf("not a shmring arena (%s): not removed", safeText(e.Detail))
	}
	self := os.Getpid()
	var others []livePeer
	for _, pr := range e.peers {
		if pr.pid != self {
			others = append(others, pr)
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(stderr, "shmring rm: %s: %d live peer(s) of other processes attached:\n", safeText(name), len(others))
		for _, pr := range others {
			fmt.Fprintf(stderr, "  pid %d  ring %s  roles %s\n", pr.pid, safeText(pr.ring), pr.roles)
		}
		if !force {
			return errors.New("not removed (--force removes it anyway)")
		}
	}
	if e.State == stateInitializing && !force {
		return fmt.Errorf("%s: not removed (--force removes it anyway)", safeText(e.Detail))
	}
	var opts []arena.Option
	if force {
		opts = append(opts, arena.WithForce())
	}
	switch err := arena.Remove(p, opts...); {
	case errors.Is(err, arena.ErrInUse):
		return errors.New("a live handle of another process holds a liveness lock in it: not removed (--force removes it anyway)")
	case errors.Is(err, arena.ErrNotFound):
		return errors.New("no such arena")
	case err != nil:
		return errors.New(reason(err, p))
	}
	if len(others) > 0 {
		fmt.Fprintf(stdout, "removed %s (forced: %d live peer(s) keep the unlinked file mapped)\n", safeText(name), len(others))
	} else {
		fmt.Fprintf(stdout, "removed %s\n", safeText(name))
	}
	return nil
}
