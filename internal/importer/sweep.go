package importer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Temporary files are named for the process that writes them,
// "staging-<pid>-*" and "shard-<pid>-*.car", so that a later import can
// tell files left by an import that was killed (SIGKILL, a crash, a power
// cut) from those of one still running beside it.
func tempPattern(kind, ext string) string {
	return kind + "-" + strconv.Itoa(os.Getpid()) + "-*" + ext
}

// SweepTemp removes the temporary files that imports which are no longer
// running left in dir, and returns how many bytes it freed. Files of a
// live process (this one included) are left alone.
func SweepTemp(dir string) (files int, freed int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, 0, nil
		}
		return 0, 0, err
	}
	for _, e := range entries {
		pid, ok := tempOwner(e.Name())
		if !ok || e.IsDir() || (pid > 0 && processAlive(pid)) {
			continue
		}
		info, ierr := e.Info()
		if rerr := os.Remove(filepath.Join(dir, e.Name())); rerr == nil {
			files++
			if ierr == nil {
				freed += info.Size()
			}
		}
	}
	return files, freed, nil
}

// tempOwner parses an import's temporary file name: ok when it is one,
// with the pid of its writer, or 0 when the name predates pids (such
// files are always stale).
func tempOwner(name string) (pid int, ok bool) {
	rest, found := strings.CutPrefix(name, "staging-")
	if !found {
		if rest, found = strings.CutPrefix(name, "shard-"); !found || !strings.HasSuffix(name, ".car") {
			return 0, false
		}
		rest = strings.TrimSuffix(rest, ".car")
	}
	first, _, hasPid := strings.Cut(rest, "-")
	if !hasPid {
		return 0, true
	}
	pid, err := strconv.Atoi(first)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}
