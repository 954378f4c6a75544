package blobstore

import (
	"strconv"
	"testing"

	"github.com/cargate/cargate/internal/docstest"
)

// TestDocsDefaults holds docs/storage.md's table of HTTPConfig defaults to
// the code.
func TestDocsDefaults(t *testing.T) {
	rows, err := docstest.Table("../../docs/storage.md", "`blobstore.HTTPConfig`", "field", "default", "meaning")
	if err != nil {
		t.Fatal(err)
	}
	c := HTTPConfig{}.withDefaults()
	d := docstest.Duration
	want := map[string]string{
		"ConnectTimeout":            d(c.ConnectTimeout),
		"FirstByteTimeout":          d(c.FirstByteTimeout),
		"StallTimeout":              d(c.StallTimeout),
		"Retries":                   strconv.Itoa(c.Retries),
		"BackoffBase`, `BackoffMax": d(c.BackoffBase) + ", " + d(c.BackoffMax),
		"MaxConnsPerHost":           strconv.Itoa(c.MaxConnsPerHost),
		"MaxSkip":                   docstest.Bytes(c.MaxSkip),
	}
	for field, def := range want {
		if row, ok := rows[field]; !ok || row[0] != def {
			t.Errorf("docs/storage.md: %s default %v, the code's is %q", field, row, def)
		}
	}
}
