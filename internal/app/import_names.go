package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ipfs/boxo/ipns"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/names"
)

// splitNameRecords separates IPNS record files (*.ipns-record) from the
// content to import.
func splitNameRecords(paths []string) (records, content []string) {
	for _, p := range paths {
		if strings.EqualFold(filepath.Ext(p), ".ipns-record") {
			records = append(records, p)
		} else {
			content = append(content, p)
		}
	}
	return records, content
}

// importNameRecords stores each IPNS record file in the data dir's record
// store or, with --indexer-url, PUTs it to that indexer's routing v1 API,
// and prints /ipns/<name> of each.
func importNameRecords(ctx context.Context, cfg *config.Config, paths []string, stdout io.Writer) error {
	var store *names.Store
	if len(paths) == 0 {
		return nil
	}
	if cfg.Indexer.URL == "" {
		var err error
		if store, err = openNameStore(cfg); err != nil {
			return err
		}
	}
	for _, p := range paths {
		raw, err := readRecordFile(p)
		if err != nil {
			return fmt.Errorf("import %s: %w", p, err)
		}
		name, err := recordName(p, raw)
		if err != nil {
			return fmt.Errorf("import %s: %w", p, err)
		}
		if store != nil {
			_, err = store.Put(ctx, name, raw)
		} else {
			err = putRecord(ctx, cfg, name, raw)
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", p, err)
		}
		fmt.Fprintln(stdout, "/ipns/"+name.String())
	}
	return nil
}

func readRecordFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return names.ReadRecord(f)
}

// recordName is the name a record file is for: its file name when that is
// an IPNS name (<name>.ipns-record, as gateways serve them, or
// <name>_<anything>.ipns-record), else the name of the public key
// embedded in the record.
func recordName(p string, raw []byte) (ipns.Name, error) {
	base := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
	base, _, _ = strings.Cut(base, "_") // <name>_<note>.ipns-record names the key too
	if n, err := ipns.NameFromString(base); err == nil {
		return n, nil
	}
	rec, err := ipns.UnmarshalRecord(raw)
	if err != nil {
		return ipns.Name{}, fmt.Errorf("%w: %v", names.ErrBadRecord, err)
	}
	pk, err := rec.PubKey()
	if err != nil {
		return ipns.Name{}, fmt.Errorf("the record embeds no public key: name the file <ipns-name>.ipns-record")
	}
	id, err := peer.IDFromPublicKey(pk)
	if err != nil {
		return ipns.Name{}, fmt.Errorf("%w: %v", names.ErrBadRecord, err)
	}
	return ipns.NameFromPeer(id), nil
}

// putRecord sends a record to a running indexer, as delegated routing v1
// defines (PUT /routing/v1/ipns/{name}).
func putRecord(ctx context.Context, cfg *config.Config, name ipns.Name, raw []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(cfg.Indexer.URL, "/") + "/routing/v1/ipns/" + name.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.ipfs.ipns-record")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("indexer refused the record: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
