package names

import (
	"sync"
	"time"
)

// maxMisses bounds a misses set.
const maxMisses = 10_000

// misses remembers, for ttl, keys a slow source (DNS, remote routing)
// said it does not have, so that repeated requests for them do not each
// wait on it. Past maxMisses keys it forgets all rather than grow.
type misses struct {
	ttl time.Duration

	mu    sync.Mutex
	until map[string]time.Time // key -> when to ask again
}

func (m *misses) recent(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	until, ok := m.until[key]
	if ok && time.Now().After(until) {
		delete(m.until, key)
		return false
	}
	return ok
}

func (m *misses) add(key string) {
	if m.ttl <= 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.until == nil || len(m.until) >= maxMisses {
		m.until = map[string]time.Time{}
	}
	m.until[key] = time.Now().Add(m.ttl)
}
