package spool

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// crashChildEnv, when set to a spool directory, turns TestCrashWriterChild
// into the writer process that TestCrashSIGKILLWhileAppending kills.
const crashChildEnv = "CARGATE_SPOOL_CRASH_CHILD_DIR"

// crashRecord is record n of the crash test: its number, then filler of
// a length and byte that depend on n, so a record cut short or mixed with
// another cannot pass for a whole one.
func crashRecord(n int) []byte {
	head := strconv.Itoa(n) + ":"
	return append([]byte(head), bytes.Repeat([]byte{byte('a' + n%26)}, 40+n%3000)...)
}

// TestCrashWriterChild appends records from 4 goroutines until killed,
// printing the number of each record once Append returned for it.
func TestCrashWriterChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashSIGKILLWhileAppending")
	}
	w, err := OpenWriter(Config{Dir: dir, SegmentBytes: MinSegmentBytes, MaxBytes: 1 << 30, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "READY")
	out.Flush()
	for g := range 4 {
		go func() {
			for n := g; ; n += 4 {
				if err := w.Append(crashRecord(n)); err != nil {
					panic(err)
				}
				mu.Lock()
				fmt.Fprintln(out, n)
				if n%64 < 4 {
					out.Flush()
				}
				mu.Unlock()
			}
		}()
	}
	select {} // until SIGKILL
}

// TestCrashSIGKILLWhileAppending kills a writer mid-append: every record
// whose Append returned is read back whole, once; nothing else is read
// but whole records; and the next writer cuts the files back to their
// records.
func TestCrashSIGKILLWhileAppending(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashWriterChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	acked := map[int]bool{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// The child is killed once minAcked appends were acknowledged (a
	// count, not a duration: a loaded machine only takes longer), or
	// after two minutes, which fails the test below.
	kill := time.After(2 * time.Minute)
	killed := false
	killNow := func() {
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		killed = true
		kill = time.After(30 * time.Second)
	}
drain:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				break drain
			}
			if n, err := strconv.Atoi(line); err == nil {
				acked[n] = true
				if !killed && len(acked) >= minAcked {
					killNow()
				}
			}
		case <-kill:
			if killed {
				t.Fatal("child output did not end after SIGKILL")
			}
			killNow()
		}
	}
	_ = cmd.Wait()
	w := openTestWriter(t, dir, nil) // cuts the killed writer's segments
	w.Close()
	segs, _ := listSegments(dir)
	for _, seq := range segs {
		fi, err := os.Stat(filepath.Join(dir, segName(seq)))
		if err != nil {
			t.Fatal(err)
		}
		if end, err := readableEnd(dir, seq); err != nil || fi.Size() != end {
			t.Errorf("segment %d is %d bytes, its records end at %d (%v)", seq, fi.Size(), end, err)
		}
	}
	read := map[int]bool{}
	for _, rec := range readAll(t, dir) {
		head, _, _ := bytes.Cut(rec.payload, []byte(":"))
		n, err := strconv.Atoi(string(head))
		if err != nil || !bytes.Equal(rec.payload, crashRecord(n)) {
			t.Fatalf("record read after the crash is not one that was appended: %.40q", rec.payload)
		}
		if read[n] {
			t.Errorf("record %d read twice", n)
		}
		read[n] = true
	}
	for n := range acked {
		if !read[n] {
			t.Errorf("record %d was acknowledged by Append but lost", n)
		}
	}
	t.Logf("acknowledged %d, read back %d", len(acked), len(read))
	if len(acked) < minAcked {
		t.Fatalf("only %d appends acknowledged in two minutes; the load did not run", len(acked))
	}
}

// minAcked is how many appends must have been acknowledged before the kill.
const minAcked = 2000
