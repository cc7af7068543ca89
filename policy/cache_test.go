package policy

import (
	"context"
	"testing"
	"time"
)

const cachePolicy = `package sluice.egress

default allow := false

allow if {
	input.request.method == "GET"
	input.source.workload == "web"
}

reasons contains "no" if not allow
`

func TestDecisionCache(t *testing.T) {
	tests := []struct {
		name      string
		rego      string
		cacheable bool
	}{
		{"reads only input fields", cachePolicy, true},
		{"reads input.time", cachePolicy + "\nlate if input.time > \"2030\"\n", false},
		{"calls a non-deterministic builtin", cachePolicy + "\nnow := time.now_ns()\n", false},
		{"http.send", cachePolicy + "\nx := http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:1\"})\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMetricsReader()
			e := newEngine(t, Options{Paths: []string{policyDir(t, map[string]string{"egress.rego": tc.rego})}, MeterProvider: m.mp})
			in := &Input{Source: Source{Workload: "web"}, Request: Request{Kind: "http", Method: "GET", Path: "/a"}, Time: time.Now()}
			for i := 0; i < 3; i++ {
				if d := e.Decide(context.Background(), in); !d.Allow {
					t.Fatalf("decision %d: %+v", i, d)
				}
			}
			hits := m.counter(t, "sluice_policy_cache_hits_total")
			if tc.cacheable && hits != 2 || !tc.cacheable && hits != 0 {
				t.Errorf("cache hits = %d (cacheable %v)", hits, tc.cacheable)
			}
			// A field the policy reads changes the key: a new evaluation,
			// and the right answer.
			post := *in
			post.Request.Method = "POST"
			if d := e.Decide(context.Background(), &post); d.Allow || len(d.Reasons) != 1 {
				t.Errorf("POST: %+v", d)
			}
			// A field it does not read (the path) hits the same entry.
			other := *in
			other.Request.Path = "/b"
			if d := e.Decide(context.Background(), &other); !d.Allow {
				t.Errorf("other path: %+v", d)
			}
		})
	}
}

func TestCacheKeyDistinguishesValues(t *testing.T) {
	plan := fullPlan()
	a := &Input{Source: Source{Identity: "a:b", Workload: "c"}}
	b := &Input{Source: Source{Identity: "a", Workload: "b:c"}}
	if cacheKey(plan, a) == cacheKey(plan, b) {
		t.Fatal("values that concatenate alike share a key")
	}
	h1 := &Input{Request: Request{Headers: map[string][]string{"x": {"1", "2"}}}}
	h2 := &Input{Request: Request{Headers: map[string][]string{"x": {"12"}}}}
	if cacheKey(plan, h1) == cacheKey(plan, h2) {
		t.Fatal("header values share a key")
	}
	se := &Input{Destination: Destination{ServiceEntry: &ServiceEntryRef{}}}
	if cacheKey(plan, se) == cacheKey(plan, &Input{}) {
		t.Fatal("an empty ServiceEntry and none share a key")
	}
}
