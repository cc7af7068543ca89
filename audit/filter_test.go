package audit

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/vocab"
)

var testNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestParseTimeArg(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{"", time.Time{}, ""},
		{"24h", testNow.Add(-24 * time.Hour), ""},
		{"7d", testNow.Add(-7 * 24 * time.Hour), ""},
		{"1d12h", testNow.Add(-36 * time.Hour), ""},
		{"2026-11-20T08:30:00Z", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC), ""},
		{"2026-11-20T10:30:00+02:00", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC), ""},
		{"2026-11-20T08:30:00", time.Date(2026, 11, 20, 8, 30, 0, 0, time.UTC), ""},
		{"2026-11-20", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), ""},
		{"yesterday", time.Time{}, "neither a duration"},
	} {
		got, err := ParseTimeArg(tc.in, testNow)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFilterFromQuery(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want Filter
		err  string
	}{
		{"", Filter{Limit: DefaultLimit}, ""},
		{"since=24h&host=api.stripe.com&decision=deny&reason=policy_denied&source=checkout&event=outbound_call&limit=5&until=2026-11-21T11:00:00Z&id=X",
			Filter{Since: testNow.Add(-24 * time.Hour), Until: testNow.Add(-time.Hour), Host: "api.stripe.com", Decision: "deny",
				Reason: "policy_denied", Source: "checkout", Event: vocab.EventOutboundCall, Limit: 5, ID: "X"}, ""},
		{"limit=0", Filter{}, ""},
		{"decision=maybe", Filter{}, "decision: must be allow or deny"},
		{"event=x", Filter{}, "event: must be"},
		{"limit=-1", Filter{}, "limit: must not be negative"},
		{"limit=ten", Filter{}, "limit:"},
		{"since=1h&until=2h", Filter{}, "must be before until"},
		{"hots=x", Filter{}, `unknown parameter "hots"`},
		{"host=a&host=b", Filter{}, "host: given 2 times"},
	} {
		v, _ := url.ParseQuery(tc.q)
		got, err := FilterFromQuery(v, testNow)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.q, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q:\n got %+v, %v\nwant %+v", tc.q, got, err, tc.want)
		}
		// What the CLI sends reads back the same.
		back, err := FilterFromQuery(got.Query(), testNow)
		if err != nil || back != got {
			t.Errorf("%q: round trip %+v, %v", tc.q, back, err)
		}
	}
}

func TestFilterHosts(t *testing.T) {
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"", nil},
		{"api.stripe.com", []string{"api.stripe.com"}},
		{"API.Stripe.com.", []string{"api.stripe.com", "API.Stripe.com."}},
		{"10.20.0.1.", []string{"10.20.0.1", "10.20.0.1."}}, // a refused DNS name is recorded as sent
		{`a\.b.test.`, []string{`a\.b.test.`}},              // not a host name: only as typed
		{"*", []string{"*"}},
	} {
		f := Filter{Host: tc.host}
		if got := f.Hosts(); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestCostQueryFromQuery(t *testing.T) {
	v, _ := url.ParseQuery("since=7d&by=source,meter")
	q, err := CostQueryFromQuery(v, testNow)
	if err != nil || !q.Since.Equal(testNow.Add(-7*24*time.Hour)) || strings.Join(q.By, ",") != "source,meter" {
		t.Fatalf("%+v, %v", q, err)
	}
	q, err = CostQueryFromQuery(url.Values{}, testNow)
	if err != nil || !q.Since.Equal(testNow.Add(-720*time.Hour)) || len(q.By) != 0 {
		t.Fatalf("default: %+v, %v", q, err)
	}
	for _, bad := range []string{"by=source,team", "by=meter,meter", "group=x"} {
		v, _ := url.ParseQuery(bad)
		if _, err := CostQueryFromQuery(v, testNow); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
