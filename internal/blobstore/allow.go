package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// ErrAddressRefused is returned when a URL's host resolves to an address
// the fetch policy refuses (loopback, private, link-local … not allowed).
var ErrAddressRefused = errors.New("address refused by the fetch policy")

// FetchPolicy says which addresses the HTTP reader may connect to. URLs
// come from claims that anyone with a delegation can write, so without a
// policy a claim could make the node read its own loopback services or
// scan a private network. Public addresses are allowed; loopback,
// private, link-local, CGNAT, unspecified and multicast addresses only
// when an allowed CIDR holds them or the URL's host name is allowed.
//
// The address is checked when the connection is dialed, after DNS
// resolution, so a name that resolves to 127.0.0.1 or a redirect to a
// private address is refused as well.
type FetchPolicy struct {
	hosts map[string]bool
	nets  []netip.Prefix
}

// ParseFetchPolicy reads a comma-separated list of host names, IP
// addresses and CIDRs ("127.0.0.1,10.0.0.0/8,blobs.internal"). The empty
// list allows public addresses only.
func ParseFetchPolicy(list string) (*FetchPolicy, error) {
	p := &FetchPolicy{hosts: map[string]bool{}}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if pfx, err := netip.ParsePrefix(e); err == nil {
			p.nets = append(p.nets, pfx.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(e); err == nil {
			p.nets = append(p.nets, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		if strings.ContainsAny(e, "/:@ ") {
			return nil, fmt.Errorf("fetch allow-list entry %q: give a host name, an IP address or a CIDR", e)
		}
		p.hosts[strings.ToLower(strings.TrimSuffix(e, "."))] = true
	}
	return p, nil
}

// hostAllowed reports whether host (a name, as in the URL) is allowed
// whatever it resolves to.
func (p *FetchPolicy) hostAllowed(host string) bool {
	return p.hosts[strings.ToLower(strings.TrimSuffix(host, "."))]
}

// AddrAllowed reports whether the reader may connect to ip.
func (p *FetchPolicy) AddrAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, n := range p.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return !special(ip)
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// special reports addresses that are not on the public internet.
func special(ip netip.Addr) bool {
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() ||
		ip.IsUnspecified() || cgnat.Contains(ip)
}

// dialer returns a DialContext that applies the policy: an allowed host
// name dials freely, any other dial checks the resolved address.
func (p *FetchPolicy) dialer(base *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	checked := *base
	checked.Control = func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrAddressRefused, address)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !p.AddrAllowed(ip) {
			return fmt.Errorf("%w: %s (allow it with --fetch-allow)", ErrAddressRefused, host)
		}
		return nil
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, err := net.SplitHostPort(addr); err == nil && p.hostAllowed(host) {
			return base.DialContext(ctx, network, addr)
		}
		return checked.DialContext(ctx, network, addr)
	}
}
