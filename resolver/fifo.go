package resolver

import "sync"

// fifo holds blocks read ahead by a coalesced read until they are asked
// for, bounded in bytes; the oldest go first. Unlike the block cache it
// never declines an entry, so read-ahead is not wasted by admission policy.
//
// Bytes of pipelined reads still in flight are reserved against the same
// bound (reserve/release), so read-ahead held and read-ahead coming never
// exceed max together.
type fifo struct {
	mu       sync.Mutex
	max      int64
	size     int64 // bytes of the blocks held
	reserved int64 // bytes of pipelined reads in flight
	seq      uint64
	items    map[string]fifoItem
	order    []fifoKey // oldest first; entries for taken blocks linger until compacted
}

type fifoItem struct {
	b    []byte
	seq  uint64
	then func() // run (in a new goroutine) when the block is taken
}

type fifoKey struct {
	key string
	seq uint64
}

func newFIFO(max int64) *fifo { return &fifo{max: max, items: map[string]fifoItem{}} }

// put holds b under key; then, if set, runs when the block is taken.
func (f *fifo) put(key string, b []byte, then func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[key]; ok || int64(len(b)) > f.max {
		return
	}
	for f.size+int64(len(b)) > f.max && len(f.order) > 0 {
		old := f.order[0]
		f.order = f.order[1:]
		if it, ok := f.items[old.key]; ok && it.seq == old.seq {
			f.size -= int64(len(it.b))
			delete(f.items, old.key)
		}
	}
	f.seq++
	f.items[key] = fifoItem{b: b, seq: f.seq, then: then}
	f.order = append(f.order, fifoKey{key, f.seq})
	f.size += int64(len(b))
	f.compact()
}

// compact drops the order entries of blocks already taken, so that a long
// stream of put-then-take does not grow order without bound. Amortised
// O(1): it runs only when more than half of order is stale.
func (f *fifo) compact() {
	if len(f.order) < 64 || len(f.order) < 2*len(f.items) {
		return
	}
	live := make([]fifoKey, 0, 2*len(f.items)+1)
	for _, k := range f.order {
		if it, ok := f.items[k.key]; ok && it.seq == k.seq {
			live = append(live, k)
		}
	}
	f.order = live
}

// take removes and returns key's block, starting its hook if it has one.
func (f *fifo) take(key string) ([]byte, bool) {
	f.mu.Lock()
	it, ok := f.items[key]
	if ok {
		delete(f.items, key)
		f.size -= int64(len(it.b))
	}
	f.mu.Unlock()
	if ok && it.then != nil {
		go it.then()
	}
	return it.b, ok
}

func (f *fifo) has(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.items[key]
	return ok
}

// reserve books n bytes for a read in flight if they fit beside what is
// held and already booked; release returns them.
func (f *fifo) reserve(n int64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.size+f.reserved+n > f.max {
		return false
	}
	f.reserved += n
	return true
}

// book books n bytes for a read that must happen (one someone waits
// for), even past the bound; release returns them.
func (f *fifo) book(n int64) {
	f.mu.Lock()
	f.reserved += n
	f.mu.Unlock()
}

// free is how many more bytes may be held or booked, at most limit.
func (f *fifo) free(limit int64) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(0, min(limit, f.max-f.size-f.reserved))
}

func (f *fifo) release(n int64) {
	f.mu.Lock()
	f.reserved -= n
	f.mu.Unlock()
}

// stats returns the bytes held and reserved (for tests and debugging).
func (f *fifo) stats() (held, reserved int64, orderLen int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size, f.reserved, len(f.order)
}
