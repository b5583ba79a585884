package fuzz

import (
	"flag"
	"io"
	"testing"
)

// TestRunFlagsKinds: which -kind values a command accepts, and the names
// a verdict gives them, with and without broadcast rings.
func TestRunFlagsKinds(t *testing.T) {
	for _, tt := range []struct {
		broadcast bool
		args      []string
		kinds     string // "" if refused
	}{
		{false, nil, "spsc+mpmc+records"},
		{false, []string{"-kind", "records"}, "records"},
		{false, []string{"-kind", "records+spsc"}, "spsc+records"},
		{false, []string{"-kind", "spsc"}, "spsc"},
		{false, []string{"-kind", "both"}, "spsc+mpmc"},
		{false, []string{"-kind", "mpmc+spsc"}, "spsc+mpmc"},
		{false, []string{"-kind", "broadcast"}, ""},
		{false, []string{"-kind", "all"}, "spsc+mpmc+records"},
		{true, nil, "spsc+mpmc+broadcast+records"},
		{true, []string{"-kind", "all"}, "spsc+mpmc+broadcast+records"},
		{true, []string{"-kind", "records+broadcast"}, "broadcast+records"},
		{true, []string{"-kind", "both"}, "spsc+mpmc"},
		{true, []string{"-kind", "broadcast"}, "broadcast"},
		{true, []string{"-kind", "broadcast+spsc"}, "spsc+broadcast"},
		{true, []string{"-kind", "spsc+spsc"}, ""},
		{true, []string{"-kind", "ring"}, ""},
		{true, []string{"-kind", ""}, ""},
	} {
		f := RunFlags{Slots: 64, SlotSize: 256, Broadcast: tt.broadcast}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs, "")
		err := f.Parse(fs, tt.args)
		switch {
		case tt.kinds == "" && err == nil:
			t.Errorf("broadcast %v, %q: accepted as %q", tt.broadcast, tt.args, f.Kinds())
		case tt.kinds != "" && err != nil:
			t.Errorf("broadcast %v, %q: %v", tt.broadcast, tt.args, err)
		case tt.kinds != "" && f.Kinds() != tt.kinds:
			t.Errorf("broadcast %v, %q: kinds %q, want %q", tt.broadcast, tt.args, f.Kinds(), tt.kinds)
		}
	}
}

// TestRunFlagsFaults: -inject takes the common faults and a command's
// own, and nothing else.
func TestRunFlagsFaults(t *testing.T) {
	for _, tt := range []struct {
		more   []string
		inject string
		ok     bool
	}{
		{nil, "drop", true}, {nil, "corrupt", true}, {nil, "torn", false},
		{[]string{"torn", "reorder"}, "torn", true}, {[]string{"torn"}, "tear", false},
	} {
		f := RunFlags{Slots: 64, SlotSize: 256, MoreFaults: tt.more}
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		f.Register(fs, "")
		if err := f.Parse(fs, []string{"-inject", tt.inject}); (err == nil) != tt.ok {
			t.Errorf("faults %q, -inject %s: %v", tt.more, tt.inject, err)
		}
	}
}
