package gateway

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/cache"
	"github.com/cargate/cargate/resolver"
)

// Response cache defaults.
const (
	// DefaultResponseCacheBytes bounds the response cache.
	DefaultResponseCacheBytes = 256 << 20
	// DefaultResponseCacheMaxBody is the largest body kept.
	DefaultResponseCacheMaxBody = 4 << 20
	// DefaultNotFoundTTL is how long a 404 answer is reused; content can
	// be imported meanwhile, so it must stay short.
	DefaultNotFoundTTL = 5 * time.Second
)

// responseCache keeps whole responses (status, headers, body) of
// immutable content, keyed by everything in the request that boxo's
// answer depends on. Content under a CID never changes, and every byte of
// a kept body was verified when it was first read, so a repeat request is
// answered with no resolution, decoding or reading at all. Only complete
// 200 responses marked immutable, and 404s (briefly), are kept.
type responseCache struct {
	entries     *cache.Local[*cachedResponse]
	maxBody     int
	notFoundTTL time.Duration
	// allowed, when set, must allow a kept answer's space for it to be
	// served again (a 404 reveals nothing and is served as kept).
	allowed func(ctx context.Context, space string) bool
}

type cachedResponse struct {
	status int
	header http.Header
	body   []byte
	space  string // the space the resolver recorded when the response was made
}

func newResponseCache(maxBytes int64, maxBody int, reg prometheus.Registerer) (*responseCache, error) {
	entries, err := cache.NewLocal[*cachedResponse]("gateway_responses", maxBytes, reg)
	if err != nil {
		return nil, err
	}
	return &responseCache{entries: entries, maxBody: maxBody, notFoundTTL: DefaultNotFoundTTL}, nil
}

// cacheKey returns the key of a request whose answer depends only on its
// method, host, URI and Accept header; ok=false for any other request
// (ranges, conditionals, cache directives, forwarded hosts).
func cacheKey(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	for _, h := range uncacheableIf {
		if _, ok := r.Header[h]; ok {
			return "", false
		}
	}
	if len(r.Header["Accept"]) > 1 {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(r.Method) + len(r.Host) + len(r.RequestURI) + 64)
	b.WriteString(r.Method)
	b.WriteByte(0)
	b.WriteString(r.Host)
	b.WriteByte(0)
	b.WriteString(r.RequestURI)
	b.WriteByte(0)
	b.WriteString(r.Header.Get("Accept"))
	return b.String(), true
}

// uncacheableIf lists request headers that change boxo's answer beyond
// the cache key (canonical forms).
var uncacheableIf = []string{
	"Range", "If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range",
	"Cache-Control", "X-Forwarded-Host", "X-Forwarded-Proto", "Service-Worker",
}

func (c *responseCache) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e, given := r.Context().Value(answerKey{}).(*cachedResponse); given && c.mayServe(r, e) {
			recordSpace(w, e.space)
			e.write(w, r)
			return
		}
		key, ok := cacheKey(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		if e, hit := c.entries.Get(key); hit && c.mayServe(r, e) {
			recordSpace(w, e.space)
			e.write(w, r)
			return
		}
		rec := &recorder{ResponseWriter: w, limit: c.maxBody}
		next.ServeHTTP(rec, r)
		c.keep(key, rec)
	})
}

// mayServe reports whether e may be served again: always without a space
// check, else only a 404 or an answer of a space still allowed.
func (c *responseCache) mayServe(r *http.Request, e *cachedResponse) bool {
	return c.allowed == nil || e.status == http.StatusNotFound || c.allowed(r.Context(), e.space)
}

func (e *cachedResponse) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	for k, v := range e.header {
		h[k] = v
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
}

// keep stores a recorded response if it is complete and cacheable. Only
// a response the stream guard saw through to a successful end is kept:
// a body can be short or carry error text with every header in order.
func (c *responseCache) keep(key string, rec *recorder) {
	if rec.overflow || rec.failed || !rec.complete {
		return
	}
	var ttl time.Duration
	switch {
	case rec.status == http.StatusOK && strings.Contains(rec.Header().Get("Cache-Control"), "immutable"):
	case rec.status == http.StatusNotFound:
		ttl = c.notFoundTTL
	default:
		return
	}
	hdr := rec.Header().Clone()
	hdr.Del("Date")
	e := &cachedResponse{status: rec.status, header: hdr, body: rec.body, space: rec.recorded()}
	c.entries.Set(key, e, int64(len(key)+len(rec.body)+512), ttl)
}

// recorder passes a response through while keeping a copy of it, up to
// limit body bytes, and the space it is billed to.
type recorder struct {
	http.ResponseWriter
	status   int
	body     []byte
	limit    int
	overflow bool
	failed   bool
	complete bool // set by withStreamAbort when the whole run succeeded

	mu    sync.Mutex // guards space: boxo reads blocks on goroutines of its own
	space string
}

// RecordSpace keeps the first space recorded for the response, to bill a
// repeat answered from the cache the same, and passes it on.
func (r *recorder) RecordSpace(space string) {
	r.mu.Lock()
	if r.space == "" {
		r.space = space
	}
	r.mu.Unlock()
	recordSpace(r.ResponseWriter, space)
}

func (r *recorder) recorded() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.space
}

// recordSpace bills the response w writes to space, when w records spaces
// (egress accounting hands a resolver.SpaceRecorder down to the gateway).
func recordSpace(w http.ResponseWriter, space string) {
	if rec, ok := w.(resolver.SpaceRecorder); ok && space != "" {
		rec.RecordSpace(space)
	}
}

func (r *recorder) markComplete() { r.complete = true }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if n, err := strconv.Atoi(r.Header().Get("Content-Length")); err == nil && n > r.limit {
			r.overflow = true // too large to keep: do not copy it
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	if !r.overflow {
		if len(r.body)+len(b) > r.limit {
			r.overflow, r.body = true, nil
		} else {
			r.body = append(r.body, b...)
		}
	}
	n, err := r.ResponseWriter.Write(b)
	if err != nil {
		r.failed = true
	}
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Answer is a response the response cache keeps: what the gateway's
// handler writes for a request with the same key, with no resolution or
// reading.
type Answer struct{ e *cachedResponse }

// Status is the kept status code.
func (a Answer) Status() int { return a.e.status }

// Header is the kept header (no Date); callers must not modify it.
func (a Answer) Header() http.Header { return a.e.header }

// Body is the kept body (a HEAD answer's is empty); callers must not
// modify it.
func (a Answer) Body() []byte { return a.e.body }

// Space is the space the answer was billed to when it was first made.
func (a Answer) Space() string { return a.e.space }

// Lookup returns the answer the response cache keeps for r, under the
// same key rules as the handler's own lookup (only GET and HEAD, no
// range, conditional or cache-directive headers). A front end that finds
// one runs the handler chain with WithAnswer(r, a): the chain's other
// layers (denylist, CORS, metrics, egress, limits, tokens) apply as for
// any request, and the response cache answers with a without a second
// lookup, so an answer that expires in between is still the one written.
// An answer whose space the Allowed check refuses for the request is not
// written: the request goes on to boxo, as it would without a front.
func (g *Gateway) Lookup(r *http.Request) (Answer, bool) {
	key, ok := cacheKey(r)
	if !ok {
		return Answer{}, false
	}
	e, hit := g.responses.entries.Get(key)
	return Answer{e}, hit
}

type answerKey struct{}

// WithAnswer returns r carrying a, which Lookup returned for r.
func WithAnswer(r *http.Request, a Answer) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), answerKey{}, a.e))
}
