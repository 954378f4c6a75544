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
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
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

// List is the union of list files, kept current by Run.
type List struct {
	files     []string
	log       *slog.Logger
	set       atomic.Pointer[Set]
	mu        sync.Mutex
	stamps    []stamp
	entries   prometheus.Gauge
	malformed prometheus.Gauge
	refusals  *prometheus.CounterVec
}

type stamp struct {
	size int64
	mod  time.Time
}

// Open loads files (all must be readable now) and registers the list's
// metrics on reg. With no files it returns a list that refuses nothing.
func Open(files []string, reg prometheus.Registerer, log *slog.Logger) (*List, error) {
	l := &List{
		files: files,
		log:   log,
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cargate_denylist_entries",
			Help: "Distinct entries of the loaded denylists."}),
		malformed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cargate_denylist_malformed_lines",
			Help: "Lines of the loaded denylists that were not understood (skipped)."}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cargate_denylist_refusals_total",
			Help: "Requests and imports refused by the denylist, by where they were refused."}, []string{"where"}),
	}
	l.entries = prom.Register(reg, l.entries)
	l.malformed = prom.Register(reg, l.malformed)
	l.refusals = prom.Register(reg, l.refusals)
	if err := l.reload(); err != nil {
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

// Run reloads the files every poll (DefaultPoll if <= 0) when one of them
// changed, until ctx ends.
func (l *List) Run(ctx context.Context, poll time.Duration) {
	if len(l.files) == 0 {
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
			if !l.changed() {
				continue
			}
			if err := l.reload(); err != nil {
				l.log.Error("denylist not reloaded: the previous list stays in force", "err", err)
			}
		}
	}
}

func (l *List) changed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.files {
		fi, err := os.Stat(f)
		if err != nil {
			return true // reload reports it
		}
		if i >= len(l.stamps) || l.stamps[i] != (stamp{fi.Size(), fi.ModTime()}) {
			return true
		}
	}
	return false
}

// reload reads every file into a new set and puts it in force; on any
// error the set in force is kept.
func (l *List) reload() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &Set{hashes: map[[sha256.Size]byte]struct{}{}}
	stamps := make([]stamp, len(l.files))
	malformed := 0
	for i, name := range l.files {
		st, err := l.readFile(s, name)
		if err != nil {
			return fmt.Errorf("denylist %s: %w", name, err)
		}
		stamps[i] = st
		malformed += s.malformed
		s.malformed = 0
	}
	s.malformed = malformed
	l.stamps = stamps
	l.set.Store(s)
	l.entries.Set(float64(s.Len()))
	l.malformed.Set(float64(malformed))
	l.log.Info("denylist loaded", "files", len(l.files), "entries", s.Len(), "malformed_lines", malformed)
	return nil
}

func (l *List) readFile(s *Set, name string) (stamp, error) {
	f, err := os.Open(name)
	if err != nil {
		return stamp{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return stamp{}, err
	}
	bad := func(line int, text string, err error) {
		if len(text) > 80 {
			text = text[:80] + "…"
		}
		l.log.Warn("denylist line skipped", "file", name, "line", line, "text", text, "err", err)
	}
	if err := s.add(f, bad); err != nil {
		return stamp{}, err
	}
	return stamp{fi.Size(), fi.ModTime()}, nil
}
