package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	mathbits "math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// The 10-million-record store for the query benchmarks: 30 days of
// calls from 500 workloads to 200 hosts (plus one rare host), 2% denied.
// It is generated once per run into a temp dir (about two minutes), or
// kept at $SLUICE_AUDIT_BENCH_DB between runs.
const (
	benchRecords = 10_000_000
	benchDays    = 30
)

var (
	benchOnce sync.Once
	benchPath string
	benchNow  time.Time // the generated store's "now"
	benchErr  error
)

func benchStore(b *testing.B) (string, time.Time) {
	if testing.Short() {
		b.Skip("generating 10 million records takes minutes; skipped with -short")
	}
	benchOnce.Do(func() {
		path := os.Getenv("SLUICE_AUDIT_BENCH_DB")
		if path == "" {
			dir, err := os.MkdirTemp("", "sluice-audit-bench")
			if err != nil {
				benchErr = err
				return
			}
			path = filepath.Join(dir, "audit.db")
		}
		benchPath = path
		if _, err := os.Stat(path); err == nil {
			if benchNow, benchErr = readBenchNow(path); benchErr == nil {
				benchErr = summariseBenchStore(path)
			}
			return
		}
		start := time.Now()
		benchNow, benchErr = generateBenchStore(path)
		if benchErr == nil {
			benchErr = summariseBenchStore(path)
		}
		if benchErr == nil {
			fi, _ := os.Stat(path)
			fmt.Fprintf(os.Stderr, "generated %d records in %v: %s, %.2f GB\n", benchRecords,
				time.Since(start).Round(time.Second), path, float64(fi.Size())/1e9)
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return "sqlite://" + benchPath, benchNow
}

func readBenchNow(path string) (time.Time, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return time.Time{}, err
	}
	defer db.Close()
	var s string
	if err := db.QueryRow("SELECT t FROM probe WHERE k = 2").Scan(&s); err != nil {
		return time.Time{}, fmt.Errorf("%s: not a benchmark store: %w", path, err)
	}
	return time.Parse(audit.TimeLayout, s)
}

// generateBenchStore writes the records with SQL (a recursive CTE), then
// builds the indexes: much faster than inserting through indexes.
func generateBenchStore(path string) (time.Time, error) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return time.Time{}, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return time.Time{}, err
	}
	defer conn.Close()
	if err := newLayout(audit.Schema()).createTables(ctx, conn); err != nil {
		return time.Time{}, err
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	first := now.Add(-benchDays * 24 * time.Hour)
	step := float64(benchDays*24*3600) / benchRecords // seconds between records
	stmts := []string{
		"PRAGMA journal_mode = OFF",
		"PRAGMA synchronous = OFF",
		"PRAGMA cache_size = -1048576",
		"PRAGMA threads = 2",
	}
	stmts = append(stmts,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < `+strconv.Itoa(benchRecords)+`)
		INSERT INTO decisions (rid, id, seq, gateway, time_start, event, source_identity, identity_source, source_ip,
			source_workload, listener, kind, method, host, port, path, sni, service_entry, tls_originated,
			decision, enforced, reason, policy_rules, trace_id, count)
		SELECT i, printf('01J%08X%015d', i, i), i, 'gw-bench',
			strftime('%Y-%m-%dT%H:%M:%fZ', `+strconv.FormatFloat(float64(first.UnixMilli())/1000, 'f', 3, 64)+` + i * `+strconv.FormatFloat(step, 'f', 9, 64)+`, 'unixepoch'),
			'outbound_call',
			'spiffe://cluster.local/ns/ns' || (i * 13 % 500 / 10) || '/sa/svc' || (i * 13 % 500), 'mtls',
			'10.1.' || (i * 13 % 500 / 250) || '.' || (i * 13 % 250),
			'svc' || (i * 13 % 500), 'proxy', 'http',
			CASE WHEN i % 4 = 0 THEN 'GET' ELSE 'POST' END,
			CASE WHEN i % 100000 = 0 THEN 'rare.example.com' ELSE 'api' || (i * 7 % 200) || '.example.com' END,
			443, '/v1/resource/' || (i % 1000), '', 'ns/se' || (i * 7 % 200), 1,
			CASE WHEN i % 50 = 0 THEN 'deny' ELSE 'allow' END, 1,
			CASE WHEN i % 50 = 0 THEN 'policy_denied' ELSE '' END,
			CASE WHEN i % 50 = 0 THEN '["deny_unlisted"]' ELSE '["allow_listed"]' END,
			printf('%032x', i), 1
		FROM n`,
		`INSERT INTO outcomes (rid, time_end, duration_ms, sni, dialed_ip, tls_originated, tls_version, reason,
			status, error, bytes_sent, bytes_received, meter, cost, currency, trace_id)
		SELECT rid, time_start, 42.0, sni, '203.0.113.' || (rid % 250), 1, 'TLS1.3', reason,
			CASE WHEN decision = 'deny' THEN 403 ELSE 200 END, '', 512 + rid % 1000, 2048 + rid % 5000,
			CASE WHEN host = 'api1.example.com' AND method = 'POST' THEN 'charge' ELSE '' END,
			CASE WHEN host = 'api1.example.com' AND method = 'POST' THEN 0.002 ELSE 0 END, 'USD', trace_id
		FROM decisions WHERE decision = 'allow'`,
	)
	stmts = append(stmts, `INSERT INTO cost_hourly (hour, source, destination, meter, currency, calls, bytes, cost)
		SELECT substr(d.time_start, 1, 13) || ':00:00.000Z',
			CASE WHEN d.source_workload <> '' THEN d.source_workload WHEN d.source_identity <> '' THEN d.source_identity ELSE d.source_ip END,
			d.host, o.meter, o.currency, SUM(d.count), SUM(o.bytes_sent + o.bytes_received), SUM(o.cost)
		FROM decisions d JOIN outcomes o ON o.rid = d.rid
		WHERE d.event = 'outbound_call' AND (d.decision = 'allow' OR d.enforced = 0)
		GROUP BY 1, 2, 3, 4, 5`)
	stmts = append(stmts, indexDDL...)
	stmts = append(stmts,
		`INSERT INTO gateways (gateway, seq) VALUES ('gw-bench', `+strconv.Itoa(benchRecords)+`)`,
		`INSERT INTO probe (k, t) VALUES (2, '`+audit.FormatTime(now)+`')`,
		"PRAGMA journal_mode = WAL",
	)
	for _, q := range stmts {
		start := time.Now()
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return time.Time{}, fmt.Errorf("%.60s…: %w", q, err)
		}
		if d := time.Since(start); d > time.Second {
			fmt.Fprintf(os.Stderr, "  %5.1fs  %.70s\n", d.Seconds(), q)
		}
	}
	return now, nil
}

// summariseBenchStore builds the search summary of a benchmark store
// (search.go) as a gateway opening it would, unless it has one (a store
// kept from before the summary gets it here, once).
func summariseBenchStore(path string) error {
	ctx := context.Background()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if done, err := searchMarked(ctx, conn); err != nil || done {
		return err
	}
	start := time.Now()
	if _, err := conn.ExecContext(ctx, bookkeepingDDL); err != nil {
		return err
	}
	if err := createIndexes(ctx, conn); err != nil {
		return err
	}
	s := &store{path: path, conn: conn, opts: audit.StoreOptions{Logger: quiet}}
	if s.sbGet, err = conn.PrepareContext(ctx, searchGetSQL); err != nil {
		return err
	}
	if s.sbPut, err = conn.PrepareContext(ctx, searchPutSQL); err != nil {
		return err
	}
	defer s.sbGet.Close()
	defer s.sbPut.Close()
	if err := s.backfillSearch(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "summarised the benchmark store for searches in %v\n", time.Since(start).Round(time.Second))
	return nil
}

// benchQuery runs f against the store the way `sluice audit query
// --store` does, and reports the records found.
func benchQuery(b *testing.B, f func(now time.Time) audit.Filter, reopen bool) {
	url, now := benchStore(b)
	ctx := context.Background()
	var r audit.Reader
	var err error
	if !reopen {
		if r, err = testStores().OpenReader(ctx, url); err != nil {
			b.Fatal(err)
		}
		defer r.Close()
	}
	filter := f(now)
	n := 0
	b.ResetTimer()
	for range b.N {
		if reopen {
			if r, err = testStores().OpenReader(ctx, url); err != nil {
				b.Fatal(err)
			}
		}
		n = 0
		if err := r.Query(ctx, filter, func(*audit.Record) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		if reopen {
			r.Close()
		}
	}
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/query")
}

// The figure: `audit query --host H --since 24h --limit 100`.
func BenchmarkQuery10MHostSince24h(b *testing.B) {
	benchQuery(b, func(now time.Time) audit.Filter {
		return audit.Filter{Host: "api42.example.com", Since: now.Add(-24 * time.Hour), Limit: 100}
	}, false)
}

// The same as the CLI runs it: open the store, query, close.
func BenchmarkQuery10MHostSince24hWithOpen(b *testing.B) {
	benchQuery(b, func(now time.Time) audit.Filter {
		return audit.Filter{Host: "api42.example.com", Since: now.Add(-24 * time.Hour), Limit: 100}
	}, true)
}

func BenchmarkQuery10MRareHost(b *testing.B) {
	benchQuery(b, func(now time.Time) audit.Filter { return audit.Filter{Host: "rare.example.com", Limit: 100} }, false)
}

func BenchmarkQuery10MNewest(b *testing.B) {
	benchQuery(b, func(time.Time) audit.Filter { return audit.Filter{Limit: 100} }, false)
}

func BenchmarkQuery10MWorkloadSince7d(b *testing.B) {
	benchQuery(b, func(now time.Time) audit.Filter {
		return audit.Filter{Source: "svc123", Since: now.Add(-7 * 24 * time.Hour), Limit: 100}
	}, false)
}

func BenchmarkQuery10MIdentity(b *testing.B) {
	benchQuery(b, func(time.Time) audit.Filter {
		return audit.Filter{Source: "spiffe://cluster.local/ns/ns12/sa/svc123", Limit: 100}
	}, false)
}

func BenchmarkQuery10MDeniedSince24h(b *testing.B) {
	benchQuery(b, func(now time.Time) audit.Filter {
		return audit.Filter{Decision: vocab.DecisionDeny, Reason: "policy_denied", Since: now.Add(-24 * time.Hour), Limit: 100}
	}, false)
}

// source_ip has no index: the query walks the time index from the newest.
func BenchmarkQuery10MSourceIPSince24h(b *testing.B) {
	benchQuery(b, func(now time.Time) audit.Filter {
		return audit.Filter{Source: "10.1.0.123", Since: now.Add(-24 * time.Hour), Limit: 100}
	}, false)
}

func BenchmarkQuery10MByID(b *testing.B) {
	benchQuery(b, func(time.Time) audit.Filter {
		return audit.Filter{ID: fmt.Sprintf("01J%08X%015d", 5_000_000, 5_000_000)}
	}, false)
}

// A month's cost report reads every record of the month.
func BenchmarkCost10MBySourceSince720h(b *testing.B) {
	url, now := benchStore(b)
	r, err := testStores().OpenReader(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	b.ResetTimer()
	var rows []audit.CostRow
	for range b.N {
		if rows, err = r.Cost(context.Background(), audit.CostQuery{Since: now.Add(-720 * time.Hour), By: []string{"source", "destination", "meter"}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rows)), "groups")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
}

// The Bloom filters' fill on the 10-million-record store: the share of
// bits set, and from it the false-positive rate of one absent key
// (fill^searchHashes: the share of blocks a value no record has reads
// for nothing).
func BenchmarkSearchFill10M(b *testing.B) {
	url, _ := benchStore(b)
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite://")+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var set, total, blocks int
	for range b.N {
		set, total, blocks = 0, 0, 0
		rows, err := db.Query("SELECT bits FROM search_blocks")
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
			var bits []byte
			if err := rows.Scan(&bits); err != nil {
				b.Fatal(err)
			}
			for _, c := range bits {
				set += mathbits.OnesCount8(c)
			}
			total += 8 * len(bits)
			blocks++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
	}
	fill := float64(set) / float64(total)
	b.ReportMetric(float64(blocks), "blocks")
	b.ReportMetric(100*fill, "%fill")
	b.ReportMetric(100*math.Pow(fill, searchHashes), "%fp")
}
