package ring

// The byte programs of the white-box fuzz targets: script reads one
// (FuzzRingOps, FuzzHostileMemory), prog writes one (the seeds in
// fuzz_seeds_test.go). The black-box target over the public API is
// fuzz.FuzzOps, in the fuzz package.
//
//	go test -run '^$' -fuzz '^FuzzRingOps$' -fuzztime 30s ./ring
//	go test -run '^$' -fuzz '^FuzzHostileMemory$' -fuzztime 30s ./ring

// script reads a fuzz program byte by byte; past its end it reads zeros.
type script struct {
	b []byte
	i int
}

func (s *script) more() bool { return s.i < len(s.b) }

func (s *script) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	s.i++
	return s.b[s.i-1]
}

func (s *script) u16() uint16 { return uint16(s.next()) | uint16(s.next())<<8 }

func (s *script) u32() uint32 { return uint32(s.u16()) | uint32(s.u16())<<16 }

func (s *script) u64() uint64 { return uint64(s.u32()) | uint64(s.u32())<<32 }

type prog []byte

func (p prog) op(handle, code int, args ...byte) prog {
	return append(append(p, byte(handle<<7|code)), args...)
}

func (p prog) repeat(n int, f func(prog) prog) prog {
	for i := 0; i < n; i++ {
		p = f(p)
	}
	return p
}

func (p prog) ho(handle, code int, args ...byte) prog {
	return append(append(p, byte(handle<<4|code)), args...)
}

func (p prog) poke(target int, args ...byte) prog {
	return append(append(p, byte(hostileWrite|target)), args...)
}

// pokeSlots pokes target (pokeSeq or pokeLen) in every slot of a
// FuzzHostileMemory ring with the same value arguments.
func (p prog) pokeSlots(target int, args ...byte) prog {
	for i := 0; i < 8; i++ {
		p = p.poke(target, append([]byte{byte(i)}, args...)...)
	}
	return p
}

func (p prog) append(q prog) prog { return append(append(prog(nil), p...), q...) }
