package resolver

import (
	"testing"

	"github.com/cargate/cargate/internal/docstest"
)

// TestDocsDefaults holds docs/storage.md's table of resolver.Config
// defaults to the code.
func TestDocsDefaults(t *testing.T) {
	rows, err := docstest.Table("../docs/storage.md", "`resolver.Config`", "field", "default", "meaning")
	if err != nil {
		t.Fatal(err)
	}
	var c Config
	c.setDefaults()
	want := map[string]string{
		"MaxGap":             docstest.Bytes(c.MaxGap),
		"MaxSpan":            docstest.Bytes(c.MaxSpan),
		"BlockCacheBytes":    docstest.Bytes(c.BlockCacheBytes),
		"MaxCachedBlock":     docstest.Bytes(c.MaxCachedBlock),
		"ReadAheadBytes":     docstest.Bytes(c.ReadAheadBytes),
		"LocationCacheBytes": docstest.Bytes(c.LocationCacheBytes),
		"NegativeTTL":        docstest.Duration(c.NegativeTTL),
		"ReadTimeout":        docstest.Duration(c.ReadTimeout),
	}
	for field, def := range want {
		if row, ok := rows[field]; !ok || row[0] != def {
			t.Errorf("docs/storage.md: %s default %v, the code's is %q", field, row, def)
		}
	}
}
