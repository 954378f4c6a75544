package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/storacha/go-libstoracha/capabilities/access"
	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/ed25519/signer"
	"github.com/storacha/go-ucanto/ucan"
)

// tokenCaveats is a serve capability's nb: {token} (none when empty).
type tokenCaveats struct{ token string }

func (c tokenCaveats) ToIPLD() (datamodel.Node, error) {
	if c.token == "" {
		return qp.BuildMap(basicnode.Prototype.Any, 0, func(datamodel.MapAssembler) {})
	}
	return qp.BuildMap(basicnode.Prototype.Any, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "token", qp.String(c.token))
	})
}

// serveDelegation is a delegation of space/content/serve/* on space,
// issued by issuer to the node, valid until exp (0: never expires), with
// nb.token when token is set.
func serveDelegation(t *testing.T, issuer principal.Signer, space string, node did.DID, exp time.Time, token ...string) delegation.Delegation {
	t.Helper()
	opts := []delegation.Option{delegation.WithNoExpiration()}
	if !exp.IsZero() {
		opts = []delegation.Option{delegation.WithExpiration(int(exp.Unix()))}
	}
	nb := tokenCaveats{}
	if len(token) > 0 {
		nb.token = token[0]
	}
	d, err := delegation.Delegate(issuer, node, []ucan.Capability[tokenCaveats]{
		ucan.NewCapability("space/content/serve/*", space, nb),
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sendServeDelegation posts an access/delegate invocation on space,
// signed by invoker, carrying d, to the node's intake.
func sendServeDelegation(t *testing.T, base string, invoker principal.Signer, space string, node did.DID, d delegation.Delegation) {
	t.Helper()
	key := d.Link().String()
	inv, err := access.Delegate.Invoke(invoker, node, space, access.DelegateCaveats{
		Delegations: access.DelegationLinksModel{Keys: []string{key}, Values: map[string]ucan.Link{key: d.Link()}},
	}, delegation.WithProof(delegation.FromDelegation(d)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/claims", "application/vnd.ipld.car", bytes.NewReader(messageBody(t, inv)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("access/delegate: %d, want 200 with a receipt", resp.StatusCode)
	}
}

// eventually polls url until it answers want (the response cache keeps a
// 404 for 5 s, revocations are read again within 1 s), with a hang guard.
func eventually(t *testing.T, what, url string, want int) []byte {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		resp, body := fetch(t, "GET", url)
		if resp.StatusCode == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %d, want %d", what, resp.StatusCode, want)
		}
	}
}

// TestServeDelegations: with --require-serve-delegation, content of a
// space is served only while the space's serve delegation to the node is
// in force: before it, and after it is revoked or expired, 404 (also for
// an answer the response cache kept); a delegation forged by another key
// grants nothing; egress is billed to the authorizing space.
func TestServeDelegations(t *testing.T) {
	spaceA, _ := signer.Generate()
	spaceB, _ := signer.Generate()
	stranger, _ := signer.Generate()
	a, b := spaceA.DID().String(), spaceB.DID().String()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("content of space A"), 0o644)
	os.WriteFile(filepath.Join(src, "b.txt"), []byte("content of space B"), 0o644)
	data := t.TempDir()
	rootA := importRoots(t, data, "--space", a, filepath.Join(src, "a.txt"))[0]
	rootB := importRoots(t, data, "--space", b, filepath.Join(src, "b.txt"))[0]
	s := startServe(t, data, "--require-serve-delegation")
	node := serviceDID(t, s.url)
	urlA, urlB := s.url+"/ipfs/"+rootA, s.url+"/ipfs/"+rootB
	for _, u := range []string{urlA, urlB} {
		if resp, _ := fetch(t, "GET", u); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s before any delegation: %d, want 404", u, resp.StatusCode)
		}
	}

	// A stranger's delegation of B's content, and one of A addressed to
	// another node, grant nothing.
	sendServeDelegation(t, s.url, stranger, b, node, serveDelegation(t, stranger, b, node, time.Time{}))
	other, _ := signer.Generate()
	sendServeDelegation(t, s.url, spaceA, a, node, serveDelegation(t, spaceA, a, other.DID(), time.Time{}))

	dA := serveDelegation(t, spaceA, a, node, time.Time{})
	sendServeDelegation(t, s.url, spaceA, a, node, dA)
	if body := eventually(t, "space A after its delegation", urlA, 200); string(body) != "content of space A" {
		t.Fatalf("space A served %q", body)
	}
	fetch(t, "GET", urlA) // a response-cache hit now
	if resp, _ := fetch(t, "GET", urlB); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("space B (a stranger's delegation only): %d, want 404", resp.StatusCode)
	}

	// B delegates for a while (past the 5 s its 404 above may be kept):
	// served, then not.
	sendServeDelegation(t, s.url, spaceB, b, node, serveDelegation(t, spaceB, b, node, time.Now().Add(12*time.Second)))
	eventually(t, "space B in its delegation's lifetime", urlB, 200)
	eventually(t, "space B after its delegation expired", urlB, http.StatusNotFound)

	// A's delegation revoked: its kept answer is not served either.
	if out, err := cargate(t, "revoke", "--data-dir", data, dA.Link().String()); err != nil {
		t.Fatalf("revoke: %q %v", out, err)
	}
	eventually(t, "space A after revocation", urlA, http.StatusNotFound)
	s.stop(t)

	if _, err := cargate(t, "egress", "consume", "--data-dir", data, "--once"); err != nil {
		t.Fatalf("consume: %v", err)
	}
	out, err := cargate(t, "egress", "report", "--data-dir", data, "--space", a)
	if err != nil || !strings.Contains(out, a) {
		t.Fatalf("egress report for space A: %q %v; want A billed for what it authorized", out, err)
	}
}

// TestServeDelegationWithToken: a space's grant whose delegation carries
// nb.token serves its content only to requests showing that token, as
// ?authToken= or Authorization: Bearer.
func TestServeDelegationWithToken(t *testing.T) {
	space, _ := signer.Generate()
	src := filepath.Join(t.TempDir(), "c.txt")
	os.WriteFile(src, []byte("content behind a token"), 0o644)
	data := t.TempDir()
	root := importRoots(t, data, "--space", space.DID().String(), src)[0]
	s := startServe(t, data, "--require-serve-delegation")
	node := serviceDID(t, s.url)
	sendServeDelegation(t, s.url, space, space.DID().String(), node, serveDelegation(t, space, space.DID().String(), node, time.Time{}, "tok-secret"))
	u := s.url + "/ipfs/" + root
	if body := eventually(t, "with ?authToken=", u+"?authToken=tok-secret", 200); string(body) != "content behind a token" {
		t.Fatalf("served %q", body)
	}
	resp, body := fetch(t, "GET", u, "Authorization", "Bearer tok-secret")
	if resp.StatusCode != 200 || string(body) != "content behind a token" {
		t.Fatalf("with a bearer token: %d %q", resp.StatusCode, body)
	}
	for name, hdr := range map[string][]string{"no token": nil, "wrong token": {"Authorization", "Bearer tok-wrong"}} {
		if resp, _ := fetch(t, "GET", u, hdr...); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", name, resp.StatusCode)
		}
	}
	if resp, _ := fetch(t, "GET", u+"?authToken=tok-wrong"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("wrong ?authToken=: %d, want 404", resp.StatusCode)
	}
}
