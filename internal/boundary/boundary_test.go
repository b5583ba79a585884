package boundary

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// root is the module root, two levels up from this package.
const root = "../.."

// rule says which top-level directories may use a thing.
type rule struct {
	what    string
	allowed []string // top-level directories of the module
	match   func(f *ast.File, imports map[string]string) []token.Pos
}

// selectorOf matches uses of pkg.name for any import path in paths.
func selectorOf(paths []string, names ...string) func(*ast.File, map[string]string) []token.Pos {
	return func(f *ast.File, imports map[string]string) []token.Pos {
		var hits []token.Pos
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			for _, p := range paths {
				if imports[id.Name] != p {
					continue
				}
				for _, name := range names {
					if sel.Sel.Name == name {
						hits = append(hits, sel.Pos())
					}
				}
			}
			return true
		})
		return hits
	}
}

func importOf(path string) func(*ast.File, map[string]string) []token.Pos {
	return func(f *ast.File, _ map[string]string) []token.Pos {
		var hits []token.Pos
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == path {
				hits = append(hits, imp.Pos())
			}
		}
		return hits
	}
}

var sysPkgs = []string{"golang.org/x/sys/unix", "syscall"}

var rules = []rule{
	{"SYS_FUTEX", []string{"futex"}, selectorOf(sysPkgs, "SYS_FUTEX")},
	{"memory mapping (Mmap, MmapPtr, Munmap, MunmapPtr, Mremap, Madvise)", []string{"arena"}, selectorOf(sysPkgs, "Mmap", "MmapPtr", "Munmap", "MunmapPtr", "Mremap", "Madvise")},
	{"github.com/edsrzf/mmap-go", []string{"arena"}, importOf("github.com/edsrzf/mmap-go")},
}

// TestBoundaries parses every Go file of the module (tests included: a
// test that maps memory by hand would dodge the arena's checks too) and
// reports each use of a restricted thing outside its home.
func TestBoundaries(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		imports := map[string]string{}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			name := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			imports[name] = p
		}
		rel, _ := filepath.Rel(root, path)
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		for _, r := range rules {
			if contains(r.allowed, top) {
				continue
			}
			for _, pos := range r.match(f, imports) {
				t.Errorf("%s: %s is reserved to %v", fset.Position(pos), r.what, r.allowed)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("walked only %d Go files from %s: wrong root?", files, root)
	}
}

// TestRingModuleGraph: what a program importing ring/ links, besides the
// standard library, is this module and the named low-level dependencies.
func TestRingModuleGraph(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./ring", "./arena", "./futex")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := []string{
		"github.com/shmring/shmring/",
		"golang.org/x/sys/",
		"github.com/edsrzf/mmap-go",
		"github.com/klauspost/cpuid/v2",
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		n++
		ok := false
		for _, a := range allowed {
			if p == strings.TrimSuffix(a, "/") || strings.HasPrefix(p, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("ring/arena/futex pull in %s", p)
		}
	}
	if n == 0 {
		t.Fatal("go list printed no package")
	}
}

// TestRootModuleGraph: the module an application requires to import ring/
// carries only the named low-level dependencies in its module graph (and
// porcupine, which ring/'s tests use). The heavy integrations (the bench
// harness's plotting, Prometheus, the NATS bridge) live in their own modules
// of the repository (bench/, metrics/, bridge/, cmd/shmring/: see go.work), so
// an application never inherits them.
func TestRootModuleGraph(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	cmd := exec.Command(goTool, "list", "-m", "all")
	cmd.Dir = root
	// GOWORK=off: the root module's own graph, what a dependent sees, not
	// the workspace's union of every module's.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m all: %v", err)
	}
	allowed := []string{
		"github.com/shmring/shmring",
		"golang.org/x/sys",
		"github.com/edsrzf/mmap-go",
		"github.com/klauspost/cpuid/v2",
		"github.com/anishathalye/porcupine",
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		mod := strings.Fields(l)[0]
		if strings.HasPrefix(mod, "github.com/nats-io/") || strings.HasPrefix(mod, "github.com/shmring/shmring/") {
			// Named apart from the allow-list, for its message: the bridge
			// module (and NATS) must never be a dependency of the core.
			t.Errorf("the root module's graph holds %s: NATS and the nested modules (bridge/, bench/, metrics/) stay out of it", l)
			continue
		}
		if !contains(allowed, mod) {
			t.Errorf("the root module's graph holds %s", l)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("go list -m all printed %q", out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
