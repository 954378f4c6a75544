package resolver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cargate/cargate/internal/blobstore"
)

// BenchmarkStream streams a 64 MiB shard of 1 MiB blocks, cold, block by
// block in order (as a DAG reader does), from a local directory and from
// the local S3 server, with and without pipelining of the next ranged read.
// The consumer either takes blocks as fast as it can or "sends" each one to
// a client that drains 500 MB/s (it sleeps len/500 MB/s per block), as the
// gateway does when its client is slower than storage: that is when a
// pipelined read can overlap the sending. It reports MB/s, time to the
// first block and storage reads per stream.
//
//	eval "$(scripts/services.sh env)"
//	go test ./resolver -run '^$' -bench Stream -benchtime 5x
func BenchmarkStream(b *testing.B) {
	l := newLayout(b, uniform(64, 1<<20), 40)
	blob := l.blob()
	key := blobstore.Key(l.digest)
	ctx := context.Background()

	dir, err := blobstore.NewDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	stores := []struct {
		name  string
		store blobstore.Store
	}{{"dir", dir}}
	if s3store := benchS3(b); s3store != nil {
		stores = append(stores, struct {
			name  string
			store blobstore.Store
		}{"s3", s3store})
	}
	for _, st := range stores {
		if err := st.store.Put(ctx, key, bytes.NewReader(blob), int64(len(blob))); err != nil {
			b.Fatal(err)
		}
		for _, client := range []int64{0, 500e6} {
			for _, pipelined := range []bool{false, true} {
				b.Run(fmt.Sprintf("%s/client=%dMBps/pipelined=%v", st.name, client/1e6, pipelined), func(b *testing.B) {
					defer func(v bool) { pipelineReads = v }(pipelineReads)
					pipelineReads = pipelined
					benchStream(b, l, st.store, key, client)
				})
			}
		}
	}
}

// benchStream streams l from store; clientRate > 0 paces the consumer.
func benchStream(b *testing.B, l *layout, store blobstore.Store, key string, clientRate int64) {
	b.SetBytes(l.size)
	var ttfb time.Duration
	var reads int64
	for b.Loop() {
		cr := &countingReader{inner: blobstore.NewRouter(nil, store)}
		r := newTestResolver(b, &fakeLocator{l: l, urls: []string{store.URL(key)}}, cr, Config{})
		start := time.Now()
		for i, blk := range l.blocks {
			if _, err := r.Block(context.Background(), blk.c); err != nil {
				b.Fatal(err)
			}
			if i == 0 {
				ttfb += time.Since(start)
			}
			if clientRate > 0 {
				time.Sleep(time.Duration(blk.len * int64(time.Second) / clientRate))
			}
		}
		reads += cr.reads.Load()
		r.Close()
	}
	b.ReportMetric(float64(ttfb.Microseconds())/float64(b.N)/1000, "ms-first-block")
	b.ReportMetric(float64(reads)/float64(b.N), "reads/stream")
}

// benchS3 returns an S3 store over a fresh bucket on the local S3 server,
// or nil when CARGATE_TEST_S3_ENDPOINT is not set.
func benchS3(b *testing.B) blobstore.Store {
	endpoint := os.Getenv("CARGATE_TEST_S3_ENDPOINT")
	if endpoint == "" {
		b.Log("CARGATE_TEST_S3_ENDPOINT not set: S3 cases skipped")
		return nil
	}
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	bucket := "cargate-bench-" + hex.EncodeToString(rnd[:])
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint), Region: env("AWS_REGION", "us-east-1"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(env("AWS_ACCESS_KEY_ID", "test"), env("AWS_SECRET_ACCESS_KEY", "testsecret"), ""),
	})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		out, _ := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if out != nil {
			for _, o := range out.Contents {
				client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			}
		}
		client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	store, err := blobstore.NewS3(ctx, blobstore.S3Config{
		Bucket: bucket, Endpoint: endpoint, Region: env("AWS_REGION", "us-east-1"),
		AccessKey: env("AWS_ACCESS_KEY_ID", "test"), SecretKey: env("AWS_SECRET_ACCESS_KEY", "testsecret"),
	})
	if err != nil {
		b.Fatal(err)
	}
	return store
}
