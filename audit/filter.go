package audit

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/canon"
	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/vocab"
)

// DefaultLimit is how many records `sluice audit query` and GET /v1/audit
// return when no limit is given.
const DefaultLimit = 100

// Filter selects records. The zero Filter selects every record. All set
// fields must match.
type Filter struct {
	// Since and Until bound time_start: Since <= time_start < Until. Zero
	// means unbounded.
	Since, Until time.Time
	// Source matches source_identity, source_workload or source_ip.
	Source string
	// Host matches the destination host: its canonical form, or the
	// name exactly as typed (see Hosts).
	Host string
	// Decision is allow or deny.
	Decision string
	// Reason is a reason code (policy_denied, upstream_timeout, …).
	Reason string
	// Event is outbound_call, dns_query or audit_read. Empty selects
	// calls and DNS queries, not the reads of the records (audit_read),
	// which are a trail of their own — unless ID names one.
	Event string
	// ID selects one record (the Sluice-Request-Id a provider logged).
	ID string
	// ServiceEntry is the matched ServiceEntry, namespace/name.
	ServiceEntry string
	// Status is the HTTP status answered (0: any).
	Status int
	// Path selects the records whose path starts with it.
	Path string
	// After is a cursor: only the records after the one with this id in
	// the newest-first order (older, or as old and stored earlier). The
	// id of a page's last record gives the next page.
	After string
	// Limit caps the number of records, newest first; 0 means no limit.
	Limit int
}

// CostQuery selects and groups records for a cost report.
type CostQuery struct {
	// Since and Until bound time_start, as in Filter.
	Since, Until time.Time
	// By lists the group keys, in order: source, destination, meter.
	// Empty gives one total per currency.
	By []string
}

// CostRow is one group of a cost report.
type CostRow struct {
	// Source is the workload, else the identity, else the IP (when
	// grouped by source).
	Source string `json:"source,omitempty"`
	// Destination is the host (when grouped by destination).
	Destination string `json:"destination,omitempty"`
	// Meter is the matched meter name, "" for none (when grouped by meter).
	Meter    string  `json:"meter,omitempty"`
	Calls    int64   `json:"calls"`
	Bytes    int64   `json:"bytes"`
	Cost     float64 `json:"cost"`
	Currency string  `json:"currency"`
}

// SortCost puts the rows of a cost report in its order: most expensive
// first, then most calls, then by the keys.
func SortCost(rows []CostRow) {
	slices.SortFunc(rows, func(a, b CostRow) int {
		switch {
		case a.Cost != b.Cost:
			return cmp.Compare(b.Cost, a.Cost)
		case a.Calls != b.Calls:
			return cmp.Compare(b.Calls, a.Calls)
		}
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Destination, b.Destination),
			cmp.Compare(a.Meter, b.Meter), cmp.Compare(a.Currency, b.Currency))
	})
}

// CostKeys are the accepted CostQuery.By values.
var costKeys = []string{"source", "destination", "meter"}

// ParseTimeArg reads a --since/--until value: a duration before now
// ("24h", "7d", "1d12h") or a time ("2026-11-21T12:00:00Z",
// "2026-11-21T12:00:00" in UTC, "2026-11-21").
func ParseTimeArg(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 7d) nor a time (2026-11-21T12:00:00Z)", s)
	}
	return now.Add(-d).UTC(), nil
}

// Hosts are the values of the host column that f.Host selects: its
// canonical form (internal/canon, the parser the edge uses, so
// "API.Stripe.com." finds api.stripe.com) and, when that differs or the
// name is not a host name at all, f.Host as typed (a DNS name refused as
// not a host name is recorded as sent, e.g. "10.20.0.1."). Nil when
// f.Host is empty.
func (f *Filter) Hosts() []string {
	if f.Host == "" {
		return nil
	}
	h, err := canon.ParseHost(f.Host)
	if err != nil || h.String() == f.Host {
		return []string{f.Host}
	}
	return []string{h.String(), f.Host}
}

// Validate reports the first field that cannot match anything.
func (f *Filter) Validate() error {
	if f.Decision != "" && f.Decision != vocab.DecisionAllow && f.Decision != vocab.DecisionDeny {
		return fmt.Errorf("decision: must be allow or deny, got %q", f.Decision)
	}
	if f.Event != "" && !slices.Contains(vocab.Events(), f.Event) {
		return fmt.Errorf("event: must be one of %s, got %q", strings.Join(vocab.Events(), ", "), f.Event)
	}
	if f.Status < 0 || f.Status > 999 {
		return fmt.Errorf("status: must be an HTTP status, got %d", f.Status)
	}
	if f.Limit < 0 {
		return fmt.Errorf("limit: must not be negative, got %d", f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("since (%s) must be before until (%s)", FormatTime(f.Since), FormatTime(f.Until))
	}
	return nil
}

// Validate checks the group keys.
func (q *CostQuery) Validate() error {
	seen := map[string]bool{}
	for _, k := range q.By {
		if !slices.Contains(costKeys, k) {
			return fmt.Errorf("by: unknown key %q (use source, destination, meter)", k)
		}
		if seen[k] {
			return fmt.Errorf("by: %q given twice", k)
		}
		seen[k] = true
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return fmt.Errorf("since (%s) must be before until (%s)", FormatTime(q.Since), FormatTime(q.Until))
	}
	return nil
}

// ParseBy splits "source,destination" into keys and checks them.
func ParseBy(s string) ([]string, error) {
	var by []string
	for k := range strings.SplitSeq(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			by = append(by, k)
		}
	}
	q := CostQuery{By: by}
	return by, q.Validate()
}

// FilterFromQuery reads a Filter from the query string of GET /v1/audit:
// since, until, source, host, decision, reason, event, id, service_entry,
// status, path, after, limit (default
// DefaultLimit; 0 means no limit). Unknown parameters are errors.
func FilterFromQuery(v url.Values, now time.Time) (Filter, error) {
	f := Filter{Limit: DefaultLimit}
	for key, vals := range v {
		if len(vals) != 1 {
			return f, fmt.Errorf("%s: given %d times", key, len(vals))
		}
		val := vals[0]
		var err error
		switch key {
		case "since":
			f.Since, err = ParseTimeArg(val, now)
		case "until":
			f.Until, err = ParseTimeArg(val, now)
		case "source":
			f.Source = val
		case "host":
			f.Host = val
		case "decision":
			f.Decision = val
		case "reason":
			f.Reason = val
		case "event":
			f.Event = val
		case "id":
			f.ID = val
		case "service_entry":
			f.ServiceEntry = val
		case "status":
			f.Status, err = strconv.Atoi(val)
		case "path":
			f.Path = val
		case "after":
			f.After = val
		case "limit":
			f.Limit, err = strconv.Atoi(val)
		default:
			return f, fmt.Errorf("unknown parameter %q (use since, until, source, host, decision, reason, event, id, "+
				"service_entry, status, path, after, limit)", key)
		}
		if err != nil {
			return f, fmt.Errorf("%s: %w", key, err)
		}
	}
	return f, f.Validate()
}

// Query encodes f as the query string FilterFromQuery reads (what `sluice
// audit query --server` sends).
func (f *Filter) Query() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !f.Since.IsZero() {
		v.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		v.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	set("source", f.Source)
	set("host", f.Host)
	set("decision", f.Decision)
	set("reason", f.Reason)
	set("event", f.Event)
	set("id", f.ID)
	set("service_entry", f.ServiceEntry)
	if f.Status != 0 {
		v.Set("status", strconv.Itoa(f.Status))
	}
	set("path", f.Path)
	set("after", f.After)
	v.Set("limit", strconv.Itoa(f.Limit))
	return v
}

// CostQueryFromQuery reads a CostQuery from the query string of GET
// /v1/cost: since (default 720h), until, by (comma-separated).
func CostQueryFromQuery(v url.Values, now time.Time) (CostQuery, error) {
	q := CostQuery{Since: now.Add(-720 * time.Hour).UTC()}
	for key, vals := range v {
		if len(vals) != 1 {
			return q, fmt.Errorf("%s: given %d times", key, len(vals))
		}
		val := vals[0]
		var err error
		switch key {
		case "since":
			q.Since, err = ParseTimeArg(val, now)
		case "until":
			q.Until, err = ParseTimeArg(val, now)
		case "by":
			q.By, err = ParseBy(val)
		default:
			return q, fmt.Errorf("unknown parameter %q (use since, until, by)", key)
		}
		if err != nil {
			return q, fmt.Errorf("%s: %w", key, err)
		}
	}
	return q, q.Validate()
}

// Query encodes q as the query string CostQueryFromQuery reads.
func (q *CostQuery) Query() url.Values {
	v := url.Values{}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	if len(q.By) > 0 {
		v.Set("by", strings.Join(q.By, ","))
	}
	return v
}
