package retry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestDelayStaysInItsWindow(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: time.Second}
	for n := 1; n <= 40; n++ {
		ceil := min(p.Max, p.Base<<min(n-1, 30))
		if got := p.Ceil(n); got != ceil {
			t.Fatalf("Ceil(%d) = %v, want %v", n, got, ceil)
		}
		for i := 0; i < 200; i++ {
			if d := p.Delay(n, 0); d <= 0 || d > ceil {
				t.Fatalf("Delay(%d) = %v, outside (0, %v]", n, d, ceil)
			}
		}
	}
	// A server's Retry-After is a floor, capped at Max.
	if d := p.Delay(1, 500*time.Millisecond); d < 500*time.Millisecond || d > p.Max {
		t.Errorf("Delay with Retry-After 500ms = %v", d)
	}
	if d := p.Delay(1, time.Hour); d != p.Max {
		t.Errorf("Delay with Retry-After 1h = %v, want the cap %v", d, p.Max)
	}
}

func TestGiveUp(t *testing.T) {
	p := Policy{Attempts: 3}
	for n, want := range []bool{false, false, false, true, true} {
		if p.GiveUp(n) != want {
			t.Errorf("GiveUp(%d) = %v", n, !want)
		}
	}
	if (Policy{}).GiveUp(1 << 20) {
		t.Error("a policy without Attempts gave up")
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on an ended context: %v", err)
	}
	if err := Sleep(context.Background(), time.Microsecond); err != nil {
		t.Fatal(err)
	}
}

func TestAfterTravelsWithTheError(t *testing.T) {
	base := errors.New("status 503")
	err := fmt.Errorf("shard x: %w", WithAfter(base, 2*time.Second))
	if After(err) != 2*time.Second || !errors.Is(err, base) {
		t.Fatalf("After = %v, Is = %v", After(err), errors.Is(err, base))
	}
	if After(base) != 0 || WithAfter(base, 0) != base || WithAfter(nil, time.Second) != nil {
		t.Error("WithAfter without a delay changed the error")
	}
}

func TestCallerRetries(t *testing.T) {
	if ByCaller(context.Background()) {
		t.Fatal("a plain context is marked")
	}
	if !ByCaller(CallerRetries(context.Background())) {
		t.Fatal("a marked context is not")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {" 2 ", 2 * time.Second}, {"0", 0}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"99999999999999999", time.Duration(1<<31) * time.Second},
	} {
		if got := ParseRetryAfter(c.v, now); got != c.want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", c.v, got, c.want)
		}
	}
}
