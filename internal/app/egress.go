package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cargate/cargate/internal/access"
	"github.com/cargate/cargate/internal/billing"
	"github.com/cargate/cargate/internal/config"
	"github.com/cargate/cargate/internal/egress"
	"github.com/cargate/cargate/internal/ship"
)

// startEgress opens the egress spool, ships it to SQS when configured, and
// returns the middleware that records an event per response. Disabled, it
// returns the handler unchanged.
func startEgress(ctx context.Context, cfg *config.Config, n *node) (func(http.Handler) http.Handler, error) {
	if !cfg.Egress.Enabled {
		return func(h http.Handler) http.Handler { return h }, nil
	}
	p, err := egress.OpenProducer(egress.ProducerConfig{
		Dir:          cfg.Egress.SpoolDir(cfg.DataDir),
		MaxBytes:     cfg.Egress.SpoolMaxBytes,
		SyncInterval: cfg.Egress.SyncInterval,
		Registerer:   n.reg,
		Logger:       n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("egress spool: %w", err)
	}
	n.onStop(p.Close)
	if cfg.Egress.SQSQueueURL != "" {
		q, err := ship.NewSQSQueue(ctx, sqsConfig(cfg), n.log)
		if err != nil {
			return nil, err
		}
		sh, err := ship.NewShipper(p, q, ship.ShipperConfig{Registerer: n.reg, Logger: n.log})
		if err != nil {
			return nil, err
		}
		shipCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := sh.Run(shipCtx); err != nil && !errors.Is(err, context.Canceled) {
				n.log.Error("egress shipper stopped", "err", err)
			}
		}()
		// Stopped after the HTTP servers drain (stops run last first), so
		// the last events are spooled; what is not shipped stays spooled.
		n.onStop(func() error { cancel(); <-done; return nil })
	}
	tokenID := egress.WithTokenID(func(r *http.Request) string { return access.TokenID(access.RequestToken(r)) })
	return func(h http.Handler) http.Handler { return egress.Middleware(h, p, tokenID) }, nil
}

func sqsConfig(cfg *config.Config) ship.SQSConfig {
	return ship.SQSConfig{
		QueueURL:           cfg.Egress.SQSQueueURL,
		Endpoint:           cfg.Egress.SQSEndpoint,
		Region:             cfg.Egress.SQSRegion,
		DeadLetterQueueURL: cfg.Egress.SQSDeadLetterURL,
	}
}

func dynamoConfig(cfg *config.Config) billing.DynamoDBConfig {
	return billing.DynamoDBConfig{Table: cfg.Egress.DynamoDBTable, Endpoint: cfg.Egress.DynamoDBEndpoint}
}

// ConsumeEgress runs `cargate egress consume`: it totals events from SQS
// (when a queue is configured) or from the local spool.
func ConsumeEgress(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	cc := billing.ConsumeConfig{
		TotalsDir: cfg.Egress.TotalsDir(cfg.DataDir),
		DynamoDB:  dynamoConfig(cfg),
		Once:      cfg.Egress.Once,
		Logger:    log,
	}
	if cfg.Egress.SQSQueueURL != "" {
		cc.SQS = sqsConfig(cfg)
	} else {
		cc.SpoolDir = cfg.Egress.SpoolDir(cfg.DataDir)
	}
	return billing.RunConsume(ctx, cc)
}

// ReportEgress runs `cargate egress report`.
func ReportEgress(ctx context.Context, cfg *config.Config, w io.Writer) error {
	rc := billing.ReportConfig{
		TotalsDir: cfg.Egress.TotalsDir(cfg.DataDir),
		DynamoDB:  dynamoConfig(cfg),
		Space:     cfg.Egress.Space,
	}
	var err error
	if cfg.Egress.From != "" {
		if rc.From, err = time.Parse(time.DateOnly, cfg.Egress.From); err != nil {
			return err
		}
	}
	if cfg.Egress.To != "" {
		if rc.To, err = time.Parse(time.DateOnly, cfg.Egress.To); err != nil {
			return err
		}
	}
	return billing.RunReport(ctx, w, rc)
}
