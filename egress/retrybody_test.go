package egress

import (
	"io"
	"net/http"
	"strings"
	"testing"

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
