package names

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/ipfs/boxo/path"
	madns "github.com/multiformats/go-multiaddr-dns"
)

// ParseDNSLinkMap parses "NAME=/ipfs/CID,NAME2=/ipns/KEY" into a map of
// domain to DNSLink path.
func ParseDNSLinkMap(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
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
type dnsLinks struct {
	static map[string]string
	next   madns.BasicResolver // nil: the static map only
}

var _ madns.BasicResolver = (*dnsLinks)(nil)

const dnslinkPrefix = "_dnslink."

func (d *dnsLinks) LookupTXT(ctx context.Context, name string) ([]string, error) {
	domain := strings.TrimSuffix(strings.ToLower(name), ".")
	if rest, ok := strings.CutPrefix(domain, dnslinkPrefix); ok {
		if p, ok := d.static[rest]; ok {
			return []string{"dnslink=" + p}, nil
		}
	}
	if d.next == nil {
		return nil, &net.DNSError{Err: "no such name in the static DNSLink map", Name: name, IsNotFound: true}
	}
	return d.next.LookupTXT(ctx, name)
}

func (d *dnsLinks) LookupIPAddr(ctx context.Context, name string) ([]net.IPAddr, error) {
	if d.next == nil {
		return nil, &net.DNSError{Err: "DNS lookups are off", Name: name, IsNotFound: true}
	}
	return d.next.LookupIPAddr(ctx, name)
}
