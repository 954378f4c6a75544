package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	ucar "github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/invocation"
	"github.com/storacha/go-ucanto/core/ipld"
	"github.com/storacha/go-ucanto/core/message"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"
	"github.com/storacha/go-ucanto/ucan"
	isclient "github.com/storacha/indexing-service/pkg/client"
	istypes "github.com/storacha/indexing-service/pkg/types"
)

// writerContent is what a writer publishes about one root: an index
// blob (served by an HTTP origin) listing one block of one shard.
type writerContent struct {
	root     cid.Cid
	shard    multihash.Multihash
	indexCID cid.Cid
	indexURL url.URL
}

// newWriterContent makes an index for a root named by tag, listing one
// block at pos, and serves the index blob from origin's files.
func newWriterContent(t *testing.T, files map[string][]byte, originURL, tag string, pos blobindex.Position) writerContent {
	t.Helper()
	root := cid.NewCidV1(cid.Raw, sum([]byte("root "+tag)))
	shard := sum([]byte("shard " + tag))
	view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, 1)
	view.SetSlice(shard, root.Hash(), pos)
	ar, err := view.Archive()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(ar)
	h := sum(b)
	files["/"+h.B58String()] = b
	u, _ := url.Parse(originURL + "/" + h.B58String())
	return writerContent{root: root, shard: shard, indexCID: cid.NewCidV1(uint64(multicodec.Car), h), indexURL: *u}
}

func sum(b []byte) multihash.Multihash {
	h, _ := multihash.Sum(b, multihash.SHA2_256, -1)
	return h
}

// blobOrigin serves files by path and counts requests.
func blobOrigin(t *testing.T) (*httptest.Server, map[string][]byte, *atomic.Int64) {
	files := map[string][]byte{}
	var mu sync.Mutex
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mu.Lock()
		b, ok := files[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(srv.Close)
	return srv, files, &hits
}

// storachaClient is Storacha's client of the node at base, and the
// node's DID.
func storachaClient(t *testing.T, base string) (*isclient.Client, did.DID) {
	t.Helper()
	service := serviceDID(t, base)
	u, _ := url.Parse(base)
	cl, err := isclient.New(service, *u)
	if err != nil {
		t.Fatal(err)
	}
	return cl, service
}

// serviceDID reads the node's DID from its DID document.
func serviceDID(t *testing.T, base string) did.DID {
	t.Helper()
	_, body := fetch(t, "GET", base+"/.well-known/did.json")
	var doc struct{ ID string }
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	d, err := did.Parse(doc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// delegateTo runs `cargate delegate` for audience and reads the result.
func delegateTo(t *testing.T, data string, audience did.DID, extra ...string) delegation.Delegation {
	t.Helper()
	out := filepath.Join(t.TempDir(), "proof.car")
	if _, err := cargate(t, append([]string{"delegate", "--data-dir", data, "--audience", audience.String(), "--out", out}, extra...)...); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	d, err := delegation.Extract(b)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// publishWithStoracha publishes c through Storacha's own client as
// agent: the index blob's location with claim/cache, then assert/index.
func publishWithStoracha(t *testing.T, cl *isclient.Client, agent principal.Signer, service did.DID, c writerContent, opts ...delegation.Option) (cacheErr, indexErr error) {
	t.Helper()
	loc, err := assert.Location.Delegate(agent, service, agent.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(c.indexCID.Hash()), Location: []url.URL{c.indexURL}}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cacheErr = cl.CacheClaim(ctx, agent, loc, claim.Provider{}, opts...)
	indexErr = cl.PublishIndexClaim(ctx, agent, assert.IndexCaveats{Content: cidlink.Link{Cid: c.root}, Index: cidlink.Link{Cid: c.indexCID}}, opts...)
	return cacheErr, indexErr
}

// TestStorachaClientWritesWithDelegation: Storacha's own client
// publishes claim/cache and assert/index to `cargate indexer` with a
// delegation from `cargate delegate`, and finds them with QueryClaims;
// the same invocations from a key without a delegation are refused and
// store nothing.
func TestStorachaClientWritesWithDelegation(t *testing.T) {
	origin, files, _ := blobOrigin(t)
	data := t.TempDir()
	idx := startRole(t, "indexer", data, "--fetch-allow", "127.0.0.1")
	cl, service := storachaClient(t, idx.url)

	agent, _ := signer.Generate()
	dlg := delegateTo(t, data, agent.DID(), "--expires", "1h")
	good := newWriterContent(t, files, origin.URL, "delegated", blobindex.Position{Offset: 10, Length: 100})
	cacheErr, indexErr := publishWithStoracha(t, cl, agent, service, good, delegation.WithProof(delegation.FromDelegation(dlg)))
	if cacheErr != nil || indexErr != nil {
		t.Fatalf("delegated writer: claim/cache %v, assert/index %v", cacheErr, indexErr)
	}
	res, err := cl.QueryClaims(context.Background(), istypes.Query{Type: istypes.QueryTypeStandard, Hashes: []multihash.Multihash{good.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Claims()) < 2 || len(res.Indexes()) != 1 {
		t.Fatalf("QueryClaims: %d claims, %d indexes; want the index claim, its blob's location and the index", len(res.Claims()), len(res.Indexes()))
	}

	stranger, _ := signer.Generate()
	bad := newWriterContent(t, files, origin.URL, "stranger", blobindex.Position{Offset: 10, Length: 100})
	cacheErr, indexErr = publishWithStoracha(t, cl, stranger, service, bad)
	if cacheErr == nil || indexErr == nil {
		t.Fatalf("stranger: claim/cache %v, assert/index %v; want both refused", cacheErr, indexErr)
	}
	// A delegation the stranger made for itself is no authority either.
	self, _ := delegation.Delegate(stranger, stranger, []ucan.Capability[ucan.NoCaveats]{
		ucan.NewCapability(claim.CacheAbility, service.String(), ucan.NoCaveats{}),
		ucan.NewCapability(assert.IndexAbility, service.String(), ucan.NoCaveats{}),
	}, delegation.WithNoExpiration())
	cacheErr, indexErr = publishWithStoracha(t, cl, stranger, service, bad, delegation.WithProof(delegation.FromDelegation(self)))
	if cacheErr == nil || indexErr == nil {
		t.Fatalf("stranger with a self-made delegation: %v, %v; want both refused", cacheErr, indexErr)
	}
	for _, h := range []multihash.Multihash{bad.root.Hash(), bad.indexCID.Hash()} {
		if n := claimsUnder(t, cl, h); n != 0 {
			t.Errorf("stranger's claims stored under %s: %d", h.B58String(), n)
		}
	}
}

// claimsUnder counts the claims a query for h returns (none for 404,
// however the node words "unknown").
func claimsUnder(t *testing.T, cl *isclient.Client, h multihash.Multihash) int {
	t.Helper()
	res, err := cl.QueryClaims(context.Background(), istypes.Query{Type: istypes.QueryTypeStandard, Hashes: []multihash.Multihash{h}})
	var failed isclient.ErrFailedResponse
	if errors.As(err, &failed) && failed.StatusCode == http.StatusNotFound {
		return 0
	}
	if err != nil {
		t.Fatalf("query %s: %v", h.B58String(), err)
	}
	return len(res.Claims())
}

// messageBody encodes invs as one agent message CAR.
func messageBody(t *testing.T, invs ...invocation.Invocation) []byte {
	t.Helper()
	msg, err := message.Build(invs, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(ucar.Encode([]ipld.Link{msg.Root().Link()}, msg.Blocks()))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdversarialIntake runs hostile writers against `cargate indexer`
// without --fetch-allow: index blobs on loopback or private addresses
// are refused without contacting them; a message with one bad claim
// stores nothing; 100 slow bodies time out while /healthz answers.
func TestAdversarialIntake(t *testing.T) {
	origin, files, hits := blobOrigin(t)
	data := t.TempDir()
	idx := startRole(t, "indexer", data, "--intake-body-timeout", "2s", "--intake-concurrency", "4")
	cl, service := storachaClient(t, idx.url)
	agent, _ := signer.Generate()
	proof := delegation.WithProof(delegation.FromDelegation(delegateTo(t, data, agent.DID())))

	// Index blobs on loopback (the test origin) and on a private address.
	onLoopback := newWriterContent(t, files, origin.URL, "loopback", blobindex.Position{Offset: 1, Length: 10})
	onPrivate := newWriterContent(t, files, "http://10.255.255.1:9", "private", blobindex.Position{Offset: 1, Length: 10})
	for name, c := range map[string]writerContent{"loopback": onLoopback, "private": onPrivate} {
		_, indexErr := publishWithStoracha(t, cl, agent, service, c, proof)
		if indexErr == nil {
			t.Errorf("%s index blob: accepted", name)
		} else if strings.Contains(indexErr.Error(), "Not Found") || strings.Contains(indexErr.Error(), "connection refused") {
			t.Errorf("%s index blob: the refusal echoes the remote side: %v", name, indexErr)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the loopback origin was contacted %d times", n)
	}

	// One bad claim in a message: nothing of it is stored.
	shardLoc, _ := assert.Location.Delegate(agent, service, agent.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(sum([]byte("a good shard"))), Location: []url.URL{{Scheme: "https", Host: "blobs.example", Path: "/s"}}},
		delegation.WithNoExpiration())
	badIndex, _ := assert.Index.Invoke(agent, service, service.String(),
		assert.IndexCaveats{Content: cidlink.Link{Cid: onLoopback.root}, Index: cidlink.Link{Cid: onLoopback.indexCID}}, proof)
	cache, _ := claim.Cache.Invoke(agent, service, service.String(), claim.CacheCaveats{Claim: shardLoc.Link()}, proof)
	for b, err := range shardLoc.Blocks() {
		if err == nil {
			cache.Attach(b)
		}
	}
	body := messageBody(t, cache, badIndex)
	resp, err := http.Post(idx.url+"/claims", "application/vnd.ipld.car", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("message with a bad claim: %d, want 200 with error receipts", resp.StatusCode)
	}
	if n := claimsUnder(t, cl, sum([]byte("a good shard"))); n != 0 {
		t.Fatalf("the good claim of a refused message was stored (%d claims)", n)
	}

	// 100 slow bodies: each sends a byte, then nothing. Past the intake
	// slots they are turned away at once (429); the rest hold their slot
	// until the body deadline.
	var wg sync.WaitGroup
	var pipes []*io.PipeWriter
	answered := make(chan int, 100)
	for range 100 {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", idx.url+"/claims", pr)
			req.Header.Set("Content-Type", "application/vnd.ipld.car")
			code := -1
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				code = resp.StatusCode
			}
			answered <- code
		}()
		go pw.Write([]byte{0x0a})
	}
	defer func() {
		for _, pw := range pipes {
			pw.Close()
		}
	}()
	hc := &http.Client{Timeout: 20 * time.Second}
	healthy := func(when string) {
		resp, err := hc.Get(idx.url + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("/healthz %s: %v %v", when, resp, err)
		}
		resp.Body.Close()
	}
	// Wait (event-based) until all but the slot holders were answered.
	busy := 0
	for busy < 90 {
		select {
		case code := <-answered:
			if code == http.StatusTooManyRequests {
				busy++
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d slow posts turned away", busy)
		}
		if busy%10 == 0 {
			healthy("while slow posts are pending")
		}
	}
	healthy("while slots are held by slow bodies")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("slow POST /claims bodies did not time out")
	}
	resp, err = hc.Get(idx.url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz after slow posts: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestImportWithDelegation: `cargate import --indexer-url` from another
// key publishes only with the delegation `cargate delegate` printed (its
// text form), and the key file may be in the ucanto tools' form.
func TestImportWithDelegation(t *testing.T) {
	data := t.TempDir()
	idx := startRole(t, "indexer", data)
	cl, _ := storachaClient(t, idx.url)
	agent, _ := signer.Generate()
	keyText, _ := signer.Format(agent)
	keyFile := filepath.Join(t.TempDir(), "writer.key")
	os.WriteFile(keyFile, []byte("# "+agent.DID().String()+"\n"+keyText+"\n"), 0o600)
	text, err := cargate(t, "delegate", "--data-dir", data, "--audience", agent.DID().String(), "--can", "claim/cache")
	if err != nil {
		t.Fatal(err)
	}
	proof := filepath.Join(t.TempDir(), "proof.txt")
	os.WriteFile(proof, []byte(text), 0o600)

	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("written with a delegation"), 0o644)
	common := []string{"import", "--data-dir", t.TempDir(), "--blob-store", filepath.Join(data, "blobs"), "--key-file", keyFile, "--indexer-url", idx.url, "--quiet"}
	if _, err := cargate(t, append(common, src)...); err == nil || !strings.Contains(err.Error(), "invalid claim") {
		t.Fatalf("import without --proof: %v, want the indexer's refusal", err)
	}
	out, err := cargate(t, append(common, "--proof", proof, src)...)
	if err != nil {
		t.Fatalf("import with --proof: %v", err)
	}
	root, err := cid.Decode(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("import printed %q: %v", out, err)
	}
	if n := claimsUnder(t, cl, root.Hash()); n == 0 {
		t.Fatal("claims imported with a delegation are not found")
	}

	// Revoked while the indexer runs: the same proof is refused within
	// a second or so, and what it tried to publish is not stored.
	if out, err := cargate(t, "revoke", "--data-dir", data, proof); err != nil || !strings.Contains(out, "revoked ") {
		t.Fatalf("cargate revoke: %q %v", out, err)
	}
	for i := 0; ; i++ {
		later := t.TempDir()
		os.WriteFile(filepath.Join(later, "b.txt"), []byte(fmt.Sprintf("written after the revocation, try %d", i)), 0o644)
		out, err := cargate(t, append(common, "--proof", proof, later)...)
		if err != nil {
			if !strings.Contains(strings.ToLower(err.Error()), "revoked") {
				t.Fatalf("import with a revoked proof: %v, want a refusal naming the revocation", err)
			}
			break
		}
		if i == 40 { // hang guard: the list is read again within a second
			t.Fatalf("imports with the revoked proof still accepted (last printed %q)", out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
