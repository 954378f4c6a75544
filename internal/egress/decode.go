package egress

import (
	"encoding/json"
	"fmt"
)

// DecodeRecord decodes and checks one spool record as returned by
// spool.Reader.Next. On error, which wraps ErrMalformed, body is what a
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

// RecordMessage turns one spool record into its queue message: the event
// id (the de-duplication key) and the event as JSON. The event is not
// checked (the consumer does that); a record that does not decode, or has
// no id, is an error wrapping ErrMalformed, with body what a dead-letter
// line keeps of it.
func RecordMessage(p []byte) (id string, body []byte, err error) {
	ev, err := decodeRecord(p)
	if err == nil && ev.ID == "" {
		err = fmt.Errorf("%w: no id", ErrMalformed)
	}
	if err != nil {
		return "", recordBody(p), err
	}
	return ev.ID, ev.appendJSON(nil), nil
}
