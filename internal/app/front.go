package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"

	"github.com/cargate/cargate/gateway"
	"github.com/cargate/cargate/internal/prom"
)

// front serves the gateway's public listener with fasthttp. It answers
// one kind of request itself: one the response cache holds an answer for
// (Gateway.Lookup, with the cache's own key rules). Such a request still
// runs the whole handler chain net/http runs (request limit, metrics,
// rate limit, egress, CORS, tokens, denylist, and any layer added
// later), over a ResponseWriter that fills fasthttp's response; only the
// connection handling, parsing and writing are fasthttp's. Every other
// request is net/http's, from its bytes unchanged: a bodiless GET or
// HEAD on HTTP/1.1 is lent to net/http and the connection comes back
// after the answer (front_lend.go); at anything else (bodies, CONNECT,
// a Connection header, heads fasthttp cannot read) fasthttp gives the
// connection up for good, replaying the request's bytes to net/http.
type front struct {
	gw      *gateway.Gateway
	chain   http.Handler // the listener's handler under the request limit
	fast    *fasthttp.Server
	slow    *http.Server
	handoff *handoffListener
	base    time.Duration // write deadline of a response: base + size*perByte
	perByte time.Duration
	log     *slog.Logger

	answered, handedOff, lent prometheus.Counter

	resumedMu sync.Mutex
	resumed   map[*frontConn]struct{} // given back by net/http, being served
}

// prefetchedBody is how much of a request body of known length fasthttp
// reads before calling the handler when it streams bodies
// (readBodyWithStreaming in fasthttp v1.78.0): a hand-off replays it.
const prefetchedBody = 8 << 10

// netChunkingSize is the body size past which net/http sends a response
// without a Content-Length header chunked (bufferBeforeChunkingSize):
// such kept answers are left to net/http.
const netChunkingSize = 2048

// serveFront starts the fasthttp front on ln (already under the
// connection budget) with net/http behind it.
func serveFront(ln net.Listener, h http.Handler, gw *gateway.Gateway, lim *limits, reg prometheus.Registerer, log *slog.Logger) *front {
	chain := lim.limit(h)
	outcomes := prom.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cargate_http_front_total",
		Help: "Requests the fasthttp front answered itself from kept answers (outcome=answered), requests it lent to net/http, taking the connection back after the answer (outcome=lent), and connections it handed to net/http for good (outcome=handed_off; later requests on them are net/http's).",
	}, []string{"outcome"}))
	f := &front{
		gw:      gw,
		chain:   chain,
		slow:    lim.httpServer(chain),
		handoff: newHandoffListener(ln.Addr()),
		resumed: map[*frontConn]struct{}{},
		base:    lim.cfg.WriteTimeout,
		perByte: time.Second / time.Duration(lim.cfg.MinWriteRate),
		log:     log,

		answered:  outcomes.WithLabelValues("answered"),
		handedOff: outcomes.WithLabelValues("handed_off"),
		lent:      outcomes.WithLabelValues("lent"),
	}
	f.slow.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	readTimeout := lim.cfg.ReadTimeout
	f.fast = &fasthttp.Server{
		Handler:     f.serve,
		ReadTimeout: lim.cfg.ReadHeaderTimeout,
		// A request with a body may take the whole read timeout for
		// the part fasthttp reads before handing it off.
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			if cl := h.ContentLength(); cl != 0 && cl != -2 {
				return fasthttp.RequestConfig{ReadTimeout: readTimeout}
			}
			return fasthttp.RequestConfig{}
		},
		IdleTimeout:                  lim.cfg.IdleTimeout,
		WriteTimeout:                 lim.cfg.WriteTimeout,
		ReadBufferSize:               frontReadBuffer,    // larger heads go to net/http
		Concurrency:                  cap(lim.conns) + 1, // the budget is the listener's
		StreamRequestBody:            true,               // bodies are net/http's to read
		DisablePreParseMultipartForm: true,
		KeepHijackedConns:            true,
		ReduceMemoryUsage:            true, // idle keep-alive connections hold no read buffer
		CloseOnShutdown:              true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		Logger:                       fastLogger{log},
		ErrorHandler:                 f.refuse,
	}
	go func() {
		if err := f.slow.Serve(f.handoff); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		if err := f.fast.Serve(frontListener{ln}); err != nil {
			log.Error("server stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return f
}

// Shutdown stops accepting, lets fasthttp finish its requests (a hand-off
// in flight still reaches net/http), then drains net/http.
func (f *front) Shutdown(ctx context.Context) error {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			f.closeResumedIdle()
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	err := f.fast.ShutdownWithContext(ctx)
	close(stop)
	return errors.Join(err, f.slow.Shutdown(ctx))
}

// Close stops both servers at once.
func (f *front) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = f.fast.ShutdownWithContext(ctx)
	return f.slow.Close()
}

// serve answers a kept answer or hands the request off.
func (f *front) serve(ctx *fasthttp.RequestCtx) {
	r, ok := request(ctx)
	if !ok {
		f.handOff(ctx)
		return
	}
	a, ok := f.gw.Lookup(r)
	if !ok || !sameAsNet(a, r.Method == http.MethodHead) {
		if !f.lend(ctx, r) {
			f.handOff(ctx)
		}
		return
	}
	w := &fastWriter{ctx: ctx, header: make(http.Header, len(a.Header())+4), head: r.Method == http.MethodHead}
	defer func() {
		if p := recover(); p != nil {
			// As net/http does: no answer, the connection is dropped.
			if p != http.ErrAbortHandler {
				f.log.Error("panic serving a kept answer", "uri", r.RequestURI, "panic", fmt.Sprint(p))
			}
			ctx.Response.Reset()
			ctx.HijackSetNoResponse(true)
			ctx.Hijack(func(c net.Conn) { c.Close() })
		}
	}()
	f.answered.Inc()
	f.chain.ServeHTTP(w, gateway.WithAnswer(r, a))
	w.finish()
	if c, ok := ctx.Conn().(*frontConn); ok {
		c.consumed(&ctx.Request.Header)
	}
	_ = ctx.SetWriteDeadline(time.Now().Add(f.base + time.Duration(len(ctx.Response.Body()))*f.perByte))
}

// sameAsNet reports whether fasthttp writes a kept answer as net/http
// would: net/http computes a missing Content-Length only for a short GET
// body (longer ones it chunks), and sends none on a HEAD without one.
func sameAsNet(a gateway.Answer, head bool) bool {
	h := a.Header()
	if _, ok := h["Transfer-Encoding"]; ok {
		return false
	}
	if _, ok := h["Content-Length"]; ok {
		return true
	}
	return !head && len(a.Body()) <= netChunkingSize
}

// request builds the http.Request net/http would build for a GET or HEAD
// without a body, from the same bytes; ok=false for anything else, and
// for anything net/http would refuse or treat apart (it gets those).
func request(ctx *fasthttp.RequestCtx) (*http.Request, bool) {
	rh := &ctx.Request.Header
	method := string(rh.Method())
	if method != http.MethodGet && method != http.MethodHead {
		return nil, false
	}
	if cl := rh.ContentLength(); cl != 0 && cl != -2 {
		return nil, false
	}
	uri := string(rh.RequestURI())
	if len(uri) == 0 || uri[0] != '/' {
		return nil, false
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, false
	}
	header := make(http.Header, 8)
	hosts := 0
	var host string
	valid := true
	for k, v := range rh.AllInOrder() { // the wire's lines, duplicates included
		ks, vs := string(k), string(v)
		if !httpguts.ValidHeaderFieldName(ks) || !httpguts.ValidHeaderFieldValue(vs) {
			valid = false
			break
		}
		key := textproto.CanonicalMIMEHeaderKey(ks)
		if key == "Host" {
			hosts++
			host = vs
			continue
		}
		header[key] = append(header[key], vs)
	}
	if !valid || hosts != 1 || !httpguts.ValidHostHeader(host) {
		return nil, false
	}
	for _, k := range []string{"Expect", "Transfer-Encoding", "Content-Length", "Upgrade"} {
		if _, ok := header[k]; ok {
			return nil, false
		}
	}
	r := &http.Request{
		Method: method, URL: u, Header: header, Host: host, RequestURI: uri,
		Body: http.NoBody, RemoteAddr: ctx.RemoteAddr().String(),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}
	if !rh.IsHTTP11() {
		r.Proto, r.ProtoMinor = "HTTP/1.0", 0
	}
	return r, true
}

// fastWriter is the ResponseWriter of a request answered by fasthttp: it
// fills ctx's response as net/http would have written it.
type fastWriter struct {
	ctx    *fasthttp.RequestCtx
	header http.Header
	status int
	head   bool
}

func (w *fastWriter) Header() http.Header { return w.header }

// WriteHeader takes the header as it stands, as net/http does.
func (w *fastWriter) WriteHeader(code int) {
	if w.status != 0 || code < 200 {
		return
	}
	w.status = code
	resp := &w.ctx.Response
	resp.Header.DisableNormalizing() // net/http writes keys as they are
	resp.SetStatusCode(code)
	for k, vs := range w.header {
		for _, v := range vs {
			resp.Header.Add(k, v)
		}
	}
}

// Write buffers the body; a HEAD answer's body is discarded, as net/http
// does.
func (w *fastWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.head {
		w.ctx.Response.AppendBody(b)
	}
	return len(b), nil
}

// finish adds what net/http adds to a response it holds whole: a
// Content-Type sniffed from the body when the handler set none.
func (w *fastWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if _, typed := w.header["Content-Type"]; !typed && !w.head {
		if body := w.ctx.Response.Body(); len(body) > 0 {
			w.ctx.Response.Header.SetContentType(http.DetectContentType(body))
		}
	}
}

// handOff gives the connection to net/http, which reads this request's
// bytes again and then the rest of the connection.
func (f *front) handOff(ctx *fasthttp.RequestCtx) {
	head, err := replay(ctx)
	if err != nil {
		ctx.SetConnectionClose()
		ctx.Error("400 Bad Request", http.StatusBadRequest)
		return
	}
	if c, ok := ctx.Conn().(*frontConn); ok {
		c.stopRecording()
	}
	f.handedOff.Inc()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(c net.Conn) { f.handoff.give(&replayConn{Conn: c, head: head}) })
}

// replay returns the request's line and header block as received, then
// the part of its body fasthttp already read. An Expect: 100-continue
// line is left out: fasthttp has already answered it.
func replay(ctx *fasthttp.RequestCtx) ([]byte, error) {
	rh := &ctx.Request.Header
	if ctx.Request.MayContinue() {
		b := requestLine(nil, rh)
		b = append(b, withoutHeader(rh.RawHeaders(), "expect")...)
		return appendPrefetched(ctx, b)
	}
	return appendPrefetched(ctx, requestHead(rh))
}

// requestLine appends the request line of rh.
func requestLine(b []byte, rh *fasthttp.RequestHeader) []byte {
	b = append(b, rh.Method()...)
	b = append(b, ' ')
	b = append(b, rh.RequestURI()...)
	if rh.IsHTTP11() {
		return append(b, " HTTP/1.1\r\n"...)
	}
	return append(b, " HTTP/1.0\r\n"...)
}

// requestHead is the request line and header block of rh as received
// (the line rebuilt from its parts).
func requestHead(rh *fasthttp.RequestHeader) []byte {
	raw := rh.RawHeaders()
	b := requestLine(make([]byte, 0, 64+len(raw)), rh)
	if len(raw) == 0 {
		return append(b, "\r\n"...)
	}
	return append(b, raw...)
}

// appendPrefetched appends the part of the body fasthttp already read.
func appendPrefetched(ctx *fasthttp.RequestCtx, b []byte) ([]byte, error) {
	rh := &ctx.Request.Header
	if cl := rh.ContentLength(); cl > 0 {
		pre := make([]byte, min(cl, prefetchedBody))
		if _, err := io.ReadFull(ctx.RequestBodyStream(), pre); err != nil {
			return nil, err
		}
		b = append(b, pre...)
	}
	return b, nil
}

// withoutHeader returns the header block raw without its name lines
// (name in lower case).
func withoutHeader(raw []byte, name string) []byte {
	out := make([]byte, 0, len(raw))
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		k, _, ok := bytes.Cut(line, []byte(":"))
		if ok && string(bytes.ToLower(bytes.TrimSpace(k))) == name {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// replayConn reads head first, then the connection.
type replayConn struct {
	net.Conn
	head []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handoffListener is the listener net/http serves: the connections
// fasthttp hands off.
type handoffListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

func (l *handoffListener) give(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.closed:
		c.Close()
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// refuse takes a request fasthttp could not read. One whose bytes the
// connection still holds (a head past fasthttp's buffer, a form fasthttp
// does not parse) is handed to net/http whole, which answers as it does
// for any request (serving it, or refusing it past --max-header-bytes).
// A read that timed out closes the connection without an answer, as
// net/http does. Anything else is answered 400 (431 past the buffer) and
// the connection lingers on close: the client may still be sending, and
// closing on unread bytes resets the connection, which can destroy the
// answer before the client reads it.
func (f *front) refuse(ctx *fasthttp.RequestCtx, err error) {
	c, ok := ctx.Conn().(*frontConn)
	var ne net.Error
	switch {
	case !ok:
	case errors.As(err, &ne) && ne.Timeout():
		c.steal()
		c.Conn.Close()
		return
	default:
		if head, ok := c.unread(); ok {
			c.steal()
			f.handedOff.Inc()
			go f.handoff.give(&replayConn{Conn: c.Conn, head: head})
			return
		}
		c.linger.Store(true)
	}
	var small *fasthttp.ErrSmallBuffer
	if errors.As(err, &small) {
		ctx.Error("431 Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	ctx.Error("400 Bad Request", http.StatusBadRequest)
}

// frontReadBuffer is fasthttp's read buffer per connection: the largest
// request head fasthttp reads. Larger ones (up to --max-header-bytes) go
// to net/http, whose buffers grow with what a client sends instead of
// being allocated whole for every connection.
const frontReadBuffer = 16 << 10

// Lingering on a refused connection: at most this long, this many bytes.
const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 4 << 20
)

type frontListener struct{ net.Listener }

func (l frontListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &frontConn{Conn: c, recording: true}, nil
}

// frontConn is a connection as fasthttp sees it. It keeps the bytes read
// from the client that no answered request has consumed yet, so that a
// request fasthttp cannot read can still be handed to net/http whole;
// the front trims the record after each request it answers. Once the
// connection is handed off, or the record stops matching what fasthttp
// parsed, it stops recording. A stolen connection (handed off from
// fasthttp's error path) hides from fasthttp: its writes are discarded,
// its deadlines and close ignored. Marked to linger, it closes by ending
// its side, reading what the client still sends for a while, then
// closing (in the background).
type frontConn struct {
	net.Conn
	linger atomic.Bool

	// Used from fasthttp's goroutine for the connection only.
	recording bool
	record    []byte
	stolen    bool
	pending   []byte // read before the socket: what came after a lent request

	resumedIdle atomic.Bool // given back by net/http, no request since
}

func (c *frontConn) Read(p []byte) (int, error) {
	var n int
	var err error
	if len(c.pending) > 0 {
		n = copy(p, c.pending)
		c.pending = c.pending[n:]
	} else {
		n, err = c.Conn.Read(p)
	}
	if n > 0 {
		c.resumedIdle.Store(false)
	}
	if c.recording && n > 0 {
		if len(c.record)+n > 4*frontReadBuffer {
			c.stopRecording() // more than fasthttp reads for one head
		} else {
			c.record = append(c.record, p[:n]...)
		}
	}
	return n, err
}

func (c *frontConn) stopRecording() { c.recording, c.record = false, nil }

// consumed trims a request's head, as fasthttp parsed it, off the record.
func (c *frontConn) consumed(rh *fasthttp.RequestHeader) {
	if !c.recording {
		return
	}
	head := requestHead(rh)
	if !bytes.HasPrefix(c.record, head) {
		c.stopRecording()
		return
	}
	c.record = append(c.record[:0], c.record[len(head):]...)
}

// unread returns the bytes read and not consumed, and stops recording.
func (c *frontConn) unread() ([]byte, bool) {
	b, ok := c.record, c.recording && len(c.record) > 0
	c.stopRecording()
	return b, ok
}

func (c *frontConn) steal() { c.stolen = true }

func (c *frontConn) Write(p []byte) (int, error) {
	if c.stolen {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *frontConn) SetDeadline(t time.Time) error {
	if c.stolen {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *frontConn) SetReadDeadline(t time.Time) error {
	if c.stolen {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *frontConn) SetWriteDeadline(t time.Time) error {
	if c.stolen {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *frontConn) Close() error {
	switch {
	case c.stolen:
		return nil
	case !c.linger.Load():
		return c.Conn.Close()
	}
	go func() {
		_ = closeWrite(c.Conn)
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, lingerBytes))
		c.Conn.Close()
	}()
	return nil
}

// closeWrite ends the sending side of the TCP connection under c.
func closeWrite(c net.Conn) error {
	for {
		switch x := c.(type) {
		case *net.TCPConn:
			return x.CloseWrite()
		case *limitedConn:
			c = x.Conn
		case *frontConn:
			c = x.Conn
		case *replayConn:
			c = x.Conn
		case interface{ UnsafeConn() net.Conn }: // fasthttp's hijacked connection
			c = x.UnsafeConn()
		default:
			return errors.ErrUnsupported
		}
	}
}

// CloseWrite lets net/http end its side before closing a connection it
// refuses (as it does for a request past MaxHeaderBytes), so the client
// reads the refusal instead of a reset.
func (c *replayConn) CloseWrite() error { return closeWrite(c.Conn) }

// fastLogger sends fasthttp's messages (mostly malformed requests, one per
// bad client) to the debug level.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp: " + fmt.Sprintf(format, args...))
}
