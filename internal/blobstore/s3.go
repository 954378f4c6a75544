package blobstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/cargate/cargate/internal/retry"
)

// Defaults for S3Config.
const (
	// DefaultS3Region is used when neither the config nor the AWS
	// environment names a region. R2 wants "auto".
	DefaultS3Region = "us-east-1"
	// DefaultS3MaxIdleConnsPerHost keeps enough warm connections for many
	// concurrent ranged reads of the same bucket.
	DefaultS3MaxIdleConnsPerHost = 256
	// DefaultS3SpoolMemory is the largest non-seekable Put body buffered in
	// memory; larger ones are spooled to a temporary file, because SigV4
	// over plain HTTP needs to hash the payload before sending it.
	DefaultS3SpoolMemory = 16 << 20
)

// S3Config configures an S3-compatible Store (AWS S3, R2, versitygw, MinIO…).
type S3Config struct {
	// Bucket holds the blobs. Required.
	Bucket string
	// Prefix is prepended (with a "/") to every key; empty for the bucket root.
	Prefix string
	// Endpoint is the S3 API base URL, e.g. "http://127.0.0.1:7070" or
	// "https://<account>.r2.cloudflarestorage.com". Empty: AWS_ENDPOINT_URL_S3,
	// then AWS_ENDPOINT_URL, then AWS itself.
	Endpoint string
	// Region signs requests. Empty: the AWS environment/profile, then
	// DefaultS3Region. Use "auto" for R2.
	Region string
	// PathStyle addresses the bucket as <endpoint>/<bucket>/ rather than
	// <bucket>.<endpoint-host>/. Nil: true when an endpoint is set (local and
	// S3-compatible servers rarely do virtual hosts), false for AWS.
	PathStyle *bool
	// AccessKey and SecretKey are static credentials. Empty: the standard AWS
	// chain (environment, shared config, web identity, instance role).
	AccessKey string
	SecretKey string
	// PublicURL is the base URL written into location claims; URL(key) is
	// PublicURL + "/" + key. Empty: <endpoint>/<bucket>[/<prefix>] when path
	// style, https://<bucket>.s3.<region>.amazonaws.com[/<prefix>] on AWS.
	PublicURL string
	// MaxIdleConnsPerHost bounds warm connections kept to the endpoint.
	// Zero: DefaultS3MaxIdleConnsPerHost.
	MaxIdleConnsPerHost int
	// StallTimeout fails a body read that makes no progress for this long
	// (ErrStalled), as the HTTP reader does. Zero: DefaultStallTimeout.
	StallTimeout time.Duration
}

// S3 is a Store over an S3-compatible bucket.
type S3 struct {
	client    *s3.Client
	bucket    string
	prefix    string
	publicURL string
	stall     time.Duration
}

var _ Store = (*S3)(nil)

// NewS3 builds an S3 store. It does not contact the server.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: bucket is required")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	}
	if endpoint != "" {
		if u, err := url.Parse(endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("s3 store: endpoint %q is not an absolute URL (want e.g. http://127.0.0.1:7070)", endpoint)
		}
		endpoint = strings.TrimRight(endpoint, "/")
	}
	pathStyle := endpoint != ""
	if cfg.PathStyle != nil {
		pathStyle = *cfg.PathStyle
	}
	awsCfg, err := loadAWSConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
		// Only send checksums the API requires: S3-compatible servers vary
		// in their support of the newer trailing checksums, and blobs are
		// verified against their content hash on read anyway.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.Trim(cfg.Prefix, "/")
	public := cfg.PublicURL
	if public == "" {
		public = defaultPublicURL(endpoint, cfg.Bucket, awsCfg.Region, pathStyle)
		if prefix != "" {
			public += "/" + prefix
		}
	}
	stall := cfg.StallTimeout
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	return &S3{
		client:    client,
		bucket:    cfg.Bucket,
		prefix:    prefix,
		publicURL: strings.TrimRight(public, "/"),
		stall:     stall,
	}, nil
}

// loadAWSConfig keeps the SDK's own buildable HTTP client (so AWS_CA_BUNDLE
// and proxy settings keep working) and only widens its connection pool.
func loadAWSConfig(ctx context.Context, cfg S3Config) (aws.Config, error) {
	idle := cfg.MaxIdleConnsPerHost
	if idle <= 0 {
		idle = DefaultS3MaxIdleConnsPerHost
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = idle
		if tr.MaxIdleConns < idle {
			tr.MaxIdleConns = idle
		}
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient)}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		if cfg.AccessKey == "" || cfg.SecretKey == "" {
			return aws.Config{}, errors.New("s3 store: set both access key and secret key, or neither")
		}
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("s3 store: loading AWS config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = DefaultS3Region
	}
	return awsCfg, nil
}

func defaultPublicURL(endpoint, bucket, region string, pathStyle bool) string {
	if endpoint == "" {
		if pathStyle {
			return fmt.Sprintf("https://s3.%s.amazonaws.com/%s", region, bucket)
		}
		return fmt.Sprintf("https://%s.s3.%s.amazonaws.com", bucket, region)
	}
	if pathStyle {
		return endpoint + "/" + bucket
	}
	u, _ := url.Parse(endpoint) // validated by NewS3
	u.Host = bucket + "." + u.Host
	return strings.TrimRight(u.String(), "/")
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func (s *S3) objectKey(key string) string {
	if s.prefix == "" {
		return key
	}
	return s.prefix + "/" + key
}

// Put uploads the blob unless it is already there: keys are content
// addresses, so an existing object already holds these bytes. S3 answers a
// PutObject only once the object is durable.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if key == "" {
		return errors.New("s3 put: empty key")
	}
	if _, err := s.Stat(ctx, key); err == nil {
		_, err = io.Copy(io.Discard, r)
		return err
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	body, n, cleanup, err := seekableBody(r, size)
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	defer cleanup()
	if size >= 0 && n != size {
		return fmt.Errorf("s3 put %s: read %d bytes, expected %d", key, n, size)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(s.bucket),
		Key:           aws.String(s.objectKey(key)),
		Body:          body,
		ContentLength: aws.Int64(n),
		ContentType:   aws.String("application/vnd.ipld.car"),
	})
	if err != nil {
		return fmt.Errorf("s3 put %s: %w", key, err)
	}
	return nil
}

// seekableBody returns r as an io.ReadSeeker with its length: as is when it
// already seeks, else buffered in memory (small) or in a temporary file.
func seekableBody(r io.Reader, size int64) (io.ReadSeeker, int64, func(), error) {
	noop := func() {}
	if rs, ok := r.(io.ReadSeeker); ok && size >= 0 {
		return rs, size, noop, nil
	}
	if size >= 0 && size <= DefaultS3SpoolMemory {
		buf := make([]byte, size)
		n, err := io.ReadFull(r, buf)
		if err != nil {
			return nil, int64(n), noop, err
		}
		return bytes.NewReader(buf), size, noop, nil
	}
	f, err := os.CreateTemp("", "cargate-s3-put-*")
	if err != nil {
		return nil, 0, noop, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, n, noop, err
	}
	return f, n, cleanup, nil
}

// ReadRange fetches the range with a Range header. A missing object, or a
// range that is not wholly inside the object, is ErrNotFound.
func (s *S3) ReadRange(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("s3 read %s: negative offset %d", key, off)
	}
	if length == 0 {
		// A zero-length range cannot be expressed in a Range header;
		// still report a missing blob or an offset past the end.
		size, err := s.Stat(ctx, key)
		if err != nil {
			return nil, err
		}
		if off > size {
			return nil, fmt.Errorf("s3 read %s: offset %d past size %d: %w", key, off, size, ErrNotFound)
		}
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	rng := "bytes=" + strconv.FormatInt(off, 10) + "-"
	if length > 0 {
		rng += strconv.FormatInt(off+length-1, 10)
	}
	// The request gets its own cancel so that a stalled body can abort it.
	reqCtx, cancel := context.WithCancel(ctx)
	var once []func(*s3.Options)
	if retry.ByCaller(ctx) { // the caller's budget counts every request
		once = append(once, func(o *s3.Options) { o.RetryMaxAttempts = 1 })
	}
	out, err := s.client.GetObject(reqCtx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
		Range:  aws.String(rng),
	}, once...)
	if err != nil {
		cancel()
		return nil, s.mapErr("read", key, err)
	}
	want := aws.ToInt64(out.ContentLength)
	if length > 0 && want != length {
		out.Body.Close()
		cancel()
		return nil, fmt.Errorf("s3 read %s: range %d+%d reaches past the blob (%s): %w",
			key, off, length, aws.ToString(out.ContentRange), ErrNotFound)
	}
	return &exactBody{rc: newStallBody(out.Body, cancel, s.stall), remaining: want}, nil
}

// Stat returns the object's size.
func (s *S3) Stat(ctx context.Context, key string) (int64, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.objectKey(key)),
	})
	if err != nil {
		return 0, s.mapErr("stat", key, err)
	}
	return aws.ToInt64(out.ContentLength), nil
}

// URL is PublicURL + "/" + key; URL("") is the base with a trailing slash,
// which is what Router matches on.
func (s *S3) URL(key string) string { return s.publicURL + "/" + key }

// mapErr turns "no such key" (and a range past the end) into ErrNotFound.
func (s *S3) mapErr(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return fmt.Errorf("s3 %s %s: %w", op, key, ErrNotFound)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "InvalidRange":
			return fmt.Errorf("s3 %s %s: %s: %w", op, key, apiErr.ErrorCode(), ErrNotFound)
		}
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound, http.StatusRequestedRangeNotSatisfiable:
			return fmt.Errorf("s3 %s %s: status %d: %w", op, key, re.HTTPStatusCode(), ErrNotFound)
		}
	}
	return fmt.Errorf("s3 %s %s: %w", op, key, err)
}

// exactBody fails with io.ErrUnexpectedEOF when the body ends before the
// number of bytes the response promised, so a cut connection is never
// mistaken for the end of a blob.
type exactBody struct {
	rc        io.ReadCloser
	remaining int64 // < 0: unknown
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.remaining == 0 {
		return 0, io.EOF
	}
	if b.remaining > 0 && int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.rc.Read(p)
	if b.remaining > 0 {
		b.remaining -= int64(n)
		if err == io.EOF && b.remaining > 0 {
			err = io.ErrUnexpectedEOF
		}
		if b.remaining == 0 && err == nil {
			err = io.EOF
		}
	}
	return n, err
}

func (b *exactBody) Close() error { return b.rc.Close() }
