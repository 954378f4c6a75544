//go:build ignore

// report.go counts the cases of a gateway-conformance JSON report (the
// go test2json events its --json flag writes) and compares them with the
// committed list of cases that passed before.
//
//	go run scripts/conformance/report.go -report R.json -baseline passing.txt [-write]
//
// It prints "N passed, M failed, K skipped", lists every failing case, and
// exits 1 when a case of the baseline no longer passes. With -write it
// replaces the baseline with the cases passing now.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action string
	Test   string
}

func main() {
	report := flag.String("report", "", "test2json report of the suite")
	baseline := flag.String("baseline", "", "file of the cases that passed before, one per line")
	write := flag.Bool("write", false, "write the cases passing now to -baseline")
	flag.Parse()
	result, err := read(*report)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance report:", err)
		os.Exit(2)
	}
	var names []string
	for n := range result {
		names = append(names, n)
	}
	sort.Strings(names)
	leaf := func(n string) bool {
		i := sort.SearchStrings(names, n+"/")
		return i == len(names) || !strings.HasPrefix(names[i], n+"/")
	}
	count := map[string]int{}
	var passing, failing []string
	for _, n := range names {
		if !leaf(n) {
			continue
		}
		count[result[n]]++
		switch result[n] {
		case "pass":
			passing = append(passing, n)
		case "fail":
			failing = append(failing, n)
		}
	}
	for _, n := range failing {
		fmt.Println("FAIL", n)
	}
	fmt.Printf("conformance: %d passed, %d failed, %d skipped\n", count["pass"], count["fail"], count["skip"])
	if *baseline == "" {
		return
	}
	if *write {
		head := "# Cases of the gateway conformance suite that pass against cargate; written by\n" +
			"# scripts/conformance.sh --write. A later run fails when one of them fails.\n"
		if err := os.WriteFile(*baseline, []byte(head+strings.Join(passing, "\n")+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		return
	}
	before, err := os.ReadFile(*baseline)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance baseline:", err)
		os.Exit(2)
	}
	regressed := 0
	for _, n := range strings.Split(string(before), "\n") {
		if n = strings.TrimSpace(n); n != "" && !strings.HasPrefix(n, "#") && result[n] != "pass" {
			fmt.Println("REGRESSION (passed before):", n, result[n])
			regressed++
		}
	}
	if regressed > 0 {
		fmt.Printf("%d previously passing cases fail now\n", regressed)
		os.Exit(1)
	}
}

// read returns the final action (pass, fail, skip) of every test.
func read(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		switch e.Action {
		case "pass", "fail", "skip":
			out[e.Test] = e.Action
		}
	}
	return out, sc.Err()
}
