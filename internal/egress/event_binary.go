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
//   - binary (first byte recordBinary or recordBinaryAutoID), what
//     Producer writes: it costs a fraction of JSON to write on the request
//     path and is about a third smaller, so fsync has less to flush. After
//     the tag: varints version, status, bytes, servedAt as Unix
//     nanoseconds; the id (recordBinary: a string; recordBinaryAutoID: 8
//     bytes of producer instance id and a uvarint sequence number); then
//     five strings, each a uvarint length and its bytes: space, resource,
//     path, format, tokenId.
//   - JSON (first byte '{'), the queue message form, written by versions
//     before the binary form; still read.
//
// The shipper and the spool consumer decode either; queue messages are
// always JSON.
const (
	recordBinary = 0x01
	// recordBinaryAutoID is recordBinary with the id given as the
	// producer's 8-byte instance id and a uvarint sequence number instead
	// of a string: Record assigns ids this way, and they are rendered as
	// text (producerID) only when shipped or consumed, off the request path.
	recordBinaryAutoID = 0x02
)

// appendBinary appends ev in the binary spool form.
func (ev *Event) appendBinary(b []byte) []byte {
	b = append(b, recordBinary)
	b = ev.appendFields(b)
	b = binary.AppendUvarint(b, uint64(len(ev.ID)))
	b = append(b, ev.ID...)
	return ev.appendStrings(b)
}

// appendBinaryAutoID appends ev, whose ID is empty, in the binary spool
// form with the id (instance, seq).
func (ev *Event) appendBinaryAutoID(b []byte, instance *[8]byte, seq uint64) []byte {
	b = append(b, recordBinaryAutoID)
	b = ev.appendFields(b)
	b = append(b, instance[:]...)
	b = binary.AppendUvarint(b, seq)
	return ev.appendStrings(b)
}

func (ev *Event) appendFields(b []byte) []byte {
	b = binary.AppendVarint(b, int64(ev.Version))
	b = binary.AppendVarint(b, int64(ev.Status))
	b = binary.AppendVarint(b, ev.Bytes)
	return binary.AppendVarint(b, ev.ServedAt.UnixNano())
}

func (ev *Event) appendStrings(b []byte) []byte {
	for _, s := range [...]string{ev.Space, ev.Resource, ev.Path, ev.Format, ev.TokenID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// producerID is the text form of an id assigned by a producer: 26
// characters, base32 (0-9a-v) of the instance id and the big-endian
// sequence number.
func producerID(instance []byte, seq uint64) string {
	var b [16]byte
	copy(b[:8], instance)
	binary.BigEndian.PutUint64(b[8:], seq)
	return idEncoding.EncodeToString(b[:])
}

// decodeRecord decodes a spool record of either form. Errors wrap
// ErrMalformed; the event is not checked (see Event.Check).
func decodeRecord(p []byte) (Event, error) {
	var ev Event
	if len(p) > 0 && p[0] == '{' {
		if err := json.Unmarshal(p, &ev); err != nil {
			return ev, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return ev, nil
	}
	if len(p) == 0 || (p[0] != recordBinary && p[0] != recordBinaryAutoID) {
		return ev, fmt.Errorf("%w: spool record is neither a binary nor a JSON event", ErrMalformed)
	}
	d := recordDecoder{p: p[1:]}
	ev.Version = int(d.varint())
	ev.Status = int(d.varint())
	ev.Bytes = d.varint()
	ns := d.varint()
	if p[0] == recordBinaryAutoID {
		instance := d.bytes(8)
		seq := d.uvarint()
		if d.err == nil {
			ev.ID = producerID(instance, seq)
		}
	} else {
		ev.ID = d.str()
	}
	for _, s := range [...]*string{&ev.Space, &ev.Resource, &ev.Path, &ev.Format, &ev.TokenID} {
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

func (d *recordDecoder) varint() int64   { return readNum(d, binary.Varint) }
func (d *recordDecoder) uvarint() uint64 { return readNum(d, binary.Uvarint) }

func readNum[T int64 | uint64](d *recordDecoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.p)
	if n <= 0 {
		d.err = fmt.Errorf("bad varint")
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *recordDecoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.p) < n {
		d.err = fmt.Errorf("short record")
		return nil
	}
	b := d.p[:n]
	d.p = d.p[n:]
	return b
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
