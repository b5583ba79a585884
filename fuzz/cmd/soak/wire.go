package main

// Frames a child writes on its stdout for the parent: a tag byte, then
// unsigned varints or a length-prefixed blob.
//
//	'R' stream start count   consumer: it received numbers [start, start+count) of stream
//	'F' stream floor         consumer: it will report no number of stream below floor
//	'E' len text             a problem the child saw (a corrupt or out-of-order message)
//	'D' len json             the child's final report (childReport)
//
// A child's goroutines each fill a frameBuf and hand it to the child's one
// frameWriter whole, so one goroutine's frames stay in order (a floor
// follows the ranges it covers) and frames never interleave.

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
)

const (
	tagRange   = 'R'
	tagFloor   = 'F'
	tagProblem = 'E'
	tagReport  = 'D'
	// maxBlob bounds a problem text or report, so a garbled stream cannot
	// make the parent allocate without bound.
	maxBlob = 1 << 20
)

type frameWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func newFrameWriter(w io.Writer) *frameWriter {
	return &frameWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// frameBuf collects one goroutine's frames.
type frameBuf struct {
	b   []byte
	out *frameWriter
}

func (f *frameBuf) rng(stream uint32, start, count uint64) {
	f.b = append(f.b, tagRange)
	f.b = binary.AppendUvarint(f.b, uint64(stream))
	f.b = binary.AppendUvarint(f.b, start)
	f.b = binary.AppendUvarint(f.b, count)
}

func (f *frameBuf) floor(stream uint32, floor uint64) {
	f.b = append(f.b, tagFloor)
	f.b = binary.AppendUvarint(f.b, uint64(stream))
	f.b = binary.AppendUvarint(f.b, floor)
}

func (f *frameBuf) blob(tag byte, data []byte) {
	if len(data) > maxBlob {
		data = data[:maxBlob]
	}
	f.b = append(f.b, tag)
	f.b = binary.AppendUvarint(f.b, uint64(len(data)))
	f.b = append(f.b, data...)
}

// flush hands the frames to the writer and writes them out.
func (f *frameBuf) flush() error {
	f.out.mu.Lock()
	defer f.out.mu.Unlock()
	if _, err := f.out.w.Write(f.b); err != nil {
		return err
	}
	f.b = f.b[:0]
	return f.out.w.Flush()
}

// frame is one decoded frame.
type frame struct {
	tag    byte
	stream uint32
	a, b   uint64 // range start and count, or floor
	data   []byte // problem text or report
}

// readFrames decodes frames from r until EOF, calling handle for each.
func readFrames(r io.Reader, handle func(frame) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	uv := func() (uint64, error) {
		v, err := binary.ReadUvarint(br)
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return v, err
	}
	for {
		tag, err := br.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var f frame
		f.tag = tag
		switch tag {
		case tagRange, tagFloor:
			s, err := uv()
			if err != nil {
				return err
			}
			if s > 1<<32-1 {
				return fmt.Errorf("frame: stream %d", s)
			}
			f.stream = uint32(s)
			if f.a, err = uv(); err != nil {
				return err
			}
			if tag == tagRange {
				if f.b, err = uv(); err != nil {
					return err
				}
			}
		case tagProblem, tagReport:
			n, err := uv()
			if err != nil {
				return err
			}
			if n > maxBlob {
				return fmt.Errorf("frame: blob of %d bytes", n)
			}
			f.data = make([]byte, n)
			if _, err := io.ReadFull(br, f.data); err != nil {
				return err
			}
		default:
			return fmt.Errorf("frame: unknown tag %#x", tag)
		}
		if err := handle(f); err != nil {
			return err
		}
	}
}
