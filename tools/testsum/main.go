// Command testsum reads `go test -json` on stdin and prints what a person
// needs from a test run: one line per package, the whole output of every
// test that failed (and of packages that did not build), and last a
// summary of how many tests passed, failed and were skipped. It exits 1
// when anything failed, so `go test -json ./... | testsum` can stand in
// for `go test ./...` in make and CI.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
	// ImportPath names the package of build-output events.
	ImportPath string
}

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	var (
		outputs                 = map[string]*strings.Builder{} // package/test → output
		passed, failed, skipped int
		failedTests             []string
		badPackages             []string
		testFailed              = map[string]bool{} // packages with a failed test
		skippedTests            []string
	)
	key := func(e event) string { return e.Package + "\x00" + e.Test }
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if err := json.Unmarshal(line, &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, string(line)) // build errors and other plain text
			continue
		}
		switch e.Action {
		case "build-output":
			fmt.Fprint(out, e.Output)
		case "output":
			b := outputs[key(e)]
			if b == nil {
				b = &strings.Builder{}
				outputs[key(e)] = b
			}
			if b.Len() < 4<<20 {
				b.WriteString(e.Output)
			}
		case "pass":
			if e.Test != "" {
				passed++
			} else {
				fmt.Fprintf(out, "ok   %s\t%.1fs\n", e.Package, e.Elapsed)
			}
			delete(outputs, key(e))
		case "skip":
			if e.Test != "" {
				skipped++
				if !strings.Contains(e.Test, "/") { // subtests' skips are their parent's business
					skippedTests = append(skippedTests, e.Package+" "+e.Test+": "+lastLine(outputs[key(e)]))
				}
			} else {
				fmt.Fprintf(out, "---  %s\t(no tests)\n", e.Package)
			}
			delete(outputs, key(e))
		case "fail":
			if e.Test != "" {
				failed++
				testFailed[e.Package] = true
				failedTests = append(failedTests, e.Package+" "+e.Test)
				fmt.Fprintf(out, "--- FAIL: %s %s (%.1fs)\n", e.Package, e.Test, e.Elapsed)
				if b := outputs[key(e)]; b != nil {
					fmt.Fprint(out, indent(b.String()))
				}
			} else {
				fmt.Fprintf(out, "FAIL %s\t%.1fs\n", e.Package, e.Elapsed)
				if !testFailed[e.Package] {
					// No test failed: it did not build, or failed outside
					// any test (TestMain, a panic, a timeout).
					badPackages = append(badPackages, e.Package)
					if b := outputs[key(e)]; b != nil {
						fmt.Fprint(out, indent(b.String()))
					}
				}
			}
			delete(outputs, key(e))
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(out, "testsum:", err)
		return 1
	}
	sort.Strings(failedTests)
	sort.Strings(skippedTests)
	fmt.Fprintln(out)
	for _, t := range skippedTests {
		fmt.Fprintln(out, "skipped:", t)
	}
	for _, t := range failedTests {
		fmt.Fprintln(out, "FAILED:", t)
	}
	for _, p := range badPackages {
		fmt.Fprintln(out, "FAILED (package):", p)
	}
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	if failed > 0 || len(badPackages) > 0 {
		return 1
	}
	return 0
}

// lastLine is the last non-empty line of b (a skip's reason).
func lastLine(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "--- SKIP") {
			return l
		}
	}
	return ""
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	return b.String()
}
