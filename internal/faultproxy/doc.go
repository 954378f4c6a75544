// Package faultproxy is a reverse proxy for tests that misbehaves on demand.
//
// It stands between an HTTP client under test and a well-behaved origin
// (typically an httptest.Server) and injects the failures that real networks
// and storage gateways produce: 5xx bursts, 429 with Retry-After, connections
// reset mid-body, stalls, flipped bytes and bodies cut short while the
// Content-Length promises more. Faults can be switched at any time from the
// test goroutine; each request reads one consistent snapshot of them.
//
// # Usage
//
//	origin := httptest.NewServer(handler)
//	p := faultproxy.New(origin.URL)
//	defer p.Close()
//	p.FailNext(2)          // the next two requests get a 500
//	p.ResetAfter(1000)     // then every body is cut by a TCP reset after 1000 bytes
//	resp, err := http.Get(p.URL() + "/blob")
//	p.Clear()
//
// Body faults count bytes of the response body as sent by the proxy, so an
// offset is relative to the start of the (possibly ranged) response.
package faultproxy
