package fuzz_test

import (
	"flag"
	"testing"

	"github.com/shmring/shmring/internal/xproc"
)

var long = flag.Bool("shmring.long", false, "run 50,000 histories per linearizability test instead of 1,000")

// roles holds the child-process bodies of cross-process tests.
var roles = map[string]xproc.Role{}

func TestMain(m *testing.M) { xproc.Main(m, roles) }
