package egress

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/lb"
	"github.com/sluicehq/sluice/registry"
)

type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestRetryReplaysABufferedBody: a body within retryBufferBytes is sent
// whole on every attempt; a longer one is streamed once, not retried.
func TestRetryReplaysABufferedBody(t *testing.T) {
	for _, tc := range []struct {
		name     string
		size     int
		attempts int
	}{
		{"small body retried", 1000, 2},
		{"body at the bound retried", retryBufferBytes, 2},
		{"body over the bound sent once", retryBufferBytes + 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := strings.Repeat("x", tc.size)
			var got []string
			tr := rtFunc(func(r *http.Request) (*http.Response, error) {
				b, _ := io.ReadAll(r.Body)
				got = append(got, string(b))
				st := http.StatusServiceUnavailable
				if len(got) > 1 {
					st = http.StatusOK
				}
				return &http.Response{StatusCode: st, Body: http.NoBody, Header: http.Header{}}, nil
			})
			f := &forward{c: &call{}, body: &countingBody{ReadCloser: io.NopCloser(strings.NewReader(want))}}
			f.lb.rule = &registry.HTTPRule{Retry: registry.Retry{Attempts: 3, On5xx: true}}
			req, _ := http.NewRequest("POST", "http://x.test/", f.body)
			resp, err := (&Gateway{}).roundTrip(tr, req, f.c, f)
			if err != nil {
				t.Fatal(err)
			}
			if f.lb.attempts != tc.attempts || len(got) != tc.attempts {
				t.Fatalf("attempts %d, upstream saw %d, want %d", f.lb.attempts, len(got), tc.attempts)
			}
			for i, b := range got {
				if b != want {
					t.Fatalf("attempt %d sent %d bytes, want %d", i+1, len(b), len(want))
				}
			}
			if wantSt := map[int]int{1: 503, 2: 200}[tc.attempts]; resp.StatusCode != wantSt {
				t.Fatalf("status %d, want %d", resp.StatusCode, wantSt)
			}
			if f.body.count() != int64(tc.size) {
				t.Fatalf("counted %d body bytes, want %d (read once from the caller)", f.body.count(), tc.size)
			}
		})
	}
}

// TestMaxRetriesCapsRetries: with connectionPool.http.maxRetries
// retries already in flight on the cluster, a failed attempt is not
// retried and its failure stands; once they end, retries resume.
func TestMaxRetriesCapsRetries(t *testing.T) {
	g := &Gateway{lbs: lb.NewTable(nil)}
	cfg := &lb.Config{Pool: lb.PoolConfig{MaxRetries: 1}}
	run := func() (int, int) {
		calls := 0
		tr := rtFunc(func(r *http.Request) (*http.Response, error) {
			calls++
			st := http.StatusServiceUnavailable
			if calls > 1 {
				st = http.StatusOK
			}
			return &http.Response{StatusCode: st, Body: http.NoBody, Header: http.Header{}}, nil
		})
		plan := &dialPlan{addrs: []dialAddr{{network: "tcp", addr: "127.0.0.1:1"}}}
		c := &call{plan: plan}
		f := &forward{c: c}
		f.lb.rule = &registry.HTTPRule{Retry: registry.Retry{Attempts: 2, On5xx: true}}
		f.lb.cfg, f.lb.name, f.lb.full = cfg, "t/x:80", plan
		req, _ := http.NewRequest("GET", "http://x.test/", nil)
		resp, err := g.roundTrip(tr, req, c, f)
		if err != nil {
			t.Fatal(err)
		}
		f.lb.end(resp.StatusCode, nil)
		return resp.StatusCode, f.lb.attempts
	}
	cl := g.lbs.Cluster("t/x:80", cfg)
	if !cl.TryRetry() { // another request's retry is in flight
		t.Fatal("TryRetry")
	}
	if st, n := run(); st != 503 || n != 1 {
		t.Fatalf("with maxRetries in flight: %d after %d attempts, want 503 after 1", st, n)
	}
	cl.RetryDone()
	if st, n := run(); st != 200 || n != 2 {
		t.Fatalf("with no retry in flight: %d after %d attempts, want 200 after 2", st, n)
	}
	if s := cl.Status(); s.Retries != 0 || s.RetryOver != 1 {
		t.Fatalf("cluster %+v", s)
	}
}
