package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/shmring/shmring/arena"
	"github.com/shmring/shmring/ring"
)

// shmring tail: print a broadcast ring's messages as they are pushed, or
// a record ring's records as they are committed.
//
// Tail joins as a lossy subscriber (ring.SubscribeOptions{Lossy: true}):
// the producer never waits for it, and a tail that cannot keep up is lapped
// and says how many messages it missed; the other subscribers do not see
// it. It refuses SPSC and MPMC rings, where reading a message takes it
// from its consumer. A subscriber needs its own entry in the ring's peer
// table, so tail is the one operator command that opens the arena
// writable; it writes only that entry, and frees it when it stops.
//
// A record ring has one consumer, but its records stay in place until
// the consumer has passed them: tail reads them through a ring.View
// (read-only, no peer entry) with View.ReadRecord, which tells a copy the
// consumer raced (PassedError: the record is lost to tail) from a valid
// one. It polls (1 ms, up to 20 ms while nothing comes), since a view
// registers no futex waiter.

const tailDescription = `Tail attaches to the broadcast ring RING of ARENA as a lossy subscriber and
prints each message pushed after it joined (--from oldest: first every message
still in the ring). It never holds the producer back: when it falls a ring
behind it is lapped, and says on stderr how many messages it missed. It stops
at the end of the stream (exit 0), after -n messages, or on SIGINT or SIGTERM
(exit 0), freeing its subscriber entry. SPSC and MPMC rings are refused: reading
their messages would take them from their consumers.

A record ring is read without consuming it and without a peer entry (the
arena is opened read-only): tail prints each record committed after it started
(--from oldest: first every record the consumer has yet to release), polling.
A record the consumer releases before tail has read it is lost to tail, which
says on stderr how many bytes of records it missed; reservations abandoned by
their producers (skip records) are passed silently.

Formats: text prints each message and a newline, with control characters (but
tab and newline), C1 codes and invalid UTF-8 escaped Go-style (\x1b); hex prints
it as "hexdump -C -v" does, 16 bytes a line with the offset and the printable
bytes, then the length as a last offset line; auto (the default) uses text for
UTF-8 with no control character but tab and newline, and hex for anything else. --json prints one object a line:
{"pos":N,"len":N,"encoding":"text"|"base64"|"hex","data":"..."}, pos being the
message's position in the stream (a record ring's: its byte offset); data is text for printable UTF-8 (auto) or
valid UTF-8 (text), base64 otherwise, and hex with --format hex.`

type tailOptions struct {
	format string // auto, text or hex
	from   ring.JoinAt
	limit  int // messages to print; 0: no limit
	json   bool
}

// tailFirstBuf is the buffer tail starts with; a longer message grows it
// to the ring's slot size (io.ErrShortBuffer leaves the message in place).
const tailFirstBuf = 64 << 10

func runTail(args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlagSet("tail", "ARENA RING [--format auto|text|hex] [--from newest|oldest] [-n N] [--json]", tailDescription, stderr)
	var o tailOptions
	fs.StringVar(&o.format, "format", "auto", "how to print a message: `auto`, text or hex")
	from := fs.String("from", "newest", "where to start: `newest` (messages pushed from now on) or oldest (every message still in the ring)")
	fs.IntVar(&o.limit, "n", 0, "stop after `N` messages (0: at the end of the stream or an interrupt)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per message")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) < 2:
		return usageError(fs, "want ARENA and RING")
	case len(pos) > 2:
		return usageError(fs, "unexpected argument %q", pos[2])
	case o.format != "auto" && o.format != "text" && o.format != "hex":
		return usageError(fs, "--format %q: want auto, text or hex", o.format)
	case o.limit < 0:
		return usageError(fs, "-n %d: want a count >= 0", o.limit)
	}
	switch *from {
	case "newest":
		o.from = ring.Newest
	case "oldest":
		o.from = ring.Oldest
	default:
		return usageError(fs, "--from %q: want newest or oldest", *from)
	}
	arenaName, name := pos[0], pos[1]

	// Read-only first: a record ring needs no more; a broadcast ring's
	// subscriber needs an entry, and the arena opened writable below.
	a, err := openReadOnly(arenaName)
	if err != nil {
		return err // arena errors name the file
	}
	defer a.Close()
	reg, err := a.Lookup(name)
	switch {
	case errors.Is(err, arena.ErrNotFound):
		return fmt.Errorf("no ring %q in %s", name, a.Path())
	case err != nil:
		return fmt.Errorf("%s: %w", a.Path(), err)
	case reg.Kind() == ring.KindBroadcast, reg.Kind() == ring.KindRecords:
	case reg.Kind() == ring.KindSPSC, reg.Kind() == ring.KindMPMC:
		return fmt.Errorf("%q is an %s ring; tail reads broadcast and record rings only (it would consume messages from an SPSC/MPMC ring)", name, kindName(reg.Kind()))
	default:
		return fmt.Errorf("%q is not a ring (region kind %#x); tail reads broadcast and record rings only", name, uint32(reg.Kind()))
	}

	// Signals before the subscriber: an interrupt from here on frees the
	// entry (the deferred Close) instead of killing the process with it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A file truncated under the mapping faults the next read of it: an
	// error, not a crash (this goroutine reads the ring).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("%s: memory fault at %#x reading the mapping (file truncated?)", a.Path(), f.Addr())
		}
	}()
	if reg.Kind() == ring.KindRecords {
		v, err := ring.OpenView(a, name)
		if err != nil {
			return err
		}
		defer v.Close()
		return tailRecords(ctx, v, stdout, stderr, o)
	}
	w, err := arena.Open(arenaName, arena.WithReadyTimeout(readyTimeout))
	if err != nil {
		return err
	}
	defer w.Close()
	sub, err := ring.Subscribe(w, name, ring.SubscribeOptions{From: o.from, Lossy: true})
	switch {
	case errors.Is(err, ring.ErrSubscribers):
		return fmt.Errorf("no free subscriber entry on %q: %w", name, err)
	case err != nil:
		return err
	}
	defer sub.Close()
	return tail(ctx, sub, stdout, stderr, o)
}

// tail prints sub's messages until the stream ends, o.limit messages, or
// ctx is done (all three nil errors).
func tail(ctx context.Context, sub *ring.Subscriber, stdout, stderr io.Writer, o tailOptions) error {
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	buf := make([]byte, min(sub.SlotSize(), tailFirstBuf))
	var lapped *ring.LappedError
	for printed := 0; o.limit == 0 || printed < o.limit; {
		n, err := sub.Pop(ctx, buf)
		switch {
		case err == nil:
		case errors.Is(err, io.ErrShortBuffer) && len(buf) < sub.SlotSize():
			buf = make([]byte, sub.SlotSize())
			continue
		case errors.As(err, &lapped):
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "shmring tail: lapped: missed %d messages\n", lapped.Missed)
			continue
		case errors.Is(err, io.EOF): // the stream was closed and read to its end
			return w.Flush()
		case ctx.Err() != nil: // interrupted
			return w.Flush()
		default:
			return err
		}
		// The message was at the position before the cursor.
		p := sub.Cursor() - 1
		if err := writeMessage(w, enc, p, buf[:n], o); err != nil {
			return err
		}
		printed++
		if sub.Lag() == 0 { // caught up: show what we have
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}

// Record ring polling: tail sleeps tailPollMin while records come, doubling
// up to tailPollMax while none does.
const (
	tailPollMin = time.Millisecond
	tailPollMax = 20 * time.Millisecond
)

// tailRecords prints the records of the record ring v as they are
// committed, from the claim position (--from newest) or the consumer
// position (oldest), until the stream ends, o.limit records, or ctx is
// done (all three nil errors).
func tailRecords(ctx context.Context, v *ring.View, stdout, stderr io.Writer, o tailOptions) error {
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	buf := make([]byte, v.Config().SlotSize)
	p := v.Positions()
	at := p.Producer
	if o.from == ring.Oldest {
		at = p.Consumer
	}
	poll := tailPollMin
	wait := func() error {
		if err := w.Flush(); err != nil {
			return err
		}
		t := time.NewTimer(poll)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		poll = min(2*poll, tailPollMax)
		return nil
	}
	var passed *ring.PassedError
	for printed := 0; (o.limit == 0 || printed < o.limit) && ctx.Err() == nil; {
		h, n, err := v.ReadRecord(at, buf)
		switch {
		case err == nil:
		case errors.As(err, &passed):
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "shmring tail: the consumer released %d bytes of records before tail read them\n", passed.Bytes)
			at = passed.Consumer
			continue
		case errors.Is(err, ring.ErrEmpty):
			if err := wait(); err != nil {
				return err
			}
			continue
		case errors.Is(err, io.EOF): // ended, and read to its end
			return w.Flush()
		default:
			return err
		}
		switch h.State {
		case ring.RecordBusy: // being written: wait for its commit (or its skip)
			if err := wait(); err != nil {
				return err
			}
			continue
		case ring.RecordMessage:
			if err := writeMessage(w, enc, at, buf[:n], o); err != nil {
				return err
			}
			printed++
		}
		poll = tailPollMin
		at = h.Next // modulo the ring's position modulus
	}
	return w.Flush()
}

// tailMessage is one message of tail --json. The JSON names are the
// command's output contract: add fields, never rename them.
type tailMessage struct {
	Pos      uint64 `json:"pos"` // the message's position in the stream
	Len      int    `json:"len"` // its length in bytes
	Encoding string `json:"encoding"`
	Data     string `json:"data"`
}

func writeMessage(w *bufio.Writer, enc *json.Encoder, pos uint64, msg []byte, o tailOptions) error {
	format := o.format
	if format == "auto" {
		format = "hex"
		if terminalSafe(msg) {
			format = "text"
		}
	}
	if o.json {
		m := tailMessage{Pos: pos, Len: len(msg)}
		switch {
		case o.format == "hex":
			m.Encoding, m.Data = "hex", hex.EncodeToString(msg)
		case o.format == "text" && utf8.Valid(msg), o.format == "auto" && printable(msg):
			m.Encoding, m.Data = "text", string(msg)
		default:
			m.Encoding, m.Data = "base64", base64.StdEncoding.EncodeToString(msg)
		}
		return enc.Encode(m)
	}
	switch format {
	case "text":
		w.WriteString(escapeText(msg))
		return w.WriteByte('\n')
	default:
		return hexDump(w, msg)
	}
}

// hexDump writes msg as hexdump -C -v does: hex.Dump's lines, then the
// length as a last offset line (so an empty message is one line, and each
// message ends with its length).
func hexDump(w *bufio.Writer, msg []byte) error {
	d := hex.Dumper(w)
	d.Write(msg)
	d.Close()
	_, err := fmt.Fprintf(w, "%08x\n", len(msg))
	return err
}

// terminalSafe reports whether msg can go to a terminal as is: printable
// (valid UTF-8, no C0 control but tab and newline) and no C1 control
// either, which some terminals obey as escape sequences.
func terminalSafe(msg []byte) bool {
	if !printable(msg) {
		return false
	}
	for _, r := range string(msg) {
		if r >= 0x80 && r <= 0x9f {
			return false
		}
	}
	return true
}

// escapeText is msg with invalid UTF-8 and control characters (C0 but tab
// and newline, DEL, C1) escaped as Go does (\x1b, \u0085).
func escapeText(msg []byte) string {
	if terminalSafe(msg) {
		return string(msg)
	}
	out := make([]byte, 0, len(msg)+16)
	for len(msg) > 0 {
		r, size := utf8.DecodeRune(msg)
		switch {
		case r == utf8.RuneError && size <= 1:
			out = fmt.Appendf(out, `\x%02x`, msg[0])
		case r == '\t' || r == '\n':
			out = append(out, msg[:size]...)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u0085'
			out = append(out, q[1:len(q)-1]...)
		default:
			out = append(out, msg[:size]...)
		}
		msg = msg[size:]
	}
	return string(out)
}
