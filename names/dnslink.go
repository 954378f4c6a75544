package names

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/ipfs/boxo/path"
	madns "github.com/multiformats/go-multiaddr-dns"
)

// ParseDNSLinkMap parses "NAME=/ipfs/CID,NAME2=/ipns/KEY" (entries may
// also be on lines of their own; a line starting with # is a comment) into
// a map of domain to DNSLink path. A later entry for a name wins.
func ParseDNSLinkMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		pair = strings.TrimSpace(pair)
		if pair == "" || strings.HasPrefix(pair, "#") {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
		if !ok || name == "" {
			return nil, fmt.Errorf("dnslink %q: want NAME=/ipfs/CID or NAME=/ipns/NAME", pair)
		}
		p, err := path.NewPath(strings.TrimSpace(value))
		if err != nil {
			return nil, fmt.Errorf("dnslink %s: %w", name, err)
		}
		if ns := p.Namespace(); ns != path.IPFSNamespace && ns != path.IPNSNamespace {
			return nil, fmt.Errorf("dnslink %s: %q is not an /ipfs/ or /ipns/ path", name, value)
		}
		out[name] = p.String()
	}
	return out, nil
}

// dnsLinks answers the _dnslink TXT lookups of namesys from a static map
// first, then from DNS when next is set. Other lookups go to next.
//
// A name DNS says does not exist is remembered for missTTL: the gateway
// asks about the Host of every request that is not one of its own hosts,
// and namesys keeps only successes, so without this each such request
// would wait for a DNS round trip.
type dnsLinks struct {
	static map[string]string
	next   madns.BasicResolver // nil: the static map only
	misses misses
}

// DefaultDNSMissTTL is how long a name DNS does not know is not asked again.
const DefaultDNSMissTTL = 30 * time.Second

var _ madns.BasicResolver = (*dnsLinks)(nil)

const dnslinkPrefix = "_dnslink."

func (d *dnsLinks) LookupTXT(ctx context.Context, name string) ([]string, error) {
	domain := strings.TrimSuffix(strings.ToLower(name), ".")
	if rest, ok := strings.CutPrefix(domain, dnslinkPrefix); ok {
		if p, ok := d.static[rest]; ok {
			return []string{"dnslink=" + p}, nil
		}
	}
	if d.next == nil || d.misses.recent(domain) {
		return nil, &net.DNSError{Err: "no DNSLink for this name", Name: name, IsNotFound: true}
	}
	txt, err := d.next.LookupTXT(ctx, name)
	if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		d.misses.add(domain)
	}
	return txt, err
}

func (d *dnsLinks) LookupIPAddr(ctx context.Context, name string) ([]net.IPAddr, error) {
	if d.next == nil {
		return nil, &net.DNSError{Err: "DNS lookups are off", Name: name, IsNotFound: true}
	}
	return d.next.LookupIPAddr(ctx, name)
}
