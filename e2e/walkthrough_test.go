package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// walkStep is one command of the README walkthrough and the fragments its
// output must hold (the "#   " lines under it).
type walkStep struct {
	cmd  string
	want []string
}

// readmeWalkthrough reads the first sh block of the README's Walkthrough
// section: commands (with their \ continuations), each followed by the
// "#   " lines of what it prints.
func readmeWalkthrough(t *testing.T, readme string) []walkStep {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## Walkthrough")
	if i < 0 {
		t.Fatal("README.md has no Walkthrough section")
	}
	doc = doc[i:]
	start := strings.Index(doc, "```sh\n")
	end := strings.Index(doc[start+6:], "```")
	if start < 0 || end < 0 {
		t.Fatal("the Walkthrough has no sh block")
	}
	var steps []walkStep
	var cont string
	for line := range strings.SplitSeq(doc[start+6:start+6+end], "\n") {
		switch {
		case cont != "":
			cont += " " + strings.TrimSpace(strings.TrimSuffix(line, "\\"))
			if !strings.HasSuffix(line, "\\") {
				steps = append(steps, walkStep{cmd: cont})
				cont = ""
			}
		case strings.HasPrefix(line, "#   "):
			if len(steps) == 0 {
				t.Fatalf("expected output %q before any command", line)
			}
			steps[len(steps)-1].want = append(steps[len(steps)-1].want, strings.TrimPrefix(line, "#   "))
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		case strings.HasSuffix(line, "\\"):
			cont = strings.TrimSuffix(line, "\\")
		default:
			steps = append(steps, walkStep{cmd: line})
		}
	}
	return steps
}

var spaces = regexp.MustCompile(`[ \t]+`)

// TestREADMEWalkthrough runs the README walkthrough as a newcomer would
// after a fresh `make run`: the embedded default config in a directory
// holding only deploy/examples, the example destination (tools/hello)
// beside it, on the default loopback ports; every command of the README,
// and the output the README promises under each. It shows an allowed call,
// its record through both `audit query` paths, and a non-empty cost report.
func TestREADMEWalkthrough(t *testing.T) {
	for _, p := range []string{"3128", "8080", "8443", "9901", "8480"} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("port %s (make run's default) is taken: %v", p, err)
			}
			t.Skipf("port %s (make run's default) is taken, probably by a `make run`: %v", p, err)
		}
		ln.Close()
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "deploy"), filepath.Join(dir, "deploy")).CombinedOutput(); err != nil {
		t.Fatalf("copying deploy/: %v %s", err, out)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binPath, filepath.Join(dir, "bin", "sluice")); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "hello"), "./tools/hello")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building tools/hello: %v %s", err, out)
	}

	// What `make run` starts: the example destination and `sluice serve`.
	env := cleanEnv()
	start := func(name string) (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(filepath.Join(dir, "bin", name))
		if name == "sluice" {
			cmd.Args = append(cmd.Args, "serve")
		}
		out := &syncBuffer{}
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s log:\n%s", name, out.String())
			}
		})
		return cmd, out
	}
	start("hello")
	start("sluice")
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	Eventually(t, 20*time.Second, "make run's gateway ready", func() bool {
		resp, err := c.Get("http://127.0.0.1:9901/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})

	steps := readmeWalkthrough(t, filepath.Join(root, "README.md"))
	if len(steps) < 10 {
		t.Fatalf("only %d walkthrough commands found", len(steps))
	}
	for _, s := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-c", s.cmd)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // some commands exit non-zero on purpose (a refusal); the output says what matters
		cancel()
		got := spaces.ReplaceAllString(out.String(), " ")
		if strings.Contains(got, "command not found") {
			t.Errorf("%s: %s", s.cmd, got)
		}
		for _, w := range s.want {
			if !strings.Contains(got, spaces.ReplaceAllString(w, " ")) {
				t.Errorf("README promises %q from\n  %s\ngot:\n%s", w, s.cmd, out.String())
			}
		}
		t.Logf("$ %s\n%s", s.cmd, out.String())
	}
}

// cleanEnv is the environment without proxy settings, which would send
// the walkthrough's curl to the admin API through some other proxy.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToLower(k) {
		case "http_proxy", "https_proxy", "all_proxy", "no_proxy", "sluice_config":
			continue
		}
		env = append(env, kv)
	}
	return append(env, fmt.Sprintf("TZ=%s", "UTC"))
}
