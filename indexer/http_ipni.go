package indexer

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipni/go-libipni/find/model"
	ipnimd "github.com/ipni/go-libipni/metadata"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/metadata"
	"github.com/storacha/go-ucanto/principal"
	"github.com/storacha/go-ucanto/principal/signer"
)

// NDJSON is the media type of IPNI's streamed answers.
const NDJSON = "application/x-ndjson"

// findMultihash answers IPNI's GET /multihash/{base58btc}.
func (a *API) findMultihash(w http.ResponseWriter, r *http.Request) {
	h, err := multihash.FromB58String(r.PathValue("multihash"))
	if err != nil {
		writeError(w, r, a.log, fmt.Errorf("%w: multihash %q is not base58btc: %s", ErrBadInput, r.PathValue("multihash"), err.Error()))
		return
	}
	a.find(w, r, h)
}

// findCID answers IPNI's GET /cid/{cid}.
func (a *API) findCID(w http.ResponseWriter, r *http.Request) {
	c, err := cid.Decode(r.PathValue("cid"))
	if err != nil {
		writeError(w, r, a.log, fmt.Errorf("%w: invalid CID %q: %s", ErrBadInput, r.PathValue("cid"), err.Error()))
		return
	}
	a.find(w, r, c.Hash())
}

// find writes the provider records of the claims found under h: JSON
// (a FindResponse) or, when asked for, one ProviderResult per line.
func (a *API) find(w http.ResponseWriter, r *http.Request, h multihash.Multihash) {
	results, err := a.providerResults(r, h)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), NDJSON) {
		w.Header().Set("Content-Type", NDJSON)
		enc := json.NewEncoder(w)
		for _, pr := range results {
			enc.Encode(pr)
		}
		return
	}
	body, err := model.MarshalFindResponse(&model.FindResponse{
		MultihashResults: []model.MultihashResult{{Multihash: h, ProviderResults: results}},
	})
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// providerResults returns one provider record per claim about h, each
// with one metadata protocol naming the claim, fetchable at
// {provider}/claim/{cid}.
func (a *API) providerResults(r *http.Request, h multihash.Multihash) ([]model.ProviderResult, error) {
	claims, err := a.svc.Claims(r.Context(), h)
	if err != nil {
		return nil, err
	}
	if len(claims) == 0 {
		return nil, fmt.Errorf("no claim about %s: %w", h.B58String(), ErrNotFound)
	}
	prov, err := a.provider(r)
	if err != nil {
		return nil, err
	}
	out := make([]model.ProviderResult, 0, len(claims))
	for _, c := range claims {
		md, err := claimMetadata(c).MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("metadata of claim %s: %w", c.CID(), err)
		}
		out = append(out, model.ProviderResult{ContextID: c.CID().Bytes(), Metadata: md, Provider: prov})
	}
	return out, nil
}

// claimMetadata is the IPNI metadata naming a claim, in go-libstoracha's
// protocols, exactly one per value (go-libipni mishandles three or more).
func claimMetadata(c *Claim) *ipnimd.Metadata {
	var exp int64
	if e := c.Delegation.Expiration(); e != nil {
		exp = int64(*e)
	}
	var p ipnimd.Protocol
	switch c.Kind {
	case "assert/index":
		p = &metadata.IndexClaimMetadata{Index: c.Index, Expiration: exp, Claim: c.CID()}
	case "assert/equals":
		p = &metadata.EqualsClaimMetadata{Equals: c.Equals, Expiration: exp, Claim: c.CID()}
	default:
		lm := &metadata.LocationCommitmentMetadata{Expiration: exp, Claim: c.CID()}
		if c.Range != nil {
			lm.Range = &metadata.Range{Offset: c.Range.Offset, Length: c.Range.Length}
		}
		p = lm
	}
	md := metadata.MetadataContext.New(p)
	return &md
}

// provider is this service as an IPNI provider: the peer ID of its key
// and its HTTP address.
func (a *API) provider(r *http.Request) (*peer.AddrInfo, error) {
	pid, err := PeerID(a.svc.ID())
	if err != nil {
		return nil, err
	}
	base := a.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	ma, err := HTTPMultiaddr(base)
	if err != nil && a.cfg.PublicURL == "" {
		// The address comes from the client's Host: its fault, not ours.
		return nil, fmt.Errorf("%w: Host %q is not a host[:port] to name this service by (or set --indexer-public-url)", ErrBadInput, r.Host)
	}
	if err != nil {
		return nil, err
	}
	return &peer.AddrInfo{ID: pid, Addrs: []multiaddr.Multiaddr{ma}}, nil
}

// PeerID is the libp2p peer ID of an ed25519 signer's public key (the
// did:key one, for a did:web signer).
func PeerID(id principal.Signer) (peer.ID, error) {
	if ws, ok := id.(signer.WrappedSigner); ok {
		id = ws.Unwrap()
	}
	pub, err := crypto.UnmarshalEd25519PublicKey(id.Verifier().Raw())
	if err != nil {
		return "", fmt.Errorf("peer id: %w", err)
	}
	return peer.IDFromPublicKey(pub)
}

// HTTPMultiaddr turns a base URL into a multiaddr: /ip4|ip6|dns/…/tcp/port/http|https.
func HTTPMultiaddr(base string) (multiaddr.Multiaddr, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port]", base)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	proto := "dns"
	if ip := net.ParseIP(host); ip != nil {
		proto = "ip6"
		if ip.To4() != nil {
			proto = "ip4"
		}
	}
	return multiaddr.NewMultiaddr(fmt.Sprintf("/%s/%s/tcp/%s/%s", proto, host, port, u.Scheme))
}

// MultiaddrURL is the inverse of HTTPMultiaddr: the base URL of an HTTP
// provider address, or an error for other transports.
func MultiaddrURL(ma multiaddr.Multiaddr) (string, error) {
	var host, port, scheme string
	for _, c := range ma {
		switch c.Protocol().Code {
		case multiaddr.P_IP4, multiaddr.P_DNS, multiaddr.P_DNS4, multiaddr.P_DNS6:
			host = c.Value()
		case multiaddr.P_IP6:
			host = "[" + c.Value() + "]"
		case multiaddr.P_TCP:
			port = c.Value()
		case multiaddr.P_HTTP:
			if scheme == "" {
				scheme = "http"
			}
		case multiaddr.P_HTTPS:
			scheme = "https"
		case multiaddr.P_TLS:
			scheme = "https"
		}
	}
	if host == "" || scheme == "" {
		return "", fmt.Errorf("provider address %s is not an HTTP address", ma)
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, nil
}
