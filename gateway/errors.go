package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/resolver"
)

// mapError turns a domain error into the error boxo's gateway turns into
// a status: this is the one place that decides statuses. 5xx errors carry
// no internal text; the details are logged where they happen.
func mapError(c cid.Cid, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, resolver.ErrNotFound), errors.Is(err, indexer.ErrNotFound):
		return format.ErrNotFound{Cid: c}
	case errors.Is(err, resolver.ErrUnverified):
		return boxogw.NewErrorStatusCode(errors.New("stored content failed verification"), http.StatusBadGateway)
	case errors.Is(err, context.DeadlineExceeded):
		return boxogw.NewErrorStatusCode(errors.New("timed out reading content"), http.StatusGatewayTimeout)
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, indexer.ErrUnavailable):
		return boxogw.NewErrorRetryAfter(boxogw.NewErrorStatusCode(errors.New("content location service unavailable"), http.StatusServiceUnavailable), 10*time.Second)
	}
	return boxogw.NewErrorStatusCode(errors.New("failed to read content"), http.StatusBadGateway)
}

// mappedBlockstore maps the resolver's errors for boxo, and marks the
// request's stream as failed so withStreamAbort can abort it.
type mappedBlockstore struct{ blockstore.Blockstore }

func (m mappedBlockstore) Get(ctx context.Context, c cid.Cid) (blocks.Block, error) {
	b, err := m.Blockstore.Get(ctx, c)
	if err != nil {
		streamFailed(ctx, err)
	}
	return b, mapError(c, err)
}

func (m mappedBlockstore) Has(ctx context.Context, c cid.Cid) (bool, error) {
	ok, err := m.Blockstore.Has(ctx, c)
	return ok, mapError(c, err)
}

func (m mappedBlockstore) GetSize(ctx context.Context, c cid.Cid) (int, error) {
	n, err := m.Blockstore.GetSize(ctx, c)
	return n, mapError(c, err)
}

type streamKey struct{}

// stream tracks whether a response's headers are out and whether a block
// read failed after that.
type stream struct {
	wroteHeader atomic.Bool
	failed      atomic.Bool
	err         atomic.Value
}

func streamFailed(ctx context.Context, err error) {
	s, ok := ctx.Value(streamKey{}).(*stream)
	if !ok || errors.Is(err, context.Canceled) || !s.wroteHeader.Load() {
		return
	}
	s.err.Store(err)
	s.failed.Store(true)
}

// withStreamAbort aborts the connection (never a clean end) when a block
// read fails once a response's headers are out: a client must not take a
// truncated file or CAR for a whole one.
func withStreamAbort(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &stream{}
		aw := &abortWriter{ResponseWriter: w, s: s, log: log, r: r}
		next.ServeHTTP(aw, r.WithContext(context.WithValue(r.Context(), streamKey{}, s)))
		aw.abortIfFailed()
	})
}

type abortWriter struct {
	http.ResponseWriter
	s   *stream
	log *slog.Logger
	r   *http.Request
}

func (a *abortWriter) WriteHeader(code int) {
	a.s.wroteHeader.Store(true)
	a.ResponseWriter.WriteHeader(code)
}

func (a *abortWriter) Write(b []byte) (int, error) {
	a.abortIfFailed()
	a.s.wroteHeader.Store(true)
	return a.ResponseWriter.Write(b)
}

func (a *abortWriter) abortIfFailed() {
	if a.s.failed.Load() {
		a.log.Warn("aborting response after a read failure", "path", a.r.URL.Path, "err", a.s.err.Load())
		panic(http.ErrAbortHandler)
	}
}

func (a *abortWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *abortWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }
