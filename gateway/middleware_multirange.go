package gateway

import (
	"bufio"
	"cmp"
	"fmt"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

// maxRanges bounds the parts of one multipart/byteranges response, after
// overlapping and nearby parts are coalesced. A request for more is
// answered with the whole file, as nginx does past its max_ranges: many
// tiny parts cost a request each and can only be an attempt to amplify.
const maxRanges = 16

// rangeGap is the largest gap between two parts that is served rather
// than split: about what a part's own headers cost.
const rangeGap = 80

// withRangesPerRFC answers GETs of a file with a Range per RFC 9110 §14:
// unsatisfiable parts are dropped (416 when none is left), a suffix range
// longer than the file is the whole file, overlapping parts are coalesced
// so no request sends a byte twice, and several parts are answered as
// multipart/byteranges (boxo's handler serves only the first range). A
// plain single "a-b" or "a-" range, the common video seek, goes to boxo
// as it is; anything else first learns the file's size from a HEAD.
func withRangesPerRFC(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Range")
		if r.Method != http.MethodGet || h == "" || r.URL.Query().Get("format") != "" {
			next.ServeHTTP(w, r)
			return
		}
		specs, ok := parseRanges(h)
		if !ok {
			next.ServeHTTP(w, withRange(r, "")) // RFC 9110 §14.2: may be ignored
			return
		}
		if len(specs) == 1 && !specs[0].suffix {
			next.ServeHTTP(w, r) // boxo answers 416 past the end itself
			return
		}
		size, ok := fileSize(next, r)
		if !ok {
			next.ServeHTTP(w, r) // not a file: boxo decides
			return
		}
		parts := satisfiable(specs, size)
		switch {
		case len(parts) == 0:
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			http.Error(w, "none of the requested ranges is inside the file", http.StatusRequestedRangeNotSatisfiable)
		case len(parts) > maxRanges:
			next.ServeHTTP(w, withRange(r, ""))
		case len(parts) == 1:
			next.ServeHTTP(w, withRange(r, parts[0].String()))
		default:
			serveParts(next, w, r, parts)
		}
	})
}

// byteRange is one range of a Range header: bytes start to end, end < 0
// for an open end; or, when suffix is set, the last end bytes.
type byteRange struct {
	start, end int64
	suffix     bool
}

func (b byteRange) String() string { return fmt.Sprintf("bytes=%d-%d", b.start, b.end) }

// parseRanges parses a "bytes=" ranges-specifier; ok=false when it is not
// one (another unit, or malformed).
func parseRanges(h string) ([]byteRange, bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return nil, false
	}
	var out []byteRange
	for _, p := range strings.Split(spec, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		first, last, ok := strings.Cut(p, "-")
		if !ok {
			return nil, false
		}
		if first == "" { // suffix-range
			n, err := strconv.ParseInt(last, 10, 64)
			if err != nil || n < 0 {
				return nil, false
			}
			out = append(out, byteRange{end: n, suffix: true})
			continue
		}
		a, err := strconv.ParseInt(first, 10, 64)
		if err != nil || a < 0 {
			return nil, false
		}
		b := int64(-1)
		if last != "" {
			if b, err = strconv.ParseInt(last, 10, 64); err != nil || b < a {
				return nil, false
			}
		}
		out = append(out, byteRange{start: a, end: b})
	}
	return out, len(out) > 0
}

// satisfiable resolves ranges against a file of size bytes: drops what
// lies past its end, clamps ends and suffixes, and coalesces parts that
// overlap or nearly touch, in file order.
func satisfiable(specs []byteRange, size int64) []byteRange {
	var out []byteRange
	for _, s := range specs {
		switch {
		case s.suffix && s.end == 0: // "-0" asks for nothing
			continue
		case s.suffix:
			s = byteRange{start: max(0, size-s.end), end: size - 1}
		case s.start >= size:
			continue
		case s.end < 0 || s.end >= size:
			s.end = size - 1
		}
		if s.start <= s.end {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b byteRange) int { return cmp.Compare(a.start, b.start) })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s.start <= merged[n-1].end+1+rangeGap {
			merged[n-1].end = max(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// fileSize asks next for r's answer without a Range and without a body:
// a 200 with a Content-Length is a file of that size.
func fileSize(next http.Handler, r *http.Request) (int64, bool) {
	head := withRange(r, "")
	head.Method = http.MethodHead
	hw := &headWriter{header: http.Header{}}
	next.ServeHTTP(hw, head)
	if hw.code != http.StatusOK {
		return 0, false
	}
	n, err := strconv.ParseInt(hw.header.Get("Content-Length"), 10, 64)
	return n, err == nil && n > 0
}

// withRange is a copy of r asking for rng ("" for no Range).
func withRange(r *http.Request, rng string) *http.Request {
	sub := r.Clone(r.Context())
	if rng == "" {
		sub.Header.Del("Range")
		sub.Header.Del("If-Range")
	} else {
		sub.Header.Set("Range", rng)
	}
	return sub
}

// headWriter keeps a response's status and headers and drops its body.
type headWriter struct {
	header http.Header
	code   int
}

func (h *headWriter) Header() http.Header { return h.header }
func (h *headWriter) WriteHeader(code int) {
	if h.code == 0 {
		h.code = code
	}
}
func (h *headWriter) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return len(b), nil
}

// serveParts answers with multipart/byteranges, producing each part by
// running the request through next again with that single range and
// streaming the part as it comes.
func serveParts(next http.Handler, w http.ResponseWriter, r *http.Request, parts []byteRange) {
	mw := multipart.NewWriter(w)
	for i, rg := range parts {
		pw := &partWriter{w: w, mw: mw, first: i == 0, header: http.Header{}}
		next.ServeHTTP(pw, withRange(r, rg.String()))
		if pw.fallback {
			// The first part was not a 206 (an error, or If-Range did not
			// match): its response went to the client as it was.
			return
		}
		if !pw.ok {
			// A later part failed: never end cleanly. The abort is left
			// to withStreamAbort, on the server's goroutine.
			pw.abort()
			return
		}
	}
	mw.Close()
}

// partWriter turns one single-range response into one part.
type partWriter struct {
	w        http.ResponseWriter
	mw       *multipart.Writer
	header   http.Header
	first    bool
	ok       bool
	fallback bool
	part     interface{ Write([]byte) (int, error) }
}

func (p *partWriter) Header() http.Header {
	if p.fallback {
		return p.w.Header()
	}
	return p.header
}

func (p *partWriter) WriteHeader(code int) {
	if p.ok || p.fallback {
		return
	}
	if code != http.StatusPartialContent {
		if p.first {
			p.fallback = true
			for k, v := range p.header {
				p.w.Header()[k] = v
			}
			p.w.WriteHeader(code)
		}
		return
	}
	if p.first {
		out := p.w.Header()
		for k, v := range p.header {
			if k != "Content-Length" && k != "Content-Range" && k != "Content-Type" {
				out[k] = v
			}
		}
		out.Set("Content-Type", "multipart/byteranges; boundary="+p.mw.Boundary())
		p.w.WriteHeader(http.StatusPartialContent)
	}
	ph := textproto.MIMEHeader{}
	if ct := p.header.Get("Content-Type"); ct != "" {
		ph.Set("Content-Type", ct)
	}
	ph.Set("Content-Range", p.header.Get("Content-Range"))
	part, err := p.mw.CreatePart(ph)
	if err != nil {
		return // the client went away: the part stays not ok
	}
	p.part, p.ok = part, true
}

func (p *partWriter) Write(b []byte) (int, error) {
	if !p.ok && !p.fallback {
		p.WriteHeader(http.StatusOK)
	}
	switch {
	case p.fallback:
		return p.w.Write(b)
	case p.ok && p.part != nil:
		return p.part.Write(b)
	}
	return 0, fmt.Errorf("range part not served")
}

// abort ends the response with a broken connection: through the stream
// guard's Hijack, which marks the response aborted.
func (p *partWriter) abort() {
	if hj, ok := p.w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// Hijack lets boxo's retrieval timeout abort a part it cuts short.
func (p *partWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if hj, ok := p.w.(http.Hijacker); ok {
		return hj.Hijack()
	}
	return nil, nil, http.ErrNotSupported
}
