package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
)

// position is a place in the spool: the next byte to read.
type position struct {
	Seg uint64 `json:"seg"`
	Off int64  `json:"off"`
}

func (p position) less(q position) bool {
	return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off)
}

// record is one payload read from the spool and the position just after it.
type record struct {
	payload []byte
	end     position
}

// Reader reads a spool's records in order from its committed cursor.
// There is one Reader per spool across processes, enforced by a lock
// file; it alone moves the cursor and deletes segments. It is not safe for
// concurrent use.
type Reader struct {
	dir  string
	log  *slog.Logger
	lock *os.File
	pos  position // next record to read
	done position // persisted cursor
}

// OpenReader opens the spool in dir (creating it if needed) for reading
// from its committed cursor.
func OpenReader(dir string, log *slog.Logger) (*Reader, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockFile(filepath.Join(dir, readerLock), "the reader lock (one reader per spool)")
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	r := &Reader{dir: dir, log: log, lock: lock}
	if r.done, err = loadCursor(dir); err != nil {
		lock.Close()
		return nil, err
	}
	r.pos = r.done
	return r, nil
}

// Next returns up to max records after those already returned. None
// means nothing is waiting now. The slices are the caller's.
func (r *Reader) Next(max int) ([][]byte, error) {
	recs, err := r.next(max)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(recs))
	for i, rec := range recs {
		out[i] = rec.payload
	}
	return out, nil
}

// Uncommitted reports whether records were returned (or segments passed)
// since the last Commit.
func (r *Reader) Uncommitted() bool { return r.done.less(r.pos) }

// Commit durably moves the cursor past everything Next returned and
// deletes the segments wholly behind it.
func (r *Reader) Commit() error { return r.commit(r.pos) }

// Rewind forgets what Next returned since the last Commit, so it is read again.
func (r *Reader) Rewind() { r.pos = r.done }

// Close releases the reader lock.
func (r *Reader) Close() error { return r.lock.Close() }

// Count is the number of records in the spool in dir after its committed
// cursor (0 when the cursor is unreadable). It reads them all, without
// taking the reader lock: a writer calls it once at open.
func Count(dir string) int64 {
	cur, err := loadCursor(dir)
	if err != nil {
		return 0
	}
	r := &Reader{dir: dir, log: slog.New(slog.DiscardHandler), pos: cur}
	var n int64
	for {
		recs, err := r.next(4096)
		n += int64(len(recs))
		if err != nil || len(recs) == 0 {
			return n
		}
	}
}

// next returns up to max records after r.pos and advances r.pos past them.
// It stops at the end of the newest segment, where a partial record may be
// a write in progress; in a sealed segment a bad record is a torn write and
// the remainder of the segment is skipped with a log line.
func (r *Reader) next(max int) ([]record, error) {
	segs, err := listSegments(r.dir)
	if err != nil {
		return nil, err
	}
	var out []record
	for i := 0; i < len(segs) && len(out) < max; i++ {
		s := segs[i]
		if s < r.pos.Seg {
			continue
		}
		if s > r.pos.Seg {
			r.pos = position{Seg: s}
		}
		sealed := i < len(segs)-1
		recs, end, err := r.readSegment(s, r.pos.Off, max-len(out))
		out = append(out, recs...)
		r.pos.Off = end
		if err == nil || len(out) >= max {
			continue // stopped at max or at a clean end
		}
		if !sealed {
			break // maybe a write in progress: try again later
		}
		r.log.Warn("spool: torn or corrupt record skipped (expected after a crash)",
			"segment", segName(s), "offset", end, "err", err)
		if i+1 < len(segs) {
			r.pos = position{Seg: segs[i+1]}
		}
	}
	return out, nil
}

var errTorn = errors.New("torn record")

// readableEnd is the offset where the whole records of segment seq end,
// and errTorn (wrapped) when what follows them is not a clean end.
func readableEnd(dir string, seq uint64) (int64, error) {
	r := &Reader{dir: dir}
	var end int64
	for {
		recs, off, err := r.readSegment(seq, end, 4096)
		end = off
		if err != nil || len(recs) < 4096 {
			return end, err
		}
	}
}

// readSegment reads up to max records of segment seq from off. It returns a
// nil error when it stopped at max or at a clean end of file, and errTorn
// (wrapped) at an incomplete or corrupt record, with end at its start.
func (r *Reader) readSegment(seq uint64, off int64, max int) ([]record, int64, error) {
	f, err := os.Open(filepath.Join(r.dir, segName(seq)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, off, nil
	} else if err != nil {
		return nil, off, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, off, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	var out []record
	var hdr [recordHeader]byte
	for len(out) < max {
		if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
			return out, off, nil
		} else if err != nil {
			return out, off, fmt.Errorf("%w: header: %v", errTorn, err)
		}
		n := binary.LittleEndian.Uint32(hdr[0:4])
		if n == 0 {
			return out, off, nil // the end of the records written so far
		}
		if n > MaxRecordBytes {
			return out, off, fmt.Errorf("%w: length %d", errTorn, n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return out, off, fmt.Errorf("%w: payload: %v", errTorn, err)
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(hdr[4:8]) {
			return out, off, fmt.Errorf("%w: checksum mismatch", errTorn)
		}
		off += recordHeader + int64(n)
		out = append(out, record{payload: payload, end: position{Seg: seq, Off: off}})
	}
	return out, off, nil
}

// commit durably records that everything before p is acknowledged, then
// deletes the segments wholly before p.
func (r *Reader) commit(p position) error {
	if !r.done.less(p) {
		return nil
	}
	if err := saveCursor(r.dir, p); err != nil {
		return err
	}
	r.done = p
	segs, err := listSegments(r.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s >= p.Seg {
			break
		}
		if err := os.Remove(filepath.Join(r.dir, segName(s))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// The cursor file is 16 bytes (segment, offset; little-endian) and a CRC-32C,
// replaced atomically with write, fsync, rename, fsync of the directory.
func saveCursor(dir string, p position) error {
	var b [20]byte
	binary.LittleEndian.PutUint64(b[0:8], p.Seg)
	binary.LittleEndian.PutUint64(b[8:16], uint64(p.Off))
	binary.LittleEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], castagnoli))
	tmp := filepath.Join(dir, cursorName+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b[:])
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, cursorName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("spool: save cursor: %w", err)
	}
	return nil
}

func loadCursor(dir string) (position, error) {
	b, err := os.ReadFile(filepath.Join(dir, cursorName))
	if errors.Is(err, os.ErrNotExist) {
		return position{}, nil
	} else if err != nil {
		return position{}, err
	}
	if len(b) != 20 || crc32.Checksum(b[:16], castagnoli) != binary.LittleEndian.Uint32(b[16:20]) {
		// The cursor is replaced by rename, so this is not a torn write but
		// damage; re-reading from the start is safe because consumers dedup.
		return position{}, fmt.Errorf("spool: cursor %s is corrupt; move it away to read the whole spool again (its records are then returned twice)", filepath.Join(dir, cursorName))
	}
	return position{Seg: binary.LittleEndian.Uint64(b[0:8]), Off: int64(binary.LittleEndian.Uint64(b[8:16]))}, nil
}
