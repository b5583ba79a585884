package xproc

import (
	"encoding/json"
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

// SpecRole is a role whose one argument is a value of type T encoded as
// JSON (SpecArgs), for a child whose instructions are a struct rather than
// a few "key=value" pairs. A missing or unreadable spec fails the role.
func SpecRole[T any](body func(spec T) error) Role {
	return func(args []string) error {
		var spec T
		if len(args) != 1 {
			return fmt.Errorf("want one argument, the spec; got %q", args)
		}
		if err := json.Unmarshal([]byte(args[0]), &spec); err != nil {
			return fmt.Errorf("bad spec: %w", err)
		}
		return body(spec)
	}
}

// SpecArgs encodes spec as the arguments of a SpecRole.
func SpecArgs(spec any) ([]string, error) {
	enc, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("xproc: spec: %w", err)
	}
	return []string{string(enc)}, nil
}
