package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// The adversarial suite, part two (part one is e2e_hostile_test.go): the
// bullets of issue 11 that were covered by package tests alone, now
// against the binary. Each failed on the code before its fix.

// blockOf hashes data as a block of codec.
func blockOf(codec uint64, data []byte) rawBlock {
	mh, _ := multihash.Sum(data, multihash.SHA2_256, -1)
	return rawBlock{c: cid.NewCidV1(codec, mh), data: data}
}

// TestUndecodableBlocksAre4xx: blocks the IPLD decoders refuse (nested
// deeper than their 1,024-level limit, or a dag-cbor list that exceeds
// their allocation budget) used to answer 500 when a path or a page
// needed them decoded, and a CAR of them was cut off with no status
// line. They are the content's fault, not the gateway's: each is a 422
// with a short plain message, and the block itself is still served as
// raw bytes.
func TestUndecodableBlocksAre4xx(t *testing.T) {
	const depth = 5000
	wide := make([]byte, 5, 5+3_000_000) // a list of 3 million empty lists
	wide[0] = 0x9a
	binary.BigEndian.PutUint32(wide[1:], 3_000_000)
	wide = append(wide, bytes.Repeat([]byte{0x80}, 3_000_000)...)
	blocks := map[string]rawBlock{
		"deep dag-cbor": blockOf(cid.DagCBOR, append(bytes.Repeat([]byte{0x81}, depth), 0x00)),
		"deep dag-json": blockOf(cid.DagJSON, []byte(strings.Repeat("[", depth)+"0"+strings.Repeat("]", depth))),
		"wide dag-cbor": blockOf(cid.DagCBOR, wide),
	}
	var roots []cid.Cid
	var all []rawBlock
	for _, b := range blocks {
		roots = append(roots, b.c)
		all = append(all, b)
	}
	car := filepath.Join(t.TempDir(), "undecodable.car")
	writeCAR(t, car, roots, all...)
	data := t.TempDir()
	if got := importRoots(t, data, car); len(got) != len(roots) {
		t.Fatalf("import printed %d roots, want %d", len(got), len(roots))
	}
	s := startServe(t, data)
	for name, b := range blocks {
		url := s.url + "/ipfs/" + b.c.String()
		if resp, body := fetch(t, "GET", url+"?format=raw"); resp.StatusCode != 200 || !bytes.Equal(body, b.data) {
			t.Errorf("%s as raw: %d with %d bytes, want 200 with the block", name, resp.StatusCode, len(body))
		}
		for _, q := range []string{"", "/0", "?format=car", "?format=car&dag-scope=block", "?format=car&dag-scope=entity"} {
			for _, accept := range []string{"", "text/html"} {
				req, _ := http.NewRequest("GET", url+q, nil)
				if accept != "" {
					req.Header.Set("Accept", accept)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("%s%s (Accept %q): no answer: %v", name, q, accept, err)
					continue
				}
				body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				// A browser gets boxo's error page, as for any 4xx; it must
				// still carry the plain message and no internal text.
				short := accept != "" || len(body) < 300
				if resp.StatusCode != http.StatusUnprocessableEntity || err != nil || !short ||
					!strings.Contains(string(body), "cannot be decoded") || strings.Contains(string(body), "message structure") {
					t.Errorf("%s%s (Accept %q): %d, %d bytes %.120q, err %v; want 422 with a short plain message", name, q, accept, resp.StatusCode, len(body), body, err)
				}
			}
		}
	}
	if resp, _ := fetch(t, "GET", s.url+"/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz %d", resp.StatusCode)
	}
	if t.Failed() {
		t.Logf("log:\n%s", s.log)
	}
}
