package egress

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of an event's variable fields. A request path can be almost as
// long as net/http allows a request line (1 MiB): kept whole, its event
// would not fit the spool, and the response would go unbilled. Fields are
// cut, with a marker saying how long they were, never dropped.
const (
	maxPathBytes     = 4 << 10
	maxResourceBytes = 512
	maxSpaceBytes    = 512
	maxTokenBytes    = 256
	truncatedMarker  = "…[truncated from "
)

// bound returns s cut to at most max bytes (on a UTF-8 boundary) and
// marked with its length, or s itself when it fits.
func bound(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + truncatedMarker + strconv.Itoa(len(s)) + " bytes]"
}

// Per-client admission of events for responses that served no byte
// (HEADs, errors, 304s): they bill nothing, yet each takes spool space,
// so one address sending them by the thousand could fill the spool and
// push out everyone's billing data. Each client address may spool
// emptyEventsPerClient of them per second; more are shed and counted.
// Events of responses that served bytes are always admitted.
const (
	emptyEventsPerClient = 50
	shedWindow           = time.Second
	maxTrackedClients    = 1 << 16
)

// shedder counts empty events per client address over a window.
type shedder struct {
	mu     sync.Mutex
	start  time.Time
	counts map[string]int
	now    func() time.Time
}

func newShedder(now func() time.Time) *shedder {
	return &shedder{counts: map[string]int{}, now: now}
}

// admit reports whether r's client may spool one more empty event.
func (s *shedder) admit(r *http.Request) bool {
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.start) >= shedWindow || len(s.counts) >= maxTrackedClients {
		s.start = now
		clear(s.counts)
	}
	s.counts[client]++
	return s.counts[client] <= emptyEventsPerClient
}
