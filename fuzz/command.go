package fuzz

// The frame the multi-process harness commands (fuzz/cmd/soak,
// fuzz/cmd/crash) share: a main that is also the children's entry point,
// the verdict's exit status, the flags they have in common, the list of
// problems, and the arena they size for their rings.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/internal/xproc"
	"github.com/shmring/shmring/ring"
)

// ErrFailed is what a harness command's run returns when the run
// completed and its verdict is FAIL (the verdict line says why).
var ErrFailed = errors.New("verdict FAIL")

// Main is a harness command's main function. In a child (a re-execution
// of the command by xproc.Start) it runs the role the environment names
// among roles and exits with its status; otherwise it calls run with a
// context that an interrupt (^C) cancels, the command line and standard
// output, and exits 0 if run returns nil or flag.ErrHelp, 1 if it returns
// ErrFailed (the verdict is printed) or any other error (printed on
// stderr after name).
func Main(name string, roles map[string]xproc.Role, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	if status, ok := xproc.Dispatch(roles); ok {
		os.Exit(status)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, ErrFailed):
		os.Exit(1)
	default:
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// RunFlags are the flags the harness commands share.
type RunFlags struct {
	// Kind names the rings: "spsc", "mpmc", "records", "both" (spsc and
	// mpmc), "all" (every kind the command runs, the default), or kinds
	// joined by "+" ("spsc+records"); with Broadcast also "broadcast".
	// Has and Kinds read it.
	Kind            string
	Slots, SlotSize int    // of every ring
	Seed            uint64 // of the random choices; Check draws one if 0
	Dir             string // of the arena file
	Verbose         bool
	Inject          string // a fault to plant: "", "drop", "dup", "corrupt" or one of MoreFaults

	// Set before Register by a command that does more than the common
	// ground. Broadcast: it also runs broadcast rings (and "all" includes
	// them). MoreFaults: the further faults -inject may plant.
	Broadcast  bool
	MoreFaults []string
}

// ringKinds are the ring kinds -kind may name, in the order Kinds lists
// them.
var ringKinds = []string{"spsc", "mpmc", "broadcast", "records"}

// known is the kinds this command runs.
func (f *RunFlags) known() []string {
	if f.Broadcast {
		return ringKinds
	}
	return slices.DeleteFunc(slices.Clone(ringKinds), func(k string) bool { return k == "broadcast" })
}

// Register defines the flags on fs, with f's Slots and SlotSize as their
// defaults and verbose as -v's help.
func (f *RunFlags) Register(fs *flag.FlagSet, verbose string) {
	kinds := strings.Join(f.known(), ", ") + ", both (spsc+mpmc), all, or kinds joined by +"
	fs.StringVar(&f.Kind, "kind", "all", "rings: "+kinds)
	fs.IntVar(&f.Slots, "slots", f.Slots, "slots per ring (a power of two)")
	fs.IntVar(&f.SlotSize, "slotsize", f.SlotSize, fmt.Sprintf("slot size in bytes (at least %d)", MinMessage))
	fs.Uint64Var(&f.Seed, "seed", 0, "seed of the random choices (0: random)")
	fs.StringVar(&f.Dir, "dir", arena.ShmDir, "directory of the arena file")
	fs.BoolVar(&f.Verbose, "v", false, verbose)
	fs.StringVar(&f.Inject, "inject", "", "plant a fault to show that the checks catch it: "+strings.Join(f.faults(), ", "))
}

func (f *RunFlags) faults() []string {
	return append([]string{"drop", "dup", "corrupt"}, f.MoreFaults...)
}

// kindList is the kinds Kind names, or an error.
func (f *RunFlags) kindList() ([]string, error) {
	known := f.known()
	switch f.Kind {
	case "both":
		return ringKinds[:2], nil
	case "all":
		return known, nil
	}
	var out []string
	for _, k := range strings.Split(f.Kind, "+") {
		if !slices.Contains(known, k) || slices.Contains(out, k) {
			return nil, fmt.Errorf("-kind %q: want %s, or kinds of them joined by +", f.Kind, strings.Join(append(slices.Clone(known), "both"), ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

// Has reports whether the rings Kind names include kind ("spsc", "mpmc",
// "broadcast" or "records"). Kind must have passed Parse.
func (f *RunFlags) Has(kind string) bool {
	ks, _ := f.kindList()
	return slices.Contains(ks, kind)
}

// Parse parses args with fs, on which Register defined the flags,
// refuses positional arguments, validates the shared flags and draws a
// seed if none was given.
func (f *RunFlags) Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	case f.SlotSize < MinMessage || f.SlotSize > 1<<20:
		return fmt.Errorf("-slotsize must be in [%d,%d]", MinMessage, 1<<20)
	case f.Slots < 2 || f.Slots > 1<<20 || f.Slots&(f.Slots-1) != 0:
		return fmt.Errorf("-slots must be a power of two in [2,%d]", 1<<20)
	case f.Inject != "" && !slices.Contains(f.faults(), f.Inject):
		return fmt.Errorf("-inject %q: want %s", f.Inject, strings.Join(f.faults(), ", "))
	}
	if _, err := f.kindList(); err != nil {
		return err
	}
	if f.Seed == 0 {
		f.Seed = rand.Uint64()
	}
	return nil
}

// Kinds names the rings for a verdict: "spsc", "mpmc", "spsc+mpmc",
// "spsc+mpmc+broadcast+records", ..., always in that order.
func (f *RunFlags) Kinds() string {
	var out []string
	for _, k := range ringKinds {
		if f.Has(k) {
			out = append(out, k)
		}
	}
	return strings.Join(out, "+")
}

// Verdict is the word a verdict line starts with.
func Verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// PrintProblems writes the first limit problems, one a line as
// "name: problem: ...", and then how many more there were.
func PrintProblems(w io.Writer, name string, problems []string, limit int) {
	for i, p := range problems {
		if i == limit {
			fmt.Fprintf(w, "%s: ... and %d more problems\n", name, len(problems)-i)
			return
		}
		fmt.Fprintf(w, "%s: problem: %s\n", name, p)
	}
}

// ArenaSize is an upper bound of the size of an arena that holds one ring
// of geometry cfg for each of kinds, and extra bytes of other regions.
func ArenaSize(cfg ring.Config, extra int64, kinds ...arena.Kind) (int64, error) {
	size := extra + 1<<20 // the arena's header and directory
	for _, k := range kinds {
		n, err := ring.Size(k, cfg, 4096) // the largest padding unit
		if err != nil {
			return 0, err
		}
		size += n + 4096 // and the region's alignment
	}
	return size, nil
}
