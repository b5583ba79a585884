package procfs

import (
	"errors"
	"os"
	"runtime"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name   string
		line   string
		err    error
		ticks  uint64
		zombie bool
		ok     bool
	}{
		{"running", "42 (sleep) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10 18446744073709551615", nil, 12345, false, true},
		{"zombie", "42 (x) Z 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0 0", nil, 777, true, true},
		{"dead", "42 (x) X 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0 0", nil, 5, true, true},
		{"name with parens and spaces", "42 (a) b) S (c) R 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0", nil, 99, false, true},
		{"short", "42 (x) S 1 2 3", nil, 0, false, false},
		{"no paren", "42 x S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99", nil, 0, false, false},
		{"bad number", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 zz 0 0 0", nil, 0, false, false},
		{"read error", "", errors.New("gone"), 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticks, zombie, ok := ParseStat([]byte(tc.line), tc.err)
			if ticks != tc.ticks || zombie != tc.zombie || ok != tc.ok {
				t.Fatalf("ParseStat = %d, %v, %v; want %d, %v, %v", ticks, zombie, ok, tc.ticks, tc.zombie, tc.ok)
			}
		})
	}
}

func TestStatSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	self, ok := Self()
	if !ok || self == 0 {
		t.Fatalf("Self = %d, %v", self, ok)
	}
	ticks, zombie, ok := Stat(os.Getpid())
	if !ok || zombie || ticks != self {
		t.Fatalf("Stat(self) = %d, %v, %v; Self %d", ticks, zombie, ok, self)
	}
	if _, _, ok := Stat(1 << 30); ok {
		t.Fatal("Stat of a pid that cannot exist answered")
	}
}
