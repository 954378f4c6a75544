package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cargate/cargate/resolver"
)

// These tests run the cargate binary against a real S3 API server
// (versitygw, started by scripts/services.sh) and count the storage
// requests that serving takes.

// dpS3Endpoint returns the local S3 server's URL: skipped locally when it is
// not set, fatal in CI.
func dpS3Endpoint(t *testing.T) string {
	t.Helper()
	v := os.Getenv("CARGATE_TEST_S3_ENDPOINT")
	if v != "" {
		return v
	}
	msg := "CARGATE_TEST_S3_ENDPOINT is not set: run `scripts/services.sh start && eval \"$(scripts/services.sh env)\"` to run this test against a real S3 server"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func dpEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// dpBucket creates a fresh bucket and removes it (with its objects) at
// the end of the test.
func dpBucket(t *testing.T, endpoint string) (*s3.Client, string) {
	t.Helper()
	client := s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       dpEnvOr("AWS_REGION", "us-east-1"),
		UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(
			dpEnvOr("AWS_ACCESS_KEY_ID", "test"), dpEnvOr("AWS_SECRET_ACCESS_KEY", "testsecret"), ""),
	})
	var rnd [6]byte
	rand.Read(rnd[:])
	bucket := "cargate-dataplane-" + hex.EncodeToString(rnd[:])
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket at %s: %v", endpoint, err)
	}
	t.Cleanup(func() {
		for _, o := range dpList(t, client, bucket) {
			client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
		client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	})
	return client, bucket
}

type dpObject struct {
	Key  *string
	Size int64
}

func dpList(t *testing.T, client *s3.Client, bucket string) []dpObject {
	t.Helper()
	var out []dpObject
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			out = append(out, dpObject{Key: o.Key, Size: aws.ToInt64(o.Size)})
		}
	}
	return out
}

func dpS3Spec(bucket, prefix, endpoint string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&region=%s", bucket, prefix, url.QueryEscape(endpoint), dpEnvOr("AWS_REGION", "us-east-1"))
}

// dpRun runs the binary to completion and returns its stdout.
func dpRun(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(buildBinary(t), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cargate %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

// dpImport imports path and returns its root CID.
func dpImport(t *testing.T, dataDir, blobStore string, extra ...string) string {
	t.Helper()
	args := []string{"import", "--data-dir", dataDir, "--quiet"}
	if blobStore != "" {
		args = append(args, "--blob-store", blobStore)
	}
	args = append(args, extra...) // flags, then the path
	roots := strings.Fields(dpRun(t, args...))
	if len(roots) != 1 {
		t.Fatalf("import %v printed %v, want one root", extra, roots)
	}
	return roots[0]
}

func dpFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dpServe starts `cargate serve` on a free port, waits for /healthz and
// stops it (SIGINT, by pid) at the end of the test. It returns the base URL.
func dpServe(t *testing.T, dataDir, blobStore string) string {
	t.Helper()
	addr := dpFreeAddr(t)
	args := []string{"serve", "--data-dir", dataDir, "--listen", addr, "--metrics-listen", dpFreeAddr(t), "--log-format", "json"}
	if blobStore != "" {
		args = append(args, "--blob-store", blobStore)
	}
	cmd := exec.Command(buildBinary(t), args...)
	logBuf := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
	}
	t.Fatalf("cargate serve did not become healthy; log:\n%s", logBuf)
	return ""
}

// dpGet fetches url and returns status, body, time to first byte and total time.
func dpGet(t *testing.T, rawURL string, hdr ...string) (int, []byte, time.Duration, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	var first time.Duration
	var buf bytes.Buffer
	one := make([]byte, 1)
	if n, _ := io.ReadFull(resp.Body, one); n == 1 {
		first = time.Since(start)
		buf.Write(one)
	}
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		t.Fatalf("GET %s: body: %v", rawURL, err)
	}
	return resp.StatusCode, buf.Bytes(), first, time.Since(start)
}

func dpRandom(n int, seed uint64) []byte {
	b := make([]byte, n)
	mrand.NewChaCha8([32]byte{byte(seed), 1, 2, 3}).Read(b)
	return b
}

// TestServeFromS3 imports a site with a multi-shard file into a real S3
// API server, then serves it from there byte for byte.
func TestServeFromS3(t *testing.T) {
	endpoint := dpS3Endpoint(t)
	client, bucket := dpBucket(t, endpoint)
	spec := dpS3Spec(bucket, "carpark", endpoint)
	src := t.TempDir()
	files := map[string][]byte{
		"index.html":    []byte("<!doctype html><h1>from s3</h1>\n"),
		"big.bin":       dpRandom(3<<20+12345, 1),
		"docs/note.txt": []byte("a note\n"),
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	root := dpImport(t, data, spec, "--shard-size", "1048576", src)
	objs := dpList(t, client, bucket)
	if len(objs) < 5 { // at least 4 shards for 3 MiB in 1 MiB shards, and an index
		t.Fatalf("import wrote %d objects to the bucket, want at least 5", len(objs))
	}
	for _, o := range objs {
		if !strings.HasPrefix(*o.Key, "carpark/") || !strings.HasSuffix(*o.Key, ".blob") {
			t.Errorf("object %q is not under the carpark layout", *o.Key)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "blobs")); len(entries) > 0 {
		t.Errorf("import with an S3 blob store wrote %d entries to the local blob dir", len(entries))
	}
	base := dpServe(t, data, spec)
	for name, want := range files {
		status, body, _, _ := dpGet(t, base+"/ipfs/"+root+"/"+name)
		if status != 200 || !bytes.Equal(body, want) {
			t.Errorf("%s: status %d, %d bytes; want 200 and %d bytes", name, status, len(body), len(want))
		}
	}
	status, body, _, _ := dpGet(t, base+"/ipfs/"+root+"/big.bin", "Range", "bytes=2000000-2100000")
	if status != http.StatusPartialContent || !bytes.Equal(body, files["big.bin"][2000000:2100001]) {
		t.Errorf("range of big.bin: status %d, %d bytes", status, len(body))
	}
}

// dpCountingProxy forwards to an S3 endpoint and counts requests by method.
// It keeps the Host header as the client sent it, so SigV4 signatures made
// for the proxy's address still verify at the server behind it.
type dpCountingProxy struct {
	*httptest.Server
	gets, others atomic.Int64
	getBytes     atomic.Int64
}

func dpNewCountingProxy(t *testing.T, target string) *dpCountingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &dpCountingProxy{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			p.gets.Add(1)
		} else {
			p.others.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *dpCountingProxy) reset() { p.gets.Store(0); p.others.Store(0) }

// dpMinGETs is the fewest ranged GETs that reading every block of the
// given blobs takes when one GET may span at most maxSpan bytes and blocks
// are about stride bytes apart (a 1 MiB chunk plus its CAR section header):
// a GET carries whole blocks only, floor(maxSpan/stride) of them.
func dpMinGETs(objs []dpObject, maxSpan, stride int64) int64 {
	perGET := max(1, maxSpan/stride)
	var n int64
	for _, o := range objs {
		blocks := (o.Size + stride - 1) / stride
		n += (blocks + perGET - 1) / perGET
	}
	return n
}

// TestStorageRequests counts the S3 requests needed to serve a large file
// and a 1,000-entry directory listing, cold, and compares them with the
// minimum the layout allows. Setup: import and serve both use an S3 blob
// store whose endpoint is a counting proxy in front of versitygw, so the
// location URLs in the claims name the proxy, and `cargate serve` reads
// them through its own S3 store (signed GetObject with Range), exactly as
// in production; every one of those requests passes the proxy.
//
// The file is 64 MiB rather than the 256 MiB to keep the test
// quick on a shared machine: the GET count is linear in size (one GET per
// MaxSpan of each shard), so the ratio to the minimum is what carries over.
func TestStorageRequests(t *testing.T) {
	endpoint := dpS3Endpoint(t)
	proxy := dpNewCountingProxy(t, endpoint)
	client, bucket := dpBucket(t, endpoint)
	spec := dpS3Spec(bucket, "p", proxy.URL)
	data := t.TempDir()

	bigDir := t.TempDir()
	big := dpRandom(64<<20, 2)
	os.WriteFile(filepath.Join(bigDir, "big.bin"), big, 0o644)
	bigRoot := dpImport(t, data, spec, "--shard-size", fmt.Sprint(16<<20), bigDir)
	bigObjs := dpList(t, client, bucket)

	listDir := t.TempDir()
	for i := range 1000 {
		os.WriteFile(filepath.Join(listDir, fmt.Sprintf("file-%04d.txt", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644)
	}
	listRoot := dpImport(t, data, spec, listDir)

	base := dpServe(t, data, spec)
	proxy.reset()
	status, body, ttfb, total := dpGet(t, base+"/ipfs/"+bigRoot+"/big.bin")
	if status != 200 || sha256.Sum256(body) != sha256.Sum256(big) {
		t.Fatalf("big.bin: status %d, %d bytes, content differs", status, len(body))
	}
	// Minimum: every blob of that import (the shards and the index) read
	// once, in GETs of at most MaxSpan (8 MiB) holding whole 1 MiB chunks,
	// so 7 chunks per GET: 16 MiB shards of 15 chunks take 3 GETs each,
	// the last (partial) shard 1, the index 1. For this 64 MiB file: 14;
	// 256 MiB (17 full shards and a partial one) would take 17·3+1+1 = 53.
	const stride = 1<<20 + 64 // chunk + varint + CIDv1 (sha2-256), rounded up
	want := dpMinGETs(bigObjs, resolver.DefaultMaxSpan, stride)
	got := proxy.gets.Load()
	t.Logf("64 MiB file from S3: %d GETs (minimum %d for %d blobs), %d other requests; TTFB %v, %.0f MB/s",
		got, want, len(bigObjs), proxy.others.Load(), ttfb.Round(time.Millisecond), float64(len(big))/total.Seconds()/1e6)
	if got < want || got > want+want/4+1 {
		t.Errorf("serving the file took %d GETs; the layout allows %d", got, want)
	}

	// The same file served from local disk, for comparison (logged only).
	diskData := t.TempDir()
	diskRoot := dpImport(t, diskData, "", "--shard-size", fmt.Sprint(16<<20), bigDir)
	diskBase := dpServe(t, diskData, "")
	status, body, dttfb, dtotal := dpGet(t, diskBase+"/ipfs/"+diskRoot+"/big.bin")
	if status != 200 || len(body) != len(big) {
		t.Fatalf("big.bin from disk: status %d, %d bytes", status, len(body))
	}
	t.Logf("64 MiB file from local disk: TTFB %v, %.0f MB/s", dttfb.Round(time.Millisecond), float64(len(big))/dtotal.Seconds()/1e6)

	proxy.reset()
	status, body, ttfb, _ = dpGet(t, base+"/ipfs/"+listRoot+"/", "Accept", "text/html")
	if status != 200 || !bytes.Contains(body, []byte("file-0999.txt")) {
		t.Fatalf("listing: status %d, %d bytes", status, len(body))
	}
	// Minimum: the index blob, then the directory node's shard range: 2.
	// The small files all sit in one shard after the directory node, so
	// even a listing that looks into each entry needs only a few
	// MaxSpan-sized ranged GETs more.
	got = proxy.gets.Load()
	t.Logf("1,000-entry listing from S3: %d GETs (minimum 2), %d other requests; TTFB %v", got, proxy.others.Load(), ttfb.Round(time.Millisecond))
	if got > 4 {
		t.Errorf("the listing took %d GETs, want at most 4 (minimum 2)", got)
	}
}
