package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/shmring/shmring/arena"
)

// What every operator command shares: how arguments mix with flags, how an
// arena is opened for reading, how JSON is written, and the exit status of
// a command that found problems.

// errReported is returned by a command that ran and has already said on
// stdout (or stderr) what went wrong: check finding problems, rm refusing a
// live arena. It exits 1 with nothing more printed.
var errReported = errors.New("shmring: failure already reported")

// parseArgs parses args into fs, allowing flags after positional arguments
// ("shmring stat ARENA --watch" as well as "shmring stat --watch ARENA"), and
// returns the positional ones. A "--" ends the flags. Errors are those of
// parseFlags.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first non-flag; a "--" it consumed leaves
		// everything after it positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// joinValue rewrites "--name VALUE" (or "-name VALUE") into
// "--name=VALUE" when VALUE passes isValue, for flags whose value is
// optional ("--slots", "--watch": boolean-style flags, which the flag
// package never gives the next argument). Arguments after "--" are left.
func joinValue(args []string, name string, isValue func(string) bool) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if (a == "--"+name || a == "-"+name) && i+1 < len(args) && isValue(args[i+1]) {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// dirArg is the optional DIR argument of ls and gc: /dev/shm without one.
func dirArg(fs *flag.FlagSet, pos []string) (string, error) {
	switch len(pos) {
	case 0:
		return arena.ShmDir, nil
	case 1:
		return pos[0], nil
	}
	return "", usageError(fs, "unexpected argument %q", pos[1])
}

// usageError prints msg and the command's usage on fs's output and returns
// errUsage.
func usageError(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

// readyTimeout is how long the read commands wait for an arena whose
// creator is still initialising it: short, since an operator is waiting.
const readyTimeout = 200 * time.Millisecond

// openReadOnly opens an arena for a read command: mapped PROT_READ
// (arena.ReadOnly), so that no command that only reads can change a byte of
// it, whatever it finds there.
func openReadOnly(name string) (*arena.Arena, error) {
	return arena.Open(name, arena.ReadOnly(), arena.WithReadyTimeout(readyTimeout))
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printable reports whether b is text worth printing as is: valid UTF-8
// with no control characters but tab and newline.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			return false
		}
	}
	return true
}
