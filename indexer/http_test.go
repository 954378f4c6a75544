package indexer_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipni/go-libipni/find/model"
	"github.com/multiformats/go-multibase"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/storacha/go-libstoracha/capabilities/assert"
	ctypes "github.com/storacha/go-libstoracha/capabilities/types"
	"github.com/storacha/go-libstoracha/metadata"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/ucan"

	"github.com/cargate/cargate/indexer"
)

// serveAPI starts the HTTP API of svc on an httptest server.
func serveAPI(t *testing.T, svc *indexer.Service) *httptest.Server {
	t.Helper()
	api, err := indexer.NewAPI(svc, indexer.APIConfig{}, prometheus.NewRegistry(), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Routes(mux)
	api.OpsRoutes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp, readAllT(t, resp.Body)
}

func mb(h multihash.Multihash) string {
	s, _ := multibase.Encode(multibase.Base58BTC, h)
	return s
}

func TestGetClaims(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	unknown, _ := multihash.Sum([]byte("nobody has this"), multihash.SHA2_256, -1)
	for _, tc := range []struct {
		name    string
		query   string
		status  int
		indexes int // in a 200 answer
	}{
		{"root, standard", "multihash=" + mb(f.root.Hash()), 200, 1},
		{"root, index_or_location", "multihash=" + mb(f.root.Hash()) + "&type=index_or_location", 200, 1},
		// As Storacha's service: nothing known is an empty result, not 404.
		{"root, location only: the root has no location claim", "multihash=" + mb(f.root.Hash()) + "&type=location", 200, 0},
		{"unknown multihash", "multihash=" + mb(unknown), 200, 0},
		{"not multibase", "multihash=" + f.root.Hash().B58String(), 400, 0},
		{"no multihash", "", 400, 0},
		{"unknown type", "multihash=" + mb(f.root.Hash()) + "&type=everything", 400, 0},
		{"bad space", "multihash=" + mb(f.root.Hash()) + "&spaces=nope", 400, 0},
		{"standard_compressed takes one multihash", "multihash=" + mb(f.root.Hash()) + "&multihash=" + mb(unknown) + "&type=standard_compressed", 400, 0},
	} {
		resp, body := get(t, srv.URL+"/claims?"+tc.query)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d (%s), want %d", tc.name, resp.StatusCode, body, tc.status)
			continue
		}
		if tc.status == 200 {
			res, err := indexer.DecodeResult(bytes.NewReader(body))
			if err != nil || len(res.Indexes) != tc.indexes {
				t.Errorf("%s: decode: %v (%v)", tc.name, err, res)
			}
		}
	}
	// gzip when accepted.
	resp, body := get(t, srv.URL+"/claims?multihash="+mb(f.root.Hash()), "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := indexer.DecodeResult(zr); err != nil {
		t.Fatalf("gzipped result: %v", err)
	}
}

func TestClientQuery(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	c, err := indexer.NewClient(srv.URL, indexer.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := f.svc.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{f.root.Hash()}})
	if len(res.Claims) != len(want.Claims) || len(res.Indexes) != len(want.Indexes) {
		t.Fatalf("client found %d claims, %d indexes; service %d, %d", len(res.Claims), len(res.Indexes), len(want.Claims), len(want.Indexes))
	}
	unknown, _ := multihash.Sum([]byte("unknown"), multihash.SHA2_256, -1)
	if _, err := c.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{unknown}}); !errors.Is(err, indexer.ErrNotFound) {
		t.Fatalf("unknown: %v, want ErrNotFound", err)
	}
	down, _ := indexer.NewClient("http://127.0.0.1:1", indexer.ClientConfig{Timeout: time.Second})
	if _, err := down.Query(ctx, indexer.Query{Hashes: []multihash.Multihash{unknown}}); !errors.Is(err, indexer.ErrUnavailable) {
		t.Fatalf("down: %v, want ErrUnavailable", err)
	}
}

func TestIPNIFind(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	resp, body := get(t, srv.URL+"/cid/"+f.root.String())
	if resp.StatusCode != 200 {
		t.Fatalf("/cid: %d %s", resp.StatusCode, body)
	}
	fr, err := model.UnmarshalFindResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.MultihashResults) != 1 || !bytes.Equal(fr.MultihashResults[0].Multihash, f.root.Hash()) {
		t.Fatalf("find response %v", fr)
	}
	prs := fr.MultihashResults[0].ProviderResults
	if len(prs) == 0 {
		t.Fatal("no provider results")
	}
	md := metadata.MetadataContext.New()
	if err := md.UnmarshalBinary(prs[0].Metadata); err != nil {
		t.Fatal(err)
	}
	if md.Len() != 1 || md.Get(metadata.IndexClaimID) == nil {
		t.Fatalf("root's metadata: %v, want one index claim protocol", md.Protocols())
	}
	claimCID := md.Get(metadata.IndexClaimID).(*metadata.IndexClaimMetadata).Claim
	if resp, _ := get(t, srv.URL+"/claim/"+claimCID.String()); resp.StatusCode != 200 {
		t.Fatalf("/claim/%s: %d", claimCID, resp.StatusCode)
	}
	// The same through /multihash, as NDJSON: one ProviderResult per line.
	resp, body = get(t, srv.URL+"/multihash/"+f.root.Hash().B58String(), "Accept", "application/x-ndjson")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != indexer.NDJSON {
		t.Fatalf("/multihash ndjson: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := 0
	for sc := bufio.NewScanner(bytes.NewReader(body)); sc.Scan(); lines++ {
		var pr model.ProviderResult
		if err := json.Unmarshal(sc.Bytes(), &pr); err != nil || pr.Provider == nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
	}
	if lines != len(prs) {
		t.Fatalf("%d ndjson lines, want %d", lines, len(prs))
	}
	unknown, _ := multihash.Sum([]byte("unknown"), multihash.SHA2_256, -1)
	for path, want := range map[string]int{
		"/multihash/" + unknown.B58String():                 404,
		"/multihash/not-base58!":                            400,
		"/cid/bafy-not-a-cid":                               400,
		"/claim/bafy-not-a-cid":                             400,
		"/claim/" + cid.NewCidV1(cid.Raw, unknown).String(): 404,
	} {
		if resp, body := get(t, srv.URL+path); resp.StatusCode != want {
			t.Errorf("%s: %d (%s), want %d", path, resp.StatusCode, body, want)
		}
	}
}

func TestRoutingV1Providers(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	resp, body := get(t, srv.URL+"/routing/v1/providers/"+f.root.String(), "Accept", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("providers: %d %s", resp.StatusCode, body)
	}
	var out struct {
		Providers []struct {
			Schema    string
			ID        string
			Addrs     []string
			Protocols []string
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	if len(out.Providers) != 1 || len(out.Providers[0].Addrs) != 1 || !strings.Contains(out.Providers[0].Addrs[0], "/tcp/"+u.Port()+"/http") {
		t.Fatalf("providers %+v", out)
	}
	resp, body = get(t, srv.URL+"/routing/v1/providers/"+f.root.String(), "Accept", "application/x-ndjson")
	if resp.StatusCode != 200 || !strings.Contains(string(body), indexer.TransportGatewayHTTP) {
		t.Fatalf("ndjson providers: %d %s", resp.StatusCode, body)
	}
	unknown, _ := multihash.Sum([]byte("unknown"), multihash.SHA2_256, -1)
	// IPIP-0513: JSON answers 200 with no providers for unknown content.
	resp, body = get(t, srv.URL+"/routing/v1/providers/"+cid.NewCidV1(cid.Raw, unknown).String(), "Accept", "application/json")
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"Providers":[]`) {
		t.Fatalf("unknown: %d %s, want 200 with no providers", resp.StatusCode, body)
	}
}

func TestOpsRoutes(t *testing.T) {
	f := newFixture(t)
	srv := serveAPI(t, f.svc)
	for path, want := range map[string]string{
		"/":                     f.id.DID().String(),
		"/healthz":              "ok",
		"/readyz":               `"ready"`,
		"/.well-known/did.json": f.id.DID().String(),
	} {
		resp, body := get(t, srv.URL+path)
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %q, want it to contain %q", path, resp.StatusCode, body, want)
		}
	}
}

// forged claims to be issued by as, but signs with its own key.
type forged struct {
	principal.Signer
	as did.DID
}

func (f forged) DID() did.DID { return f.as }

func locationClaim(t *testing.T, issuer principal.Signer, audience ucan.Principal, digest multihash.Multihash, opts ...delegation.Option) delegation.Delegation {
	t.Helper()
	u, _ := url.Parse("https://example.com/blob")
	if len(opts) == 0 {
		opts = []delegation.Option{delegation.WithNoExpiration()}
	}
	d, err := assert.Location.Delegate(issuer, audience, issuer.DID().String(),
		assert.LocationCaveats{Content: ctypes.FromHash(digest), Location: []url.URL{*u}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
