package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/cargate/cargate/bench/datagen"
)

// s3EndpointEnv names the local S3 server, as scripts/services.sh env
// prints it and the service-backed tests read it.
const s3EndpointEnv = "CARGATE_TEST_S3_ENDPOINT"

// localS3Creds are the credentials of the local stand-in
// (scripts/services.sh), used for whichever of them the environment
// leaves unset.
var localS3Creds = [][2]string{
	{"AWS_ACCESS_KEY_ID", "test"},
	{"AWS_SECRET_ACCESS_KEY", "testsecret"},
	{"AWS_REGION", "us-east-1"},
}

// s3Store is a fresh bucket on the S3 server S7 serves from.
type s3Store struct {
	endpoint string
	bucket   string
	spec     string   // --blob-store value
	env      []string // environment of the cargate processes that use it
	client   *s3.Client
}

// openS3 finds the S3 server (starting the local services when allowed
// and none is named) and creates a bucket there. It returns nil and the
// reason, worded for the report, when there is none to use.
func openS3(ctx context.Context, cfg config, scratch string) (*s3Store, string) {
	endpoint := cfg.s3
	if endpoint == "" && cfg.services {
		if err := startServices(ctx, scratch); err != nil {
			return nil, "not run: no S3 server: " + err.Error()
		}
		endpoint = os.Getenv(s3EndpointEnv)
	}
	if endpoint == "" {
		return nil, fmt.Sprintf("not run: no S3 server (set %s or -s3; `scripts/services.sh start` runs versitygw)", s3EndpointEnv)
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Sprintf("not run: S3 endpoint %q is not a URL", endpoint)
	}
	if c, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err != nil {
		return nil, fmt.Sprintf("not run: S3 server %s not reachable (%v)", endpoint, err)
	} else {
		c.Close()
	}
	env := os.Environ()
	get := func(k string) string { return os.Getenv(k) }
	for _, kv := range localS3Creds {
		if os.Getenv(kv[0]) == "" {
			env = append(env, kv[0]+"="+kv[1])
			get = chain(get, kv[0], kv[1])
		}
	}
	st := &s3Store{endpoint: endpoint, env: env}
	st.client = s3.New(s3.Options{
		BaseEndpoint: aws.String(endpoint),
		Region:       get("AWS_REGION"),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY"), ""),
	})
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	st.bucket = "cargate-bench-" + hex.EncodeToString(rnd[:])
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := st.client.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(st.bucket)}); err != nil {
		return nil, fmt.Sprintf("not run: creating a bucket at %s failed (%v)", endpoint, err)
	}
	st.spec = fmt.Sprintf("s3://%s/bench?endpoint=%s&region=%s", st.bucket, url.QueryEscape(endpoint), get("AWS_REGION"))
	return st, ""
}

func chain(get func(string) string, key, def string) func(string) string {
	return func(k string) string {
		if k == key {
			return def
		}
		return get(k)
	}
}

// serve imports the small directory and the large file into the bucket
// (shards, indexes and the location claims naming them) with a data dir
// of its own, and starts a cargate serving from there.
func (st *s3Store) serve(ctx context.Context, bin string, set *datagen.Set, scratch string) (*server, error) {
	dataDir := filepath.Join(scratch, "cargate-s3-data")
	res, err := timedRunEnv(ctx, st.env, bin, "import", "--data-dir", dataDir, "--quiet", "--blob-store", st.spec,
		set.SmallDir.CAR, set.BigFile.CAR)
	if err != nil {
		return nil, fmt.Errorf("import into %s: %w", st.spec, err)
	}
	if want := []string{set.SmallDir.Root, set.BigFile.Root}; strings.Join(res.roots, " ") != strings.Join(want, " ") {
		return nil, fmt.Errorf("cargate import into S3 printed roots %v, want %v", res.roots, want)
	}
	log.Printf("S7: imported %s + %s into S3 in %s", size(fileSize(set.SmallDir.CAR)), size(fileSize(set.BigFile.CAR)),
		res.elapsed.Round(time.Millisecond))
	return startCargate(ctx, "cargate-s3", bin, dataDir, scratch, []string{"--blob-store", st.spec}, st.env)
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// cleanup deletes the bucket and everything in it.
func (st *s3Store) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := aws.String(st.bucket)
	pages := s3.NewListObjectsV2Paginator(st.client, &s3.ListObjectsV2Input{Bucket: b})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			log.Printf("S7: listing bucket %s for cleanup: %v", st.bucket, err)
			return
		}
		for _, o := range page.Contents {
			if _, err := st.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: o.Key}); err != nil {
				log.Printf("S7: deleting %s/%s: %v", st.bucket, aws.ToString(o.Key), err)
			}
		}
	}
	if _, err := st.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b}); err != nil {
		log.Printf("S7: deleting bucket %s: %v", st.bucket, err)
	}
}

// startServices runs `scripts/services.sh start` from the module root
// (versitygw, and the other local servers the tests use; they are left
// running) and takes the endpoints and credentials it prints with `env`
// into the runner's environment, where not already set.
func startServices(ctx context.Context, scratch string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		return fmt.Errorf("cannot find the module root to run scripts/services.sh (%v)", err)
	}
	script := filepath.Join(filepath.Dir(strings.TrimSpace(string(gomod))), "scripts", "services.sh")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("%s is unset and there is no %s to start one", s3EndpointEnv, script)
	}
	log.Printf("S7: %s is unset: running scripts/services.sh start (servers are left running; `make services-stop` stops them)", s3EndpointEnv)
	logPath := filepath.Join(scratch, "services.log")
	start := exec.CommandContext(ctx, script, "start")
	if out, err := start.CombinedOutput(); err != nil {
		_ = os.WriteFile(logPath, out, 0o644)
		return fmt.Errorf("scripts/services.sh start failed (%v):%s", err, tail(logPath, 3))
	}
	out, err := exec.CommandContext(ctx, script, "env").Output()
	if err != nil {
		return fmt.Errorf("scripts/services.sh env: %v", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export "), "=")
		if ok && os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	return nil
}
