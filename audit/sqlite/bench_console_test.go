package sqlite

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit/httpapi"
)

// The console's searches on the 10-million-record store, end to end on
// the server: GET /v1/audit as the console sends it (the default 24 h
// range, a page of 50), through the admin API's handler, the store and
// the JSON encoding, with the read recorded as the gateway does
// (OnRead, here a no-op: the record is one durable insert, measured by
// the store's write benchmarks). The bound: a first page under
// 300 ms.
func benchConsole(b *testing.B, params func(now time.Time) url.Values, cursor bool) {
	u, now := benchStore(b)
	ctx := context.Background()
	r, err := testStores().OpenReader(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	h := httpapi.New(r, httpapi.Options{Now: func() time.Time { return now }, OnRead: func(*http.Request) error { return nil }})
	q := params(now)
	get := func(q url.Values) []map[string]any {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/audit?"+q.Encode(), nil))
		if w.Code != 200 {
			b.Fatalf("%s: %d %s", q.Encode(), w.Code, w.Body)
		}
		var body struct {
			Records []map[string]any `json:"records"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			b.Fatal(err)
		}
		return body.Records
	}
	if cursor {
		// The tenth page: the cursor is the last id of the ninth.
		for range 9 {
			recs := get(q)
			if len(recs) == 0 {
				b.Fatal("ran out of pages")
			}
			q.Set("after", recs[len(recs)-1]["id"].(string))
		}
	}
	n := 0
	b.ResetTimer()
	for range b.N {
		n = len(get(q))
	}
	b.ReportMetric(float64(n), "records")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/page")
}

func consoleQuery(now time.Time, kv ...string) url.Values {
	q := url.Values{"since": {now.Add(-24 * time.Hour).Format(time.RFC3339Nano)}, "limit": {"50"}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// The console's landing page: the newest 50 of the last 24 h.
func BenchmarkConsole10MFirstPage(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now) }, false)
}

// Filtered by workload and decision (the e2e's first filter).
func BenchmarkConsole10MWorkloadDenied(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		return consoleQuery(now, "source", "svc150", "decision", "deny")
	}, false)
}

// Filtered by host and status.
func BenchmarkConsole10MHostStatus(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		return consoleQuery(now, "host", "api42.example.com", "status", "200")
	}, false)
}

// ServiceEntry and path prefix have no index of their own: the time
// index is walked from the newest until a page is full.
func BenchmarkConsole10MServiceEntryPath(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		return consoleQuery(now, "service_entry", "ns/se42", "path", "/v1/resource/4")
	}, false)
}

// The tenth page of a filter, by cursor.
func BenchmarkConsole10MWorkloadPage10(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "source", "svc123") }, true)
}

// A filter that matches nothing in the range, with no index to help: the
// worst case, every record of the 24 h walked.
func BenchmarkConsole10MNoMatchPath(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "path", "/nowhere") }, false)
}

// Values that match nothing in the range, on each field the console
// offers that has no index of its own, and combinations of values that
// are each common but never occur together. Before the search summary
// each walked every record of the range.
func BenchmarkConsole10MNoMatchServiceEntry(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "service_entry", "ns/none") }, false)
}

func BenchmarkConsole10MNoMatchStatus(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "status", "502") }, false)
}

func BenchmarkConsole10MNoMatchReason(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "reason", "upstream_timeout") }, false)
}

func BenchmarkConsole10MNoMatchEvent(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "event", "dns_query") }, false)
}

// The workload-or-identity field given an address (source_ip).
func BenchmarkConsole10MSourceIP(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "source", "10.1.0.123") }, false)
}

func BenchmarkConsole10MNoMatchSourceIP(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "source", "10.9.9.9") }, false)
}

// A path prefix whose first 14 bytes are common (/v1/resource/4 is 1 in
// 9) and whose whole matches nothing.
func BenchmarkConsole10MNoMatchDeepPath(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "path", "/v1/resource/4x") }, false)
}

// One path in 1,000.
func BenchmarkConsole10MRarePath(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values { return consoleQuery(now, "path", "/v1/resource/999") }, false)
}

// ns/se1 is 1 call in 200 and 403 one in 50, never together.
func BenchmarkConsole10MServiceEntryStatusNever(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		return consoleQuery(now, "service_entry", "ns/se1", "status", "403")
	}, false)
}

// The same with decision deny (which has an index of denials).
func BenchmarkConsole10MServiceEntryDeniedNever(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		return consoleQuery(now, "service_entry", "ns/se1", "decision", "deny")
	}, false)
}

// The tenth page of ServiceEntry + path prefix, by cursor (over 7 days:
// 24 h has fewer than ten pages).
func BenchmarkConsole10MServiceEntryPathPage10(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		q := consoleQuery(now, "service_entry", "ns/se42", "path", "/v1/resource/4")
		q.Set("since", now.Add(-7*24*time.Hour).Format(time.RFC3339Nano))
		return q
	}, true)
}

// The whole store (30 days) instead of 24 h.
func BenchmarkConsole10MNoMatchPath30d(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		q := consoleQuery(now, "path", "/nowhere")
		q.Set("since", now.Add(-30*24*time.Hour).Format(time.RFC3339Nano))
		return q
	}, false)
}

func BenchmarkConsole10MServiceEntryPath30d(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		q := consoleQuery(now, "service_entry", "ns/se42", "path", "/v1/resource/4")
		q.Set("since", now.Add(-30*24*time.Hour).Format(time.RFC3339Nano))
		return q
	}, false)
}

// The summary's worst case: two fields whose keys are not paired (a
// path and a ServiceEntry), each in most blocks, never together (ns/se1
// calls only odd-numbered paths, /v1/resource/0 is 1 call in 1,000):
// most blocks of the range are read for nothing.
func BenchmarkConsole10MServiceEntryPathNever(b *testing.B) {
	benchConsole(b, func(now time.Time) url.Values {
		return consoleQuery(now, "service_entry", "ns/se1", "path", "/v1/resource/0")
	}, false)
}
