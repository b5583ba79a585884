package ctest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/ring"
)

var (
	cppOnce sync.Once
	cppPath string
	cppErr  error
)

// cppPeer compiles the C library (gcc, C11) and c/tests/cpp_peer.cpp
// against the C++ wrapper c/include/shmring.hpp (g++, C++20), both with
// -Wall -Wextra -Werror, once per test binary.
func cppPeer(t *testing.T) string {
	t.Helper()
	gcc, err1 := exec.LookPath("gcc")
	gxx, err2 := exec.LookPath("g++")
	if err1 != nil || err2 != nil {
		t.Skip("gcc or g++ is not installed: the C++ wrapper is not tested")
	}
	cppOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shmring-cpp-")
		if err != nil {
			cppErr = err
			return
		}
		root, _ := filepath.Abs("../../c")
		srcs, _ := filepath.Glob(filepath.Join(root, "src", "*.c"))
		var objs []string
		for _, src := range srcs {
			obj := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".c")+".o")
			args := []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-I", filepath.Join(root, "include"), "-c", src, "-o", obj}
			if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
				cppErr = fmt.Errorf("gcc %s: %v\n%s", src, err, b)
				return
			}
			objs = append(objs, obj)
		}
		out := filepath.Join(dir, "cpp_peer")
		args := append([]string{"-std=c++20", "-Wall", "-Wextra", "-Werror", "-O2", "-I", filepath.Join(root, "include"),
			"-o", out, filepath.Join(root, "tests", "cpp_peer.cpp")}, objs...)
		if b, err := exec.Command(gxx, args...).CombinedOutput(); err != nil {
			cppErr = fmt.Errorf("g++: %v\n%s", err, b)
			return
		}
		cppPath = out
	})
	if cppErr != nil {
		t.Fatal(cppErr)
	}
	return cppPath
}

// TestCPlusPlus: the C++ wrapper as a peer of Go rings, both ways: a Go
// producer to a C++ consumer (peek/release and pop into a span, blocking)
// on an SPSC ring, and a C++ producer (reserve/commit, close_write) to a Go
// consumer on a record ring.
func TestCPlusPlus(t *testing.T) {
	peer := cppPeer(t)
	const n = 20000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("go-to-cpp", func(t *testing.T) {
		cfg := ring.Config{Slots: 64, SlotSize: 64}
		path, a := newArena(t, ring.KindSPSC, cfg)
		r, err := ring.CreateSPSC(a, "q", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p := startC(t, peer, "consume", path, "q")
		for i := 0; i < n; i++ {
			if err := r.Push(ctx, []byte(fmt.Sprintf("m%d", i))); err != nil {
				t.Fatalf("push %d: %v (C++: %s)", i, err, p.errb.String())
			}
		}
		if err := r.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got := field(t, p.wait(t), "count"); got != n {
			t.Fatalf("the C++ consumer read %d, want %d", got, n)
		}
	})

	t.Run("cpp-to-go", func(t *testing.T) {
		cfg := ring.Config{Capacity: 8192, SlotSize: 1024}
		path, a := newArena(t, ring.KindRecords, cfg)
		r, err := ring.CreateRecords(a, "rec", cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		p := startC(t, peer, "produce", path, "rec", fmt.Sprint(n))
		buf := make([]byte, 1024)
		for i := 0; ; i++ {
			k, err := r.Pop(ctx, buf)
			if err == io.EOF {
				if i != n {
					t.Fatalf("EOF after %d, want %d", i, n)
				}
				break
			}
			if err != nil {
				t.Fatalf("pop %d: %v (C++: %s)", i, err, p.errb.String())
			}
			if want := fmt.Sprintf("m%d", i); string(buf[:k]) != want {
				t.Fatalf("message %d: %q, want %q", i, buf[:k], want)
			}
		}
		if got := field(t, p.wait(t), "count"); got != n {
			t.Fatalf("the C++ producer says %d", got)
		}
		if st := r.Stats(); st.MsgsIn != n || st.MsgsOut != n {
			t.Fatalf("stats %+v", st)
		}
	})
}
