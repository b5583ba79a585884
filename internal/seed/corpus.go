package seed

import (
	"os"
	"path/filepath"
	"testing"
)

// CorpusEnv is the environment variable that makes Corpus rewrite the
// committed seed corpora instead of checking them.
const CorpusEnv = "SHMRING_WRITE_CORPUS"

// Corpus keeps one file of a fuzz target's committed seed corpus,
// testdata/fuzz/<fuzzName>/<name> in the package under test, in the
// "go test fuzz v1" format; values is its body, one Go literal per line.
// With CorpusEnv=1 it writes the file; otherwise it checks that the file
// is there, so a seed that a table names but nobody committed fails the
// test.
func Corpus(t testing.TB, fuzzName, name, values string) {
	t.Helper()
	p := filepath.Join("testdata", "fuzz", fuzzName, name)
	if os.Getenv(CorpusEnv) != "1" {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("seed corpus: %v (%s=1 go test -run %s rewrites it)", err, CorpusEnv, t.Name())
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("go test fuzz v1\n"+values), 0o644); err != nil {
		t.Fatal(err)
	}
}
