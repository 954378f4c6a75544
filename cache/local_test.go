package cache

import (
	"context"
	"errors"
	"testing"
	"time"
)

// loadOnce is a load that waits for release (or its context), and says
// through started and ended when it began and how it ended.
type loadOnce struct {
	started chan struct{}
	release chan struct{}
	ended   chan error
}

func newLoad() *loadOnce {
	return &loadOnce{started: make(chan struct{}), release: make(chan struct{}), ended: make(chan error, 1)}
}

func (l *loadOnce) fn(ctx context.Context) (string, int64, time.Duration, error) {
	close(l.started)
	select {
	case <-l.release:
		l.ended <- nil
		return "value", 1, 0, nil
	case <-ctx.Done():
		l.ended <- ctx.Err()
		return "", 0, 0, ctx.Err()
	}
}

type result struct {
	v   string
	err error
}

func goLoad(c *Local[string], ctx context.Context, key string, load LoadFunc[string]) chan result {
	out := make(chan result, 1)
	go func() {
		v, err := c.GetOrLoad(ctx, key, load)
		out <- result{v, err}
	}()
	return out
}

const wait = 10 * time.Second // generous: only a broken cache takes this long

// TestSharedLoadOutlivesItsFirstCaller: the caller whose load is shared
// hangs up; the other waiter still gets the value, and the load's context
// was never cancelled.
func TestSharedLoadOutlivesItsFirstCaller(t *testing.T) {
	c, err := NewLocal[string]("test", 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := newLoad()
	firstCtx, hangUp := context.WithCancel(context.Background())
	first := goLoad(c, firstCtx, "k", l.fn)
	<-l.started
	second := goLoad(c, context.Background(), "k", func(context.Context) (string, int64, time.Duration, error) {
		t.Error("a second load ran: concurrent loads of one key were not shared")
		return "", 0, 0, errors.New("second load")
	})
	waitJoined(t, c, "k", 2)
	hangUp()
	if r := <-first; !errors.Is(r.err, context.Canceled) {
		t.Errorf("the caller that hung up got %q, %v; want its context's error", r.v, r.err)
	}
	close(l.release)
	select {
	case r := <-second:
		if r.err != nil || r.v != "value" {
			t.Fatalf("the waiter that stayed got %q, %v", r.v, r.err)
		}
	case <-time.After(wait):
		t.Fatal("the waiter that stayed got no answer")
	}
	if err := <-l.ended; err != nil {
		t.Errorf("the load ended with %v", err)
	}
}

// TestAbandonedLoadCancelled: when every waiter has left, the load is
// cancelled, and the next caller starts a fresh one.
func TestAbandonedLoadCancelled(t *testing.T) {
	c, err := NewLocal[string]("test", 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l := newLoad()
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	r1 := goLoad(c, ctx1, "k", l.fn)
	<-l.started
	r2 := goLoad(c, ctx2, "k", l.fn)
	waitJoined(t, c, "k", 2)
	cancel1()
	cancel2()
	<-r1
	<-r2
	select {
	case err := <-l.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned load ended with %v, want cancelled", err)
		}
	case <-time.After(wait):
		t.Fatal("the load went on with no one waiting")
	}
	l2 := newLoad()
	close(l2.release)
	if v, err := c.GetOrLoad(context.Background(), "k", l2.fn); err != nil || v != "value" {
		t.Fatalf("the next caller got %q, %v", v, err)
	}
}

// waitJoined waits until n callers wait on key's load.
func waitJoined(t *testing.T, c *Local[string], key string, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for c.waiters(key) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers never joined the load of %q", n, key)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiters is how many callers wait for key's load (for tests).
func (l *Local[V]) waiters(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, ok := l.loads[key]; ok {
		return f.waiters
	}
	return 0
}
