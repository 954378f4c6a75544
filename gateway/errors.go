package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/boxo/blockstore"
	boxogw "github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/verifcid"
	blocks "github.com/ipfs/go-block-format"
	"github.com/ipfs/go-cid"
	format "github.com/ipfs/go-ipld-format"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"

	"github.com/cargate/cargate/internal/verify"
	"github.com/cargate/cargate/resolver"
)

// mapError turns a domain error into the error boxo's gateway turns into
// a status: this is the one place that decides statuses. 5xx errors carry
// no internal text; the details are logged where they happen.
func mapError(c cid.Cid, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, resolver.ErrNotFound):
		return format.ErrNotFound{Cid: c}
	case undecodable(err):
		return errUndecodable
	case errors.Is(err, resolver.ErrUnverified):
		return boxogw.NewErrorStatusCode(errors.New("stored content failed verification"), http.StatusBadGateway)
	case errors.Is(err, context.DeadlineExceeded):
		return boxogw.NewErrorStatusCode(errors.New("timed out reading content"), http.StatusGatewayTimeout)
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, resolver.ErrUnavailable):
		return boxogw.NewErrorRetryAfter(boxogw.NewErrorStatusCode(errors.New("content location service unavailable"), http.StatusServiceUnavailable), 10*time.Second)
	}
	return boxogw.NewErrorStatusCode(errors.New("failed to read content"), http.StatusBadGateway)
}

// errUndecodable answers a block the IPLD decoders refuse: nested deeper
// than their limit (1,024 levels) or demanding more than their allocation
// budget. The block is stored and verified, and still served as raw
// bytes; it is the content that cannot be processed, not the gateway
// that failed, so it is a 4xx.
var errUndecodable = boxogw.NewErrorStatusCode(errors.New(
	"the block cannot be decoded: it nests too deeply or holds too many elements (fetch it with ?format=raw)"),
	http.StatusUnprocessableEntity)

func undecodable(err error) bool {
	return errors.Is(err, dagcbor.ErrDecodeDepthExceeded) || errors.Is(err, dagjson.ErrDecodeDepthExceeded) ||
		errors.Is(err, dagcbor.ErrAllocationBudgetExceeded)
}

// mapContentError maps the errors of boxo's own work on content (path
// resolution, decoding, traversal) that are the content's fault; it
// leaves every other error for boxo to shape.
func mapContentError(err error) error {
	if err != nil && undecodable(err) {
		return errUndecodable
	}
	return err
}

// mappedBlockstore maps the resolver's errors for boxo, and marks the
// request's stream as failed so withStreamAbort can abort it.
type mappedBlockstore struct{ blockstore.Blockstore }

func (m mappedBlockstore) Get(ctx context.Context, c cid.Cid) (b blocks.Block, err error) {
	// boxo reads on goroutines detached from the server's (its timeout
	// middleware, CAR traversal): a panic below would end the process,
	// not the response. It fails this read instead.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic reading block %s: %v", c, p)
			streamFailed(ctx, err)
			b, err = nil, mapError(c, err)
		}
	}()
	b, err = m.Blockstore.Get(ctx, c)
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

// stream tracks whether boxo has committed to a response (chosen its
// status) and whether a block read failed after that.
type stream struct {
	wroteHeader atomic.Bool
	err         atomic.Pointer[error] // the first failure recorded; nil while none
}

func streamFailed(ctx context.Context, err error) {
	s, ok := ctx.Value(streamKey{}).(*stream)
	if !ok || errors.Is(err, context.Canceled) || !s.wroteHeader.Load() {
		return
	}
	s.err.CompareAndSwap(nil, &err)
}

// streamRefused records a failure that came before boxo wrote anything
// (the read-ahead of a CAR): the stream guard answers it with a status.
func streamRefused(ctx context.Context, err error) {
	s, ok := ctx.Value(streamKey{}).(*stream)
	if !ok || errors.Is(err, context.Canceled) {
		return
	}
	s.err.CompareAndSwap(nil, &err)
}

// failureStatus is the status and plain message for a read that failed
// after boxo chose its status but before any of it was sent: the content
// was found but cannot be served whole.
func failureStatus(err error) (int, string) {
	var sc *boxogw.ErrorStatusCode
	if errors.As(mapError(cid.Undef, err), &sc) {
		return sc.StatusCode, sc.Err.Error()
	}
	return http.StatusBadGateway, "content is incomplete: a block could not be read"
}

// plainStatus is the whole body of a 5xx answer: what went wrong in
// words that name nothing internal (the details are logged).
func plainStatus(code int) string {
	switch code {
	case http.StatusBadGateway:
		return "content or name could not be resolved, read or verified"
	case http.StatusServiceUnavailable:
		return "temporarily unavailable: retry later"
	case http.StatusGatewayTimeout:
		return "timed out reading content"
	case http.StatusNotImplemented:
		return "not implemented by this gateway"
	}
	return "internal error"
}

// withCIDCheck answers 400 with a plain message for a root CID the
// gateway will never serve: a hash function not accepted as secure (md5,
// murmur3, …), a digest too short to trust or, for identity CIDs, longer
// than 128 bytes (boxo would answer 500 with its internal error text, or
// spell a huge identity CID out again in every format). The same
// allow-list guards every block read below.
func withCIDCheck(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seg, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/ipfs/"), "/")
		if c, err := cid.Decode(seg); err == nil {
			if _, err := verify.Checkable(c.Hash()); err != nil {
				http.Error(w, "unsupported CID: "+cidProblem(err), http.StatusBadRequest)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// cidProblem says in words why a CID is refused.
func cidProblem(err error) string {
	switch {
	case errors.Is(err, verifcid.ErrPossiblyInsecureHashFunction):
		return "its hash function is not accepted (potentially insecure); use sha2-256 or another secure hash"
	case errors.Is(err, verifcid.ErrDigestTooSmall), errors.Is(err, verifcid.ErrDigestTooLarge):
		return err.Error()
	}
	return "it cannot be verified"
}
