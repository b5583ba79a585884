package seed

import "testing"

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want uint64
		ok   bool
	}{
		{"12345", 12345, true},
		{"0x10", 16, true},
		{"18446744073709551615", 1<<64 - 1, true},
		{"-1", 0, false},
		{"seed", 0, false},
	} {
		got, err := parse(tt.v)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parse(%q) = %d, %v; want %d, ok %v", tt.v, got, err, tt.want, tt.ok)
		}
	}
	if a, _ := parse(""); a == 0 {
		if b, _ := parse(""); b == 0 {
			t.Error("parse(\"\") gave 0 twice; want a random seed")
		}
	}
}

func TestOverride(t *testing.T) {
	t.Setenv(Env, "42")
	if got := Test(t); got != 42 {
		t.Fatalf("Test = %d with %s=42", got, Env)
	}
}
