package egress

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// A spool record holds one event, in one of two forms told apart by the
// first byte:
//
//   - binary (first byte recordBinary), what Producer writes: it costs a
//     fraction of JSON to write on the request path and is about a third
//     smaller, so fsync has less to flush. After the tag, all little-endian
//     varints: version, status, bytes, servedAt as Unix nanoseconds; then
//     six strings, each a uvarint length and its bytes: id, space,
//     resource, path, format, tokenId.
//   - JSON (first byte '{'), the queue message form, written by versions
//     before the binary form; still read.
//
// The shipper and the spool consumer decode either; queue messages are
// always JSON.
const recordBinary = 0x01

// appendBinary appends ev in the binary spool form.
func (ev *Event) appendBinary(b []byte) []byte {
	b = append(b, recordBinary)
	b = binary.AppendVarint(b, int64(ev.Version))
	b = binary.AppendVarint(b, int64(ev.Status))
	b = binary.AppendVarint(b, ev.Bytes)
	b = binary.AppendVarint(b, ev.ServedAt.UnixNano())
	for _, s := range [...]string{ev.ID, ev.Space, ev.Resource, ev.Path, ev.Format, ev.TokenID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeRecord decodes a spool record of either form. Errors wrap
// ErrMalformed; the event is not checked (see Event.check).
func decodeRecord(p []byte) (Event, error) {
	var ev Event
	if len(p) > 0 && p[0] == '{' {
		if err := json.Unmarshal(p, &ev); err != nil {
			return ev, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return ev, nil
	}
	if len(p) == 0 || p[0] != recordBinary {
		return ev, fmt.Errorf("%w: spool record is neither a binary nor a JSON event", ErrMalformed)
	}
	d := recordDecoder{p: p[1:]}
	ev.Version = int(d.varint())
	ev.Status = int(d.varint())
	ev.Bytes = d.varint()
	ns := d.varint()
	for _, s := range [...]*string{&ev.ID, &ev.Space, &ev.Resource, &ev.Path, &ev.Format, &ev.TokenID} {
		*s = d.str()
	}
	if d.err == nil && len(d.p) != 0 {
		d.err = fmt.Errorf("%d bytes after the event", len(d.p))
	}
	if d.err != nil {
		return Event{}, fmt.Errorf("%w: binary spool record: %v", ErrMalformed, d.err)
	}
	ev.ServedAt = time.Unix(0, ns).UTC()
	return ev, nil
}

// recordDecoder reads varints and strings, keeping the first error.
type recordDecoder struct {
	p   []byte
	err error
}

func (d *recordDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.err = fmt.Errorf("bad varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *recordDecoder) str() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.p)
	if k <= 0 || n > uint64(len(d.p)-k) {
		d.err = fmt.Errorf("bad string length")
		return ""
	}
	s := string(d.p[k : k+int(n)])
	d.p = d.p[k+int(n):]
	return s
}

// recordBody is what a dead-letter line keeps of a spool record that
// could not be decoded: the text itself, or base64 when it is not UTF-8.
func recordBody(p []byte) []byte {
	if utf8.Valid(p) && (len(p) == 0 || p[0] != recordBinary) {
		return p
	}
	return []byte("base64:" + base64.StdEncoding.EncodeToString(p))
}
