package blobstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Open builds a Store from a one-line spec, as given on a command line:
//
//	/var/lib/cargate/blobs                 a local directory (NewDir)
//	file:///var/lib/cargate/blobs          the same
//	file:///var/lib/cargate/blobs?public-url=https://blobs.example   a directory another server publishes
//	s3://bucket                            an S3 bucket, AWS credentials and region from the environment
//	s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1&path-style=true&public-url=https://cdn.example/blobs
//
// S3 credentials always come from the AWS environment or credential chain,
// never from the spec, so specs can be logged.
func Open(ctx context.Context, spec string) (Store, error) {
	switch {
	case spec == "":
		return nil, fmt.Errorf("blob store spec is empty: give a directory path or s3://bucket[/prefix]")
	case strings.HasPrefix(spec, "s3://"):
		cfg, err := parseS3Spec(spec)
		if err != nil {
			return nil, err
		}
		return NewS3(ctx, cfg)
	case strings.HasPrefix(spec, "file://"):
		u, err := url.Parse(spec)
		if err != nil || (u.Host != "" && u.Host != "localhost") || u.Path == "" {
			return nil, fmt.Errorf("blob store spec %q: want file:///absolute/path[?public-url=…]", spec)
		}
		for k := range u.Query() {
			if k != "public-url" {
				return nil, fmt.Errorf("blob store spec %q: unknown parameter %q (a directory takes only public-url)", spec, k)
			}
		}
		d, err := NewDir(u.Path)
		if err != nil {
			return nil, err
		}
		if pub := u.Query().Get("public-url"); pub != "" {
			if pu, err := url.Parse(pub); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") {
				return nil, fmt.Errorf("blob store spec %q: public-url must be an http(s) URL", spec)
			}
			d.publicURL = strings.TrimSuffix(pub, "/")
		}
		return d, nil
	case strings.Contains(spec, "://"):
		scheme, _, _ := strings.Cut(spec, "://")
		return nil, fmt.Errorf("blob store spec %q: unsupported scheme %q (want a directory path or s3://)", spec, scheme)
	default:
		return NewDir(spec)
	}
}

// s3SpecParams are the query parameters an s3:// spec accepts.
var s3SpecParams = map[string]bool{"endpoint": true, "region": true, "path-style": true, "public-url": true}

func parseS3Spec(spec string) (S3Config, error) {
	u, err := url.Parse(spec)
	if err != nil {
		return S3Config{}, fmt.Errorf("blob store spec %q: %v", spec, err)
	}
	if u.Host == "" {
		return S3Config{}, fmt.Errorf("blob store spec %q: missing bucket (want s3://bucket[/prefix])", spec)
	}
	if u.User != nil {
		return S3Config{}, fmt.Errorf("blob store spec %q: credentials do not belong in the spec; use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", redactSpec(u))
	}
	q := u.Query()
	for k := range q {
		if !s3SpecParams[k] {
			return S3Config{}, fmt.Errorf("blob store spec %q: unknown parameter %q (known: endpoint, region, path-style, public-url)", spec, k)
		}
	}
	cfg := S3Config{
		Bucket:    u.Host,
		Prefix:    strings.Trim(u.Path, "/"),
		Endpoint:  q.Get("endpoint"),
		Region:    q.Get("region"),
		PublicURL: q.Get("public-url"),
	}
	if v := q.Get("path-style"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return S3Config{}, fmt.Errorf("blob store spec %q: path-style=%q is not true or false", spec, v)
		}
		cfg.PathStyle = &b
	}
	return cfg, nil
}

func redactSpec(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}
