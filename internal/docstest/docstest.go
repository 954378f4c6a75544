package docstest

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Table returns the rows of the first Markdown table, after the first
// occurrence of the text after, in the file at path whose header row
// starts with the given column names. Rows are keyed by their first cell
// with backticks removed; each value is the row's other cells.
func Table(path, after string, header ...string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	i := strings.Index(string(b), after)
	if i < 0 {
		return nil, fmt.Errorf("%s: no %q", path, after)
	}
	b = b[i:]
	want := "| " + strings.Join(header, " | ") + " |"
	rows := map[string][]string{}
	in := false
	for line := range strings.SplitSeq(string(b), "\n") {
		switch {
		case !in && strings.HasPrefix(line, want):
			in = true
		case in && strings.HasPrefix(line, "|---"):
		case in && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "| "), " | ")
			rows[strings.Trim(cells[0], "`")] = cells[1:]
		case in:
			return rows, nil
		}
	}
	if !in {
		return nil, fmt.Errorf("%s: no table headed %q", path, want)
	}
	return rows, nil
}

// Bytes renders n as the docs write sizes: "64 KiB", "8 MiB", "3 bytes".
func Bytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// Duration renders d as the docs write times: "100 ms", "5 s", "2 min".
func Duration(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%d min", d/time.Minute)
	case d >= time.Second && d%time.Second == 0:
		return fmt.Sprintf("%d s", d/time.Second)
	}
	return fmt.Sprintf("%d ms", d/time.Millisecond)
}
