package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// maxForwardedHops bounds how far into X-Forwarded-For a chain of
// trusted proxies is followed.
const maxForwardedHops = 16

// ParseTrusted parses a comma-separated list of CIDRs (or single
// addresses) of trusted proxies.
func ParseTrusted(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// ClientKey returns the function naming the client of a request: its
// peer address or, when the peer is one of trusted, the rightmost
// address of X-Forwarded-For that is not (the hops a trusted proxy
// appended are believed, what the client wrote itself is not). IPv6
// addresses are grouped by /64.
func ClientKey(trusted []netip.Prefix) func(*http.Request) string {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		peer, ok := parseHop(r.RemoteAddr)
		if !ok {
			return boundKey(r.RemoteAddr) // not IP (a unix socket): one client
		}
		if len(trusted) > 0 && isTrusted(peer) {
			peer = forwardedClient(peer, r.Header.Values("X-Forwarded-For"), isTrusted)
		}
		return addrKey(peer)
	}
}

// forwardedClient walks X-Forwarded-For from the right, from a trusted
// peer: the first untrusted hop is the client. A hop that is not an
// address stops the walk at the last one believed, and so does a chain
// longer than maxForwardedHops.
func forwardedClient(peer netip.Addr, headers []string, isTrusted func(netip.Addr) bool) netip.Addr {
	hops := 0
	for i := len(headers) - 1; i >= 0; i-- {
		h := headers[i]
		for h != "" {
			j := strings.LastIndexByte(h, ',')
			hop := strings.TrimSpace(h[j+1:])
			h = h[:max(j, 0)]
			if hop == "" {
				continue
			}
			if hops++; hops > maxForwardedHops {
				return peer
			}
			a, ok := parseHop(hop)
			if !ok {
				return peer
			}
			peer = a
			if !isTrusted(a) {
				return peer
			}
		}
	}
	return peer
}

// parseHop reads an address with or without a port ("1.2.3.4",
// "1.2.3.4:80", "::1", "[::1]:80").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// addrKey is an IPv4 address, or the /64 of an IPv6 one.
func addrKey(a netip.Addr) string {
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}
