package audit

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// taggedRecord is Record as it was declared before the record schema
// became one table (commit 943f5b2), with the struct tags that made its
// JSON form: the JSON and CSV forms the schema drives must not differ
// from what it gave.
type taggedRecord struct {
	ID        string    `json:"id"`      // sortable and unique, assigned by the Auditor
	Seq       uint64    `json:"seq"`     // per gateway instance, assigned by the Auditor
	Gateway   string    `json:"gateway"` // instance id, assigned by the Auditor
	TimeStart time.Time `json:"time_start"`
	TimeEnd   time.Time `json:"time_end,omitzero"`
	// DurationMS is set from TimeStart and TimeEnd by the Auditor.
	DurationMS float64 `json:"duration_ms"`
	Event      string  `json:"event"` // vocab.Event*

	SourceIdentity string `json:"source_identity"`
	IdentitySource string `json:"identity_source"` // vocab.Identity*
	SourceIP       string `json:"source_ip"`
	SourceWorkload string `json:"source_workload"`

	Listener string `json:"listener"` // vocab.Listener*
	Kind     string `json:"kind"`     // vocab.Kind*
	Method   string `json:"method"`
	// Host is the canonical destination the data plane computed
	// (internal/canon), or for a DNS name refused as not a host name the
	// name as sent; recorded exactly as given.
	Host          string `json:"host"`
	Port          int    `json:"port"`
	Path          string `json:"path"` // without the query string
	SNI           string `json:"sni"`
	ServiceEntry  string `json:"service_entry"` // namespace/name
	DialedIP      string `json:"dialed_ip"`
	TLSOriginated bool   `json:"tls_originated"`
	TLSVersion    string `json:"tls_version"`

	Decision    string   `json:"decision"` // vocab.Decision*
	Enforced    bool     `json:"enforced"` // false when a denial was only reported
	Reason      string   `json:"reason"`   // a vocab.Reason
	PolicyRules []string `json:"policy_rules"`

	Status        int     `json:"status"`
	Error         string  `json:"error"`
	BytesSent     int64   `json:"bytes_sent"`
	BytesReceived int64   `json:"bytes_received"`
	Meter         string  `json:"meter"`
	Cost          float64 `json:"cost"`
	Currency      string  `json:"currency"`
	TraceID       string  `json:"trace_id"`

	// Count folds identical records (a flood of the same denied DNS query
	// from one source) into one; 0 and 1 both mean one.
	Count int `json:"count,omitempty"`

	Route    string `json:"route"`
	Subset   string `json:"subset"`
	Attempts int    `json:"attempts"`

	row   RowRef
	ended bool
}

// legacyFields is the CSV row as format.go wrote it before the record
// schema became one table (commit 943f5b2), kept to hold Fields to it.
func legacyFields(r *Record) []string {
	b := strconv.FormatBool
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{
		r.ID, strconv.FormatUint(r.Seq, 10), r.Gateway, FormatTime(r.TimeStart), FormatTime(r.TimeEnd), f(r.DurationMS), r.Event,
		r.SourceIdentity, r.IdentitySource, r.SourceIP, r.SourceWorkload,
		r.Listener, r.Kind, r.Method, r.Host, i(int64(r.Port)), r.Path, r.SNI, r.ServiceEntry,
		r.DialedIP, b(r.TLSOriginated), r.TLSVersion,
		r.Decision, b(r.Enforced), r.Reason, FormatList(r.PolicyRules),
		i(int64(r.Status)), r.Error, i(r.BytesSent), i(r.BytesReceived), r.Meter, f(r.Cost), r.Currency, r.TraceID,
		i(int64(r.Calls())),
	}
}

// formRecords are records whose JSON and CSV forms are compared: typical
// ones, and values that try the encoders (escapes, invalid UTF-8, HTML
// characters, line separators, large and small floats, nil and empty
// lists, open calls, counts).
func formRecords() []Record {
	out := []Record{{}}
	for _, r := range codecRecords() {
		out = append(out, *r)
	}
	odd := *filled(4)
	odd.Host = "a\"b\\c<d>&e\u2028f\u2029g\x00h\x1f\ti\nj\rk\bl\fm\xffn\xc3"
	odd.Path = "/ü/日本/\U0001F600"
	odd.PolicyRules = []string{}
	odd.DurationMS, odd.Cost = 1e-7, 1.5e21
	odd.Count = 1
	out = append(out, odd)
	tiny := *filled(5)
	tiny.DurationMS, tiny.Cost = 123456.789, -0.000001
	tiny.TimeStart = time.Date(2026, 11, 21, 12, 0, 0, 0, time.FixedZone("x", 3600))
	tiny.TimeEnd = tiny.TimeStart.Add(time.Nanosecond)
	out = append(out, tiny)
	return out
}

func TestRecordJSONIsTheTaggedForm(t *testing.T) {
	for i, r := range formRecords() {
		got, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(taggedRecord(public(r)))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("record %d:\n got %s\nwant %s", i, got, want)
		}
		// And through a pointer, an Encoder, and back.
		var b strings.Builder
		if err := json.NewEncoder(&b).Encode(&r); err != nil || strings.TrimSpace(b.String()) != string(want) {
			t.Errorf("record %d through an Encoder: %v\n%s", i, err, b.String())
		}
		var back, wantBack Record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatal(err)
		}
		var tagged taggedRecord
		if err := json.Unmarshal(want, &tagged); err != nil {
			t.Fatal(err)
		}
		wantBack = public(Record(tagged))
		if !reflect.DeepEqual(back, wantBack) {
			t.Errorf("record %d read back:\n got %+v\nwant %+v", i, back, wantBack)
		}
	}
	if _, err := json.Marshal(Record{Cost: math.NaN()}); err == nil {
		t.Error("NaN marshalled")
	}
	var r Record
	if err := json.Unmarshal([]byte(`{"ID":"x","Seq":3,"unknown":1,"host":null}`), &r); err != nil || r.ID != "x" || r.Seq != 3 {
		t.Errorf("case-insensitive names: %+v %v", r, err)
	}
}

func TestFieldsAreTheLegacyRow(t *testing.T) {
	for i, r := range formRecords() {
		// The columns added since (route, subset, attempts) follow the
		// legacy row.
		if got, want := r.Fields(), legacyFields(&r); !slices.Equal(got[:len(want)], want) {
			t.Errorf("record %d:\n got %q\nwant %q", i, got, want)
		}
	}
}

// ParseTime's fast path reads TimeLayout as time.Parse does, and leaves
// everything else to it.
func TestParseTimeFastPath(t *testing.T) {
	for _, s := range []string{"2026-11-21T12:00:00.123Z", "2024-02-29T23:59:59.999Z", "0001-01-01T00:00:00.000Z",
		"2026-11-21T12:00:00Z", "2026-11-21T12:00:00.123456789Z", "2026-11-21T12:00:00.123+02:00",
		"2026-04-31T12:00:00.000Z", "2026-13-01T12:00:00.000Z", "2026-11-21T12:00:0x.000Z", "2026-11-21 12:00:00.000Z"} {
		got, gerr := ParseTime(s)
		want, werr := time.Parse(time.RFC3339Nano, s)
		if (gerr == nil) != (werr == nil) || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; time.Parse: %v, %v", s, got, gerr, want, werr)
		}
	}
}
