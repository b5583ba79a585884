package arena_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/shmring/shmring/arena"
)

func ExampleCreate() {
	dir, _ := os.MkdirTemp("", "arena-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "orders") // a bare "orders" would mean /dev/shm/orders

	a, err := arena.Create(path, 1<<20)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	r, _ := a.Alloc("greeting", 64, 0)
	copy(r.Bytes(), "hello")

	// Another process would do exactly this.
	b, err := arena.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	g, _ := b.Lookup("greeting")
	fmt.Printf("%s: %q\n", g.Name(), g.Bytes()[:5])

	_, err = b.Lookup("missing")
	fmt.Println(err)
	// Output:
	// greeting: "hello"
	// arena: region not found: "missing"
}
