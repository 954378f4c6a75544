package faultproxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// off marks a body fault as disabled.
const off = -1

// faults is an immutable snapshot of the configured faults.
type faults struct {
	resetAfter    int64         // hijack and reset the connection after this many body bytes
	stallAfter    int64         // pause after this many body bytes…
	stallFor      time.Duration // …for this long
	flipAt        int64         // invert the byte at this body offset
	truncateAfter int64         // end the body after this many bytes, keeping Content-Length
}

var noFaults = faults{resetAfter: off, stallAfter: off, flipAt: off, truncateAfter: off}

// failure is a queued error response.
type failure struct {
	status int
	header http.Header
}

// Proxy is a fault-injecting reverse proxy listening on 127.0.0.1.
type Proxy struct {
	target   *url.URL
	srv      *httptest.Server
	client   *http.Client
	requests atomic.Int64
	current  atomic.Pointer[faults]

	mu       sync.Mutex
	failures []failure
}

// New starts a proxy forwarding to target (a base URL such as an
// httptest.Server's URL). It panics on a malformed target, like httptest.
func New(target string) *Proxy {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		panic("faultproxy: bad target URL " + target)
	}
	p := &Proxy{
		target: u,
		client: &http.Client{
			Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	f := noFaults
	p.current.Store(&f)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// URL is the proxy's base URL; append the origin's paths to it.
func (p *Proxy) URL() string { return p.srv.URL }

// Close stops the proxy and closes its connections.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.client.CloseIdleConnections()
}

// Requests is the number of requests the proxy has received.
func (p *Proxy) Requests() int64 { return p.requests.Load() }

// FailNext answers the next n requests with 500 Internal Server Error
// without contacting the origin.
func (p *Proxy) FailNext(n int) { p.FailNextWith(n, http.StatusInternalServerError, nil) }

// FailNextWith answers the next n requests with status and the given
// headers (for example 429 with Retry-After) without contacting the origin.
func (p *Proxy) FailNextWith(n, status int, header http.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i < n; i++ {
		p.failures = append(p.failures, failure{status: status, header: header})
	}
}

// ResetAfter makes every response body end in a TCP reset after k bytes.
func (p *Proxy) ResetAfter(k int64) { p.update(func(f *faults) { f.resetAfter = k }) }

// StallAfter makes every response body pause for d after k bytes (or until
// the client goes away), then continue.
func (p *Proxy) StallAfter(k int64, d time.Duration) {
	p.update(func(f *faults) { f.stallAfter, f.stallFor = k, d })
}

// FlipByte inverts the bits of the body byte at offset x in every response.
func (p *Proxy) FlipByte(x int64) { p.update(func(f *faults) { f.flipAt = x }) }

// TruncateAfter ends every response body after k bytes while the headers
// still announce the full Content-Length; the server then closes the
// connection, as a crashed origin would.
func (p *Proxy) TruncateAfter(k int64) { p.update(func(f *faults) { f.truncateAfter = k }) }

// Clear removes every fault, including queued failures.
func (p *Proxy) Clear() {
	p.mu.Lock()
	p.failures = nil
	p.mu.Unlock()
	f := noFaults
	p.current.Store(&f)
}

func (p *Proxy) update(change func(*faults)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := *p.current.Load()
	change(&f)
	p.current.Store(&f)
}

func (p *Proxy) nextFailure() (failure, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failures) == 0 {
		return failure{}, false
	}
	f := p.failures[0]
	p.failures = p.failures[1:]
	return f, true
}

var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if fail, ok := p.nextFailure(); ok {
		for k, v := range fail.header {
			w.Header()[k] = v
		}
		http.Error(w, "faultproxy: injected failure", fail.status)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.URL.Path = strings.TrimRight(p.target.Path, "/") + r.URL.Path
	out.Host = p.target.Host
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, "faultproxy: origin: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, h := range hopHeaders {
		w.Header().Del(h)
	}
	if resp.ContentLength >= 0 {
		w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	p.copyBody(w, r, resp.Body, *p.current.Load())
}

// copyBody streams the origin's body to the client, applying f.
func (p *Proxy) copyBody(w http.ResponseWriter, r *http.Request, body io.Reader, f faults) {
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 16<<10)
	var sent int64
	stalled := false
	for {
		// Never read past the next point where a fault must act.
		limit := int64(len(buf))
		for _, at := range []int64{f.resetAfter, f.truncateAfter, f.stallAfter} {
			if at >= 0 && at > sent && at-sent < limit {
				limit = at - sent
			}
		}
		if f.stallAfter >= 0 && sent == f.stallAfter && !stalled {
			stalled = true
			if flusher != nil {
				flusher.Flush()
			}
			select {
			case <-time.After(f.stallFor):
			case <-r.Context().Done():
				return
			}
		}
		if f.resetAfter >= 0 && sent >= f.resetAfter {
			resetConn(w)
			return
		}
		if f.truncateAfter >= 0 && sent >= f.truncateAfter {
			return // net/http closes the connection: fewer bytes than promised
		}
		n, err := body.Read(buf[:limit])
		if n > 0 {
			chunk := buf[:n]
			if f.flipAt >= sent && f.flipAt < sent+int64(n) {
				chunk[f.flipAt-sent] ^= 0xff
			}
			if _, werr := w.Write(chunk); werr != nil {
				return
			}
			sent += int64(n)
		}
		if err != nil {
			return
		}
	}
}

// resetConn flushes what was written, waits until the peer acknowledged
// it, then closes the connection with SO_LINGER 0 so the client sees a
// reset rather than an orderly close.
func resetConn(w http.ResponseWriter) {
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: response writer cannot be hijacked")
	}
	conn, bufrw, err := hj.Hijack()
	if err != nil {
		return
	}
	bufrw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		// A reset discards what the kernel still holds for the peer: wait
		// (briefly) until the peer has every byte written, so the fault
		// is "k bytes arrived, then a reset" however slowly the client
		// reads, not a race with its reading.
		for deadline := time.Now().Add(5 * time.Second); unsent(tc) > 0 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		tc.SetLinger(0)
	}
	conn.Close()
}
