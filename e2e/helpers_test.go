package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// staticSE declares host on port (protocol) with a STATIC 127.0.0.1
// endpoint dialled on target.
func staticSE(name, host string, port int, protocol string, target int) string {
	return fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: test}
spec:
  hosts: [%s]
  resolution: STATIC
  ports:
  - {number: %d, name: p%d, protocol: %s, targetPort: %d}
  endpoints:
  - address: 127.0.0.1
---
`, name, host, port, port, protocol, target)
}

// record is one audit record as the admin API returns it.
type record map[string]any

func (r record) str(k string) string {
	v, _ := r[k].(string)
	return v
}

func (r record) num(k string) float64 {
	v, _ := r[k].(float64)
	return v
}

// records queries GET /v1/audit with params (JSON lines or a JSON array).
func records(t testing.TB, g *Gateway, params url.Values) []record {
	t.Helper()
	if params.Get("limit") == "" {
		params.Set("limit", "1000")
	}
	code, body := g.AdminGet("/v1/audit?" + params.Encode())
	if code != 200 {
		t.Fatalf("GET /v1/audit = %d: %s", code, body)
	}
	var out []record
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '{' {
		var wrapped struct {
			Records []record `json:"records"`
		}
		if err := json.Unmarshal(body, &wrapped); err == nil && wrapped.Records != nil {
			return wrapped.Records
		}
	}
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("decode audit: %v\n%s", err, body)
		}
		return out
	}
	return jsonLines(t, body)
}

// jsonLines decodes the records of JSON-lines output (blank lines
// skipped).
func jsonLines(t testing.TB, body []byte) []record {
	t.Helper()
	var out []record
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("decode audit line: %v\n%s", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// queryRecords runs `sluice audit query --format json --limit 0 args…`
// and returns its records and whole output; the lines that are not JSON
// objects are the command's stderr (warnings, logs).
func queryRecords(t testing.TB, g *Gateway, args ...string) ([]record, string) {
	t.Helper()
	out, code := g.Run(append([]string{"audit", "query", "--format", "json", "--limit", "0"}, args...)...)
	if code != 0 {
		t.Fatalf("sluice audit query %v: exit %d\n%s", args, code, out)
	}
	var records []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") {
			records = append(records, line)
		}
	}
	return jsonLines(t, []byte(strings.Join(records, "\n"))), out
}

// waitRecord polls until a record matching cond exists (outcomes are
// written asynchronously) and returns it.
func waitRecord(t testing.TB, g *Gateway, params url.Values, what string, cond func(record) bool) record {
	t.Helper()
	var found record
	Eventually(t, 10*time.Second, "audit record: "+what, func() bool {
		for _, r := range records(t, g, params) {
			if cond(r) {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

// curl runs curl with args and returns the HTTP status (from -w), the
// body, stderr and the exit code.
func curl(t testing.TB, args ...string) (status int, body, stderr string, code int) {
	t.Helper()
	args = append([]string{"-sS", "--max-time", "20", "-w", "\n%{http_code}"}, args...)
	out, serr, rc := RunCmd(t, "curl", args...)
	i := strings.LastIndex(out, "\n")
	fmt.Sscanf(out[i+1:], "%d", &status)
	return status, out[:max(i, 0)], serr, rc
}
