package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/shmring/shmring/arena"
)

// gcResult is what gc did with one arena. The JSON names are part of the
// command's output contract: add fields, never rename them.
type gcResult struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// State and Detail are ls's, when gc chose the arena.
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// Action is "removed", "would_remove" (--dry-run), "skipped" (its
	// state changed, or a peer attached, before it could be removed; Error
	// says how) or "failed" (Error says why).
	Action string `json:"action"`
	Error  string `json:"error,omitempty"`
}

// gc actions.
const (
	gcRemoved     = "removed"
	gcWouldRemove = "would_remove"
	gcSkipped     = "skipped"
	gcFailed      = "failed"
)

func runGc(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("gc", "[DIR] [--dry-run] [--json]",
		"Gc removes the stale arenas (no live peer, creator gone) and the incomplete ones\n"+
			"(creator died while creating them) in DIR (default "+arena.ShmDir+"), and nothing else:\n"+
			"not live, initializing or corrupt arenas, and no file that is not an arena.\n"+
			"Each arena's state is checked again just before it is removed, and a peer that\n"+
			"attaches meanwhile still stops the removal. One line per arena removed; exit\n"+
			"status 1 if one could not be removed or DIR cannot be read.", stderr)
	dry := flags.Bool("dry-run", false, "list what would be removed, and remove nothing")
	asJSON := flags.Bool("json", false, "print a JSON array of objects, one per arena chosen")
	pos, err := parseArgs(flags, args)
	if err != nil {
		return err
	}
	dir, err := dirArg(flags, pos)
	if err != nil {
		return err
	}
	entries, err := scanDir(dir, false)
	if err != nil {
		return err
	}
	results := []gcResult{}
	failed := false
	for _, e := range entries {
		if !removable(e.State) {
			continue
		}
		r := gcResult{Name: e.Name, Path: e.Path, State: e.State, Detail: e.Detail, Action: gcWouldRemove}
		if !*dry {
			r.Action, r.Error = collect(e)
		}
		failed = failed || r.Action == gcFailed
		results = append(results, r)
		if *asJSON {
			continue
		}
		switch r.Action {
		case gcRemoved, gcWouldRemove:
			verb := "removed"
			if r.Action == gcWouldRemove {
				verb = "would remove"
			}
			fmt.Fprintf(stdout, "%s %s (%s: %s)\n", verb, safeText(r.Name), r.State, safeText(r.Detail))
		case gcSkipped:
			fmt.Fprintf(stderr, "shmring gc: skipped %s: %s\n", safeText(r.Name), safeText(r.Error))
		default:
			fmt.Fprintf(stderr, "shmring gc: %s: %s\n", safeText(r.Name), safeText(r.Error))
		}
	}
	if *asJSON {
		if err := writeJSON(stdout, results); err != nil {
			return err
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// collect removes the arena ls classified as e if it still is the same
// file in a removable state, and returns the action taken.
func collect(e arenaEntry) (action, detail string) {
	now, err := classify(e.Path, time.Now())
	switch {
	case err != nil:
		return gcSkipped, "removed meanwhile"
	case now.dev != e.dev || now.ino != e.ino:
		return gcSkipped, "replaced meanwhile by another file"
	case !removable(now.State):
		return gcSkipped, "now " + now.State
	}
	// The last look before unlink(2), which has no by-descriptor form: a
	// file put in its place since is left alone (a window remains, as in
	// arena.Create's cleanup). Without WithForce, Remove still refuses an
	// arena a peer attached to after the classification.
	var st syscall.Stat_t
	if err := syscall.Lstat(e.Path, &st); err != nil || uint64(st.Dev) != e.dev || uint64(st.Ino) != e.ino {
		return gcSkipped, "replaced meanwhile by another file"
	}
	switch err := arena.Remove(e.Path); {
	case errors.Is(err, arena.ErrInUse):
		return gcSkipped, "a peer attached meanwhile"
	case errors.Is(err, arena.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return gcSkipped, "removed meanwhile"
	case err != nil:
		return gcFailed, reason(err, e.Path)
	}
	return gcRemoved, ""
}
