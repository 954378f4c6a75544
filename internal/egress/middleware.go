package egress

import (
	"bufio"
	"context"
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

// accumulator collects what the layers below the middleware learn about a
// response. It is shared by the goroutines serving one request.
type accumulator struct {
	mu    sync.Mutex
	space string
}

type accumulatorKey struct{}

// SpaceOf returns the space noted so far for the response ctx belongs to
// ("" when none, or outside Middleware). A cache that answers a later
// request without reading blocks notes it again, so billing stays right.
func SpaceOf(ctx context.Context) string {
	acc, _ := ctx.Value(accumulatorKey{}).(*accumulator)
	if acc == nil {
		return ""
	}
	acc.mu.Lock()
	defer acc.mu.Unlock()
	return acc.space
}

// NoteSpace records that the bytes being served belong to space (a DID, from
// a location claim). The first space noted for a response is kept. It does
// nothing when ctx does not come from a request under Middleware, and is safe
// for concurrent use.
func NoteSpace(ctx context.Context, space string) {
	acc, _ := ctx.Value(accumulatorKey{}).(*accumulator)
	if acc == nil || space == "" {
		return
	}
	acc.mu.Lock()
	if acc.space == "" {
		acc.space = space
	}
	acc.mu.Unlock()
}

// Middleware records an egress Event for every /ipfs/ request next serves
// (path or subdomain form), counting the body bytes written to the client.
// The event is spooled by p after next returns (also when it panics), before
// net/http flushes the last buffered bytes of the response.
func Middleware(next http.Handler, p *Producer, opts ...Option) http.Handler {
	o := middlewareOptions{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cid, rest, ok := splitIPFSPath(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		acc := &accumulator{}
		cw := &countingWriter{rw: w}
		record := func(bytes int64) {
			ev := &Event{Version: EventVersion, Resource: cid, Path: rest, Status: cw.statusCode(),
				Bytes: bytes, ServedAt: o.now().UTC()}
			ev.ID = NewID(ev.ServedAt)
			ev.Format = deriveFormat(r, w.Header().Get("Content-Type"))
			acc.mu.Lock()
			ev.Space = acc.space
			acc.mu.Unlock()
			if o.tokenID != nil {
				ev.TokenID = o.tokenID(r)
			}
			_ = p.Record(ev) // failures are counted and logged by the producer
		}
		cw.final = record
		defer func() {
			if !cw.recorded {
				record(cw.n)
			}
		}()
		next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), accumulatorKey{}, acc)))
	})
}

// countingWriter counts body bytes accepted by the connection. A Write that
// fails part-way counts what the underlying writer reported as written.
type countingWriter struct {
	rw     http.ResponseWriter
	n      int64
	status int
	// final, when set, is called once, just before the byte that completes
	// a body of known length is written, with the full count: the event is
	// spooled before the client can have the whole response, even when
	// net/http writes a large last chunk straight to the socket.
	final       func(total int64)
	recorded    bool
	length      int64
	lengthKnown bool
}

var (
	_ http.Flusher    = (*countingWriter)(nil)
	_ io.ReaderFrom   = (*countingWriter)(nil)
	_ http.Hijacker   = (*countingWriter)(nil)
	_ io.StringWriter = (*countingWriter)(nil)
)

func (c *countingWriter) Header() http.Header { return c.rw.Header() }

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
	c.rw.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if len(b) > 0 && c.completesBody(len(b)) {
		n, err := c.rw.Write(b[:len(b)-1])
		c.n += int64(n)
		if err != nil {
			return n, err
		}
		c.recorded = true
		c.final(c.n + 1) // billed for the last byte as it goes out
		m, err := c.rw.Write(b[len(b)-1:])
		c.n += int64(m)
		return n + m, err
	}
	n, err := c.rw.Write(b)
	c.n += int64(n)
	return n, err
}

// completesBody reports whether writing k more bytes ends a body whose
// Content-Length is set, with the event not yet recorded.
func (c *countingWriter) completesBody(k int) bool {
	if c.final == nil || c.recorded {
		return false
	}
	if !c.lengthKnown {
		c.lengthKnown, c.length = true, -1
		if v := c.rw.Header().Get("Content-Length"); v != "" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				c.length = n
			}
		}
	}
	return c.length >= 0 && c.n+int64(k) >= c.length
}

func (c *countingWriter) WriteString(s string) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if c.completesBody(len(s)) {
		return c.Write([]byte(s))
	}
	n, err := io.WriteString(c.rw, s)
	c.n += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path when the underlying writer has one.
func (c *countingWriter) ReadFrom(src io.Reader) (int64, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if rf, ok := c.rw.(io.ReaderFrom); ok && c.final == nil {
		n, err := rf.ReadFrom(src)
		c.n += n
		return n, err
	}
	if c.final != nil {
		return io.Copy(writerOnly{c}, src) // through Write, which records before the last byte
	}
	n, err := io.Copy(writerOnly{c.rw}, src)
	c.n += n
	return n, err
}

// Flush flushes through any wrappers below, as http.ResponseController does.
func (c *countingWriter) Flush() {
	_ = http.NewResponseController(c.rw).Flush()
}

// Hijack hands the connection over; bytes written to it are not counted.
func (c *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(c.rw).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.rw }

func (c *countingWriter) statusCode() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}

// writerOnly hides ReadFrom so io.Copy does not recurse.
type writerOnly struct{ io.Writer }
