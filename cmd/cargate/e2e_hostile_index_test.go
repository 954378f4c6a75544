package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"
	istypes "github.com/storacha/indexing-service/pkg/types"
)

// TestHostileWriterCannotBreakALegitimateFile: a writer the node
// delegated to (so its claims are accepted) publishes, over POST /claims,
// an index that places every block of a legitimate file in a shard of
// garbage, and tries indexes with absurd lengths. The absurd ones are
// refused at intake; the plausible lie is stored, yet after a fresh
// start the legitimate file is still served byte for byte (the bad
// place fails verification and the next is tried) and the node lives.
func TestHostileWriterCannotBreakALegitimateFile(t *testing.T) {
	origin, files, _ := blobOrigin(t)
	data := t.TempDir()
	file := make([]byte, 3<<20+12345) // four 1 MiB chunks and a root
	rand.Read(file)
	path := filepath.Join(t.TempDir(), "legit.bin")
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := cid.Decode(importRoots(t, data, path)[0])
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, data, "--fetch-allow", "127.0.0.1")
	_, car := fetch(t, "GET", srv.url+"/ipfs/"+root.String()+"?format=car")
	br, err := carv2.NewBlockReader(bytes.NewReader(car))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []multihash.Multihash
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b.Cid().Hash())
	}
	if len(blocks) < 5 {
		t.Fatalf("the file has %d blocks, want at least 5", len(blocks))
	}

	// The garbage shard, large enough that every lie stays inside it.
	garbage := make([]byte, 2<<20)
	rand.Read(garbage)
	shard := sum(garbage)
	files["/garbage"] = garbage
	lie := func(length uint64) []byte {
		view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, 1)
		for i, b := range blocks {
			view.SetSlice(shard, b, blobindex.Position{Offset: uint64(i) * 1000, Length: length})
		}
		ar, err := view.Archive()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(ar)
		files["/"+sum(b).B58String()] = b
		return b
	}

	cl, service := storachaClient(t, srv.url)
	agent, _ := signer.Generate()
	proof := delegation.WithProof(delegation.FromDelegation(delegateTo(t, data, agent.DID(), "--expires", "1h")))
	ctx := context.Background()
	shardURL, _ := url.Parse(origin.URL + "/garbage")
	loc, err := assert.Location.Delegate(agent, service, agent.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(shard), Location: []url.URL{*shardURL}}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.CacheClaim(ctx, agent, loc, claim.Provider{}, proof); err != nil {
		t.Fatalf("the garbage shard's location: %v", err)
	}
	publish := func(index []byte) error {
		h := sum(index)
		c := writerContent{root: root, shard: shard, indexCID: cid.NewCidV1(uint64(multicodec.Car), h)}
		u, _ := url.Parse(origin.URL + "/" + h.B58String())
		c.indexURL = *u
		cacheErr, indexErr := publishWithStoracha(t, cl, agent, service, c, proof)
		return errors.Join(cacheErr, indexErr)
	}
	for _, length := range []uint64{1 << 63, 64 << 30} {
		if err := publish(lie(length)); err == nil {
			t.Errorf("an index with block lengths of %d was accepted", length)
		}
	}
	if err := publish(lie(900)); err != nil {
		t.Fatalf("a plausible index from the delegated writer was refused: %v", err)
	}

	// The lie is stored and found beside the node's own index.
	res, err := cl.QueryClaims(ctx, istypes.Query{Type: istypes.QueryTypeStandard, Hashes: []multihash.Multihash{root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(res.Indexes()); n != 2 {
		t.Fatalf("%d indexes for the root, want the node's and the writer's", n)
	}

	// A fresh start: nothing cached, both indexes are found for the root.
	srv.stop(t)
	srv = startServe(t, data, "--fetch-allow", "127.0.0.1")
	for range 2 {
		resp, body := fetch(t, "GET", srv.url+"/ipfs/"+root.String())
		if resp.StatusCode != 200 || !bytes.Equal(body, file) {
			t.Fatalf("legitimate file: status %d, %d bytes (want 200, %d identical bytes); log:\n%s", resp.StatusCode, len(body), len(file), srv.log)
		}
	}
	if resp, _ := fetch(t, "GET", srv.url+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz %d after the hostile index", resp.StatusCode)
	}
}
