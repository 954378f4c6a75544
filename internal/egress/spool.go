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
	"syscall"
	"time"
)

// The spool is a directory of append-only segment files named
// <16 hex digits>.seg, numbered upwards. Each record is
//
//	uint32 little-endian payload length | uint32 little-endian CRC-32C of payload | payload
//
// written with a single write(2). A writer only ever appends to the newest
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
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("egress: %s of %s is held by another process: %w", what, filepath.Dir(path), err)
	}
	return f, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// spoolWriter appends records; see the package comment on durability.
type spoolWriter struct {
	dir       string
	maxBytes  int64
	segBytes  int64
	syncEvery int
	log       *slog.Logger
	lock      *os.File

	mu        sync.Mutex
	f         *os.File
	seq       uint64
	segSize   int64
	total     int64      // bytes of all segments on disk
	unsynced  int        // records appended since the last fsync was started
	retired   []*os.File // sealed segments not yet fsynced and closed
	dirDirty  bool       // a segment was created since the last directory fsync
	broken    bool       // the last write failed; seal before the next one
	syncNow   chan struct{}
	cur       *spoolBatch // records waiting for the next write(2)
	writing   bool        // a batch is being written (w.mu released)
	flushed   *sync.Cond  // signalled when a batch write ends
	lastFull  time.Time
	onRefresh func(total int64)
}

func openSpoolWriter(cfg ProducerConfig) (*spoolWriter, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(cfg.Dir, writerLock), "the writer lock")
	if err != nil {
		return nil, err
	}
	w := &spoolWriter{dir: cfg.Dir, maxBytes: cfg.MaxBytes, segBytes: cfg.SegmentBytes,
		syncEvery: cfg.SyncEvery, log: cfg.Logger, lock: lock, syncNow: make(chan struct{}, 1)}
	w.flushed = sync.NewCond(&w.mu)
	segs, err := listSegments(cfg.Dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if len(segs) > 0 {
		w.seq = segs[len(segs)-1]
	}
	w.mu.Lock()
	err = w.startSegmentLocked()
	w.mu.Unlock()
	if err != nil {
		lock.Close()
		return nil, err
	}
	w.refreshTotal()
	return w, nil
}

// startSegmentLocked seals the active segment (its fsync and close happen in
// the sync loop, off the request path) and creates the next one.
func (w *spoolWriter) startSegmentLocked() error {
	f, err := os.OpenFile(filepath.Join(w.dir, segName(w.seq+1)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if w.f != nil {
		w.retired = append(w.retired, w.f)
	}
	w.f, w.seq, w.segSize, w.dirDirty, w.broken = f, w.seq+1, 0, true, false
	return nil
}

// append writes one record and returns once it is in the OS (a write(2)
// has returned), never waiting for fsync. Concurrent appends are group
// committed: records that arrive while a write is under way go out
// together in the next single write(2), so under load the spool costs a
// fraction of a syscall per event.
func (w *spoolWriter) append(payload []byte) error {
	if len(payload) == 0 || len(payload) > maxRecordBytes {
		return fmt.Errorf("egress: record of %d bytes out of range 1..%d", len(payload), maxRecordBytes)
	}
	var hdr [recordHeader]byte
	binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(hdr[4:8], crc32.Checksum(payload, castagnoli))
	n := int64(recordHeader + len(payload))

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return errors.New("egress: spool closed")
	}
	if w.total+n > w.maxBytes {
		return ErrSpoolFull
	}
	if w.cur == nil {
		w.cur = &spoolBatch{}
	}
	b := w.cur
	b.buf = append(append(b.buf, hdr[:]...), payload...)
	b.recs++
	w.total += n // reserved now, so concurrent appends respect maxBytes
	for !b.done {
		if w.writing {
			w.flushed.Wait()
			continue
		}
		w.writeBatchLocked()
	}
	return b.err
}

// spoolBatch is records waiting for, or in, one write(2).
type spoolBatch struct {
	buf  []byte
	recs int
	done bool
	err  error
}

// writeBatchLocked writes the current batch with w.mu released during the
// write(2); other appends meanwhile start the next batch.
func (w *spoolWriter) writeBatchLocked() {
	b := w.cur
	w.cur = nil
	w.writing = true
	defer func() {
		w.writing = false
		b.done = true
		w.flushed.Broadcast()
	}()
	n := int64(len(b.buf))
	if w.f == nil {
		b.err = errors.New("egress: spool closed")
		w.total -= n
		return
	}
	if w.broken || (w.segSize > 0 && w.segSize+n > w.segBytes) {
		if err := w.startSegmentLocked(); err != nil {
			b.err = fmt.Errorf("egress: start spool segment: %w", err)
			w.total -= n
			return
		}
	}
	f := w.f
	w.mu.Unlock()
	wrote, err := f.Write(b.buf)
	w.mu.Lock()
	w.segSize += int64(wrote)
	w.total -= n - int64(wrote)
	if err != nil {
		// A partial record may now sit at the end of this segment; sealing it
		// makes readers treat it as torn and skip it.
		w.broken = true
		b.err = fmt.Errorf("egress: spool write: %w", err)
		return
	}
	w.unsynced += b.recs
	if w.unsynced >= w.syncEvery {
		select {
		case w.syncNow <- struct{}{}:
		default:
		}
	}
}

// sync fsyncs sealed segments (then closes them), the active segment and,
// when segments were created, the directory.
func (w *spoolWriter) sync() error {
	w.mu.Lock()
	retired, f, dirty := w.retired, w.f, w.dirDirty
	w.retired, w.unsynced, w.dirDirty = nil, 0, false
	w.mu.Unlock()
	var errs []error
	for _, r := range retired {
		errs = append(errs, r.Sync(), r.Close())
	}
	if f != nil {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if dirty {
		errs = append(errs, syncDir(w.dir))
	}
	return errors.Join(errs...)
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
	w.mu.Lock()
	for w.writing || w.cur != nil {
		if w.writing {
			w.flushed.Wait()
			continue
		}
		w.writeBatchLocked()
	}
	w.mu.Unlock()
	err := w.sync()
	w.mu.Lock()
	if w.f != nil {
		err = errors.Join(err, w.f.Close())
		w.f = nil
	}
	w.mu.Unlock()
	return errors.Join(err, w.lock.Close())
}
