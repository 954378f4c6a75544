package main

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// storageCounts is cargate's blob store read counters at one moment, summed
// over backends (dir, s3, http) and outcomes: every range read the
// resolver made, whatever store it went to.
type storageCounts struct {
	reads float64 // cargate_blobstore_requests_total{op="read"}
	bytes float64 // cargate_blobstore_read_bytes_total
}

// scrapeStorage reads the counters from a cargate /metrics URL; ok is
// false when they could not be read.
func scrapeStorage(ctx context.Context, metricsURL string) (storageCounts, bool) {
	if metricsURL == "" {
		return storageCounts{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return storageCounts{}, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return storageCounts{}, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return storageCounts{}, false
	}
	var c storageCounts
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "cargate_blobstore_requests_total{") && strings.Contains(line, `op="read"`):
			c.reads += sampleValue(line)
		case strings.HasPrefix(line, "cargate_blobstore_read_bytes_total{"):
			c.bytes += sampleValue(line)
		}
	}
	return c, sc.Err() == nil
}

// sampleValue is the value of one Prometheus text-format sample line.
func sampleValue(line string) float64 {
	f := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
