package indexer

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cargate/cargate/internal/claimstore"
)

// RetryAfter is the Retry-After sent with 503 when sources are unavailable.
const RetryAfter = 5 * time.Second

// BusyRetryAfter is the Retry-After sent with 429 when intake is full.
const BusyRetryAfter = 2 * time.Second

// statusOf maps an error to its HTTP status. It is the only place that
// does so.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadInput), errors.Is(err, ErrBadClaim):
		return http.StatusBadRequest
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrBusy):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrNotFound), errors.Is(err, claimstore.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable), errors.Is(err, claimstore.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499 // client went away; nobody reads the answer
	}
	return http.StatusInternalServerError
}

// writeError answers a failed request: 4xx with the error's own text
// (it describes the caller's input), 5xx with a generic text (internal
// details are logged once, never sent), Retry-After on 503.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := statusOf(err)
	msg := err.Error()
	if status >= 500 {
		log.Warn("indexer request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
		msg = http.StatusText(status)
		if status == http.StatusServiceUnavailable {
			msg = "claim sources unavailable; retry later"
			w.Header().Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
		}
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(int(BusyRetryAfter/time.Second)))
	}
	if status == 499 {
		return
	}
	w.Header().Del("Content-Encoding")
	http.Error(w, msg, status)
}
