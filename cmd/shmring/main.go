// Command shmring inspects the machine and the shared-memory rings of the
// shmring engine.
//
// Usage:
//
//	shmring <command> [flags]
//	shmring help [command]
//
// Each command is one entry in the commands table with its own flag.FlagSet;
// `shmring help` lists them. A command writes its results to stdout and its
// diagnostics to stderr. Exit status is 0 on success, 1 when a command fails,
// and 2 for a bad command line (unknown command, bad flag, stray argument).
//
// The process is single-goroutine apart from what the commands start
// themselves; run and every command take their output streams as arguments,
// so tests drive them against buffers.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/shmring/shmring/bench"
	"github.com/shmring/shmring/internal/xproc"
)

// command is one subcommand of shmring.
type command struct {
	name    string // the word on the command line
	summary string // one line for `shmring help`
	// run executes the command with the arguments after its name. It
	// returns flag.ErrHelp after printing help, errUsage after reporting a
	// bad command line, and any other error for a failure it has not
	// printed.
	run func(args []string, stdout, stderr io.Writer) error
}

// commands is the dispatch table, in the order `shmring help` lists it.
var commands = []command{
	{name: "bench", summary: "measure cross-process latency and throughput against pipes, sockets, TCP and channels", run: runBench},
	{name: "info", summary: "report the CPU, kernel and shared-memory facts shmring's choices rest on", run: runInfo},
	{name: "ls", summary: "list the arenas in /dev/shm (or DIR) with their size, peers and state", run: runLs},
	{name: "stat", summary: "show each ring's depth, traffic and rates, events, losses, peers and subscribers (--watch: like top)", run: runStat},
	{name: "inspect", summary: "show an arena's header and directory, or a ring's header, positions, peers and slots, field by field with offsets", run: runInspect},
	{name: "check", summary: "check an arena and its rings for every fault Open and Recover look for, one line per problem with its offset", run: runCheck},
	{name: "tail", summary: "print the messages of a broadcast ring as a lossy subscriber, without holding anyone back", run: runTail},
	{name: "rm", summary: "remove arenas, refusing while peers of other processes are attached", run: runRm},
	{name: "gc", summary: "remove the stale and incomplete arenas in /dev/shm (or DIR)", run: runGc},
	{name: "bridge", summary: "forward a ring to a NATS subject (out) or a subject into a ring (in), core NATS or JetStream", run: runBridge},
	{name: "metrics", summary: "serve every ring's counters at /metrics for Prometheus", run: runMetrics},
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line was wrong
)

// errUsage is returned by a command whose command line was wrong. The command
// has already said what was wrong and printed its usage on stderr; run only
// turns it into exitUsage.
var errUsage = errors.New("shmring: usage error")

// roles are what this binary plays when it re-executes itself (see
// internal/xproc): `shmring bench` starts its peers in bench.PeerRole.
var roles = map[string]xproc.Role{bench.PeerRole: bench.Peer}

func main() {
	if status, ok := xproc.Dispatch(roles); ok { // re-executed as a child
		os.Exit(status)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args (without the program name) and returns the exit
// status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		return runHelp(rest, stdout, stderr)
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "shmring: unknown command %q\n\n", name)
		printUsage(stderr)
		return exitUsage
	}
	return exitStatus(cmd.name, cmd.run(rest, stdout, stderr), stderr)
}

// runHelp prints the command list, or with one argument that command's flags,
// on stdout.
func runHelp(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		printUsage(stdout)
		return exitOK
	case 1:
		cmd, ok := lookup(args[0])
		if !ok {
			fmt.Fprintf(stderr, "shmring help: unknown command %q\n\n", args[0])
			printUsage(stderr)
			return exitUsage
		}
		// Asked-for help is output, not a diagnostic: send it to stdout.
		return exitStatus(cmd.name, cmd.run([]string{"-h"}, stdout, stdout), stderr)
	default:
		fmt.Fprintln(stderr, "usage: shmring help [command]")
		return exitUsage
	}
}

// exitStatus maps a command's error to an exit status, printing errors the
// command has not already reported.
func exitStatus(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.Is(err, errReported):
		return exitFailure
	default:
		fmt.Fprintf(stderr, "shmring %s: %v\n", name, err)
		return exitFailure
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "shmring inspects the machine and shmring shared-memory rings.\n\n")
	fmt.Fprint(w, "Usage:\n\n\tshmring <command> [flags]\n\nCommands:\n\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "\t%s\t%s\n", c.name, c.summary)
	}
	fmt.Fprintf(tw, "\t%s\t%s\n", "help", "list commands, or show one command's flags")
	tw.Flush()
	fmt.Fprint(w, "\nRun 'shmring help <command>' for a command's flags.\n")
}

// newFlagSet returns a FlagSet for the named command that reports errors
// instead of exiting and prints its usage line, description and flags to
// stderr.
func newFlagSet(name, argsUsage, description string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("shmring "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: shmring %s %s\n\n%s\n\nFlags:\n", name, argsUsage, description)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. It returns flag.ErrHelp for -h, errUsage
// for any other error (which fs has already printed, with its usage), and nil
// otherwise.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return err
	default:
		return errUsage
	}
}
