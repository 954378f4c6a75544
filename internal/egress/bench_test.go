package egress

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cargate/cargate/internal/spool"
)

// The benchmark uses the production fsync policy.
var syncForBench, syncEveryForBench = spool.DefaultSyncInterval, spool.DefaultSyncEvery

// discardWriter is a ResponseWriter that drops everything, so the benchmark
// measures the handler and the middleware, not a recorder.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkMiddleware compares a 4 KiB response with and without egress
// accounting (spool write included, fsync in the background).
func BenchmarkMiddleware(b *testing.B) {
	body := make([]byte, 4096)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		recordSpace(w, "did:key:z6Mkbench")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(body)
	})
	run := func(b *testing.B, handler http.Handler) {
		r := httptest.NewRequest("GET", "/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/a.txt", nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			w := &discardWriter{h: http.Header{}}
			for pb.Next() {
				handler.ServeHTTP(w, r)
			}
		})
	}
	b.Run("bare", func(b *testing.B) { run(b, h) })
	b.Run("egress", func(b *testing.B) {
		p, _ := openTestProducer(b, b.TempDir(), func(c *ProducerConfig) {
			c.SegmentBytes = spool.DefaultSegmentBytes
			c.MaxBytes = 1 << 30
			c.SyncInterval = syncForBench
			c.SyncEvery = syncEveryForBench
		})
		defer p.Close()
		run(b, Middleware(h, p))
	})
}
