package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Env names a prebuilt cargate binary for tests to use.
const Env = "CARGATE_TEST_BIN"

var (
	once  sync.Once
	path  string
	built string // the temporary directory this process built into, if any
	err   error
)

// Path returns the cargate binary: $CARGATE_TEST_BIN when set, otherwise
// one built from this module on first use.
func Path() (string, error) {
	once.Do(func() {
		if p := os.Getenv(Env); p != "" {
			if _, err = os.Stat(p); err != nil {
				err = fmt.Errorf("%s names %s: %w", Env, p, err)
			}
			path = p
			return
		}
		path, err = build()
	})
	return path, err
}

// Cleanup removes a binary this process built; call it from TestMain
// after the tests ran.
func Cleanup() {
	if built != "" {
		os.RemoveAll(built)
	}
}

func build() (string, error) {
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module: %w", err)
	}
	dir, err := os.MkdirTemp("", "cargate-testbin-")
	if err != nil {
		return "", err
	}
	built = dir
	bin := filepath.Join(dir, "cargate")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cargate")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(mod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building cargate: %w\n%s", err, out)
	}
	return bin, nil
}
