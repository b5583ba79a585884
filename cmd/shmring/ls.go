package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shmring/shmring/arena"
)

func runLs(args []string, stdout, stderr io.Writer) error {
	flags := newFlagSet("ls", "[DIR] [--all] [--json]",
		"Ls lists the shmring arenas in DIR (default "+arena.ShmDir+"), sorted by name: size, bytes\n"+
			"allocated to regions, regions, creator pid, live peers, and a state:\n\n"+
			"  live          a peer is attached to one of its rings, or its creator runs\n"+
			"  stale         no live peer and its creator is gone (gc removes it)\n"+
			"  incomplete    its creator died before marking it ready (gc removes it)\n"+
			"  initializing  not ready yet, its creator still at work\n"+
			"  corrupt       fails validation (run 'shmring check' on it)\n"+
			"  unreadable    could not be opened for another reason\n"+
			"  not an arena  a file shmring did not make, a symlink or a directory\n"+
			"                (listed only with --all, with the reason)\n\n"+
			"It opens every arena read-only and changes nothing. Exit status 0 whatever it\n"+
			"finds (check judges), 1 if DIR cannot be read.", stderr)
	all := flags.Bool("all", false, "also list files that are not arenas, with the reason")
	asJSON := flags.Bool("json", false, "print a JSON array of objects (sizes in bytes)")
	pos, err := parseArgs(flags, args)
	if err != nil {
		return err
	}
	dir, err := dirArg(flags, pos)
	if err != nil {
		return err
	}
	entries, err := scanDir(dir, *all)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, entries)
	}
	return printEntries(stdout, entries)
}

// scanDir classifies every file in dir, sorted by name; with all false it
// leaves out the files that are not arenas. Only a dir that cannot be read
// is an error: files that vanish meanwhile are left out.
func scanDir(dir string, all bool) ([]arenaEntry, error) {
	des, err := os.ReadDir(dir) // sorted by name
	if err != nil && len(des) == 0 {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("cannot read %s: %v", safeText(dir), pe.Err)
		}
		return nil, err
	}
	now := time.Now()
	entries := []arenaEntry{} // [] in JSON, not null
	for _, de := range des {
		e, err := classify(filepath.Join(dir, de.Name()), now)
		if err != nil {
			continue // vanished
		}
		if e.State == stateNotArena && !all {
			continue
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// printEntries writes the table; nothing at all for no entries.
func printEntries(w io.Writer, entries []arenaEntry) error {
	if len(entries) == 0 {
		return nil
	}
	details := false
	for _, e := range entries {
		details = details || e.Detail != ""
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprint(tw, "NAME\tSIZE\tUSED\tREGIONS\tCREATOR\tLIVE\tSTATE")
	if details {
		fmt.Fprint(tw, "\tDETAIL")
	}
	fmt.Fprintln(tw)
	for _, e := range entries {
		used, regions, creator, live := "-", "-", "-", "-"
		if e.State != stateNotArena {
			if e.opened {
				used, regions = humanBytes(e.Used), strconv.Itoa(e.Regions)
			}
			if e.CreatorPID > 0 {
				creator = strconv.Itoa(e.CreatorPID)
				if !e.CreatorAlive {
					creator += " (gone)"
				}
			}
		}
		if e.opened {
			live = strconv.Itoa(e.LivePeers)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", safeText(e.Name), humanBytes(e.Size), used, regions, creator, live, e.State)
		if details {
			fmt.Fprintf(tw, "\t%s", safeText(e.Detail))
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// An empty last cell is padded like the others: trim it.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// humanBytes formats n with binary units, as ls -h does: 512B, 4.0K, 64K,
// 1.5M.
func humanBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v < 10 && v != float64(int64(v)) {
		return strconv.FormatFloat(v, 'f', 1, 64) + string(units[i])
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + string(units[i])
}
