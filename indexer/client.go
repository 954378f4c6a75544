package indexer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/multiformats/go-multibase"
	"github.com/storacha/go-ucanto/did"
)

// ClientConfig tunes a Client.
type ClientConfig struct {
	// Timeout bounds one query, reading the answer included.
	Timeout time.Duration
	// HTTPClient, when set, replaces the client's own pooled client.
	HTTPClient *http.Client
}

// DefaultClientTimeout bounds a query to a remote indexer.
const DefaultClientTimeout = 10 * time.Second

// Client asks another indexer (ours or Storacha's) over GET /claims. Its
// Query has the Service's signature, so a gateway can use either.
type Client struct {
	base    string
	hc      *http.Client
	timeout time.Duration
	own     ownDID
}

// ownDID caches the remote indexer's DID, whose claims' spaces a gateway
// trusts as the indexer itself does; a failed lookup is retried at most
// every ownRetry.
type ownDID struct {
	mu    sync.Mutex
	id    did.DID
	tried time.Time
}

const ownRetry = 30 * time.Second

// ownID returns the indexer's DID, did.Undef while it is not known.
func (c *Client) ownID(ctx context.Context) did.DID {
	c.own.mu.Lock()
	if c.own.id != did.Undef || time.Since(c.own.tried) < ownRetry {
		defer c.own.mu.Unlock()
		return c.own.id
	}
	c.own.tried = time.Now() // one lookup at a time; others go on without
	c.own.mu.Unlock()
	id, err := c.ServiceDID(ctx)
	if err != nil {
		return did.Undef
	}
	c.own.mu.Lock()
	c.own.id = id
	c.own.mu.Unlock()
	return id
}

// NewClient returns a client of the indexer at baseURL.
func NewClient(baseURL string, cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("indexer URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultClientTimeout
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		hc = &http.Client{Transport: tr}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, timeout: cfg.Timeout}, nil
}

// Query asks the remote indexer. 404 (or an empty result) is ErrNotFound,
// 400 ErrBadInput, 5xx, 429 and transport failures ErrUnavailable.
func (c *Client) Query(ctx context.Context, q Query) (*Result, error) {
	if len(q.Hashes) == 0 {
		return nil, fmt.Errorf("%w: no multihash in query", ErrBadInput)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.get(ctx, "/claims?"+queryValues(q).Encode(), QueryResultContentType)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	res, err := DecodeResult(resp.Body)
	if err != nil {
		if ctx.Err() != nil || !errors.Is(err, ErrBadInput) {
			return nil, fmt.Errorf("%w: reading answer of %s: %w", ErrUnavailable, c.base, err)
		}
		return nil, fmt.Errorf("indexer %s sent a bad query result: %w", c.base, err)
	}
	if res.Empty() {
		return nil, ErrNotFound
	}
	own := c.ownID(ctx)
	for _, cl := range res.Claims {
		judgeSpace(cl, own)
	}
	return res, nil
}

func queryValues(q Query) url.Values {
	v := url.Values{}
	for _, h := range q.Hashes {
		s, _ := multibase.Encode(multibase.Base58BTC, h)
		v.Add("multihash", s)
	}
	for _, s := range q.Spaces {
		v.Add("spaces", s.String())
	}
	if q.Type != "" {
		v.Set("type", string(q.Type))
	}
	return v
}

// get sends a GET and maps a non-200 answer to an error.
func (c *Client) get(ctx context.Context, path, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, c.base, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	err = fmt.Errorf("%s answered %s: %s", c.base, resp.Status, strings.TrimSpace(string(msg)))
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	case resp.StatusCode == http.StatusBadRequest:
		return nil, fmt.Errorf("%w: %w", ErrBadInput, err)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil, err
}
