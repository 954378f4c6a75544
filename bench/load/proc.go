package load

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStats is a server process's resource use over a window.
type ProcStats struct {
	CPUSeconds float64 // user + system CPU time used in the window
	PeakRSS    int64   // bytes; the high-water mark of resident memory in the window
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times. It is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ReadCPU returns the CPU seconds pid has used so far: the sum over its
// threads of the nanosecond run time in /proc/<pid>/task/*/schedstat, else
// (no schedstat) user + system time from /proc/<pid>/stat, which counts in
// 10 ms ticks: ±2% of a one-second window at half a core, more than some
// costs the bench sets out to measure. Threads that exited drop out of the
// sum; Go servers keep their threads.
func ReadCPU(pid int) (float64, error) {
	if ns, err := schedstatRuntime(pid); err == nil {
		return float64(ns) / 1e9, nil
	}
	return statCPU(pid)
}

func schedstatRuntime(pid int) (int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum int64
	read := 0
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread just exited
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += ns
		read++
	}
	if read == 0 {
		return 0, errors.New("load: no schedstat")
	}
	return sum, nil
}

// statCPU is user + system time from /proc/<pid>/stat, in seconds.
func statCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after it are
	// counted from the closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("load: unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("load: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(ut+st) / clockTicks, nil
}

// ReadMem returns pid's current resident set (VmRSS) and its high-water
// mark (VmHWM), in bytes.
func ReadMem(pid int) (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm, nil
}

// resetPeak asks the kernel to restart pid's VmHWM from its current RSS.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// procSampler measures one window. It relies on VmHWM when the peak could
// be reset at the start; otherwise it polls VmRSS, which can miss short
// spikes.
type procSampler struct {
	pid      int
	cpu0     float64
	hwmReset bool
	mu       sync.Mutex
	peak     int64
	done     chan struct{}
	wg       sync.WaitGroup
}

func startProcSampler(pid int) *procSampler {
	s := &procSampler{pid: pid, done: make(chan struct{})}
	s.hwmReset = resetPeak(pid) == nil
	s.cpu0, _ = ReadCPU(pid)
	if rss, _, err := ReadMem(pid); err == nil {
		s.peak = rss
	}
	if !s.hwmReset {
		s.wg.Go(s.poll)
	}
	return s
}

func (s *procSampler) poll() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
			if rss, _, err := ReadMem(s.pid); err == nil {
				s.mu.Lock()
				s.peak = max(s.peak, rss)
				s.mu.Unlock()
			}
		}
	}
}

func (s *procSampler) stop() ProcStats {
	close(s.done)
	s.wg.Wait()
	var st ProcStats
	if cpu, err := ReadCPU(s.pid); err == nil {
		st.CPUSeconds = cpu - s.cpu0
	}
	rss, hwm, err := ReadMem(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	st.PeakRSS = max(s.peak, rss)
	if err == nil && s.hwmReset {
		st.PeakRSS = max(st.PeakRSS, hwm)
	}
	return st
}
