package denylist

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cargate/cargate/internal/prom"
)

// DefaultPoll is how often list files are checked for changes.
const DefaultPoll = 3 * time.Second

// MaxLineBytes bounds one line of a list; longer lines are malformed.
const MaxLineBytes = 64 << 10

// Set is one loaded list: the hashes of refused "<cid>/" and
// "<cid>/<path>" strings.
type Set struct {
	hashes    map[[sha256.Size]byte]struct{}
	malformed int
}

// Len is the number of distinct entries.
func (s *Set) Len() int { return len(s.hashes) }

// Malformed is the number of lines that were not understood.
func (s *Set) Malformed() int { return s.malformed }

// Parse reads a list. Malformed lines are counted (and described to bad,
// when set) and skipped; only a read error fails.
func Parse(r io.Reader, bad func(line int, text string, err error)) (*Set, error) {
	s := &Set{hashes: map[[sha256.Size]byte]struct{}{}}
	if err := s.add(r, bad); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Set) add(r io.Reader, bad func(line int, text string, err error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	// Until a "---" line, what is read may be the list's header (version,
	// name, description): its entries and complaints wait.
	type complaint struct {
		line int
		text string
		err  error
	}
	var pending [][sha256.Size]byte
	var pendingBad []complaint
	inHeader := true
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "---" && inHeader {
			// What came before was the list's header (version, name,
			// description), not entries.
			inHeader, pending, pendingBad = false, nil, nil
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		h, err := parseLine(line)
		switch {
		case err != nil && inHeader:
			pendingBad = append(pendingBad, complaint{n, line, err})
			continue
		case err != nil:
			s.malformed++
			if bad != nil {
				bad(n, line, err)
			}
			continue
		}
		if inHeader {
			pending = append(pending, h)
		} else {
			s.hashes[h] = struct{}{}
		}
	}
	for _, h := range pending {
		s.hashes[h] = struct{}{}
	}
	for _, c := range pendingBad {
		s.malformed++
		if bad != nil {
			bad(c.line, c.text, c.err)
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("line %d is longer than %d bytes", n+1, MaxLineBytes)
	}
	return sc.Err()
}

func parseLine(line string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if hexHash, ok := strings.CutPrefix(line, "//"); ok {
		if len(hexHash) != 2*sha256.Size {
			return h, fmt.Errorf("a // entry must be %d hex digits (a sha256)", 2*sha256.Size)
		}
		if _, err := hex.Decode(h[:], []byte(hexHash)); err != nil {
			return h, fmt.Errorf("a // entry must be hex: %w", err)
		}
		return h, nil
	}
	if strings.HasPrefix(line, "!") || strings.HasPrefix(line, "/ipns/") {
		return h, errors.New("allow rules and /ipns/ rules are not supported")
	}
	key, ok := Key(line)
	if !ok {
		return h, errors.New("not a // hash, a CID or an /ipfs/ path")
	}
	return sha256.Sum256([]byte(key)), nil
}

// Key returns the string bad-bits hashes for a content path ("<cid>",
// "<cid>/<path>", "/ipfs/<cid>/<path>"): the root CID as CIDv1 base32, a
// slash, and the path with empty segments dropped. ok is false when the
// path does not start with a CID.
func Key(p string) (string, bool) {
	root, rest := splitRoot(p)
	c, err := cid.Decode(root)
	if err != nil {
		return "", false
	}
	return normal(c) + "/" + strings.Join(segments(rest), "/"), true
}

func splitRoot(p string) (root, rest string) {
	p = strings.TrimPrefix(p, "/ipfs/")
	p = strings.TrimLeft(p, "/")
	root, rest, _ = strings.Cut(p, "/")
	return root, rest
}

func segments(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// normal is the CID form bad-bits hashes: version 1, base32.
func normal(c cid.Cid) string {
	if c.Version() == 0 {
		c = cid.NewCidV1(cid.DagProtobuf, c.Hash())
	}
	return c.String()
}

// Denies reports whether the content path p ("/ipfs/<cid>[/path]" or
// "<cid>[/path]"), or any path above it, is refused. A path whose root is
// not a CID is not refused here.
func (s *Set) Denies(p string) bool {
	if s == nil || len(s.hashes) == 0 {
		return false
	}
	root, rest := splitRoot(p)
	c, err := cid.Decode(root)
	if err != nil {
		return false
	}
	key := normal(c) + "/"
	if s.has(key) {
		return true
	}
	for i, seg := range segments(rest) {
		if i > 0 {
			key += "/"
		}
		key += seg
		if s.has(key) {
			return true
		}
	}
	return false
}

// DeniesCID reports whether the root c is refused.
func (s *Set) DeniesCID(c cid.Cid) bool {
	return s != nil && s.has(normal(c)+"/")
}

func (s *Set) has(key string) bool {
	_, ok := s.hashes[sha256.Sum256([]byte(key))]
	return ok
}

// List is the union of lists (files and URLs), kept current by Run.
type List struct {
	sources []*source
	log     *slog.Logger
	client  *http.Client
	now     func() time.Time
	maxURL  int64 // MaxListBytes; smaller in tests

	set       atomic.Pointer[Set]
	mu        sync.Mutex // serialises refreshes
	entries   prometheus.Gauge
	malformed prometheus.Gauge
	refusals  *prometheus.CounterVec
	failures  prometheus.Counter
}

// source is one list: a file (read again when its size or modification
// time changes) or an http(s) URL (fetched again every URLPoll, with a
// conditional GET). set is what it held when last read.
type source struct {
	name    string
	isURL   bool
	stamp   stamp
	etag    string
	lastMod string
	fetched time.Time
	set     *Set
}

type stamp struct {
	size int64
	mod  time.Time
}

// URLPoll is how often a list at an http(s) URL is fetched again (a
// conditional GET: an unchanged list costs one 304).
const URLPoll = 5 * time.Minute

// URLTimeout bounds one fetch of a list URL.
const URLTimeout = 2 * time.Minute

// MaxListBytes bounds a list read from a URL (the published badbits.deny
// is about 30 MB).
const MaxListBytes = 512 << 20

// Open loads lists — file paths, or http(s) URLs an operator chose — (all
// must be readable now) and registers the list's metrics on reg. With no
// lists it returns a list that refuses nothing.
func Open(lists []string, reg prometheus.Registerer, log *slog.Logger) (*List, error) {
	l := &List{
		log:    log,
		client: &http.Client{Timeout: URLTimeout},
		now:    time.Now,
		maxURL: MaxListBytes,
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cargate_denylist_entries",
			Help: "Distinct entries of the loaded denylists."}),
		malformed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cargate_denylist_malformed_lines",
			Help: "Lines of the loaded denylists that were not understood (skipped)."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cargate_denylist_refusals_total",
			Help: "Requests, imports and claims refused by the denylist, by where they were refused."}, []string{"where"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "cargate_denylist_reload_failures_total",
			Help: "Reloads of a denylist file or URL that failed (the list it held before stays in force)."}),
	}
	for _, name := range lists {
		u, err := url.Parse(name)
		isURL := err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
		l.sources = append(l.sources, &source{name: name, isURL: isURL})
	}
	l.entries = prom.Register(reg, l.entries)
	l.malformed = prom.Register(reg, l.malformed)
	l.refusals = prom.Register(reg, l.refusals)
	l.failures = prom.Register(reg, l.failures)
	if err := l.refresh(context.Background(), true); err != nil {
		return nil, err
	}
	return l, nil
}

// Len is the number of entries in force.
func (l *List) Len() int { return l.set.Load().Len() }

// Denied reports whether content path p is refused, counting a refusal
// under where.
func (l *List) Denied(where, p string) bool {
	if l == nil || !l.set.Load().Denies(p) {
		return false
	}
	l.refusals.WithLabelValues(where).Inc()
	return true
}

// DeniedCID reports whether root c is refused, counting a refusal under
// where.
func (l *List) DeniedCID(where string, c cid.Cid) bool {
	if l == nil || !l.set.Load().DeniesCID(c) {
		return false
	}
	l.refusals.WithLabelValues(where).Inc()
	return true
}

// contentCodecs are the codecs a DAG root is named with: a claim names
// content by multihash alone, and a list names roots by CID.
var contentCodecs = []uint64{cid.DagProtobuf, cid.Raw, cid.DagCBOR, cid.DagJSON}

// DeniedContent reports whether the content with multihash h is refused
// as the root of a DAG of any usual codec (what a claim about it would
// make locatable), counting a refusal under "claim". A nil list refuses
// nothing.
func (l *List) DeniedContent(h multihash.Multihash) bool {
	if l == nil {
		return false
	}
	s := l.set.Load()
	for _, codec := range contentCodecs {
		if s.DeniesCID(cid.NewCidV1(codec, h)) {
			l.refusals.WithLabelValues("claim").Inc()
			return true
		}
	}
	return false
}

// Run checks the lists every poll (DefaultPoll if <= 0; URLs only every
// URLPoll) and puts a changed union in force, until ctx ends.
func (l *List) Run(ctx context.Context, poll time.Duration) {
	if len(l.sources) == 0 {
		return
	}
	if poll <= 0 {
		poll = DefaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.refresh(ctx, false); err != nil {
				l.log.Error("denylist not reloaded: the list it held before stays in force", "err", err)
			}
		}
	}
}

// refresh reads again each list that changed and, when any did, puts the
// new union in force. A list that fails keeps what it held (strict: the
// first error is returned at once, for Open, where every list must load).
func (l *List) refresh(ctx context.Context, strict bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := l.set.Load() == nil
	var errs []error
	for _, src := range l.sources {
		var ch bool
		var err error
		if src.isURL {
			ch, err = l.refreshURL(ctx, src)
		} else {
			ch, err = l.refreshFile(src)
		}
		if err != nil {
			err = fmt.Errorf("denylist %s: %w", src.name, err)
			if strict {
				return err
			}
			l.failures.Inc()
			errs = append(errs, err)
		}
		changed = changed || ch
	}
	if changed {
		union := &Set{hashes: map[[sha256.Size]byte]struct{}{}}
		for _, src := range l.sources {
			if src.set == nil {
				continue
			}
			for h := range src.set.hashes {
				union.hashes[h] = struct{}{}
			}
			union.malformed += src.set.malformed
		}
		l.set.Store(union)
		l.entries.Set(float64(union.Len()))
		l.malformed.Set(float64(union.malformed))
		l.log.Info("denylist loaded", "lists", len(l.sources), "entries", union.Len(), "malformed_lines", union.malformed)
	}
	return errors.Join(errs...)
}

func (l *List) refreshFile(src *source) (bool, error) {
	fi, err := os.Stat(src.name)
	if err != nil {
		return false, err
	}
	if src.set != nil && src.stamp == (stamp{fi.Size(), fi.ModTime()}) {
		return false, nil
	}
	f, err := os.Open(src.name)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return false, err
	}
	set, err := Parse(f, l.complain(src.name))
	if err != nil {
		return false, err
	}
	src.set, src.stamp = set, stamp{fi.Size(), fi.ModTime()}
	return true, nil
}

// refreshURL fetches src when URLPoll has passed since the last fetch
// (at once the first time), sending the validators of the copy held.
func (l *List) refreshURL(ctx context.Context, src *source) (bool, error) {
	now := l.now()
	if src.set != nil && now.Sub(src.fetched) < URLPoll {
		return false, nil
	}
	src.fetched = now
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.name, nil)
	if err != nil {
		return false, err
	}
	if src.set != nil {
		if src.etag != "" {
			req.Header.Set("If-None-Match", src.etag)
		}
		if src.lastMod != "" {
			req.Header.Set("If-Modified-Since", src.lastMod)
		}
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && src.set != nil:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("fetch answered %s", resp.Status)
	}
	body := &io.LimitedReader{R: resp.Body, N: l.maxURL + 1}
	set, err := Parse(body, l.complain(src.name))
	if err != nil {
		return false, err
	}
	if body.N <= 0 {
		return false, fmt.Errorf("list larger than %d bytes", l.maxURL)
	}
	src.set, src.etag, src.lastMod = set, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	return true, nil
}

// complain logs a malformed line of list name.
func (l *List) complain(name string) func(line int, text string, err error) {
	return func(line int, text string, err error) {
		if len(text) > 80 {
			text = text[:80] + "…"
		}
		l.log.Warn("denylist line skipped", "list", name, "line", line, "text", text, "err", err)
	}
}
