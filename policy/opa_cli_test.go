package policy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// opaVersion is the OPA release in go.mod; users run its CLI on our files.
const opaVersion = "v1.22.2"

// opaBinary finds the official opa CLI: $SLUICE_OPA, an opa of this
// version on PATH, a binary cached by a previous run, or one built now from the local module cache, used as a
// file:// module proxy so that the test never reaches the network (the
// cache was checksum-verified when it was filled, hence GOSUMDB=off). It
// skips when none can be had, unless CI=true.
func opaBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SLUICE_OPA"); p != "" {
		return p
	}
	if p, err := exec.LookPath("opa"); err == nil {
		if out, err := exec.Command(p, "version").Output(); err == nil &&
			strings.Contains(string(out), "Version: "+strings.TrimPrefix(opaVersion, "v")+"\n") {
			return p
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "sluice", "opa-"+opaVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	gobin := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/open-policy-agent/opa@"+opaVersion)
	cmd.Dir = gobin // outside this module: go install uses opa's own go.mod
	// Outside CI a missing CLI is a skip; in CI every way of not having it
	// is a failure, so the test can never pass by not running.
	unavailable := func(msg string) {
		t.Helper()
		msg = "cannot build the opa CLI " + opaVersion + " from the module cache (run `go install github.com/open-policy-agent/opa@" +
			opaVersion + "` once, or set SLUICE_OPA): " + msg
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	modcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		unavailable("go env GOMODCACHE: " + err.Error())
	}
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOWORK=off", "GOSUMDB=off",
		"GOPROXY=file://"+filepath.Join(strings.TrimSpace(string(modcache)), "cache", "download"))
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(err.Error() + "\n" + string(out))
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err == nil {
		if err := os.Rename(filepath.Join(gobin, "opa"), bin); err == nil {
			return bin
		}
	}
	return filepath.Join(gobin, "opa")
}

// The example policy is plain OPA: the official CLI tests, checks and
// formats it unchanged, and agrees with `sluice policy test`.
func TestOfficialOPACLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the opa CLI")
	}
	opa := opaBinary(t)
	run := func(args ...string) (string, int) {
		cmd := exec.Command(opa, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}

	out, code := run("test", "-v", examplePolicy)
	ours, err := RunTests(context.Background(), TestOptions{Paths: []string{examplePolicy}, Output: &bytes.Buffer{}})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("PASS: %d/%d", ours.Passed, ours.Passed)
	if code != 0 || !strings.Contains(out, want) {
		t.Errorf("opa test exit %d, want 0 and %q:\n%s", code, want, out)
	}

	out, code = run("check", "--strict", examplePolicy)
	if code != 0 {
		t.Errorf("opa check --strict exit %d:\n%s", code, out)
	}
	out, code = run("fmt", "--list", examplePolicy)
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("opa fmt --list exit %d, files not formatted:\n%s", code, out)
	}

	dir := copyExample(t, map[string]string{"wrong_test.rego": failingTest})
	out, code = run("test", dir)
	if code == 0 || !strings.Contains(out, "data.sluice.egress_test.test_deliberately_wrong: FAIL") {
		t.Errorf("opa test of a failing test exit %d:\n%s", code, out)
	}
}
