package ring

import (
	"testing"

	"github.com/shmring/shmring/internal/xproc"
)

// roles holds the child-process bodies of cross-process tests; test files
// add theirs in init.
var roles = map[string]xproc.Role{}

func TestMain(m *testing.M) { xproc.Main(m, roles) }
