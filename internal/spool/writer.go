package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A segment is preallocated and mapped into memory (MAP_SHARED): a record
// is copied into the mapping, its length last. The pages belong to the
// kernel's page cache, so a record is safe from a crash of the process
// the moment the copy ends, with no system call per record; msync is
// batched for power loss. Every segment but the newest is sealed: a bad
// record in a sealed segment is a torn write from a crash, and the rest of
// that segment is skipped.

const (
	recordHeader = 8
	segSuffix    = ".seg"
	cursorName   = "cursor"
	writerLock   = "writer.lock"
	readerLock   = "reader.lock"
)

// ErrFull is returned by Append when the spool is at its MaxBytes.
var ErrFull = errors.New("spool: full, record dropped")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func segName(seq uint64) string { return fmt.Sprintf("%016x%s", seq, segSuffix) }

// listSegments returns the segment numbers in dir, ascending.
func listSegments(dir string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segSuffix)
		if !ok || len(name) != 16 {
			continue
		}
		if n, err := strconv.ParseUint(name, 16, 64); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// lockFile takes an exclusive advisory lock that the kernel releases when the
// process dies, so a SIGKILLed writer never leaves a stale lock behind.
func lockFile(path, what string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := lockExclusive(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %s of %s is held by another process: %w", what, filepath.Dir(path), err)
	}
	return f, nil
}

// Writer appends records to a spool; see the package comment on
// durability. Append is safe for concurrent use. A background loop syncs
// (Config.SyncInterval, SyncEvery) and notices segments a reader deleted.
type Writer struct {
	dir       string
	maxBytes  int64
	segBytes  int64
	syncEvery int
	interval  time.Duration
	log       *slog.Logger
	lock      *os.File
	stop      chan struct{}
	stopped   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	mapMu sync.RWMutex // held (read) while msync runs outside mu; close unmaps under it
	// populating counts background page populations of new segments.
	populating sync.WaitGroup
	f          *os.File
	m          []byte // the active segment, mapped
	seq        uint64
	segSize    int64       // bytes of records in the active segment
	synced     int64       // bytes of the active segment known flushed by msync
	total      int64       // bytes of all segments' records on disk
	unsynced   int         // records appended since the last sync was started
	appended   int64       // records appended since open
	retired    []mappedSeg // sealed segments not yet synced, unmapped and closed
	dirDirty   bool        // a segment was created since the last directory fsync
	syncNow    chan struct{}
}

// mappedSeg is a sealed segment waiting for its final sync.
type mappedSeg struct {
	f      *os.File
	m      []byte
	size   int64
	synced int64 // bytes already flushed
}

// OpenWriter opens (creating if needed) the spool in cfg.Dir for appending
// and starts its sync loop. One Writer at a time may hold a directory,
// across processes.
func OpenWriter(cfg Config) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(cfg.Dir, writerLock), "the writer lock")
	if err != nil {
		return nil, err
	}
	w := &Writer{dir: cfg.Dir, maxBytes: cfg.MaxBytes, segBytes: cfg.SegmentBytes, syncEvery: cfg.SyncEvery,
		interval: cfg.SyncInterval, log: cfg.Logger, lock: lock, syncNow: make(chan struct{}, 1), stop: make(chan struct{})}
	segs, err := listSegments(cfg.Dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if len(segs) > 0 {
		w.seq = segs[len(segs)-1]
	}
	if err := trimUnfinished(cfg.Dir, segs, cfg.SegmentBytes, cfg.Logger); err != nil {
		lock.Close()
		return nil, err
	}
	w.mu.Lock()
	err = w.startSegmentLocked(0)
	w.mu.Unlock()
	if err != nil {
		lock.Close()
		return nil, err
	}
	w.Refresh()
	w.stopped.Add(1)
	go w.syncLoop()
	return w, nil
}

// trimUnfinished cuts back to the end of their readable records the
// segments a killed writer left unfinished: its active one (the newest)
// and any it had sealed but not yet trimmed, which are still at their
// preallocated size (a finished segment is always smaller: 4 bytes are
// kept for the terminator). The spool's size, and so its bound, counts
// file sizes; a crash loop would otherwise fill the bound with empty
// preallocated space.
func trimUnfinished(dir string, segs []uint64, segBytes int64, log *slog.Logger) error {
	for i, seq := range segs {
		fi, err := os.Stat(filepath.Join(dir, segName(seq)))
		if err != nil {
			continue // a reader deleted it
		}
		if i == len(segs)-1 || fi.Size() >= segBytes {
			if err := trimSegment(dir, seq, fi.Size(), log); err != nil {
				return err
			}
		}
	}
	return nil
}

// trimSegment cuts segment seq (size bytes) after its last whole record.
// Bytes after it that are not zero are a torn record (a crash mid-write,
// or power loss): never counted, and logged.
func trimSegment(dir string, seq uint64, size int64, log *slog.Logger) error {
	end, _ := readableEnd(dir, seq) // a torn record ends the readable part like a clean end
	if size <= end {
		return nil
	}
	name := filepath.Join(dir, segName(seq))
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if !zeroFrom(f, end) {
		log.Warn("spool: torn record removed (a crash mid-write); it was never counted",
			"segment", name, "offset", end)
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return fmt.Errorf("spool: trim segment %s: %w", name, err)
	}
	return errors.Join(f.Sync(), f.Close())
}

// zeroFrom reports whether f holds only zero bytes from off to its end.
func zeroFrom(f *os.File, off int64) bool {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.ReadAt(buf, off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false
			}
		}
		off += int64(n)
		if err != nil {
			return true
		}
	}
}

// startSegmentLocked seals the active segment (its sync, unmap and close
// happen in the sync loop, off the request path) and creates the next one,
// preallocated (so a full disk fails here, not as a fault on a write to
// the mapping) and mapped, large enough for a record of need bytes.
func (w *Writer) startSegmentLocked(need int64) error {
	size := max(w.segBytes, need)
	name := filepath.Join(w.dir, segName(w.seq+1))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := preallocate(f, size); err != nil {
		return fail(fmt.Errorf("preallocate spool segment: %w", err))
	}
	m, err := mapSegment(f, size)
	if err != nil {
		return fail(fmt.Errorf("map spool segment: %w", err))
	}
	// Fault the segment's pages in, writable, in one system call off the
	// request path; otherwise the first write to each 4 KiB page takes a
	// page fault in a request. The appends that start meanwhile are safe:
	// the kernel orders both. Nothing unmaps a segment before populating
	// is done (see sync and close). Kernels before 5.14 lack
	// MADV_POPULATE_WRITE; the faults then stay.
	w.populating.Add(1)
	go func() {
		defer w.populating.Done()
		populate(m)
	}()
	if w.f != nil {
		w.retired = append(w.retired, mappedSeg{f: w.f, m: w.m, size: w.segSize, synced: w.synced})
	}
	w.f, w.m, w.seq, w.segSize, w.synced, w.dirDirty = f, m, w.seq+1, 0, 0, true
	return nil
}

// Append copies one record (1 to MaxRecordBytes bytes) into the spool. It
// never waits for fsync and makes no system call unless the segment is
// full. It returns ErrFull, writing nothing, when the spool is at MaxBytes.
func (w *Writer) Append(payload []byte) error {
	if len(payload) == 0 || len(payload) > MaxRecordBytes {
		return fmt.Errorf("spool: record of %d bytes out of range 1..%d", len(payload), MaxRecordBytes)
	}
	n := int64(recordHeader + len(payload))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("spool: closed")
	}
	if w.total+n > w.maxBytes {
		return ErrFull
	}
	// Room for the record and for the zero length that ends the segment.
	if w.segSize+n+4 > int64(len(w.m)) {
		if err := w.startSegmentLocked(n + 4); err != nil {
			return fmt.Errorf("spool: start segment: %w", err)
		}
	}
	rec := w.m[w.segSize : w.segSize+n]
	copy(rec[recordHeader:], payload)
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(payload, castagnoli))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload))) // last: it publishes the record
	w.segSize += n
	w.total += n
	w.unsynced++
	w.appended++
	if w.unsynced >= w.syncEvery {
		select {
		case w.syncNow <- struct{}{}:
		default:
		}
	}
	return nil
}

// Appended is the number of records appended since open.
func (w *Writer) Appended() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appended
}

// sync flushes the active segment's records to disk, finishes sealed
// segments (flush, unmap, trim to their records, fsync, close) and, when
// segments were created, fsyncs the directory.
func (w *Writer) sync() error {
	// msync can take milliseconds (a disk flush): it runs outside mu, so
	// appends never wait for it; mapMu keeps close from unmapping meanwhile.
	w.mapMu.RLock()
	w.mu.Lock()
	retired, f, m, seq, from, size, dirty := w.retired, w.f, w.m, w.seq, w.synced, w.segSize, w.dirDirty
	w.retired, w.unsynced, w.dirDirty = nil, 0, false
	w.mu.Unlock()
	var errs []error
	if err := flushRange(f, m, from, size); err != nil {
		errs = append(errs, err)
	} else {
		w.mu.Lock()
		if w.seq == seq {
			w.synced = size
		}
		w.mu.Unlock()
	}
	w.mapMu.RUnlock()
	if len(retired) > 0 {
		w.populating.Wait()
	}
	for _, r := range retired {
		errs = append(errs, finishSegment(r))
	}
	if dirty {
		errs = append(errs, syncDir(w.dir))
	}
	return errors.Join(errs...)
}

// finishSegment makes a sealed segment durable and trims its unused tail.
func finishSegment(s mappedSeg) error {
	return errors.Join(flushRange(s.f, s.m, s.synced, s.size), unmapSegment(s.m),
		s.f.Truncate(s.size), s.f.Sync(), s.f.Close())
}

// Bytes is the size of the spool's segments on disk, as last counted.
func (w *Writer) Bytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.total
}

// Refresh recounts the bytes on disk at once: a reader (in this process or
// another) deletes committed segments, which frees room. The sync loop
// does it every second.
func (w *Writer) Refresh() {
	w.mu.Lock()
	active := w.seq
	w.mu.Unlock()
	segs, err := listSegments(w.dir)
	if err != nil {
		w.log.Warn("spool: listing failed", "dir", w.dir, "err", err)
		return
	}
	var sealed int64
	for _, s := range segs {
		if s >= active {
			continue
		}
		if fi, err := os.Stat(filepath.Join(w.dir, segName(s))); err == nil {
			sealed += fi.Size()
		}
	}
	w.mu.Lock()
	if w.seq == active {
		w.total = sealed + w.segSize
	}
	w.mu.Unlock()
}

func (w *Writer) syncLoop() {
	defer w.stopped.Done()
	t := time.NewTicker(w.interval)
	defer t.Stop()
	lastRefresh := time.Now()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.syncNow:
		}
		if err := w.sync(); err != nil {
			w.log.Error("spool: fsync failed", "dir", w.dir, "err", err)
		}
		if time.Since(lastRefresh) >= time.Second {
			w.Refresh()
			lastRefresh = time.Now()
		}
	}
}

// Close stops the sync loop, syncs every record appended and releases
// the directory. Append fails after Close.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		close(w.stop)
		w.stopped.Wait()
		w.closeErr = w.close()
	})
	return w.closeErr
}

func (w *Writer) close() error {
	err := w.sync()
	w.populating.Wait()
	w.mapMu.Lock()
	defer w.mapMu.Unlock()
	w.mu.Lock()
	if w.f != nil {
		err = errors.Join(err, finishSegment(mappedSeg{f: w.f, m: w.m, size: w.segSize, synced: w.synced}))
		w.f, w.m = nil, nil
	}
	w.mu.Unlock()
	return errors.Join(err, w.lock.Close())
}
