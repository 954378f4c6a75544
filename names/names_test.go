package names

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/multiformats/go-multihash"
)

func key(t *testing.T) (crypto.PrivKey, ipns.Name) {
	t.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(sk)
	return sk, ipns.NameFromPeer(id)
}

func target(s string) path.Path {
	mh, _ := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	return path.FromCid(cid.NewCidV1(cid.Raw, mh))
}

func rec(t *testing.T, sk crypto.PrivKey, to string, seq uint64, eol time.Time) []byte {
	t.Helper()
	r, err := ipns.NewRecord(sk, target(to), seq, eol, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ipns.MarshalRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestStoreKeepsBestValid covers what the store accepts, refuses and keeps.
func TestStoreKeepsBestValid(t *testing.T) {
	ctx := context.Background()
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sk, name := key(t)
	other, _ := key(t)
	hour := time.Now().Add(time.Hour)
	v2 := rec(t, sk, "two", 2, hour)
	if kept, err := s.Put(ctx, name, v2); err != nil || !kept {
		t.Fatalf("put seq 2: %v %v", kept, err)
	}
	tampered := bytes.Clone(v2)
	tampered[len(tampered)-3] ^= 1
	refused := map[string][]byte{
		"expired":           rec(t, sk, "x", 9, time.Now().Add(-time.Second)),
		"another key":       rec(t, other, "x", 9, hour),
		"tampered":          tampered,
		"garbage":           []byte("not a record"),
		"over the max size": make([]byte, ipns.MaxRecordSize+1),
	}
	for label, raw := range refused {
		if _, err := s.Put(ctx, name, raw); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: err %v, want ErrBadRecord", label, err)
		}
	}
	if kept, err := s.Put(ctx, name, rec(t, sk, "one", 1, hour)); err != nil || kept {
		t.Errorf("put of an older record: kept %v err %v, want accepted and dropped", kept, err)
	}
	got, err := s.Get(ctx, name)
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("get after refused and older puts: %v, want seq 2", err)
	}
	v3 := rec(t, sk, "three", 3, hour)
	if kept, _ := s.Put(ctx, name, v3); !kept {
		t.Errorf("newer record not kept")
	}
	if got, _ := s.Get(ctx, name); !bytes.Equal(got, v3) {
		t.Errorf("get after newer put: not seq 3")
	}
	// A record that expires after it was stored reads as absent.
	skShort, short := key(t)
	if _, err := s.Put(ctx, short, rec(t, skShort, "brief", 1, time.Now().Add(300*time.Millisecond))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := s.Get(ctx, short); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("expired stored record: %v, want routing.ErrNotFound", err)
	}
	// The count of names is bounded.
	s.max = 2
	skNew, nameNew := key(t)
	if _, err := s.Put(ctx, nameNew, rec(t, skNew, "n", 1, hour)); !errors.Is(err, ErrStoreFull) {
		t.Errorf("put of a new name past the bound: %v, want ErrStoreFull", err)
	}
	if _, err := s.Put(ctx, name, rec(t, sk, "four", 4, hour)); err != nil {
		t.Errorf("put for a known name past the bound: %v", err)
	}
}

// fakeRemote answers GetValue with a fixed value.
type fakeRemote struct {
	routing.ValueStore
	val []byte
}

func (f fakeRemote) GetValue(context.Context, string, ...routing.Option) ([]byte, error) {
	if f.val == nil {
		return nil, routing.ErrNotFound
	}
	return f.val, nil
}

// TestRecordsPicksBestValid: local and remote records compete on sequence;
// what a remote sends that does not validate is ignored.
func TestRecordsPicksBestValid(t *testing.T) {
	ctx := context.Background()
	s, _ := OpenStore(t.TempDir())
	sk, name := key(t)
	other, _ := key(t)
	hour := time.Now().Add(time.Hour)
	local := rec(t, sk, "local", 5, hour)
	s.Put(ctx, name, local)
	rk := string(name.RoutingKey())

	cases := []struct {
		label   string
		remotes []routing.ValueStore
		want    []byte
	}{
		{"no remotes", nil, local},
		{"older remote", []routing.ValueStore{fakeRemote{val: rec(t, sk, "old", 4, hour)}}, local},
		{"liar remote", []routing.ValueStore{fakeRemote{val: rec(t, other, "lie", 99, hour)}}, local},
		{"newer remote", []routing.ValueStore{fakeRemote{}, fakeRemote{val: rec(t, sk, "new", 6, hour)}}, nil},
	}
	for _, c := range cases {
		r := &Records{local: s, remotes: c.remotes, timeout: time.Second}
		got, err := r.GetValue(ctx, rk)
		if err != nil {
			t.Fatalf("%s: %v", c.label, err)
		}
		want := c.want
		if want == nil {
			want = c.remotes[1].(fakeRemote).val
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: wrong record chosen", c.label)
		}
	}
	_, unknown := key(t)
	r := &Records{local: s, timeout: time.Second}
	if _, err := r.GetValue(ctx, string(unknown.RoutingKey())); !errors.Is(err, routing.ErrNotFound) {
		t.Errorf("unknown name: %v, want routing.ErrNotFound", err)
	}
	if _, err := r.GetValue(ctx, "/pk/whatever"); !errors.Is(err, routing.ErrNotSupported) {
		t.Errorf("non-IPNS key: %v", err)
	}
}

// TestDNSLinkMap covers parsing the static map and answering from it.
func TestDNSLinkMap(t *testing.T) {
	p := target("site").String()
	m, err := ParseDNSLinkMap(" Example.ORG.=" + p + ",b.example.net=/ipns/example.org\n# a comment\nc.example.net=/ipns/example.org\n\nc.example.net=" + p)
	if err != nil {
		t.Fatal(err)
	}
	if m["example.org"] != p || m["b.example.net"] != "/ipns/example.org" || m["c.example.net"] != p || len(m) != 3 {
		t.Fatalf("parsed %v", m)
	}
	for _, bad := range []string{"noequals", "=/ipfs/" + p, "a.org=/http/x", "a.org=/ipfs/notacid"} {
		if _, err := ParseDNSLinkMap(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	d := &dnsLinks{static: m}
	txt, err := d.LookupTXT(context.Background(), "_dnslink.example.org.")
	if err != nil || len(txt) != 1 || txt[0] != "dnslink="+p {
		t.Errorf("lookup: %v %v", txt, err)
	}
	if _, err := d.LookupTXT(context.Background(), "_dnslink.other.org."); err == nil {
		t.Errorf("a name outside the map answered with DNS off")
	}
}

// countingDNS answers every TXT lookup "no such name", counting them.
type countingDNS struct{ txt int }

func (c *countingDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	c.txt++
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (c *countingDNS) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return nil, nil }

// TestDNSMissesRemembered: a name DNS does not know is asked again only
// after the miss TTL.
func TestDNSMissesRemembered(t *testing.T) {
	next := &countingDNS{}
	d := &dnsLinks{next: next, misses: misses{ttl: 200 * time.Millisecond}}
	for i := 0; i < 5; i++ {
		if _, err := d.LookupTXT(context.Background(), "_dnslink.gw.example.net."); err == nil {
			t.Fatal("a miss answered")
		}
	}
	if next.txt != 1 {
		t.Errorf("%d DNS lookups for 5 requests within the miss TTL, want 1", next.txt)
	}
	time.Sleep(300 * time.Millisecond)
	d.LookupTXT(context.Background(), "_dnslink.gw.example.net.")
	if next.txt != 2 {
		t.Errorf("%d DNS lookups after the miss TTL, want 2", next.txt)
	}
}

// countingRemote has no records and counts the lookups.
type countingRemote struct {
	routing.ValueStore
	n int
}

func (c *countingRemote) GetValue(context.Context, string, ...routing.Option) ([]byte, error) {
	c.n++
	return nil, routing.ErrNotFound
}

// TestRemoteMissesRemembered: a name no remote has is not asked of the
// remotes again within the miss TTL; the local store still is.
func TestRemoteMissesRemembered(t *testing.T) {
	ctx := context.Background()
	s, _ := OpenStore(t.TempDir())
	rem := &countingRemote{}
	r := &Records{local: s, remotes: []routing.ValueStore{rem}, timeout: time.Second, remoteMisses: misses{ttl: time.Hour}}
	sk, name := key(t)
	for i := 0; i < 3; i++ {
		if _, err := r.Get(ctx, name); !errors.Is(err, routing.ErrNotFound) {
			t.Fatalf("unknown name: %v", err)
		}
	}
	if rem.n != 1 {
		t.Errorf("%d remote lookups for 3 requests, want 1", rem.n)
	}
	raw := rec(t, sk, "now local", 1, time.Now().Add(time.Hour))
	s.Put(ctx, name, raw)
	if got, err := r.Get(ctx, name); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("a record put locally after a remote miss: %v", err)
	}
}
