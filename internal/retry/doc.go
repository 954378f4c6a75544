// Package retry is the project's one retry policy: exponential backoff
// with full jitter, a cap, a server's Retry-After honoured up to that cap,
// a bound on failed tries, and waits that end with the caller's context.
// The resolver, the HTTP blob reader, the egress shipper and the billing
// consumer all wait through it.
//
// It also keeps retries from stacking across layers. A caller that
// retries a read under its own budget marks the context (CallerRetries);
// a layer below that sees the mark (ByCaller) makes one attempt and
// returns the server's Retry-After with its error (WithAfter, After)
// instead of waiting on it. So a read has one budget, counted once.
//
// # Usage
//
//	pol := retry.Policy{Base: 20 * time.Millisecond, Max: time.Second, Attempts: 3}
//	for fails := 1; ; fails++ {
//		err := read(retry.CallerRetries(ctx))
//		if err == nil || pol.GiveUp(fails) {
//			return err
//		}
//		if err := retry.Sleep(ctx, pol.Delay(fails, retry.After(err))); err != nil {
//			return err
//		}
//	}
package retry
