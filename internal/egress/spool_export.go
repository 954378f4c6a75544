package egress

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// SpoolReader reads the events of a local spool in order, for a consumer
// that uses the spool itself as its queue (no shipper). Like the shipper,
// it holds the spool's reader lock: one reader per spool.
type SpoolReader struct {
	r *spoolReader
}

// OpenSpoolReader opens the spool in dir for reading from its persisted cursor.
func OpenSpoolReader(dir string, log *slog.Logger) (*SpoolReader, error) {
	r, err := openSpoolReader(dir, log)
	if err != nil {
		return nil, err
	}
	return &SpoolReader{r: r}, nil
}

// Next returns up to max records after those already returned (see
// DecodeRecord). None means nothing is waiting now.
func (s *SpoolReader) Next(max int) ([][]byte, error) {
	recs, err := s.r.next(max)
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
func (s *SpoolReader) Uncommitted() bool { return s.r.done.less(s.r.pos) }

// Commit durably moves the cursor past everything Next returned and deletes
// the segments wholly behind it.
func (s *SpoolReader) Commit() error { return s.r.commit(s.r.pos) }

// Rewind forgets what Next returned since the last Commit, so it is read again.
func (s *SpoolReader) Rewind() { s.r.pos = s.r.done }

// Close releases the reader lock.
func (s *SpoolReader) Close() error { return s.r.close() }

// DecodeRecord decodes and checks one spool record as returned by
// SpoolReader.Next. On error, which wraps ErrMalformed, body is what a
// dead-letter line keeps of it: the event as JSON when it decoded but
// cannot be counted, else the record itself.
func DecodeRecord(p []byte) (ev Event, body []byte, err error) {
	ev, err = decodeRecord(p)
	if err != nil {
		return Event{}, recordBody(p), err
	}
	if err := ev.Check(); err != nil {
		return ev, ev.appendJSON(nil), err
	}
	return ev, nil, nil
}

// DecodeMessage decodes and checks one queue message body (an Event as
// JSON). Errors wrap ErrMalformed.
func DecodeMessage(body []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil {
		return ev, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return ev, ev.Check()
}
