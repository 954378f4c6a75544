package resolver

import "sync"

// fifo holds blocks read ahead by a coalesced read until they are asked
// for, bounded in bytes; the oldest go first. Unlike the block cache it
// never declines an entry, so read-ahead is not wasted by admission policy.
type fifo struct {
	mu    sync.Mutex
	max   int64
	size  int64
	items map[string][]byte
	order []string
}

func newFIFO(max int64) *fifo { return &fifo{max: max, items: map[string][]byte{}} }

func (f *fifo) put(key string, b []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[key]; ok || int64(len(b)) > f.max {
		return
	}
	for f.size+int64(len(b)) > f.max && len(f.order) > 0 {
		old := f.order[0]
		f.order = f.order[1:]
		if ob, ok := f.items[old]; ok {
			f.size -= int64(len(ob))
			delete(f.items, old)
		}
	}
	f.items[key] = b
	f.order = append(f.order, key)
	f.size += int64(len(b))
}

// take removes and returns key's block.
func (f *fifo) take(key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.items[key]
	if ok {
		delete(f.items, key)
		f.size -= int64(len(b))
	}
	return b, ok
}

func (f *fifo) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.items[key]
	return ok
}
