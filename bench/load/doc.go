// Package load is the benchmark's HTTP load driver.
//
// It sends GET requests, chosen at random from a list, to one base URL, in
// one of two modes:
//
//   - closed loop (Config.Rate == 0): Concurrency workers each send a request,
//     read the whole body, and send the next. This finds the most a server
//     can do; latency is from send to last body byte.
//   - open loop (Config.Rate > 0): requests are due at a fixed arrival rate
//     whatever the server does, and latency is measured from the time a
//     request was due, not from when a free worker got round to sending it.
//     A server that stalls therefore shows the stall in every request queued
//     behind it (no coordinated omission). Concurrency caps the requests in
//     flight.
//
// A warm-up phase of the same shape runs first and is not recorded.
//
// With Config.Once every request of the list is sent exactly once, in order,
// by Concurrency closed-loop workers and with no warm-up: a cold pass, where
// each key is asked for the first time.
//
// # Usage
//
//	res, err := load.Run(ctx, load.Config{
//		BaseURL:     "http://127.0.0.1:8080",
//		Requests:    []load.Request{{Path: "/ipfs/bafy.../a.txt"}},
//		Concurrency: 32,
//		Duration:    5 * time.Second,
//		Warmup:      time.Second,
//		PID:         serverPID,
//	})
//	fmt.Println(res.ReqPerSec(), res.Quantile(99))
//
// Result holds the request and byte counts, HDR histograms (microseconds,
// three significant digits) of the latency to the last body byte and of the
// time to the first body byte (TTFB), counts by HTTP status, transport
// errors by kind, and the server's CPU seconds and peak RSS over the measured
// window, read from /proc/<pid> (stat, status VmHWM after resetting it
// through clear_refs; sampled VmRSS when the reset is not allowed).
//
// # Errors
//
// Run returns an error only for a bad Config or a cancelled context; failed
// requests are counted in Result, never returned.
package load
