package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/cargate/cargate/internal/egress"
)

// withStreamAbort guards responses against block reads that fail once
// boxo has chosen a status. The status line is held back until the first
// body byte (or flush): a failure before that is answered with an error
// status (502 for bytes that fail verification) instead; a failure after
// it aborts the connection, never a clean end, so no client takes a
// truncated file or CAR for a whole one.
func withStreamAbort(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &stream{}
		aw := &abortWriter{ResponseWriter: w, s: s, log: log, r: r}
		// One new context for both: the stream guard's, and egress
		// accounting's, through which the resolver notes the space of
		// the blocks it reads (egress.Middleware leaves requests alone).
		ctx := egress.Context(r.Context(), w)
		next.ServeHTTP(aw, r.WithContext(context.WithValue(ctx, streamKey{}, s)))
		aw.finish()
	})
}

type abortWriter struct {
	http.ResponseWriter
	s        *stream
	log      *slog.Logger
	r        *http.Request
	code     int  // the status boxo chose, held back
	sent     bool // the status line was handed to the connection
	replaced bool // answered with an error status instead
}

func (a *abortWriter) WriteHeader(code int) {
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
		a.WriteHeader(http.StatusOK)
	}
	a.sent = true
	a.ResponseWriter.WriteHeader(a.code)
}

func (a *abortWriter) Write(b []byte) (int, error) {
	if a.replaced || a.failed() {
		return len(b), nil
	}
	a.send()
	return a.ResponseWriter.Write(b)
}

func (a *abortWriter) Flush() {
	if a.replaced || a.failed() {
		return
	}
	if a.code != 0 {
		a.send()
	}
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// finish runs when the handler returns.
func (a *abortWriter) finish() {
	if a.replaced || a.failed() {
		return
	}
	if a.code != 0 {
		a.send()
	}
}

// failed handles a recorded read failure: before the status is sent it
// answers with an error status instead and reports true; after, it aborts.
func (a *abortWriter) failed() bool {
	if !a.s.failed.Load() {
		return false
	}
	err, _ := a.s.err.Load().(error)
	if a.sent {
		a.log.Warn("aborting response after a read failure", "path", a.r.URL.Path, "err", err)
		panic(http.ErrAbortHandler)
	}
	code, msg := failureStatus(err)
	a.log.Warn("read failed before the response was sent", "path", a.r.URL.Path, "status", code, "err", err)
	h := a.ResponseWriter.Header()
	for k := range h {
		delete(h, k)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	a.ResponseWriter.WriteHeader(code)
	io.WriteString(a.ResponseWriter, msg+"\n")
	a.sent, a.replaced = true, true
	return true
}

func (a *abortWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
