package indexer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	"github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/core/dag/blockstore"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/ipld"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/validator"
)

// maxPostBytes bounds a POST /claims body.
const maxPostBytes = 16 << 20

// ucantoMessageTag is the root key of a ucanto agent message, the body
// Storacha clients post.
const ucantoMessageTag = "ucanto/message@7.1.0"

// archiveTag is the root key of a delegation archive.
const archiveTag = "ucan@0.9.1"

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

// postClaims takes in claims: a CAR whose root is a claim (a delegation
// or invocation of assert/location, assert/index or assert/equals), a
// claim/cache invocation carrying its claim, or a ucanto agent message
// whose invocations are any of those. Every one is checked before any is
// stored: one bad claim rejects the whole request.
func (a *API) postClaims(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPostBytes))
	if err != nil {
		writeError(w, r, a.log, fmt.Errorf("%w: reading body: %s", ErrBadInput, err.Error()))
		return
	}
	subs, err := submissions(body)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	for _, s := range subs {
		if err := a.check(s); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	var accepted []string
	for _, s := range subs {
		if err := a.publish(r.Context(), s); err != nil {
			writeError(w, r, a.log, err)
			return
		}
		accepted = append(accepted, s.inv.Link().String())
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"accepted": accepted})
}

// submission is one claim posted: inv itself, or for claim/cache, the
// claim inv carries.
type submission struct {
	inv   delegation.Delegation
	claim delegation.Delegation // set for claim/cache
}

func (a *API) check(s submission) error {
	if s.claim == nil {
		_, err := a.svc.Check(s.inv)
		return err
	}
	if err := a.svc.checkAudience(s.inv); err != nil {
		return err
	}
	if err := a.svc.CheckSigned(s.inv); err != nil {
		return err
	}
	if _, err := Decode(s.claim); err != nil {
		return err
	}
	return a.svc.CheckSigned(s.claim)
}

func (a *API) publish(ctx context.Context, s submission) error {
	if s.claim == nil {
		return a.svc.Publish(ctx, s.inv)
	}
	return a.svc.PublishCached(ctx, s.inv, s.claim)
}

// submissions reads the posted CAR into the claims it submits.
func submissions(body []byte) ([]submission, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadClaim}, args...)...)
	}
	roots, blocks, err := car.Decode(bytes.NewReader(body))
	if err != nil {
		return nil, bad("body is not a CAR: %s", err.Error())
	}
	if len(roots) != 1 {
		return nil, bad("CAR has %d roots, want 1", len(roots))
	}
	bs, err := blockstore.NewBlockReader(blockstore.WithBlocksIterator(verified(blocks)))
	if err != nil {
		return nil, bad("reading CAR: %s", err.Error())
	}
	root, ok, err := bs.Get(roots[0])
	if err != nil || !ok {
		return nil, bad("CAR root block %s is missing", roots[0])
	}
	links := []ipld.Link{roots[0]}
	if inner, ok := wrappedUCANs(root.Bytes()); ok {
		links = inner
	}
	if len(links) == 0 {
		return nil, bad("the CAR carries no UCAN")
	}
	var out []submission
	for _, l := range links {
		d, err := delegation.NewDelegationView(l, bs)
		if err != nil {
			return nil, bad("%s is not a UCAN: %s", l, err.Error())
		}
		s, err := submissionOf(d, bs)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func submissionOf(d delegation.Delegation, bs blockstore.BlockReader) (submission, error) {
	caps := d.Capabilities()
	if len(caps) != 1 || caps[0].Can() != claim.CacheAbility {
		return submission{inv: d}, nil
	}
	m, merr := claim.Cache.Match(validator.NewSource(caps[0], d))
	if merr != nil {
		return submission{}, fmt.Errorf("%w: claim/cache: %s", ErrBadClaim, merr.Error())
	}
	inner, err := delegation.NewDelegationView(m.Value().Nb().Claim, bs)
	if err != nil {
		return submission{}, fmt.Errorf("%w: claim/cache: the claim is not in the CAR: %s", ErrBadClaim, err.Error())
	}
	return submission{inv: d, claim: inner}, nil
}

// wrappedUCANs returns the UCANs a root block wraps: the invocations a
// ucanto agent message executes, or the delegation of a delegation archive
// ({"ucan@0.9.1": link}, what delegation.Archive writes). ok is false for
// a root that is a UCAN itself.
func wrappedUCANs(root []byte) ([]ipld.Link, bool) {
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(root)); err != nil {
		return nil, false
	}
	n := nb.Build()
	if v, err := n.LookupByString(archiveTag); err == nil {
		if l, err := v.AsLink(); err == nil {
			if cl, ok := l.(cidlink.Link); ok {
				return []ipld.Link{cl}, true
			}
		}
		return nil, true
	}
	msg, err := n.LookupByString(ucantoMessageTag)
	if err != nil {
		return nil, false
	}
	ex, err := msg.LookupByString("execute")
	if err != nil {
		return nil, true
	}
	var out []ipld.Link
	for it := ex.ListIterator(); it != nil && !it.Done(); {
		_, v, err := it.Next()
		if err != nil {
			return nil, true
		}
		if l, err := v.AsLink(); err == nil {
			if cl, ok := l.(cidlink.Link); ok {
				out = append(out, cl)
			}
		}
	}
	return out, true
}
