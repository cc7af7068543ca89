package postgres

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/httpapi"
	"github.com/sluicehq/sluice/audit/storetest"
)

// The console's searches on PostgreSQL, measured as audit/sqlite's
// BenchmarkConsole10M* are: GET /v1/audit through the handler, a page of
// 50 over the last 24 h. The store holds the 24 h those searches walk at
// the 10-million-record store's density (333,333 records a day, the same
// values) and the day before: what a time-index walk over "24 h" costs
// does not depend on the months before it. PostgreSQL keeps no search
// summary (audit/sqlite/search.go): its figures say whether it needs one.
const pgBenchDays = 2

var pgBench struct {
	once sync.Once
	url  string
	now  time.Time
	err  error
}

func pgBenchStore(b *testing.B) (string, time.Time) {
	if testing.Short() {
		b.Skip("loading 666,667 records takes a minute; skipped with -short")
	}
	pgBench.once.Do(func() {
		ctx := context.Background()
		url := pgTestURL(b)
		s, err := openPostgres(ctx, url, audit.StoreOptions{Logger: quiet})
		if err != nil {
			pgBench.err = err
			return
		}
		s.Close()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			pgBench.err = err
			return
		}
		defer conn.Close(ctx)
		now := time.Now().UTC().Truncate(time.Millisecond)
		n := pgBenchDays * 333_333
		step := float64(pgBenchDays*24*3600) / float64(n)
		start := time.Now()
		_, err = conn.Exec(ctx, `INSERT INTO decisions (id, seq, gateway, time_start, time_end, duration_ms, event,
			source_identity, identity_source, source_ip, source_workload, listener, kind, method, host, port, path, sni,
			service_entry, dialed_ip, tls_originated, tls_version, decision, enforced, reason, policy_rules, status, error,
			bytes_sent, bytes_received, meter, cost, currency, trace_id, count, route, subset, attempts)
		SELECT 'PG' || lpad(i::text, 24, '0'), i, 'gw-bench', t, t, 42.0, 'outbound_call',
			'spiffe://cluster.local/ns/ns' || (i * 13 % 500 / 10) || '/sa/svc' || (i * 13 % 500), 'mtls',
			'10.1.' || (i * 13 % 500 / 250) || '.' || (i * 13 % 250), 'svc' || (i * 13 % 500), 'proxy', 'http',
			CASE WHEN i % 4 = 0 THEN 'GET' ELSE 'POST' END,
			CASE WHEN i % 100000 = 0 THEN 'rare.example.com' ELSE 'api' || (i * 7 % 200) || '.example.com' END,
			443, '/v1/resource/' || (i % 1000), '', 'ns/se' || (i * 7 % 200), '203.0.113.' || (i % 250), true, 'TLS1.3',
			CASE WHEN i % 50 = 0 THEN 'deny' ELSE 'allow' END, true,
			CASE WHEN i % 50 = 0 THEN 'policy_denied' ELSE '' END,
			CASE WHEN i % 50 = 0 THEN '["deny_unlisted"]'::jsonb ELSE '["allow_listed"]'::jsonb END,
			CASE WHEN i % 50 = 0 THEN 403 ELSE 200 END, '', 512 + i % 1000, 2048 + i % 5000, '', 0, 'USD',
			lpad(to_hex(i), 32, '0'), 1, '', '', 0
		FROM generate_series(1, $1::bigint) AS i,
			LATERAL (SELECT $2::timestamptz + make_interval(secs => i * $3::float8)) AS ts(t)`,
			n, now.Add(-pgBenchDays*24*time.Hour), step)
		if err == nil {
			_, err = conn.Exec(ctx, "VACUUM ANALYZE decisions")
		}
		pgBench.url, pgBench.now, pgBench.err = url, now, err
		b.Logf("loaded %d records in %v", n, time.Since(start).Round(time.Second))
	})
	if pgBench.err != nil {
		b.Fatal(pgBench.err)
	}
	return pgBench.url, pgBench.now
}

func benchConsolePG(b *testing.B, kv ...string) {
	url, now := pgBenchStore(b)
	r, err := openPostgres(context.Background(), url, audit.StoreOptions{ReadOnly: true, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	h := httpapi.New(r, httpapi.Options{Now: func() time.Time { return now }, OnRead: func(*http.Request) error { return nil }})
	q := url2(now, kv...)
	n := 0
	b.ResetTimer()
	for range b.N {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/audit?"+q.Encode(), nil))
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
		var body struct {
			Records []json.RawMessage `json:"records"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			b.Fatal(err)
		}
		n = len(body.Records)
	}
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
}

func url2(now time.Time, kv ...string) url.Values {
	q := url.Values{"since": {now.Add(-24 * time.Hour).Format(time.RFC3339Nano)}, "limit": {strconv.Itoa(50)}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func BenchmarkConsolePGFirstPage(b *testing.B) { benchConsolePG(b) }
func BenchmarkConsolePGServiceEntryPath(b *testing.B) {
	benchConsolePG(b, "service_entry", "ns/se42", "path", "/v1/resource/4")
}
func BenchmarkConsolePGNoMatchPath(b *testing.B) { benchConsolePG(b, "path", "/nowhere") }
func BenchmarkConsolePGNoMatchServiceEntry(b *testing.B) {
	benchConsolePG(b, "service_entry", "ns/none")
}
func BenchmarkConsolePGNoMatchStatus(b *testing.B) { benchConsolePG(b, "status", "502") }
func BenchmarkConsolePGServiceEntryStatusNever(b *testing.B) {
	benchConsolePG(b, "service_entry", "ns/se1", "status", "403")
}
func BenchmarkConsolePGNoMatchSourceIP(b *testing.B) { benchConsolePG(b, "source", "10.9.9.9") }

// consoleIndexes are the indexes that serve the console's filters
// without one before (schema.go): what BenchmarkPGWrite/without drops.
var consoleIndexes = []string{"decisions_service_entry_time", "decisions_status_time", "decisions_reason_time",
	"decisions_event_time", "decisions_path"}

// BenchmarkPGWrite measures what the console's indexes cost a write:
// batches of 1,024 finished records (as the direct writer commits them
// under load), with the indexes and without (dropped), on the same
// server. The figure is wall time per record: the server's work (its
// index inserts included) and the round trip, which a gateway waits for.
func BenchmarkPGWrite(b *testing.B) {
	for _, mode := range []string{"with", "without"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			url := pgTestURL(b)
			s, err := openPostgres(ctx, url, audit.StoreOptions{Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if mode == "without" {
				for _, ix := range consoleIndexes {
					if _, err := s.w.Exec(ctx, "DROP INDEX "+ix); err != nil {
						b.Fatal(err)
					}
				}
			}
			const batch = 1024
			recs := make([]*audit.Record, batch)
			b.ResetTimer()
			n := 0
			for n < b.N {
				now := time.Now()
				k := min(batch, b.N-n)
				for i := range recs[:k] {
					r := storetest.Sample(n)
					r.TimeStart, r.TimeEnd = now, now.Add(40*time.Millisecond)
					r.ID, r.Seq, r.Gateway = "B"+strconv.Itoa(n), uint64(n+1), "g1"
					r.Status, r.Path, r.ServiceEntry = 200, "/v1/resource/"+strconv.Itoa(n%1000), "ns/se"+strconv.Itoa(n%200)
					recs[i] = r
					n++
				}
				if err := s.Write(ctx, &audit.Batch{Inserts: recs[:k]}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1000/float64(b.N), "µs/record")
		})
	}
}

func BenchmarkConsolePGNoMatchReason(b *testing.B) { benchConsolePG(b, "reason", "upstream_timeout") }
func BenchmarkConsolePGNoMatchEvent(b *testing.B)  { benchConsolePG(b, "event", "dns_query") }
func BenchmarkConsolePGNoMatchDeepPath(b *testing.B) {
	benchConsolePG(b, "path", "/v1/resource/4x")
}
func BenchmarkConsolePGRarePath(b *testing.B) { benchConsolePG(b, "path", "/v1/resource/999") }
func BenchmarkConsolePGSourceIP(b *testing.B) { benchConsolePG(b, "source", "10.1.0.123") }
func BenchmarkConsolePGServiceEntryPathNever(b *testing.B) {
	benchConsolePG(b, "service_entry", "ns/se1", "path", "/v1/resource/0")
}
func BenchmarkConsolePGServiceEntryDeniedNever(b *testing.B) {
	benchConsolePG(b, "service_entry", "ns/se1", "decision", "deny")
}
