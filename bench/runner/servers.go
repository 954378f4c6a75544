package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cargate/cargate/bench/datagen"
)

// server is a gateway process the runner started and must stop.
type server struct {
	name    string
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	metrics string // cargate's /metrics URL; empty for the reference
	logf    *os.File
	exited  chan struct{}
	// client, when set, carries every load run against the server, its
	// connections kept from one run to the next (nil: a new one per run).
	client *http.Client

	// what restart needs to start the same server again
	bin, addr, logPath string
	args, env          []string
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr() (string, error) {
	addrs, err := freeAddrs(1)
	if err != nil {
		return "", err
	}
	return addrs[0], nil
}

// freeAddrs returns n loopback addresses with distinct ports that were
// free a moment ago (all held open together, so the kernel cannot hand
// out one port twice).
func freeAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs, nil
}

// startServer runs bin with args (and env, if not nil, as its whole
// environment), logging to logPath, and waits until GET base/healthz
// answers 200.
func startServer(ctx context.Context, name, bin string, args, env []string, addr, logPath string) (*server, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, base: "http://" + addr, logf: logf, exited: make(chan struct{}),
		bin: bin, addr: addr, logPath: logPath, args: args, env: env}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(ctx, 3*time.Minute); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s did not become ready: %w (log %s:%s)", name, err, logPath, tail(logPath, 5))
	}
	return s, nil
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// restart stops the server and starts a fresh process with the same
// command line on the same address, so nothing it cached in memory
// survives (the page cache does).
func (s *server) restart(ctx context.Context) error {
	return s.restartWith(ctx, s.args)
}

// restartWith is restart with another command line (kept for later restarts).
func (s *server) restartWith(ctx context.Context, args []string) error {
	s.stop()
	ns, err := startServer(ctx, s.name, s.bin, args, s.env, s.addr, s.logPath)
	if err != nil {
		return err
	}
	ns.metrics = s.metrics
	*s = *ns
	return nil
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("timed out")
}

// stop sends SIGTERM, waits up to ten seconds, then kills.
func (s *server) stop() {
	if s == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.logf.Close()
}

// tail returns the last n lines of a log, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

// startReference starts the reference gateway holding every served CAR.
func startReference(ctx context.Context, name, bin, workDir string, set *datagen.Set) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"-listen", addr}, set.ServedCARs()...)
	return startServer(ctx, name, bin, args, nil, addr, filepath.Join(workDir, name+".log"))
}

// startCargate starts `cargate serve` over an already imported data dir,
// with extra flags and env (nil: the runner's) when given.
func startCargate(ctx context.Context, name, bin, dataDir, workDir string, extra, env []string) (*server, error) {
	addrs, err := freeAddrs(2)
	if err != nil {
		return nil, err
	}
	addr, maddr := addrs[0], addrs[1]
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", addr, "--metrics-listen", maddr}, extra...)
	s, err := startServer(ctx, name, bin, args, env, addr, filepath.Join(workDir, name+".log"))
	if err == nil {
		s.metrics = "http://" + maddr + "/metrics"
	}
	return s, err
}

// importResult is one timed import run.
type importResult struct {
	roots   []string
	elapsed time.Duration
	cpu     float64 // user + system seconds
	peakRSS int64   // bytes
}

// timedRun runs a command to completion and reports its stdout lines, wall
// time, CPU time and peak RSS (from the kernel's rusage of the child).
func timedRun(ctx context.Context, bin string, args ...string) (*importResult, error) {
	return timedRunEnv(ctx, nil, bin, args...)
}

// timedRunEnv is timedRun with env (nil: the runner's) as the child's
// environment.
func timedRunEnv(ctx context.Context, env []string, bin string, args ...string) (*importResult, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(bin), strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	res := &importResult{roots: lines, elapsed: time.Since(start)}
	res.cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	res.peakRSS = peakRSS(cmd.ProcessState)
	return res, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// importServed imports every served CAR into a fresh data dir and checks
// that cargate reports the roots the generator wrote.
func importServed(ctx context.Context, bin, dataDir string, set *datagen.Set) error {
	args := append([]string{"import", "--data-dir", dataDir, "--quiet"}, set.ServedCARs()...)
	res, err := timedRun(ctx, bin, args...)
	if err != nil {
		return err
	}
	want := set.ServedRoots()
	if strings.Join(res.roots, " ") != strings.Join(want, " ") {
		return fmt.Errorf("cargate import printed roots %v, want %v", res.roots, want)
	}
	return nil
}

// warmFile reads a file once so that the first timed reader does not pay
// for the disk while the second gets it from the page cache.
func warmFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}
