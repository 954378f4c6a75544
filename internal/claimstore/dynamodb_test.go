package claimstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// dynamoEndpoint is the dynalite endpoint, or a skip (a failure in CI).
func dynamoEndpoint(t *testing.T) string {
	t.Helper()
	ep := os.Getenv("CARGATE_TEST_DYNAMODB_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CARGATE_TEST_DYNAMODB_ENDPOINT is not set in CI: run scripts/services.sh start and eval $(scripts/services.sh env)")
		}
		t.Skip("CARGATE_TEST_DYNAMODB_ENDPOINT not set: run scripts/services.sh start and eval $(scripts/services.sh env)")
	}
	return ep
}

func TestDynamoStore(t *testing.T) {
	ctx := context.Background()
	db, err := NewDynamoClient(ctx, dynamoEndpoint(t))
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprint(time.Now().UnixNano())
	claims, keys := "test-claims-"+suffix, "test-keys-"+suffix
	if err := CreateDynamoTables(ctx, db, claims, keys); err != nil {
		t.Fatal(err)
	}
	s, err := NewDynamo(db, claims, keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	mh := func(s string) multihash.Multihash { h, _ := multihash.Sum([]byte(s), multihash.SHA2_256, -1); return h }
	c1 := cid.NewCidV1(cid.DagCBOR, mh("claim 1"))
	c2 := cid.NewCidV1(cid.DagCBOR, mh("claim 2"))
	// 60 keys: more than one BatchWriteItem.
	var many []multihash.Multihash
	for i := range 60 {
		many = append(many, mh(fmt.Sprint("block ", i)))
	}
	if err := s.Put(ctx, c1, []byte("one"), many); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, c2, []byte("two"), []multihash.Multihash{many[0]}); err != nil {
		t.Fatal(err)
	}
	// Putting again adds keys, keeps the bytes.
	if err := s.Put(ctx, c1, []byte("changed"), []multihash.Multihash{mh("extra")}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  multihash.Multihash
		want int
	}{
		{many[0], 2},  // both claims
		{many[59], 1}, // last batch written
		{mh("extra"), 1},
		{mh("nothing"), 0},
	} {
		got, err := s.Find(ctx, tc.key)
		if err != nil || len(got) != tc.want {
			t.Errorf("find: %v (%v), want %d claims", got, err, tc.want)
		}
	}
	b, err := s.Claim(ctx, c1)
	if err != nil || string(b) != "one" {
		t.Fatalf("claim: %q %v", b, err)
	}
	if _, err := s.Claim(ctx, cid.NewCidV1(cid.Raw, mh("absent"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("absent claim: %v, want ErrNotFound", err)
	}
}
