package main

import (
	"fmt"
	"strings"
)

// selfTable sets each cargate-only row (S6, S7) against the cargate figure
// it is compared with, since no reference can answer it.
func (rep *report) selfTable() string {
	var b strings.Builder
	for _, r := range rep.rows {
		if !r.sc.cargateOnly() || !r.cand.ran {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("### S6, S7: cargate against its own figures\n\n")
			b.WriteString("No reference has an indexer or an S3 blob store, so these rows are set against another cargate " +
				"figure from this run. TTFB is the time to the first body byte; storage reads are the blob store range " +
				"reads (`cargate_blobstore_requests_total{op=\"read\"}`, any backend) per served request over the " +
				"measured window, from /metrics; \"this / that\" pairs give this row, then the compared figure.\n\n")
			b.WriteString("| ID | this | compared with | that | ratio | TTFB p50 | TTFB p99 | storage reads / request | storage KB / request |\n")
			b.WriteString("|---|--:|---|--:|--:|--:|--:|--:|--:|\n")
		}
		that, vs := "—", r.sc.VersusText
		if r.versus.ran {
			that = value(r.versus) + " " + string(r.sc.Unit)
		} else if vs != "" {
			vs += " (not run)"
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s | %s / %s | %s / %s | %s / %s | %s / %s |\n",
			r.sc.ID, value(r.cand), r.sc.Unit, vs, that, ratio(r.cand, r.versus),
			ttfb(r.cand, 50), ttfb(r.versus, 50), ttfb(r.cand, 99), ttfb(r.versus, 99),
			storageReads(r.cand), storageReads(r.versus), storageKB(r.cand), storageKB(r.versus))
	}
	if b.Len() > 0 {
		b.WriteString(rep.selfNotes())
	}
	return b.String()
}

// selfNotes says what the S6 and S7 figures do and do not include.
func (rep *report) selfNotes() string {
	var b strings.Builder
	var sizes []string
	for _, r := range rep.rows {
		if r.sc.Check == checkClaims && r.cand.res != nil && r.cand.res.Requests > 0 {
			sizes = append(sizes, fmt.Sprintf("%.1f KB (%s)", float64(r.cand.res.Bytes)/float64(r.cand.res.Requests)/1e3, r.sc.ID))
		}
	}
	if len(sizes) > 0 {
		fmt.Fprintf(&b, "\n`/claims` answers averaged %s: each holds the claims and the whole sharded DAG index "+
			"of the directory the block is in, as Storacha's query-result format has it; S2 sends the 4 KiB block.\n",
			strings.Join(sizes, ", "))
	}
	b.WriteString("\nS7 rows read through the S3 API (signed, path-style GetObject with Range) from versitygw on " +
		"loopback, whose objects sit on the same local disk: they show the data plane's request pattern and " +
		"per-request overhead, not a network's latency. Repeated requests are served from cargate's memory: " +
		"whole responses up to 4 MiB (the small files) from its response cache, blocks from its 128 MiB " +
		"verified-block cache (a large file that fits, like the quick profile's 64 MiB, is read from storage " +
		"once). So S1/S7 and S3/S7b read storage only where the data outgrows those caches; the f rows (a fresh " +
		"process, each request once) are the ones that always read it. Restarts empty cargate's caches, not the " +
		"OS page cache.\n\n")
	return b.String()
}

// gatewayName is what the details table calls the candidate of row r.
func (rep *report) gatewayName(r row) string {
	switch {
	case r.sc.On == onS3 || r.sc.On == onS3Fresh:
		return "cargate (S3)"
	case rep.cfg.cargate == aaCandidate:
		return "candidate"
	}
	return "cargate"
}

func ttfb(m measure, q float64) string {
	if !m.ran || m.res == nil || m.res.TTFB == nil {
		return "—"
	}
	return fmtDur(m.res.TTFBQuantile(q))
}

func storageReads(m measure) string {
	if m.storage == nil {
		return "—"
	}
	return num(m.storage.reads)
}

func storageKB(m measure) string {
	if m.storage == nil {
		return "—"
	}
	return num(m.storage.bytes / 1e3)
}

// num prints a per-request figure: whole numbers from 100 up, else three
// significant digits (0.0421, 3.5).
func num(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
