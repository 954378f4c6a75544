package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/cargate/cargate/bench/load"
)

// queryResultKey is the root's only key in an index/query/result@0.1 CAR
// (docs/http-api.md, `GET /claims`).
const queryResultKey = "index/query/result@0.1"

// claimsPath is the indexer query for the multihash of c, base58btc
// multibase as Storacha's clients send it. c must be a valid CID (the data
// sets are generated, so it is).
func claimsPath(c string) string {
	id, err := cid.Decode(c)
	if err != nil {
		panic(fmt.Sprintf("claimsPath: %q: %v", c, err))
	}
	return "/claims?multihash=z" + id.Hash().B58String()
}

func claimsRequests(cids []string) []load.Request {
	out := make([]load.Request, len(cids))
	for i, c := range cids {
		out[i] = load.Request{Path: claimsPath(c)}
	}
	return out
}

// checkClaimsAnswers checks a sample of sc's requests against cargate
// alone (there is no reference indexer): status 200, a CAR whose blocks
// all match their CIDs, whose root block is among them and decodes as a
// dag-cbor query result with at least one claim; and sc.ProbeUnknown, a
// multihash no CAR holds, must answer an empty result.
func checkClaimsAnswers(ctx context.Context, sc scenario, base string, n int) (string, bool) {
	c := load.NewClient(1)
	c.Timeout = time.Minute
	defer c.CloseIdleConnections()
	sample := sampleOf(sc.Requests, n)
	for _, r := range sample {
		status, body, err := get(ctx, c, base+r.Path)
		if err != nil {
			return fmt.Sprintf("cargate failed on %s: %v", r.Path, err), false
		}
		if status != http.StatusOK {
			return fmt.Sprintf("cargate answered %d, want 200, on %s", status, r.Path), false
		}
		if err := validQueryResult(body); err != nil {
			return fmt.Sprintf("%s: %d-byte answer: %v", r.Path, len(body), err), false
		}
	}
	// As Storacha's indexing service does, an unknown multihash answers
	// 200 with a query result that lists no claims.
	status, body, err := get(ctx, c, base+sc.ProbeUnknown)
	if err != nil || status != http.StatusOK {
		return fmt.Sprintf("unknown multihash %s: status %d, err %v; want 200", sc.ProbeUnknown, status, err), false
	}
	if err := validQueryResult(body); err == nil || err.Error() != errNoClaims.Error() {
		return fmt.Sprintf("unknown multihash %s: %v; want an empty query result", sc.ProbeUnknown, err), false
	}
	return fmt.Sprintf("valid query-result CARs (%d/%d), unknown → empty result", len(sample), len(sample)), true
}

// errNoClaims: a well-formed query result that lists no claims.
var errNoClaims = errors.New("result lists no claims")

func get(ctx context.Context, c *http.Client, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// validQueryResult checks one /claims answer.
func validQueryResult(body []byte) error {
	br, err := carv2.NewBlockReader(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not a CAR: %w", err)
	}
	if len(br.Roots) != 1 {
		return fmt.Errorf("%d roots, want 1", len(br.Roots))
	}
	var root []byte
	blocks := 0
	for {
		blk, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("block %d: %w", blocks, err)
		}
		blocks++
		want, err := blk.Cid().Prefix().Sum(blk.RawData())
		if err != nil || !want.Equals(blk.Cid()) {
			return fmt.Errorf("block %s does not match its CID", blk.Cid())
		}
		if blk.Cid().Equals(br.Roots[0]) {
			root = blk.RawData()
		}
	}
	if root == nil {
		return fmt.Errorf("root %s is not in the CAR (%d blocks)", br.Roots[0], blocks)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagcbor.Decode(nb, bytes.NewReader(root)); err != nil {
		return fmt.Errorf("root does not decode as dag-cbor: %w", err)
	}
	result, err := nb.Build().LookupByString(queryResultKey)
	if err != nil {
		return fmt.Errorf("root has no %q: %w", queryResultKey, err)
	}
	claims, err := result.LookupByString("claims")
	if err != nil {
		return fmt.Errorf("result has no claims: %w", err)
	}
	if claims.Length() < 1 {
		return errNoClaims
	}
	return nil
}
