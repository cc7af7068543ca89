package egress

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
)

// exchange writes raw on one connection to the proxy listener and reads
// n responses, returning "STATUS body" for each.
func rawExchange(t *testing.T, conn net.Conn, br *bufio.Reader, raw string, n int) []string {
	t.Helper()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var out []string
	for i := 0; i < n; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v (so far %q)", i, err, out)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, resp.Status[:3]+" "+strings.TrimSpace(string(b)))
	}
	return out
}

func TestLeanLoopAndHandoff(t *testing.T) {
	p := startPipeline(t, func(c *config.Config) { c.Limits.MaxHeaderBytes = 2048 }, nil, nil)
	get := func(path string) string {
		return "GET http://plain.test" + path + " HTTP/1.1\r\nHost: plain.test\r\n\r\n"
	}
	tests := []struct {
		name string
		raw  []string // written in turn on one connection
		want [][]string
	}{
		{"keep-alive GETs are served by the loop", []string{get("/a"), get("/b")},
			[][]string{{"200 GET /a host=plain.test body= tls=false"}, {"200 GET /b host=plain.test body= tls=false"}}},
		{"pipelined GETs answer in order", []string{get("/a") + get("/b")},
			[][]string{{"200 GET /a host=plain.test body= tls=false", "200 GET /b host=plain.test body= tls=false"}}},
		{"a body hands the connection to net/http, which serves what follows", []string{
			get("/a"),
			"POST http://plain.test/p HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 3\r\n\r\nabc",
			get("/c"),
		}, [][]string{
			{"200 GET /a host=plain.test body= tls=false"},
			{"200 POST /p host=plain.test body=abc tls=false"},
			{"200 GET /c host=plain.test body= tls=false"},
		}},
		{"HTTP/1.0 goes to net/http", []string{"GET http://plain.test/z HTTP/1.0\r\nHost: plain.test\r\n\r\n"},
			[][]string{{"200 GET /z host=plain.test body= tls=false"}}},
		{"an undeclared host is denied by the loop", []string{"GET http://nowhere.test/ HTTP/1.1\r\nHost: nowhere.test\r\n\r\n"},
			[][]string{{`403 {"error":"egress_denied","reason":"undeclared_destination"`}}},
		{"a head over the limit gets net/http's 431", []string{"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nX-Big: " + strings.Repeat("a", 8000) + "\r\n\r\n"},
			[][]string{{"431"}}},
		{"two Host headers get net/http's 400", []string{"GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nHost: other.test\r\n\r\n"},
			[][]string{{"400"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", p.g.Addr(vocab.ListenerProxy))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i, raw := range tt.raw {
				got := rawExchange(t, conn, br, raw, len(tt.want[i]))
				for j, w := range tt.want[i] {
					if !strings.HasPrefix(got[j], w) {
						t.Errorf("write %d, response %d: %q, want prefix %q", i, j, got[j], w)
					}
				}
			}
		})
	}
}

func TestLeanLoopRecordsItsCalls(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	conn, err := net.Dial("tcp", p.g.Addr(vocab.ListenerProxy))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rawExchange(t, conn, bufio.NewReader(conn), "GET http://plain.test/rec HTTP/1.1\r\nHost: plain.test\r\n\r\n", 1)
	r := p.rec.wait(t, "the loop's call", func(r *audit.Record) bool { return r.Path == "/rec" && !r.TimeEnd.IsZero() })
	if r.Status != 200 || r.BytesReceived == 0 || r.Decision != vocab.DecisionAllow {
		t.Errorf("record: status %d, received %d, decision %s", r.Status, r.BytesReceived, r.Decision)
	}
}

func TestLeanLoopShutdownClosesIdleConnections(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	conn, err := net.Dial("tcp", p.g.Addr(vocab.ListenerProxy))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	rawExchange(t, conn, br, "GET http://plain.test/a HTTP/1.1\r\nHost: plain.test\r\n\r\n", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("shutdown took %s with one idle connection", el)
	}
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("idle connection after shutdown: %v, want EOF", err)
	}
}

// TestLeanServesTheCommonRequest guards the loop's eligibility: what Go's
// client and wrk send must be the loop's, or the fast path silently goes
// unused.
func TestLeanServesTheCommonRequest(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want bool
	}{
		{"GET http://127.0.0.1:28080/1k.bin HTTP/1.1\r\nHost: 127.0.0.1:28080\r\n\r\n", true},
		{"GET http://plain.test/1k HTTP/1.1\r\nHost: plain.test\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: plain.test\r\n\r\n", true},
		{"GET / HTTP/1.1\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nHost: plain.test\r\n\r\n", false},
		{"POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 1\r\n\r\nx", false},
		{"POST / HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 0\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: plain.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: plain.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: plain.test\r\nExpect: 100-continue\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", false},
	} {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.raw)))
		if err != nil {
			t.Fatalf("%q: %v", tt.raw, err)
		}
		if got := leanRequest(r); got != tt.want {
			t.Errorf("%q: lean %v, want %v", tt.raw, got, tt.want)
		}
	}
}

// A streamed response reaches the caller as it comes: the loop flushes
// each piece of a body of unknown length (server-sent events).
func TestLeanLoopStreams(t *testing.T) {
	p := startPipeline(t, nil, nil, nil)
	conn, err := net.Dial("tcp", p.g.Addr(vocab.ListenerProxy))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET http://plain.test/stream HTTP/1.1\r\nHost: plain.test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond)) // the second event comes after 1 s
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q, %v (held back until the body ended?)", line, err)
	}
}
