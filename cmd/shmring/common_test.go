package main

import (
	"slices"
	"strconv"
	"testing"
)

func TestJoinValue(t *testing.T) {
	isN := func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n > 0 }
	for _, tc := range []struct{ in, want []string }{
		{[]string{"a", "r", "--slots", "16"}, []string{"a", "r", "--slots=16"}},
		{[]string{"a", "--slots", "16", "r"}, []string{"a", "--slots=16", "r"}},
		{[]string{"a", "-slots", "3"}, []string{"a", "-slots=3"}},
		{[]string{"a", "r", "--slots"}, []string{"a", "r", "--slots"}},
		{[]string{"a", "--slots", "ring"}, []string{"a", "--slots", "ring"}}, // not a value: a REGION
		{[]string{"a", "--slots", "0"}, []string{"a", "--slots", "0"}},
		{[]string{"--", "--slots", "16"}, []string{"--", "--slots", "16"}},
		{[]string{"a", "--slots=4"}, []string{"a", "--slots=4"}},
	} {
		if got := joinValue(tc.in, "slots", isN); !slices.Equal(got, tc.want) {
			t.Errorf("joinValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
