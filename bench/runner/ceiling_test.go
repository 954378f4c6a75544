package main

import (
	"strings"
	"testing"

	"github.com/cargate/cargate/bench/load"
)

// TestCeilingTable checks the CPU per request figures and their ratio to
// the bare fasthttp handler.
func TestCeilingTable(t *testing.T) {
	m := func(reqs int64, cpu, value float64) measure {
		return measure{ran: true, value: value, cpu: cpu, res: &load.Result{Requests: reqs}}
	}
	rep := &report{
		rows: []row{
			{sc: scenario{ID: "S1", Title: "4 KiB files"}, cand: m(10000, 0.5, 9000), ref: m(1000, 0.4, 1400)},
			{sc: scenario{ID: "S3", Title: "big file"}, cand: m(10, 1, 800)},
		},
		ceilings: []ceiling{{"bare net", m(20000, 0.4, 20000)}, {"bare fasthttp", m(40000, 0.4, 40000)}},
	}
	got := rep.ceilingTable()
	for _, want := range []string{
		"| S1 4 KiB files | 9000 | 1400 | 50.0 | 400.0 | 5.00× |", // 0.5 s / 10,000 = 50 µs; 50 / 10
		"| bare net, 4 KiB | 20000 | | 20.0 | | 2.00× |",
		"| bare fasthttp, 4 KiB | 40000 | | 10.0 | | 1.00× |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "S3") {
		t.Errorf("S3 is not set against the ceiling:\n%s", got)
	}
	if (&report{rows: rep.rows}).ceilingTable() != "" {
		t.Errorf("a table without ceilings measured")
	}
}
