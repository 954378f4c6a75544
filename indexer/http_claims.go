package indexer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/did"
	ucanhttp "github.com/storacha/go-ucanto/transport/http"
)

// ParseQuery reads the query of GET /claims: repeatable multihash
// (multibase), repeatable spaces (DIDs) and at most one type.
func ParseQuery(v map[string][]string) (Query, error) {
	var q Query
	if len(v["type"]) > 1 {
		return q, fmt.Errorf("%w: only one type parameter is allowed, got %d", ErrBadInput, len(v["type"]))
	}
	t, err := ParseQueryType(first(v["type"]))
	if err != nil {
		return q, err
	}
	q.Type = t
	for _, s := range v["multihash"] {
		_, b, err := multibase.Decode(s)
		if err != nil {
			return q, fmt.Errorf("%w: multihash %q is not multibase: %s", ErrBadInput, s, err.Error())
		}
		h, err := multihash.Cast(b)
		if err != nil {
			return q, fmt.Errorf("%w: multihash %q: %s", ErrBadInput, s, err.Error())
		}
		q.Hashes = append(q.Hashes, h)
	}
	if len(q.Hashes) == 0 {
		return q, fmt.Errorf("%w: give at least one multihash parameter", ErrBadInput)
	}
	for _, s := range v["spaces"] {
		d, err := did.Parse(s)
		if err != nil {
			return q, fmt.Errorf("%w: space %q is not a DID: %s", ErrBadInput, s, err.Error())
		}
		q.Spaces = append(q.Spaces, d)
	}
	return q, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// getClaims answers GET /claims with a query-result CAR.
func (a *API) getClaims(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	key := fmt.Sprintf("%d\x00%s", a.svc.Generation(), r.URL.RawQuery)
	body, err := a.answers.GetOrLoad(r.Context(), key, func(ctx context.Context) ([]byte, int64, time.Duration, error) {
		res, err := a.svc.Query(ctx, q)
		if err != nil {
			return nil, 0, 0, err
		}
		enc, err := EncodeResult(res)
		if err != nil {
			return nil, 0, 0, err
		}
		// Buffered, so that an encoding failure is still an error status.
		body, err := io.ReadAll(enc)
		return body, int64(len(body) + len(key)), AnswerTTL, err
	})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", QueryResultContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// getClaim answers GET /claim/{cid} with a claim's archive.
func (a *API) getClaim(w http.ResponseWriter, r *http.Request) {
	id, err := cid.Decode(r.PathValue("cid"))
	if err != nil {
		writeError(w, r, a.log, fmt.Errorf("%w: invalid CID %q: %s", ErrBadInput, r.PathValue("cid"), err.Error()))
		return
	}
	b, err := a.svc.StoredClaim(r.Context(), id)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", car.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "public, max-age=29030400, immutable")
	w.Write(b)
}

// postClaims is the ucanto intake over HTTP: at most
// IntakeConfig.MaxConcurrent at once (429 with Retry-After past it), a
// body of at most MaxBodyBytes that must arrive within BodyTimeout, then
// the message's receipts (see Intake).
func (a *API) postClaims(w http.ResponseWriter, r *http.Request) {
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	default:
		// Close rather than drain the unread body: draining would wait
		// on exactly the slow clients that filled the slots.
		w.Header().Set("Connection", "close")
		writeError(w, r, a.log, ErrBusy)
		return
	}
	rc := http.NewResponseController(w)
	// Not every ResponseWriter supports deadlines (an error here); the
	// server's own timeouts then bound the read.
	_ = rc.SetReadDeadline(time.Now().Add(a.cfg.Intake.BodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.Intake.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = fmt.Errorf("%w: a claims message is at most %d bytes", ErrTooLarge, tooBig.Limit)
		} else {
			err = fmt.Errorf("%w: the body did not arrive whole within %s", ErrBadInput, a.cfg.Intake.BodyTimeout)
		}
		writeError(w, r, a.log, err)
		return
	}
	_ = rc.SetReadDeadline(time.Time{})
	resp, err := a.intake.Handle(r.Context(), ucanhttp.NewRequest(bytes.NewReader(body), r.Header))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	defer resp.Body().Close()
	for k, v := range resp.Headers() {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.Status())
	io.Copy(w, resp.Body())
}
