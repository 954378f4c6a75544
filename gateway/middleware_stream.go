package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/cargate/cargate/resolver"
)

// withStreamAbort guards responses against block reads that fail once
// boxo has chosen a status. The status line is held back until the first
// body byte (or flush): a failure before that is answered with an error
// status (502 for bytes that fail verification) instead; a failure after
// it aborts the connection, never a clean end, so no client takes a
// truncated file or CAR for a whole one.
//
// boxo runs its handler on a goroutine of its own (the retrieval timeout
// middleware), so nothing here panics inside Write: a failure marks the
// response aborted and Write refuses; the abort itself (panicking with
// http.ErrAbortHandler) happens in finish, on the server's goroutine.
// Only a run that finishes with nothing failed marks the response
// complete (markComplete), which is what lets the response cache keep it.
func withStreamAbort(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &stream{}
		aw := &abortWriter{ResponseWriter: w, s: s, log: log, r: r}
		// One new context for both the stream guard and billing: when
		// the writer records spaces (egress accounting, the response
		// cache), the resolver reports to it the space of every block it
		// serves for this response. Layers above leave requests alone.
		ctx := r.Context()
		if rec, ok := w.(resolver.SpaceRecorder); ok {
			ctx = resolver.WithSpaceRecorder(ctx, rec)
		}
		next.ServeHTTP(aw, r.WithContext(context.WithValue(ctx, streamKey{}, s)))
		aw.finish()
	})
}

// boxoMarkers are what boxo writes into a response it cuts short: its
// retrieval timeout's text, just before it hijacks the connection, and
// its CAR handler's, just before it returns, when traversal fails in a
// way no block read of ours saw. Neither may reach a client as if it were
// content: a write of exactly one of them is held, and released only if
// another write follows (a file may hold anything); held at the end, it
// fails the response.
var boxoMarkers = [][]byte{
	[]byte("\n\n[Gateway Error: Response truncated - unable to retrieve remaining data within timeout period]"),
	[]byte("\n\n[Gateway Error: CAR stream truncated, response is incomplete]"),
}

func isBoxoMarker(b []byte) bool {
	for _, m := range boxoMarkers {
		if bytes.Equal(b, m) {
			return true
		}
	}
	return false
}

type abortWriter struct {
	http.ResponseWriter
	s   *stream
	log *slog.Logger
	r   *http.Request

	mu       sync.Mutex // boxo's timeout goroutine writes and hijacks too
	code     int        // the status boxo chose, held back
	sent     bool       // the status line was handed to the connection
	replaced bool       // answered with an error status instead
	aborted  bool       // the response must end with a broken connection
	held     []byte     // a write that may be boxo's truncation text
	writeErr bool       // the client stopped taking bytes
	scrubbed []byte     // the start of a 5xx body boxo wrote, kept for the log
}

func (a *abortWriter) WriteHeader(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.code != 0 || a.sent {
		return
	}
	a.code = code
	a.s.wroteHeader.Store(true)
}

func (a *abortWriter) send() {
	if a.sent {
		return
	}
	if a.code == 0 {
		a.code = http.StatusOK
		a.s.wroteHeader.Store(true)
	}
	a.sent = true
	a.ResponseWriter.WriteHeader(a.code)
}

func (a *abortWriter) Write(b []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.replaced || a.aborted || a.failed() {
		return 0, errAborted
	}
	if a.code >= 500 && !a.sent {
		// boxo's error pages carry internal text: finish sends a plain one.
		a.scrubbed = append(a.scrubbed, b[:min(len(b), 1024-len(a.scrubbed))]...)
		return len(b), nil
	}
	if err := a.release(); err != nil {
		return 0, err
	}
	if isBoxoMarker(b) {
		a.held = append([]byte(nil), b...)
		return len(b), nil
	}
	a.send()
	n, err := a.ResponseWriter.Write(b)
	if err != nil {
		a.writeErr = true
	}
	return n, err
}

// release writes held bytes that turned out to be content.
func (a *abortWriter) release() error {
	if a.held == nil {
		return nil
	}
	b := a.held
	a.held = nil
	a.send()
	if _, err := a.ResponseWriter.Write(b); err != nil {
		a.writeErr = true
		return err
	}
	return nil
}

func (a *abortWriter) Flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.replaced || a.aborted || a.failed() || (a.code >= 500 && !a.sent) {
		return
	}
	if a.release() != nil {
		return
	}
	if a.code != 0 {
		a.send()
	}
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack is how boxo's retrieval timeout ends a response it cuts short
// after the status was sent. The connection is not handed over: the
// response is marked aborted and finish breaks the connection, on the
// server's goroutine, once boxo's middleware returns. boxo only closes
// what it gets, so it gets one end of a pipe.
func (a *abortWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.aborted = true
	a.held = nil
	a.log.Warn("aborting response: storage stalled past the retrieval timeout", "path", a.r.URL.Path)
	c, other := net.Pipe()
	other.Close()
	return c, bufio.NewReadWriter(bufio.NewReader(c), bufio.NewWriter(c)), nil
}

// finish runs on the server's goroutine when the handler returns.
func (a *abortWriter) finish() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.replaced && !a.aborted {
		a.failed() // a read failed after the last write: replace or abort
	}
	if !a.replaced && !a.aborted && a.held != nil {
		a.log.Warn("boxo cut the response short", "path", a.r.URL.Path, "sent", a.sent)
		a.fail(nil)
	}
	if a.aborted {
		panic(http.ErrAbortHandler)
	}
	if a.replaced {
		return
	}
	if a.code >= 500 && !a.sent {
		a.log.Warn("error answered", "path", a.r.URL.Path, "status", a.code, "detail", string(a.scrubbed))
		a.ResponseWriter.Header().Set("Content-Type", "text/plain; charset=utf-8")
		a.ResponseWriter.Header().Del("Content-Length")
		a.send()
		io.WriteString(a.ResponseWriter, plainStatus(a.code)+"\n")
		return
	}
	if a.release() == nil && a.code != 0 {
		a.send()
	}
	if !a.writeErr {
		markComplete(a.ResponseWriter)
	}
}

// failed handles a recorded read failure, if any, with fail. It reports
// whether the response failed.
func (a *abortWriter) failed() bool {
	p := a.s.err.Load()
	if p == nil {
		return false
	}
	if a.replaced || a.aborted {
		return true
	}
	a.log.Warn("read failed", "path", a.r.URL.Path, "sent", a.sent, "err", *p)
	a.fail(*p)
	return true
}

// fail ends a response that cannot be served whole: before its status is
// sent, with an error status instead; after, by marking it aborted.
func (a *abortWriter) fail(err error) {
	if a.sent {
		a.aborted = true
		return
	}
	code, msg := failureStatus(err)
	h := a.ResponseWriter.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	a.ResponseWriter.WriteHeader(code)
	io.WriteString(a.ResponseWriter, msg+"\n")
	a.sent, a.replaced, a.held = true, true, nil
}

func (a *abortWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

var errAborted = &abortError{}

type abortError struct{}

func (*abortError) Error() string { return "response aborted after a failed read" }

// completer is a writer below withStreamAbort that wants to know whether
// the response it saw was complete: every byte from a verified read, no
// read failed, the client took everything (the response cache keeps
// nothing else).
type completer interface{ markComplete() }

func markComplete(w http.ResponseWriter) {
	for w != nil {
		if c, ok := w.(completer); ok {
			c.markComplete()
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}
