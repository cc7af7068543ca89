package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// copyExample copies the example policy into a temporary directory and
// adds extra files.
func copyExample(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(examplePolicy)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(examplePolicy, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFiles(t, dir, map[string]string{e.Name(): string(b)})
	}
	writeFiles(t, dir, extra)
	return dir
}

const failingTest = `package sluice.egress_test

import data.sluice.egress

test_deliberately_wrong if {
	egress.allow with input as call(reporting, payments_api, get("/v1/charges"))
}
`

func TestRunTests(t *testing.T) {
	ctx := context.Background()
	t.Run("example passes", func(t *testing.T) {
		var out bytes.Buffer
		sum, err := RunTests(ctx, TestOptions{Paths: []string{examplePolicy}, Output: &out})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Passed < 10 || sum.Failed+sum.Errored != 0 || !strings.Contains(out.String(), "PASS: ") {
			t.Errorf("summary %+v, output:\n%s", sum, out.String())
		}
		if strings.Contains(out.String(), "test_payments_namespace_may_call_payment_api") {
			t.Errorf("a passing test is listed without -v:\n%s", out.String())
		}
	})
	t.Run("verbose lists every test", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := RunTests(ctx, TestOptions{Paths: []string{examplePolicy}, Output: &out, Verbose: true}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "data.sluice.egress_test.test_payments_namespace_may_call_payment_api: PASS") {
			t.Errorf("output:\n%s", out.String())
		}
	})
	t.Run("a failing test is named", func(t *testing.T) {
		var out bytes.Buffer
		dir := copyExample(t, map[string]string{"wrong_test.rego": failingTest})
		sum, err := RunTests(ctx, TestOptions{Paths: []string{dir}, Output: &out})
		if err != nil {
			t.Fatal(err)
		}
		name := "data.sluice.egress_test.test_deliberately_wrong"
		if sum.Failed != 1 || len(sum.Failures) != 1 || sum.Failures[0] != name {
			t.Errorf("summary = %+v", sum)
		}
		if !strings.Contains(out.String(), name+": FAIL") || !strings.Contains(out.String(), "FAIL: 1/") {
			t.Errorf("output:\n%s", out.String())
		}
	})
	t.Run("run filter", func(t *testing.T) {
		var out bytes.Buffer
		sum, err := RunTests(ctx, TestOptions{Paths: []string{examplePolicy}, Output: &out, Run: "crm"})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Passed == 0 || sum.Passed > 5 {
			t.Errorf("summary = %+v", sum)
		}
	})
	t.Run("a broken policy is an error with its location", func(t *testing.T) {
		dir := copyExample(t, map[string]string{"broken.rego": "package sluice.egress\n\nx if {\n"})
		_, err := RunTests(ctx, TestOptions{Paths: []string{dir}, Output: &bytes.Buffer{}})
		if err == nil || !strings.Contains(err.Error(), "broken.rego:4:") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("json", func(t *testing.T) {
		var out bytes.Buffer
		if _, err := RunTests(ctx, TestOptions{Paths: []string{examplePolicy}, Output: &out, JSON: true}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(strings.TrimSpace(out.String()), "[") {
			t.Errorf("output:\n%s", out.String())
		}
	})
}
