package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cargate/cargate/bench/load"
)

// fetched is what one response was, reduced to what the check compares.
type fetched struct {
	status int
	sum    string // hex sha256 of the body
	n      int64
}

func fetch(ctx context.Context, c *http.Client, base string, r load.Request, mode checkMode) (fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+r.Path, nil)
	if err != nil {
		return fetched{}, err
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	var n int64
	if mode == checkLines {
		n, err = hashSortedLines(h, resp.Body)
	} else {
		n, err = io.Copy(h, resp.Body)
	}
	if err != nil {
		return fetched{}, err
	}
	return fetched{status: resp.StatusCode, sum: hex.EncodeToString(h.Sum(nil)), n: n}, nil
}

// hashSortedLines hashes the body's lines in sorted order, so two bodies
// with the same lines in another order hash the same.
func hashSortedLines(w io.Writer, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	lines := strings.Split(string(b), "\n")
	slices.Sort(lines)
	_, err = io.WriteString(w, strings.Join(lines, "\n"))
	return int64(len(b)), err
}

// sampleOf picks up to n requests spread evenly over the list.
func sampleOf(reqs []load.Request, n int) []load.Request {
	if len(reqs) <= n {
		return reqs
	}
	out := make([]load.Request, n)
	for i := range n {
		out[i] = reqs[i*len(reqs)/n]
	}
	return out
}

// compareGateways fetches a sample of sc's requests from both gateways and
// reports whether they gave the same status and, for checkBody, the same
// bytes. The reference must also give the expected status: if it does not,
// the harness or the data set is wrong, and that is an error too.
// cand may be empty (no cargate): then only the reference is checked.
func compareGateways(ctx context.Context, sc scenario, cand, ref string, n int) (string, bool) {
	c := load.NewClient(1)
	c.Timeout = 5 * time.Minute
	defer c.CloseIdleConnections()
	sample := sampleOf(sc.Requests, n)
	for _, r := range sample {
		fr, err := fetch(ctx, c, ref, r, sc.Check)
		if err != nil {
			return fmt.Sprintf("reference failed on %s: %v", r.Path, err), false
		}
		if fr.status != sc.Expect {
			return fmt.Sprintf("reference answered %d, want %d, on %s", fr.status, sc.Expect, r.Path), false
		}
		if cand == "" {
			continue
		}
		fc, err := fetch(ctx, c, cand, r, sc.Check)
		if err != nil {
			return fmt.Sprintf("cargate failed on %s: %v", r.Path, err), false
		}
		if fc.status != fr.status || (sc.Check != checkStatus && fc.sum != fr.sum) {
			return fmt.Sprintf("%s: cargate %d, %d bytes, sha256 %.12s; reference %d, %d bytes, sha256 %.12s",
				r.Path, fc.status, fc.n, fc.sum, fr.status, fr.n, fr.sum), false
		}
	}
	what := "identical bytes"
	switch sc.Check {
	case checkStatus:
		what = "same status"
	case checkLines:
		what = "same lines, any order"
	}
	if cand == "" {
		what = "reference only"
	}
	return fmt.Sprintf("%s (%d/%d)", what, len(sample), len(sample)), true
}
