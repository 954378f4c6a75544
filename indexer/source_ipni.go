package indexer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipni/go-libipni/find/model"
	"github.com/multiformats/go-multihash"
	"github.com/storacha/go-libstoracha/metadata"
	"github.com/storacha/go-ucanto/core/delegation"
)

// IPNIConfig configures a remote IPNI source.
type IPNIConfig struct {
	// Tiers are lists of find-API base URLs. The URLs of a tier are asked
	// at once; the next tier only when the previous found nothing.
	Tiers [][]string
	// TierTimeout bounds each tier (find and claim fetches).
	TierTimeout time.Duration
	// HTTPClient, when set, replaces the source's own client.
	HTTPClient *http.Client
}

// DefaultIPNITierTimeout bounds one tier of IPNI lookups.
const DefaultIPNITierTimeout = 1500 * time.Millisecond

// maxClaimBytes bounds one claim fetched from a provider.
const maxClaimBytes = 1 << 20

// IPNISource finds claims through IPNI find APIs: provider records whose
// metadata names a claim (index claim, location commitment, equals claim)
// lead to GET {provider}/claim/{cid}.
type IPNISource struct {
	cfg IPNIConfig
	hc  *http.Client
}

var _ ClaimFinder = (*IPNISource)(nil)

// NewIPNISource returns a source over cfg's tiers.
func NewIPNISource(cfg IPNIConfig) (*IPNISource, error) {
	if len(cfg.Tiers) == 0 {
		return nil, errors.New("ipni source: no find URL")
	}
	for _, tier := range cfg.Tiers {
		for _, u := range tier {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return nil, fmt.Errorf("ipni source: %q is not an http(s) URL", u)
			}
		}
	}
	if cfg.TierTimeout <= 0 {
		cfg.TierTimeout = DefaultIPNITierTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &IPNISource{cfg: cfg, hc: hc}, nil
}

// FindClaims implements ClaimFinder. Nothing found is (nil, nil); an
// error only when every node asked failed.
func (s *IPNISource) FindClaims(ctx context.Context, digest multihash.Multihash) ([]delegation.Delegation, error) {
	var errs []error
	answered := false
	for _, tier := range s.cfg.Tiers {
		tctx, cancel := context.WithTimeout(ctx, s.cfg.TierTimeout)
		found, ok, err := s.askTier(tctx, tier, digest)
		cancel()
		answered = answered || ok
		if err != nil {
			errs = append(errs, err)
		}
		if len(found) > 0 {
			return found, nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	if !answered && len(errs) > 0 {
		return nil, fmt.Errorf("%w: ipni: %w", ErrUnavailable, errors.Join(errs...))
	}
	return nil, nil
}

// askTier asks every node of a tier at once and gathers the claims they
// point at. ok reports whether any node answered (even "not found").
func (s *IPNISource) askTier(ctx context.Context, tier []string, digest multihash.Multihash) ([]delegation.Delegation, bool, error) {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		results  []model.ProviderResult
		errs     []error
		answered bool
	)
	for _, base := range tier {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prs, err := s.find(ctx, base, digest)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			answered = true
			results = append(results, prs...)
		}()
	}
	wg.Wait()
	claims := s.fetchClaims(ctx, results, &errs)
	return claims, answered, errors.Join(errs...)
}

// find asks one node's find API; 404 is no results.
func (s *IPNISource) find(ctx context.Context, base string, digest multihash.Multihash) ([]model.ProviderResult, error) {
	body, status, err := s.get(ctx, strings.TrimRight(base, "/")+"/multihash/"+digest.B58String(), "application/json")
	if err != nil {
		return nil, err
	}
	if status == http.StatusNotFound {
		return nil, nil
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s: find answered %d", base, status)
	}
	fr, err := model.UnmarshalFindResponse(body)
	if err != nil {
		return nil, fmt.Errorf("%s: find response: %w", base, err)
	}
	var out []model.ProviderResult
	for _, mr := range fr.MultihashResults {
		out = append(out, mr.ProviderResults...)
	}
	return out, nil
}

// fetchClaims fetches each distinct claim the provider records name.
func (s *IPNISource) fetchClaims(ctx context.Context, results []model.ProviderResult, errs *[]error) []delegation.Delegation {
	seen := map[cid.Cid]bool{}
	var out []delegation.Delegation
	for _, pr := range results {
		id, ok := claimOf(pr.Metadata)
		if !ok || seen[id] || pr.Provider == nil {
			continue
		}
		var last error
		for _, ma := range pr.Provider.Addrs {
			base, err := MultiaddrURL(ma)
			if err != nil {
				continue
			}
			d, err := s.fetchClaim(ctx, base, id)
			if err != nil {
				last = err
				continue
			}
			seen[id], last = true, nil
			out = append(out, d)
			break
		}
		if last != nil {
			*errs = append(*errs, last)
		}
	}
	return out
}

// claimOf returns the claim CID a metadata value names, if any.
func claimOf(b []byte) (cid.Cid, bool) {
	md := metadata.MetadataContext.New()
	if err := md.UnmarshalBinary(b); err != nil {
		return cid.Undef, false
	}
	for _, code := range md.Protocols() {
		if hc, ok := md.Get(code).(metadata.HasClaim); ok && hc.GetClaim().Defined() {
			return hc.GetClaim(), true
		}
	}
	return cid.Undef, false
}

func (s *IPNISource) fetchClaim(ctx context.Context, base string, id cid.Cid) (delegation.Delegation, error) {
	body, status, err := s.get(ctx, base+"/claim/"+id.String(), "application/vnd.ipld.car")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s: claim %s: status %d", base, id, status)
	}
	d, err := delegation.Extract(body)
	if err != nil {
		return nil, fmt.Errorf("%s: claim %s: %w", base, id, err)
	}
	if !linkCID(d.Link()).Equals(id) {
		return nil, fmt.Errorf("%s: claim %s: got %s instead", base, id, d.Link())
	}
	return d, nil
}

func (s *IPNISource) get(ctx context.Context, u, accept string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxClaimBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if len(body) > maxClaimBytes {
		return nil, 0, fmt.Errorf("%s: answer larger than %d bytes", u, maxClaimBytes)
	}
	return body, resp.StatusCode, nil
}
