package membarrier

import (
	"errors"
	"runtime"
	"testing"
)

func TestRegisterAndBarrier(t *testing.T) {
	err := Register()
	if runtime.GOOS != "linux" {
		if !errors.Is(err, ErrUnsupported) || Registered() {
			t.Fatalf("Register = %v, Registered = %v; want ErrUnsupported, false", err, Registered())
		}
		return
	}
	if err != nil {
		t.Skipf("membarrier unavailable here: %v", err)
	}
	if !Registered() {
		t.Fatal("Register succeeded but Registered is false")
	}
	if err2 := Register(); err2 != nil {
		t.Fatalf("second Register = %v, want the first's nil", err2)
	}
	for i := 0; i < 3; i++ {
		if err := Barrier(); err != nil {
			t.Fatalf("Barrier: %v", err)
		}
	}
}

func BenchmarkBarrier(b *testing.B) {
	if err := Register(); err != nil {
		b.Skip(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Barrier(); err != nil {
			b.Fatal(err)
		}
	}
}
