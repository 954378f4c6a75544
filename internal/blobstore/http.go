package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/retry"
)

// Defaults for HTTPConfig.
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultFirstByteTimeout = 15 * time.Second
	DefaultStallTimeout     = 15 * time.Second
	DefaultRetries          = 3
	DefaultBackoffBase      = 100 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultMaxConnsPerHost  = 64
	DefaultMaxSkip          = 1 << 20
)

// ErrStalled is returned by a body read that made no progress for the
// configured StallTimeout.
var ErrStalled = errors.New("blob read stalled")

// HTTPConfig tunes the plain HTTP(S) range reader. Zero fields take the
// Default… value.
type HTTPConfig struct {
	// ConnectTimeout bounds dialing and the TLS handshake.
	ConnectTimeout time.Duration
	// FirstByteTimeout bounds the wait for response headers once the
	// request is sent.
	FirstByteTimeout time.Duration
	// StallTimeout fails a body read that makes no progress for this long;
	// a slow but moving transfer is never cut.
	StallTimeout time.Duration
	// Retries is how many times a failed request is retried (5xx, 429,
	// connection errors), only before any body byte reaches the caller.
	// Negative: never retry. A read whose context is marked by
	// retry.CallerRetries (the resolver's) is never retried here: its
	// caller's budget counts every request.
	Retries int
	// BackoffBase and BackoffMax shape the retry delay: a uniformly random
	// wait in [0, min(BackoffMax, BackoffBase·2^attempt)) ("full jitter").
	// A Retry-After header is honoured up to BackoffMax.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxConnsPerHost caps connections (idle and active) per origin.
	MaxConnsPerHost int
	// MaxSkip is how many leading bytes the reader will discard when a
	// server ignores Range and answers 200 with the whole blob; past it the
	// read fails rather than download a large blob to reach its tail.
	MaxSkip int64
	// Policy, when set, limits the addresses the reader connects to (and
	// turns off proxies from the environment, which would hide the real
	// address). Nil: no limit, for tests and trusted callers; the node
	// always sets one (--fetch-allow).
	Policy *FetchPolicy
}

func (c HTTPConfig) withDefaults() HTTPConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.FirstByteTimeout, DefaultFirstByteTimeout)
	def(&c.StallTimeout, DefaultStallTimeout)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffMax, DefaultBackoffMax)
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.MaxConnsPerHost <= 0 {
		c.MaxConnsPerHost = DefaultMaxConnsPerHost
	}
	if c.MaxSkip <= 0 {
		c.MaxSkip = DefaultMaxSkip
	}
	return c
}

// HTTP reads byte ranges of blobs at HTTP(S) URLs, for location claims that
// point outside the configured stores.
type HTTP struct {
	cfg    HTTPConfig
	client *http.Client
	m      *metrics
}

var _ URLReader = (*HTTP)(nil)

// NewHTTP returns a reader with its own connection pool; metrics go to reg
// (nil: not registered).
func NewHTTP(cfg HTTPConfig, reg prometheus.Registerer) *HTTP {
	cfg = cfg.withDefaults()
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.FirstByteTimeout,
		MaxConnsPerHost:       cfg.MaxConnsPerHost,
		MaxIdleConnsPerHost:   cfg.MaxConnsPerHost,
		MaxIdleConns:          4 * cfg.MaxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		// Offsets are in stored bytes: a transparently decompressed body
		// would not match them.
		DisableCompression: true,
		ForceAttemptHTTP2:  true,
	}
	if cfg.Policy != nil {
		tr.Proxy = nil
		tr.DialContext = cfg.Policy.dialer(dialer)
	}
	return &HTTP{cfg: cfg, client: &http.Client{Transport: tr}, m: newMetrics(reg)}
}

// ReadURL returns length bytes at off of the blob at rawURL (length < 0: to
// the end). The body is exactly the range asked for, or ends in an error.
func (h *HTTP) ReadURL(ctx context.Context, rawURL string, off, length int64) (io.ReadCloser, error) {
	start := time.Now()
	rc, err := h.readURL(ctx, rawURL, off, length)
	h.m.observe("http", "read", start, err)
	if err != nil {
		return nil, err
	}
	return h.m.countBody("http", rc), nil
}

func (h *HTTP) readURL(ctx context.Context, rawURL string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("read %s: negative offset %d", rawURL, off)
	}
	if length == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	// A caller that retries reads itself (the resolver) gets one attempt
	// and, with a 429 or 503, the server's Retry-After in the error.
	pol := retry.Policy{Base: h.cfg.BackoffBase, Max: h.cfg.BackoffMax, Attempts: h.cfg.Retries + 1}
	if retry.ByCaller(ctx) {
		pol.Attempts = 1
	}
	for fails := 1; ; fails++ {
		rc, retryAfter, err := h.attempt(ctx, rawURL, off, length)
		if err == nil {
			return rc, nil
		}
		if retryAfter < 0 || pol.GiveUp(fails) || ctx.Err() != nil {
			if fails > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, fails)
			}
			return nil, retry.WithAfter(err, retryAfter)
		}
		h.m.retries.WithLabelValues("http").Inc()
		if err := retry.Sleep(ctx, pol.Delay(fails, retryAfter)); err != nil {
			return nil, err
		}
	}
}

// attempt makes one request. On failure retryAfter says whether to retry:
// < 0 never, 0 after the usual backoff, > 0 at least that long.
func (h *HTTP) attempt(ctx context.Context, rawURL string, off, length int64) (io.ReadCloser, time.Duration, error) {
	reqCtx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, -1, fmt.Errorf("read %s: %w", rawURL, err)
	}
	if off > 0 || length > 0 {
		req.Header.Set("Range", rangeHeader(off, length))
	}
	resp, err := h.client.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, -1, ctx.Err()
		}
		if errors.Is(err, ErrAddressRefused) {
			return nil, -1, fmt.Errorf("read %s: %w", rawURL, err)
		}
		return nil, 0, fmt.Errorf("read %s: %w", rawURL, err)
	}
	body := newStallBody(resp.Body, cancel, h.cfg.StallTimeout)
	rc, retryAfter, err := h.accept(resp, body, rawURL, off, length)
	if err != nil {
		body.Close()
		return nil, retryAfter, err
	}
	return rc, 0, nil
}

func rangeHeader(off, length int64) string {
	if length < 0 {
		return "bytes=" + strconv.FormatInt(off, 10) + "-"
	}
	return "bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(off+length-1, 10)
}

// accept checks that the response carries exactly the range asked for and
// returns a body limited to it.
func (h *HTTP) accept(resp *http.Response, body *stallBody, rawURL string, off, length int64) (io.ReadCloser, time.Duration, error) {
	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		first, last, _, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return nil, -1, fmt.Errorf("read %s: %w", rawURL, err)
		}
		if first != off {
			return nil, -1, fmt.Errorf("read %s: asked for offset %d, server sent range starting at %d", rawURL, off, first)
		}
		got := last - first + 1
		if length >= 0 && got < length {
			return nil, -1, fmt.Errorf("read %s: range %d+%d reaches past the blob (server has %d bytes from %d): %w", rawURL, off, length, got, off, ErrNotFound)
		}
		if length >= 0 && got > length {
			return nil, -1, fmt.Errorf("read %s: asked for %d bytes, server sent range of %d", rawURL, length, got)
		}
		return &exactBody{rc: body, remaining: got}, 0, nil
	case code == http.StatusOK:
		return h.acceptWhole(resp, body, rawURL, off, length)
	case code == http.StatusNotFound || code == http.StatusGone:
		return nil, -1, fmt.Errorf("read %s: status %d: %w", rawURL, code, ErrNotFound)
	case code == http.StatusRequestedRangeNotSatisfiable:
		return nil, -1, fmt.Errorf("read %s: range %d+%d not satisfiable: %w", rawURL, off, length, ErrNotFound)
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), fmt.Errorf("read %s: status %d", rawURL, code)
	default:
		return nil, -1, fmt.Errorf("read %s: unexpected status %d", rawURL, code)
	}
}

// acceptWhole handles a 200: the server sent the whole blob, either because
// no Range was asked for or because it ignores Range. Leading bytes up to
// MaxSkip are discarded (still before the caller sees anything, so a failure
// there is retried); the rest is limited to the range.
func (h *HTTP) acceptWhole(resp *http.Response, body *stallBody, rawURL string, off, length int64) (io.ReadCloser, time.Duration, error) {
	total := resp.ContentLength // -1 when unknown
	if total >= 0 && (off > total || (length >= 0 && off+length > total)) {
		return nil, -1, fmt.Errorf("read %s: range %d+%d reaches past the blob of %d bytes: %w", rawURL, off, length, total, ErrNotFound)
	}
	if off > h.cfg.MaxSkip {
		return nil, -1, fmt.Errorf("read %s: server ignored Range and offset %d exceeds the %d bytes the reader will skip", rawURL, off, h.cfg.MaxSkip)
	}
	if off > 0 {
		n, err := io.CopyN(io.Discard, body, off)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, -1, fmt.Errorf("read %s: blob ends at %d, before offset %d: %w", rawURL, n, off, ErrNotFound)
			}
			return nil, 0, fmt.Errorf("read %s: skipping to offset %d: %w", rawURL, off, err)
		}
	}
	remaining := length
	if remaining < 0 && total >= 0 {
		remaining = total - off
	}
	return &exactBody{rc: body, remaining: remaining}, 0, nil
}

// parseContentRange parses "bytes first-last/total" (total may be "*").
func parseContentRange(v string) (first, last, total int64, err error) {
	spec, ok := strings.CutPrefix(v, "bytes ")
	rng, size, ok2 := strings.Cut(spec, "/")
	a, b, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	total = -1
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	var err3 error
	if size != "*" {
		total, err3 = strconv.ParseInt(size, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || first < 0 || last < first {
		return 0, 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	return first, last, total, nil
}

// stallBody fails a Read that waits longer than timeout for data. The timer
// runs only while a Read is in progress, so a slow consumer is not blamed
// on the server.
type stallBody struct {
	rc      io.ReadCloser
	cancel  context.CancelFunc
	timeout time.Duration
	timer   *time.Timer
	stalled atomic.Bool
}

// newStallBody wraps rc; cancel must abort the request rc belongs to.
func newStallBody(rc io.ReadCloser, cancel context.CancelFunc, timeout time.Duration) *stallBody {
	s := &stallBody{rc: rc, cancel: cancel, timeout: timeout}
	s.timer = time.AfterFunc(time.Hour, s.stall)
	s.timer.Stop()
	return s
}

func (s *stallBody) stall() {
	s.stalled.Store(true)
	s.cancel()
}

func (s *stallBody) Read(p []byte) (int, error) {
	if s.stalled.Load() {
		return 0, fmt.Errorf("%w: no data for %v", ErrStalled, s.timeout)
	}
	s.timer.Reset(s.timeout)
	n, err := s.rc.Read(p)
	s.timer.Stop()
	if err != nil && err != io.EOF && s.stalled.Load() {
		err = fmt.Errorf("%w: no data for %v", ErrStalled, s.timeout)
	}
	return n, err
}

func (s *stallBody) Close() error {
	s.timer.Stop()
	err := s.rc.Close()
	s.cancel()
	return err
}
