package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/storacha/go-ucanto/core/delegation"
	"github.com/storacha/go-ucanto/did"

	"github.com/cargate/cargate/indexer"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/internal/revocation"
)

// Delegate prints (or writes to cfg.Delegate.Out) a delegation from the
// node's key to cfg.Delegate.Audience of the abilities in
// cfg.Delegate.Can on this node's indexer: what another key shows to
// write claims (cargate import --proof, a storage node's claim/cache).
func Delegate(_ context.Context, cfg *config.Config, stdout io.Writer) error {
	dc := cfg.Delegate
	if dc.Audience == "" {
		return errors.New("delegate: give --audience, the DID of the key that may write claims")
	}
	aud, err := did.Parse(dc.Audience)
	if err != nil {
		return fmt.Errorf("--audience %q: %w", dc.Audience, err)
	}
	if dc.Expires < 0 {
		return fmt.Errorf("--expires %s: must not be negative (0: never expires)", dc.Expires)
	}
	var abilities []string
	for _, a := range strings.Split(dc.Can, ",") {
		if a = strings.TrimSpace(a); a != "" {
			abilities = append(abilities, a)
		}
	}
	id, err := loadKey(cfg)
	if err != nil {
		return err
	}
	d, err := indexer.Delegate(id, aud, abilities, dc.Expires)
	if err != nil {
		return fmt.Errorf("--can: %w", err)
	}
	if dc.Out != "" {
		b, err := io.ReadAll(d.Archive())
		if err != nil {
			return err
		}
		return os.WriteFile(dc.Out, b, 0o600)
	}
	text, err := delegation.Format(d)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, text)
	return err
}

// readProofs reads the delegation in path, as `cargate delegate` (or a
// ucanto tool) writes it: a CAR archive, or its multibase text form.
// An empty path is no proof.
func readProofs(path string) ([]delegation.Delegation, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--proof: %w", err)
	}
	d, err := delegation.Extract(b)
	if err != nil {
		var perr error
		if d, perr = delegation.Parse(strings.TrimSpace(string(b))); perr != nil {
			return nil, fmt.Errorf("--proof %s: neither a delegation CAR (%v) nor its text form (%v)", path, err, perr)
		}
	}
	return []delegation.Delegation{d}, nil
}

// Revoke adds delegations to the data dir's revocation list: each arg is
// a delegation's CID, or a file holding the delegation (as `cargate
// delegate` writes it). A running node refuses claims proved by them
// within revocation.ReloadEvery.
func Revoke(_ context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("revoke: give the CIDs of delegations, or files holding them")
	}
	var cs []cid.Cid
	for _, a := range args {
		c, err := cid.Decode(a)
		if err != nil {
			ds, ferr := readProofs(a)
			if ferr != nil {
				return fmt.Errorf("revoke %s: neither a CID (%v) nor a delegation file (%v)", a, err, ferr)
			}
			if c, err = cid.Parse(ds[0].Link().String()); err != nil {
				return fmt.Errorf("revoke %s: %w", a, err)
			}
		}
		cs = append(cs, c)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	if err := revocation.Add(filepath.Join(cfg.DataDir, revocation.FileName), cs...); err != nil {
		return err
	}
	for _, c := range cs {
		fmt.Fprintln(stdout, "revoked", c)
	}
	return nil
}
