package indexer_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/multiformats/go-multicodec"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-libstoracha/blobindex"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	"github.com/storacha/go-libstoracha/capabilities/claim"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-ucanto/client"
	"github.com/storacha/go-ucanto/core/car"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/core/invocation"
	"github.com/storacha/go-ucanto/core/ipld"
	"github.com/storacha/go-ucanto/core/ipld/block"
	"github.com/storacha/go-ucanto/core/message"
	"github.com/storacha/go-ucanto/core/receipt"
	"github.com/storacha/go-ucanto/core/result"
	fdm "github.com/storacha/go-ucanto/core/result/failure/datamodel"
	unit "github.com/storacha/go-ucanto/core/result/ok"
	udm "github.com/storacha/go-ucanto/core/result/ok/datamodel"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"
	ucanhttp "github.com/storacha/go-ucanto/transport/http"
	"github.com/storacha/go-ucanto/ucan"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/blobstore"
	"github.com/cargate/cargate/internal/claimstore"
	"github.com/cargate/cargate/internal/importer"
)

// intakeEnv is a service with its HTTP API, a blob directory the
// service reads index blobs from, and a way to send messages.
type intakeEnv struct {
	svc   *indexer.Service
	id    principal.Signer
	store claimstore.Store
	blobs *blobstore.Dir
	srv   *httptest.Server
	conn  client.Connection
}

func newIntakeEnv(t *testing.T, reader func(*blobstore.Dir) blobstore.URLReader, cfg indexer.IntakeConfig) *intakeEnv {
	t.Helper()
	var e intakeEnv
	var r blobstore.URLReader
	if reader != nil {
		// the reader needs the dir, which newService makes: build twice.
		_, _, _, dir := newService(t, nil, nil)
		r = reader(dir)
		e.svc, e.id, e.store, _ = newService(t, nil, r)
		e.blobs = dir
	} else {
		e.svc, e.id, e.store, e.blobs = newService(t, nil, nil)
	}
	api, err := indexer.NewAPI(e.svc, indexer.APIConfig{Intake: cfg}, prometheus.NewRegistry(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	api.OpsRoutes(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	u, _ := url.Parse(e.srv.URL + "/claims")
	if e.conn, err = client.NewConnection(e.id, ucanhttp.NewChannel(u)); err != nil {
		t.Fatal(err)
	}
	return &e
}

func digestOf(b []byte) multihash.Multihash {
	h, _ := multihash.Sum(b, multihash.SHA2_256, -1)
	return h
}

// storeBlob writes data to the env's blob dir and returns its URL.
func (e *intakeEnv) storeBlob(t *testing.T, data []byte) (multihash.Multihash, url.URL) {
	t.Helper()
	h := digestOf(data)
	key := blobstore.Key(h)
	if err := e.blobs.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.blobs.URL(key))
	return h, *u
}

// location is a location claim by issuer for digest at u, with an
// optional stated size.
func location(t *testing.T, issuer principal.Signer, aud ucan.Principal, digest multihash.Multihash, u url.URL, size *uint64) delegation.Delegation {
	t.Helper()
	nb := assert.LocationCaveats{Content: ctypes.FromHash(digest), Location: []url.URL{u}}
	if size != nil {
		nb.Range = &assert.Range{Offset: 0, Length: size}
	}
	d, err := assert.Location.Delegate(issuer, aud, issuer.DID().String(), nb, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// indexSet is what a writer publishes for one root: the index blob's
// location claim and the root's index claim.
type indexSet struct {
	root     cid.Cid
	shard    multihash.Multihash
	indexLoc delegation.Delegation
	index    delegation.Delegation
}

// newIndex stores an index blob listing one block of a shard at pos
// (distinct per tag) and signs its claims as issuer.
func (e *intakeEnv) newIndex(t *testing.T, issuer principal.Signer, tag string, pos blobindex.Position) indexSet {
	t.Helper()
	root := cid.NewCidV1(cid.Raw, digestOf([]byte("root "+tag)))
	shard := digestOf([]byte("shard " + tag))
	view := blobindex.NewShardedDagIndexView(cidlink.Link{Cid: root}, 1)
	view.SetSlice(shard, root.Hash(), pos)
	ar, err := view.Archive()
	if err != nil {
		t.Fatal(err)
	}
	h, u := e.storeBlob(t, readAllT(t, ar))
	idxCID := cid.NewCidV1(uint64(multicodec.Car), h)
	idx, err := assert.Index.Delegate(issuer, e.id, issuer.DID().String(),
		assert.IndexCaveats{Content: cidlink.Link{Cid: root}, Index: cidlink.Link{Cid: idxCID}}, delegation.WithNoExpiration())
	if err != nil {
		t.Fatal(err)
	}
	return indexSet{root: root, shard: shard, indexLoc: location(t, issuer, e.id, h, u, nil), index: idx}
}

// cacheInv wraps claim in a claim/cache invocation by agent.
func (e *intakeEnv) cacheInv(t *testing.T, agent principal.Signer, c delegation.Delegation, opts ...delegation.Option) invocation.Invocation {
	t.Helper()
	inv, err := claim.Cache.Invoke(agent, e.id, e.id.DID().String(),
		claim.CacheCaveats{Claim: c.Link(), Provider: claim.Provider{}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range c.Blocks() {
		if err != nil {
			t.Fatal(err)
		}
		inv.Attach(b)
	}
	return inv
}

// send executes invs in one message and returns each one's receipt
// error (nil: ok).
func (e *intakeEnv) send(t *testing.T, invs ...invocation.Invocation) []error {
	t.Helper()
	resp, err := client.Execute(context.Background(), invs, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	reader, _ := receipt.NewReceiptReaderFromTypes[unit.Unit, fdm.FailureModel](udm.UnitType(), fdm.FailureType())
	out := make([]error, len(invs))
	for i, inv := range invs {
		l, ok := resp.Get(inv.Link())
		if !ok {
			t.Fatalf("no receipt for invocation %d", i)
		}
		r, err := reader.Read(l, resp.Blocks())
		if err != nil {
			t.Fatal(err)
		}
		if _, x := result.Unwrap(r.Out()); x != (fdm.FailureModel{}) {
			out[i] = errors.New(x.Message)
		}
	}
	return out
}

// stored reports whether any claim is held under digest.
func (e *intakeEnv) stored(t *testing.T, digest multihash.Multihash) bool {
	t.Helper()
	ids, err := e.store.Find(context.Background(), digest)
	if err != nil {
		t.Fatal(err)
	}
	return len(ids) > 0
}

var goodPos = blobindex.Position{Offset: 100, Length: 1000}

// TestIntakeAuthority: only the service's key, or a valid delegation
// from it for the ability used, may write; anything else gets an error
// receipt and stores nothing.
func TestIntakeAuthority(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	agent, _ := signer.Generate()
	stranger, _ := signer.Generate()
	dlg, err := indexer.Delegate(e.id, agent, indexer.WriteAbilities, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	onlyIndex, _ := indexer.Delegate(e.id, agent, []string{assert.IndexAbility}, time.Hour)
	notOurs, _ := indexer.Delegate(stranger, agent, indexer.WriteAbilities, time.Hour)
	expired, err := delegation.Delegate(e.id, agent,
		[]ucan.Capability[ucan.NoCaveats]{ucan.NewCapability(claim.CacheAbility, e.id.DID().String(), ucan.NoCaveats{})},
		delegation.WithExpiration(int(time.Now().Add(-time.Minute).Unix())))
	if err != nil {
		t.Fatal(err)
	}
	proof := func(d delegation.Delegation) delegation.Option {
		return delegation.WithProof(delegation.FromDelegation(d))
	}
	for i, tc := range []struct {
		name  string
		agent principal.Signer
		opts  []delegation.Option
		ok    bool
	}{
		{"stranger, no delegation", stranger, nil, false},
		{"agent without its delegation", agent, nil, false},
		{"delegation from a key that is not the service", agent, []delegation.Option{proof(notOurs)}, false},
		{"delegation for another ability", agent, []delegation.Option{proof(onlyIndex)}, false},
		{"expired delegation", agent, []delegation.Option{proof(expired)}, false},
		{"delegated agent", agent, []delegation.Option{proof(dlg)}, true},
		{"the service's own key", e.id, nil, true},
	} {
		loc := location(t, tc.agent, e.id, digestOf([]byte{byte(i)}), url.URL{Scheme: "https", Host: "blobs.example", Path: "/x"}, nil)
		errs := e.send(t, e.cacheInv(t, tc.agent, loc, tc.opts...))
		if (errs[0] == nil) != tc.ok {
			t.Errorf("%s: receipt error %v, want ok=%v", tc.name, errs[0], tc.ok)
		}
		if got := e.stored(t, digestOf([]byte{byte(i)})); got != tc.ok {
			t.Errorf("%s: stored=%v, want %v", tc.name, got, tc.ok)
		}
	}

	// A stranger's self-issued assert/location (with = its own DID) passes
	// go-ucanto's validator but is not a capability on this service.
	self, err := assert.Location.Invoke(stranger, e.id, stranger.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(digestOf([]byte("self"))), Location: []url.URL{{Scheme: "https", Host: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if errs := e.send(t, self); errs[0] == nil || !strings.Contains(errs[0].Error(), "must be invoked with") {
		t.Errorf("self-issued claim: %v, want a refusal naming the resource", errs[0])
	}
	if e.stored(t, digestOf([]byte("self"))) {
		t.Error("self-issued claim stored")
	}
}

// TestIntakeCachedClaimChecks: a claim/cache invocation with full
// authority still stores only a claim that is signed by its own issuer,
// in date, and a claim at all.
func TestIntakeCachedClaimChecks(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	alice, _ := signer.Generate()
	mallory, _ := signer.Generate()
	past := int(time.Now().Add(-time.Hour).Unix())
	notAClaim, err := indexer.Delegate(e.id, alice, indexer.WriteAbilities, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		claim  delegation.Delegation
		reason string
	}{
		{"mallory signs as alice", locationClaim(t, forged{mallory, alice.DID()}, e.id, digestOf([]byte("forged"))), "bad signature"},
		{"expired claim", locationClaim(t, alice, e.id, digestOf([]byte("expired")), delegation.WithExpiration(past)), "expired"},
		{"a delegation, not a claim", notAClaim, "capabilities"},
	} {
		errs := e.send(t, e.cacheInv(t, e.id, tc.claim))
		if errs[0] == nil || !strings.Contains(errs[0].Error(), tc.reason) {
			t.Errorf("%s: %v, want a refusal mentioning %q", tc.name, errs[0], tc.reason)
		}
	}
	for _, s := range []string{"forged", "expired"} {
		if e.stored(t, digestOf([]byte(s))) {
			t.Errorf("%s claim stored", s)
		}
	}
}

// TestIntakeAllOrNothing: a message with a good location claim and an
// index claim that fails its checks stores nothing, and every receipt
// says so.
func TestIntakeAllOrNothing(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	good := location(t, e.id, e.id, digestOf([]byte("good")), url.URL{Scheme: "https", Host: "blobs.example", Path: "/g"}, nil)
	bad := e.newIndex(t, e.id, "bad", blobindex.Position{Offset: 0, Length: 1 << 63})
	errs := e.send(t, e.cacheInv(t, e.id, good), e.cacheInv(t, e.id, bad.indexLoc), e.cacheInv(t, e.id, bad.index))
	for i, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "not stored") {
			t.Errorf("receipt %d: %v, want a not-stored error", i, err)
		}
	}
	for _, h := range []multihash.Multihash{digestOf([]byte("good")), bad.root.Hash(), bad.shard} {
		if e.stored(t, h) {
			t.Errorf("%s stored from a refused message", h.B58String())
		}
	}
	// The same message without the bad claim is stored whole.
	okSet := e.newIndex(t, e.id, "ok", goodPos)
	for i, err := range e.send(t, e.cacheInv(t, e.id, good), e.cacheInv(t, e.id, okSet.index), e.cacheInv(t, e.id, okSet.indexLoc)) {
		if err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
	}
	for _, h := range []multihash.Multihash{digestOf([]byte("good")), okSet.root.Hash()} {
		if !e.stored(t, h) {
			t.Errorf("%s not stored from an accepted message", h.B58String())
		}
	}
}

// TestIntakeIndexPositions: an index listing a position no real block
// can have is refused whole; the limits are the importer's largest block
// and the shard's size when a location claim states it.
func TestIntakeIndexPositions(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	shardSize := uint64(4096)
	for _, tc := range []struct {
		name string
		pos  blobindex.Position
		ok   bool
	}{
		{"length 2^63", blobindex.Position{Offset: 0, Length: 1 << 63}, false},
		{"length 64 GiB", blobindex.Position{Offset: 0, Length: 64 << 30}, false},
		{"length just over the largest block", blobindex.Position{Offset: 0, Length: importer.MaxBlockSize + 1}, false},
		{"offset+length overflows", blobindex.Position{Offset: 1<<64 - 10, Length: 100}, false},
		{"past the shard's stated end", blobindex.Position{Offset: 4000, Length: 200}, false},
		{"inside the shard", blobindex.Position{Offset: 3000, Length: 1000}, true},
	} {
		set := e.newIndex(t, e.id, tc.name, tc.pos)
		shardLoc := location(t, e.id, e.id, set.shard, url.URL{Scheme: "https", Host: "blobs.example", Path: "/s"}, &shardSize)
		errs := e.send(t, e.cacheInv(t, e.id, shardLoc), e.cacheInv(t, e.id, set.indexLoc), e.cacheInv(t, e.id, set.index))
		if (errs[2] == nil) != tc.ok {
			t.Errorf("%s: index receipt %v, want ok=%v", tc.name, errs[2], tc.ok)
		}
		if got := e.stored(t, set.root.Hash()); got != tc.ok {
			t.Errorf("%s: stored=%v, want %v", tc.name, got, tc.ok)
		}
	}
}

// TestIntakeFetchPolicy: an index blob whose location is on loopback is
// not fetched when the policy refuses loopback, and the receipt does not
// echo what the host would have answered.
func TestIntakeFetchPolicy(t *testing.T) {
	var hits atomic.Int64
	secret := "internal service answer"
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, secret)
	}))
	defer origin.Close()
	strict, _ := blobstore.ParseFetchPolicy("")
	e := newIntakeEnv(t, func(dir *blobstore.Dir) blobstore.URLReader {
		return blobstore.NewRouter(blobstore.NewHTTP(blobstore.HTTPConfig{Policy: strict}, nil), dir)
	}, indexer.IntakeConfig{})
	set := e.newIndex(t, e.id, "loopback", goodPos)
	// The same index bytes, claimed at a loopback URL instead.
	h := set.indexLoc
	c, _ := indexer.Decode(h)
	u, _ := url.Parse(origin.URL + "/index")
	onLoopback := location(t, e.id, e.id, c.Content, *u, nil)
	errs := e.send(t, e.cacheInv(t, e.id, onLoopback), e.cacheInv(t, e.id, set.index))
	if errs[1] == nil || strings.Contains(errs[1].Error(), secret) {
		t.Fatalf("index at a loopback URL: %v, want a refusal without the host's answer", errs[1])
	}
	if hits.Load() != 0 {
		t.Fatalf("loopback host contacted %d times", hits.Load())
	}
	if e.stored(t, set.root.Hash()) {
		t.Fatal("index claim stored")
	}
}

// TestIntakeMessageVersions: a message keyed ucanto/message@7.1.0 (JS
// ucanto, cargate's old clients) is executed like a 7.0.0 one.
func TestIntakeMessageVersions(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	loc := location(t, e.id, e.id, digestOf([]byte("v710")), url.URL{Scheme: "https", Host: "b.example", Path: "/v"}, nil)
	body := messageV710(t, e.cacheInv(t, e.id, loc))
	resp, err := http.Post(e.srv.URL+"/claims", "application/vnd.ipld.car", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("7.1.0 message: %d %s", resp.StatusCode, readAllT(t, resp.Body))
	}
	if !e.stored(t, digestOf([]byte("v710"))) {
		t.Fatal("claim of a 7.1.0 message not stored")
	}
	// Not a message at all: 400, nothing to execute.
	resp2, err := http.Post(e.srv.URL+"/", "application/vnd.ipld.car", strings.NewReader("\x0anot a car"))
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 400 {
		t.Fatalf("garbage body on POST /: %d, want 400", resp2.StatusCode)
	}
}

// TestIntakeLimits: a body over the limit is 413; with every intake slot
// taken by a slow body, the next POST is 429 with Retry-After at once;
// the slow body times out and frees its slot.
func TestIntakeLimits(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{MaxBodyBytes: 1000, MaxConcurrent: 1, BodyTimeout: 500 * time.Millisecond})
	resp, err := http.Post(e.srv.URL+"/claims", "application/vnd.ipld.car", bytes.NewReader(make([]byte, 5000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d, want 413", resp.StatusCode)
	}

	pr, pw := io.Pipe()
	defer pw.Close()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/claims", pr)
		req.Header.Set("Content-Type", "application/vnd.ipld.car")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- -1
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	pw.Write([]byte{0x0a}) // the request is in: its slot is taken
	deadline := time.Now().Add(30 * time.Second)
	busy := false
	for time.Now().Before(deadline) && !busy {
		r, err := http.Post(e.srv.URL+"/claims", "application/vnd.ipld.car", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == http.StatusTooManyRequests {
			busy = true
			if r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if !busy {
		t.Fatal("intake never reported busy while its only slot was held")
	}
	select {
	case code := <-slow:
		if code != 400 && code != -1 {
			t.Fatalf("slow body answered %d, want 400 or a closed connection", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("slow body never timed out")
	}
}

// messageV710 encodes invs as JS ucanto does: the message root keyed
// ucanto/message@7.1.0.
func messageV710(t *testing.T, invs ...invocation.Invocation) []byte {
	t.Helper()
	msg, err := message.Build(invs, nil)
	if err != nil {
		t.Fatal(err)
	}
	rootBytes := bytes.Replace(msg.Root().Bytes(), []byte("ucanto/message@7.0.0"), []byte("ucanto/message@7.1.0"), 1)
	h := digestOf(rootBytes)
	root := cidlink.Link{Cid: cid.NewCidV1(cid.DagCBOR, h)}
	var blocks []ipld.Block
	for b, err := range msg.Blocks() {
		if err != nil {
			t.Fatal(err)
		}
		if b.Link().String() != msg.Root().Link().String() {
			blocks = append(blocks, b)
		}
	}
	blocks = append(blocks, block.NewBlock(root, rootBytes))
	return readAllT(t, car.Encode([]ipld.Link{root}, func(yield func(ipld.Block, error) bool) {
		for _, b := range blocks {
			if !yield(b, nil) {
				return
			}
		}
	}))
}

// TestIntakeSpaceTrust: a location claim's space is trusted only when the
// node's key signed the claim or the claim carries the space's own
// delegation to its issuer; any other claim is stored, space untrusted.
func TestIntakeSpaceTrust(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	agent, _ := signer.Generate()
	other, _ := signer.Generate()
	space, _ := signer.Generate()
	dlg, _ := indexer.Delegate(e.id, agent, indexer.WriteAbilities, time.Hour)
	spaceCap := []ucan.Capability[ucan.NoCaveats]{ucan.NewCapability("space/blob/add", space.DID().String(), ucan.NoCaveats{})}
	spaceToAgent, _ := delegation.Delegate(space, agent, spaceCap, delegation.WithNoExpiration())
	spaceToOther, _ := delegation.Delegate(space, other, spaceCap, delegation.WithNoExpiration())
	forgedSpace, _ := delegation.Delegate(forged{other, space.DID()}, agent, spaceCap, delegation.WithNoExpiration())
	for i, tc := range []struct {
		name    string
		issuer  principal.Signer
		proof   delegation.Delegation
		trusted bool
	}{
		{"the node's own key", e.id, nil, true},
		{"a writer without the space's delegation", agent, nil, false},
		{"a writer holding the space's delegation", agent, spaceToAgent, true},
		{"the space's delegation to someone else", agent, spaceToOther, false},
		{"a forged space delegation", agent, forgedSpace, false},
	} {
		h := digestOf([]byte("space " + tc.name))
		opts := []delegation.Option{delegation.WithNoExpiration()}
		if tc.proof != nil {
			opts = append(opts, delegation.WithProof(delegation.FromDelegation(tc.proof)))
		}
		loc, err := assert.Location.Delegate(tc.issuer, e.id, tc.issuer.DID().String(), assert.LocationCaveats{
			Content: ctypes.FromHash(h), Location: []url.URL{{Scheme: "https", Host: "b.example", Path: "/" + strings.Repeat("x", i)}}, Space: space.DID(),
		}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if errs := e.send(t, e.cacheInv(t, agent, loc, delegation.WithProof(delegation.FromDelegation(dlg)))); errs[0] != nil {
			t.Fatalf("%s: %v", tc.name, errs[0])
		}
		claims, err := e.svc.Claims(context.Background(), h)
		if err != nil || len(claims) != 1 {
			t.Fatalf("%s: %d claims, %v", tc.name, len(claims), err)
		}
		if claims[0].Space != space.DID() || claims[0].SpaceTrusted != tc.trusted {
			t.Errorf("%s: space %s trusted=%v, want %s trusted=%v", tc.name, claims[0].Space, claims[0].SpaceTrusted, space.DID(), tc.trusted)
		}
	}
}

// TestIntakeRevocationHook: a delegation the hook reports revoked is no
// authority; another one still is.
func TestIntakeRevocationHook(t *testing.T) {
	var revoked atomic.Value
	revoked.Store("")
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{Revoked: func(_ context.Context, l ucan.Link) bool {
		return l.String() == revoked.Load().(string)
	}})
	agent, _ := signer.Generate()
	bad, _ := indexer.Delegate(e.id, agent, indexer.WriteAbilities, time.Hour)
	good, _ := indexer.Delegate(e.id, agent, indexer.WriteAbilities, 2*time.Hour)
	revoked.Store(bad.Link().String())
	for _, tc := range []struct {
		name string
		dlg  delegation.Delegation
		ok   bool
	}{{"revoked", bad, false}, {"not revoked", good, true}} {
		h := digestOf([]byte("revocation " + tc.name))
		loc := location(t, agent, e.id, h, url.URL{Scheme: "https", Host: "b.example", Path: "/r"}, nil)
		errs := e.send(t, e.cacheInv(t, agent, loc, delegation.WithProof(delegation.FromDelegation(tc.dlg))))
		if (errs[0] == nil) != tc.ok || e.stored(t, h) != tc.ok {
			t.Errorf("%s: receipt %v, stored %v; want ok=%v", tc.name, errs[0], e.stored(t, h), tc.ok)
		}
	}
}

// TestClientJudgesSpaces: a gateway's Client trusts spaces as the
// indexer does: the indexer's own claims, not a writer's bare claim.
func TestClientJudgesSpaces(t *testing.T) {
	e := newIntakeEnv(t, nil, indexer.IntakeConfig{})
	agent, _ := signer.Generate()
	space, _ := signer.Generate()
	dlg, _ := indexer.Delegate(e.id, agent, indexer.WriteAbilities, time.Hour)
	h := digestOf([]byte("client space"))
	for _, issuer := range []principal.Signer{e.id, agent} {
		loc, err := assert.Location.Delegate(issuer, e.id, issuer.DID().String(), assert.LocationCaveats{
			Content: ctypes.FromHash(h), Location: []url.URL{{Scheme: "https", Host: "b.example", Path: "/" + issuer.DID().String()}}, Space: space.DID(),
		}, delegation.WithNoExpiration())
		if err != nil {
			t.Fatal(err)
		}
		if errs := e.send(t, e.cacheInv(t, agent, loc, delegation.WithProof(delegation.FromDelegation(dlg)))); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	c, err := indexer.NewClient(e.srv.URL, indexer.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Query(context.Background(), indexer.Query{Hashes: []multihash.Multihash{h}, Type: indexer.QueryLocation})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Claims) != 2 {
		t.Fatalf("%d claims, want 2", len(res.Claims))
	}
	for _, cl := range res.Claims {
		own := cl.Delegation.Issuer().DID() == e.id.DID()
		if cl.SpaceTrusted != own {
			t.Errorf("claim by %s: SpaceTrusted=%v, want %v", cl.Delegation.Issuer().DID(), cl.SpaceTrusted, own)
		}
	}
}
