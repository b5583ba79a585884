package xproc

import (
	"fmt"
	"strconv"
	"strings"
)

// Args are a role's "key=value" arguments. The parent builds them, so a
// malformed one is a bug in the caller: ParseArgs and the getters panic on
// it (in the child, which then exits with the panic on stderr).
type Args map[string]string

// ParseArgs parses "key=value" arguments; a later key wins.
func ParseArgs(args []string) Args {
	m := Args{}
	for _, s := range args {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			panic("xproc: argument without '=': " + s)
		}
		m[k] = v
	}
	return m
}

// Uint64 is argument k as a decimal uint64.
func (a Args) Uint64(k string) uint64 {
	v, err := strconv.ParseUint(a[k], 10, 64)
	if err != nil {
		panic(fmt.Sprintf("xproc: argument %s: %v", k, err))
	}
	return v
}

// Int is argument k as a non-negative decimal int.
func (a Args) Int(k string) int { return int(a.Uint64(k)) }

// Field returns the value of the last "key=value" token named key in out,
// a child's output, or "" if there is none.
func Field(out, key string) string {
	val := ""
	for _, tok := range strings.Fields(out) {
		if k, v, ok := strings.Cut(tok, "="); ok && k == key {
			val = v
		}
	}
	return val
}
