package egress

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

// The spool is a directory of append-only segment files named
// <16 hex digits>.seg, numbered upwards. Each record is
//
//	uint32 little-endian payload length | uint32 little-endian CRC-32C of payload | payload
//
// A segment is preallocated and mapped into memory (MAP_SHARED): a record
// is copied into the mapping, its length last. The pages belong to the
// kernel's page cache, so a record is safe from a crash of the process
// (SIGKILL) the moment the copy ends, with no system call per event;
// fsync (msync) is batched for power loss. A zero length marks the end of
// the records written so far. A writer only ever appends to the newest
// segment, and starts a new one every time it opens the directory, so every
// segment but the newest is sealed: a bad record in a sealed segment is a
// torn write from a crash, and the rest of that segment is skipped.

const (
	recordHeader = 8
	segSuffix    = ".seg"
	cursorName   = "cursor"
	writerLock   = "writer.lock"
	readerLock   = "reader.lock"
)

// ErrSpoolFull is returned by Producer.Record when the spool is at MaxBytes.
var ErrSpoolFull = errors.New("egress: spool full, event dropped")

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
		return nil, fmt.Errorf("egress: %s of %s is held by another process: %w", what, filepath.Dir(path), err)
	}
	return f, nil
}

// spoolWriter appends records; see the package comment on durability.
type spoolWriter struct {
	dir       string
	maxBytes  int64
	segBytes  int64
	syncEvery int
	log       *slog.Logger
	lock      *os.File

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
	lastFull   time.Time
	onRefresh  func(total int64)
}

// mappedSeg is a sealed segment waiting for its final sync.
type mappedSeg struct {
	f      *os.File
	m      []byte
	size   int64
	synced int64 // bytes already flushed
}

func openSpoolWriter(cfg ProducerConfig) (*spoolWriter, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(cfg.Dir, writerLock), "the writer lock")
	if err != nil {
		return nil, err
	}
	w := &spoolWriter{dir: cfg.Dir, maxBytes: cfg.MaxBytes, segBytes: cfg.SegmentBytes,
		syncEvery: cfg.SyncEvery, log: cfg.Logger, lock: lock, syncNow: make(chan struct{}, 1)}
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
	w.refreshTotal()
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
		log.Warn("egress: torn spool record removed (a crash mid-write); it was never counted",
			"segment", name, "offset", end)
	}
	if err := f.Truncate(end); err != nil {
		f.Close()
		return fmt.Errorf("egress: trim spool segment %s: %w", name, err)
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
func (w *spoolWriter) startSegmentLocked(need int64) error {
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

// append copies one record into the active segment. It never waits for
// fsync and makes no system call unless the segment is full.
func (w *spoolWriter) append(payload []byte) error {
	if len(payload) == 0 || len(payload) > maxRecordBytes {
		return fmt.Errorf("egress: record of %d bytes out of range 1..%d", len(payload), maxRecordBytes)
	}
	n := int64(recordHeader + len(payload))
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("egress: spool closed")
	}
	if w.total+n > w.maxBytes {
		return ErrSpoolFull
	}
	// Room for the record and for the zero length that ends the segment.
	if w.segSize+n+4 > int64(len(w.m)) {
		if err := w.startSegmentLocked(n + 4); err != nil {
			return fmt.Errorf("egress: start spool segment: %w", err)
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

// appendedCount is the number of records appended since open.
func (w *spoolWriter) appendedCount() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.appended
}

// sync flushes the active segment's records to disk, finishes sealed
// segments (flush, unmap, trim to their records, fsync, close) and, when
// segments were created, fsyncs the directory.
func (w *spoolWriter) sync() error {
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

// refreshTotal recounts the bytes on disk: a reader (in this process or
// another) deletes acknowledged segments, which frees room.
func (w *spoolWriter) refreshTotal() {
	w.mu.Lock()
	active := w.seq
	w.mu.Unlock()
	segs, err := listSegments(w.dir)
	if err != nil {
		w.log.Warn("egress: listing spool failed", "dir", w.dir, "err", err)
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
	total := w.total
	w.mu.Unlock()
	if w.onRefresh != nil {
		w.onRefresh(total)
	}
}

func (w *spoolWriter) close() error {
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
