package egress

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"
)

// EventVersion is the schema version written in every event's "v" field.
// Consumers reject events with a different version (they are dead-lettered),
// so a schema change that old consumers cannot read must bump it.
const EventVersion = 1

// Formats an event can carry in its Format field.
const (
	FormatUnixFS = "unixfs" // files and directories as a browser sees them
	FormatRaw    = "raw"    // single blocks, application/vnd.ipld.raw
	FormatCAR    = "car"    // application/vnd.ipld.car
	FormatTAR    = "tar"    // application/x-tar
	FormatCodec  = "codec"  // dag-json, dag-cbor, json, cbor renderings
)

// Event is the record of one response of content (/ipfs/, /ipns/, their
// subdomain forms and DNSLink websites). Its JSON form
// (documented in docs/egress.md) is the spool record and the queue message body.
type Event struct {
	// Version is EventVersion.
	Version int `json:"v"`
	// ID is unique per response and is the de-duplication key end to end.
	ID string `json:"id"`
	// Space is the DID of the space named by the location claim of the bytes
	// served; empty when no claim named one.
	Space string `json:"space,omitempty"`
	// Resource is the CID requested (the first path segment after /ipfs/),
	// or the name (after /ipns/, or the Host of a DNSLink website).
	Resource string `json:"resource"`
	// Path is the remainder of the request path after the CID, if any.
	Path string `json:"path,omitempty"`
	// Format is one of the Format… constants.
	Format string `json:"format"`
	// Status is the HTTP status sent.
	Status int `json:"status"`
	// Bytes counts body bytes the server managed to write to the connection.
	Bytes int64 `json:"bytes"`
	// ServedAt is when the response finished (UTC). Totals are per UTC day of it.
	ServedAt time.Time `json:"servedAt"`
	// TokenID identifies the client's access token, when one was used.
	TokenID string `json:"tokenId,omitempty"`
}

// ErrMalformed marks an event or message that can never be processed.
var ErrMalformed = errors.New("egress: malformed event")

// maxIDLen bounds IDs so they fit SQS's 128-character deduplication id.
const maxIDLen = 128

// Check reports why e cannot be counted, wrapping ErrMalformed.
func (e *Event) Check() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrMalformed, why) }
	switch {
	case e.Version != EventVersion:
		return bad(fmt.Sprintf("version %d, want %d", e.Version, EventVersion))
	case e.ID == "" || len(e.ID) > maxIDLen:
		return bad("id empty or longer than 128 characters")
	case strings.ContainsAny(e.ID, "/#\x00"):
		return bad("id contains '/', '#' or NUL")
	case strings.ContainsAny(e.Space, "/#\x00"):
		return bad("space contains '/', '#' or NUL")
	case e.Bytes < 0:
		return bad("negative bytes")
	case e.ServedAt.IsZero():
		return bad("servedAt missing")
	case e.Status < 100 || e.Status > 999:
		return bad("status out of range")
	}
	return nil
}

// Day is the UTC day (YYYY-MM-DD) an event is totalled under.
func (e *Event) Day() string { return e.ServedAt.UTC().Format(dayLayout) }

const dayLayout = "2006-01-02"

var idEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// NewID returns a new id for a caller that names its own events (and for
// dead-letter messages): 26 characters, sortable by creation time (48-bit
// milliseconds) followed by 80 random bits from the runtime's ChaCha8
// generator, seeded from the operating system; two ids collide with
// probability 2^-80 within the same millisecond. Producer.Record gives
// events without an id a cheaper one (instance id and sequence number).
func NewID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16|uint64(rand.Uint32()>>16))
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	return idEncoding.EncodeToString(b[:])
}

// splitContentPath returns the resource and remaining path of a request
// for content, or ok=false when it is not one: /ipfs/<cid> and
// /ipns/<name> paths, and subdomain requests (Host "<cid>.ipfs.<domain>"
// or "<name>.ipns.<domain>", whose whole URL path is the Path). Names are
// accounted like CIDs: the bytes they resolve to are served all the same.
func splitContentPath(r *http.Request) (resource, rest string, ok bool) {
	for _, ns := range [...]string{"/ipfs/", "/ipns/"} {
		if p, found := strings.CutPrefix(r.URL.Path, ns); found {
			if p == "" {
				return "", "", false
			}
			i := strings.IndexByte(p, '/')
			if i < 0 || i == len(p)-1 {
				return strings.TrimSuffix(p, "/"), "", true
			}
			return p[:i], p[i:], true // the rest keeps its leading '/', with no copy
		}
	}
	host := hostOnly(r.Host)
	for _, ns := range [...]string{".ipfs.", ".ipns."} {
		if label, _, found := strings.Cut(host, ns); found && label != "" && !strings.Contains(label, ".") {
			return label, r.URL.Path, true
		}
	}
	return "", "", false
}

func hostOnly(host string) string {
	if h, _, found := strings.Cut(host, ":"); found {
		return h
	}
	return host
}

// maybeDNSLink reports whether r may be for a DNSLink website: its Host is
// a domain name (not an IP address, not a bare name like localhost). Only
// the response tells: a content response carries X-Ipfs-Roots.
func maybeDNSLink(r *http.Request) bool {
	host := hostOnly(r.Host)
	return strings.Contains(host, ".") && net.ParseIP(host) == nil
}

// deriveFormat names the response format: the response Content-Type wins
// when it is an IPLD or archive type; otherwise what the client asked for
// (?format= or Accept) decides; otherwise the response is UnixFS content.
// A UnixFS file may itself be JSON, so a plain application/json response is
// codec only when the client asked for a codec rendering.
func deriveFormat(r *http.Request, contentType string) string {
	mt := mediaType(contentType)
	switch f := formatOfMediaType(mt); {
	case f == FormatCAR || f == FormatRaw || f == FormatTAR:
		return f
	case strings.HasPrefix(mt, "application/vnd.ipld.dag-"):
		return FormatCodec
	}
	if r.URL.RawQuery != "" {
		if f := formatOfRequestParam(r.URL.Query().Get("format")); f != "" {
			return f
		}
	}
	accept := first(r.Header["Accept"])
	if accept == "" {
		return FormatUnixFS
	}
	for a := range strings.SplitSeq(accept, ",") {
		if f := formatOfMediaType(mediaType(a)); f != "" {
			return f
		}
	}
	return FormatUnixFS
}

// first is a header's first value. Indexing the map with a canonical name
// skips Header.Get's canonicalization, on every request's path here.
func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// mediaType is the lower-cased type/subtype of a Content-Type or Accept
// entry, without parameters (cheaper than mime.ParseMediaType, which is
// on every request's path here).
func mediaType(v string) string {
	mt, _, _ := strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

func formatOfMediaType(mt string) string {
	switch mt {
	case "application/vnd.ipld.car":
		return FormatCAR
	case "application/vnd.ipld.raw":
		return FormatRaw
	case "application/x-tar":
		return FormatTAR
	case "application/vnd.ipld.dag-json", "application/vnd.ipld.dag-cbor",
		"application/json", "application/cbor":
		return FormatCodec
	}
	return ""
}

func formatOfRequestParam(v string) string {
	switch v {
	case "car":
		return FormatCAR
	case "raw":
		return FormatRaw
	case "tar":
		return FormatTAR
	case "dag-json", "dag-cbor", "json", "cbor":
		return FormatCodec
	}
	return ""
}
