package fuzz

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// logRecord is one operation in an operation log: how a child process
// hands its part of many histories to the parent. Fixed-width,
// little-endian, 40 bytes.
type logRecord struct {
	History uint32
	Client  uint32
	Kind    uint8
	Result  uint8
	_       [6]byte
	Value   uint64
	Call    int64
	Return  int64
}

// LogWriter appends operations to an operation log.
type LogWriter struct {
	w *bufio.Writer
}

// NewLogWriter returns a writer of an operation log onto w. Call Flush at
// the end.
func NewLogWriter(w io.Writer) *LogWriter { return &LogWriter{w: bufio.NewWriter(w)} }

// Write appends the operations of history h.
func (l *LogWriter) Write(h int, ops []Op) error {
	for _, o := range ops {
		rec := logRecord{History: uint32(h), Client: uint32(o.Client), Kind: uint8(o.Kind), Result: uint8(o.Result),
			Value: o.Value, Call: o.Call, Return: o.Return}
		if err := binary.Write(l.w, binary.LittleEndian, &rec); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes out buffered records.
func (l *LogWriter) Flush() error { return l.w.Flush() }

// ReadLog reads an operation log and appends its operations to
// histories[h] for each history h it holds. A history index at or beyond
// len(histories) is an error.
func ReadLog(r io.Reader, histories [][]Op) error {
	br := bufio.NewReader(r)
	for i := 0; ; i++ {
		var rec logRecord
		err := binary.Read(br, binary.LittleEndian, &rec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("operation log: record %d truncated", i)
			}
			return err
		}
		if int(rec.History) >= len(histories) {
			return fmt.Errorf("operation log: record %d: history %d of %d", i, rec.History, len(histories))
		}
		histories[rec.History] = append(histories[rec.History], Op{Client: int(rec.Client), Kind: OpKind(rec.Kind),
			Result: Result(rec.Result), Value: rec.Value, Call: rec.Call, Return: rec.Return})
	}
}
