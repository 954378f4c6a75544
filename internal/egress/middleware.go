package egress

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Option configures Middleware.
type Option func(*middlewareOptions)

type middlewareOptions struct {
	tokenID func(*http.Request) string
	now     func() time.Time
	shed    *shedder
}

// WithTokenID sets the function that names the client's access token for a
// request; it may return "" when none was used.
func WithTokenID(f func(*http.Request) string) Option {
	return func(o *middlewareOptions) { o.tokenID = f }
}

// WithClock replaces time.Now for the served-at time (for tests).
func WithClock(now func() time.Time) Option {
	return func(o *middlewareOptions) { o.now = now }
}

// RecordSpace records that the bytes being served belong to space (a DID,
// from a location claim): the resolver, through the gateway, reports the
// space of every block it serves to the response's writer, which this
// method makes a resolver.SpaceRecorder. The first space recorded for a
// response is the one it is billed to. It is safe for concurrent use.
func (t *tracker) RecordSpace(space string) {
	if space == "" {
		return
	}
	t.mu.Lock()
	if t.space == "" {
		t.space = space
	}
	t.mu.Unlock()
}

// Middleware records an egress Event for every request for content next
// serves (/ipfs/ and /ipns/, path or subdomain form, and DNSLink websites:
// requests to a domain whose response carries X-Ipfs-Roots), counting the
// body bytes written to the client.
// The event is spooled by p just before the last byte of a body of known
// length is written, otherwise when next returns (also when it panics),
// before net/http flushes the last buffered bytes of the response.
func Middleware(next http.Handler, p *Producer, opts ...Option) http.Handler {
	o := &middlewareOptions{now: time.Now}
	for _, opt := range opts {
		opt(o)
	}
	o.shed = newShedder(o.now)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _, content := splitContentPath(r)
		if !content && !maybeDNSLink(r) {
			next.ServeHTTP(w, r)
			return
		}
		t := &tracker{rw: w, p: p, o: o, r: r, dnslink: !content}
		defer t.finish()
		next.ServeHTTP(t, r)
	})
}

// tracker follows one /ipfs/ response: it is the ResponseWriter handed to
// the next handler, counting body bytes the connection accepted, and holds
// what the event needs, including the space the layers below note.
type tracker struct {
	rw http.ResponseWriter
	p  *Producer
	o  *middlewareOptions
	r  *http.Request

	n           int64 // body bytes written
	length      int64 // Content-Length, -1 when none; valid when lengthKnown
	status      int32
	recorded    bool
	lengthKnown bool
	dnslink     bool // a request that is content only if the response says so

	mu    sync.Mutex // guards space: the layers below may run goroutines
	space string
}

var (
	_ http.Flusher    = (*tracker)(nil)
	_ io.ReaderFrom   = (*tracker)(nil)
	_ http.Hijacker   = (*tracker)(nil)
	_ io.StringWriter = (*tracker)(nil)
)

// record spools the event for a body of total bytes, once.
func (t *tracker) record(total int64) {
	t.recorded = true
	cid, rest, _ := splitContentPath(t.r) // again: keeping them would grow every tracker
	if t.dnslink {
		if t.rw.Header().Get("X-Ipfs-Roots") == "" {
			return // not content: a DNSLink website answers with its roots
		}
		cid, rest = hostOnly(t.r.Host), t.r.URL.Path
	}
	if t.r.Method == http.MethodHead {
		total = 0 // net/http swallows a HEAD's body: none of it is sent
	}
	if total == 0 && !t.o.shed.admit(t.r) {
		t.p.shedEvent()
		return
	}
	ev := Event{Version: EventVersion, Resource: bound(cid, maxResourceBytes), Path: bound(rest, maxPathBytes), Status: t.statusCode(), Bytes: total,
		ServedAt: t.o.now().UTC(), Format: deriveFormat(t.r, first(t.rw.Header()["Content-Type"]))}
	t.mu.Lock()
	ev.Space = bound(t.space, maxSpaceBytes)
	t.mu.Unlock()
	if t.o.tokenID != nil {
		ev.TokenID = bound(t.o.tokenID(t.r), maxTokenBytes)
	}
	_ = t.p.Record(&ev) // assigns the id; failures are counted and logged by the producer
}

// finish records the event if writing the body did not already.
func (t *tracker) finish() {
	if !t.recorded {
		t.record(t.n)
	}
}

func (t *tracker) Header() http.Header { return t.rw.Header() }

func (t *tracker) WriteHeader(code int) {
	if t.status == 0 && code >= 200 {
		t.status = int32(code)
	}
	t.rw.WriteHeader(code)
}

// Write counts what the connection accepted. A Write that fails part-way
// counts what the underlying writer reported as written. The write that
// completes a body of known length is split before its last byte, and the
// event is spooled there: it is durable before the client can have the
// whole response, even when net/http writes a large last chunk straight to
// the socket.
func (t *tracker) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if len(b) > 0 && t.completesBody(len(b)) {
		n, err := t.rw.Write(b[:len(b)-1])
		t.n += int64(n)
		if err != nil {
			return n, err
		}
		t.record(t.n + 1) // billed for the last byte as it goes out
		m, err := t.rw.Write(b[len(b)-1:])
		t.n += int64(m)
		return n + m, err
	}
	n, err := t.rw.Write(b)
	t.n += int64(n)
	return n, err
}

// completesBody reports whether writing k more bytes ends a body whose
// Content-Length is set, with the event not yet recorded.
func (t *tracker) completesBody(k int) bool {
	if t.recorded {
		return false
	}
	if !t.lengthKnown {
		t.lengthKnown, t.length = true, -1
		if v := first(t.rw.Header()["Content-Length"]); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				t.length = n
			}
		}
	}
	return t.length >= 0 && t.n+int64(k) >= t.length
}

func (t *tracker) WriteString(s string) (int, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	if t.completesBody(len(s)) {
		return t.Write([]byte(s))
	}
	n, err := io.WriteString(t.rw, s)
	t.n += int64(n)
	return n, err
}

// ReadFrom goes through Write, which records before the last byte.
func (t *tracker) ReadFrom(src io.Reader) (int64, error) {
	if t.status == 0 {
		t.status = http.StatusOK
	}
	return io.Copy(writerOnly{t}, src)
}

// Flush flushes through any wrappers below, as http.ResponseController does.
func (t *tracker) Flush() {
	_ = http.NewResponseController(t.rw).Flush()
}

// Hijack hands the connection over; bytes written to it are not counted.
func (t *tracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(t.rw).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *tracker) Unwrap() http.ResponseWriter { return t.rw }

func (t *tracker) statusCode() int {
	if t.status == 0 {
		return http.StatusOK
	}
	return int(t.status)
}

// writerOnly hides ReadFrom so io.Copy does not recurse.
type writerOnly struct{ io.Writer }
