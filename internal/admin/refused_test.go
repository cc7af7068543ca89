package admin

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Refused requests are recorded: the first of each address, who and
// status at once, the repeats as one count per window, and a flood from
// many addresses as at most refusedKeys records and one count.
func TestRefusalsAreRecordedAndCoalesced(t *testing.T) {
	s := New(Tokens{Admin: "adm1n-0123456789", Auditor: "aud1t-0123456789"}, nil)
	var mu sync.Mutex
	var got []Refusal
	s.OnRefused(func(r Refusal) {
		mu.Lock()
		got = append(got, r)
		mu.Unlock()
	})
	now := time.Unix(1_000_000, 0)
	s.refusals.now = func() time.Time { return now }
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	s.HandleRead("GET /v1/audit", ok)
	s.Handle("GET /v1/policy", ok)
	do := func(addr, path, token string) int {
		r := httptest.NewRequest("GET", path, nil)
		r.RemoteAddr = addr
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		s.mux.ServeHTTP(w, r)
		return w.Code
	}
	take := func() []Refusal {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}
	if c := do("192.0.2.1:1234", "/v1/audit?since=24h", ""); c != 401 {
		t.Fatal(c)
	}
	if c := do("192.0.2.1:1235", "/v1/audit?host=x", "wrong"); c != 401 {
		t.Fatal(c)
	}
	if c := do("[::ffff:192.0.2.2]:9", "/v1/policy", "aud1t-0123456789"); c != 403 {
		t.Fatal(c)
	}
	if c := do("192.0.2.3:9", "/v1/audit", "aud1t-0123456789"); c != 200 {
		t.Fatal(c)
	}
	first := take()
	want := []Refusal{
		{Time: now, IP: "192.0.2.1", Who: RefusedNone, Status: 401, Method: "GET", Path: "/v1/audit?since=24h", Count: 1},
		{Time: now, IP: "192.0.2.1", Who: RefusedInvalid, Status: 401, Method: "GET", Path: "/v1/audit?host=x", Count: 1},
		{Time: now, IP: "192.0.2.2", Who: RoleAuditor, Status: 403, Method: "GET", Path: "/v1/policy", Count: 1},
	}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("recorded %v\nwant %v", first, want)
	}
	// A flood from one address: counted, one record when the window ends.
	for range 1000 {
		do("192.0.2.1:1", "/v1/audit?n", "")
	}
	if r := take(); len(r) != 0 {
		t.Fatalf("repeats recorded at once: %v", r)
	}
	now = now.Add(refusedWindow)
	s.refusals.flush(now, false)
	if r := take(); len(r) != 1 || r[0].Count != 1000 || r[0].Path != "/v1/audit?n" || r[0].IP != "192.0.2.1" {
		t.Fatalf("after the window: %v", r)
	}
	// From many addresses: at most refusedKeys keys, the rest one count.
	now = now.Add(2 * refusedWindow)
	s.refusals.flush(now, false) // every key idle: forgotten
	for i := range 5000 {
		do(fmt.Sprintf("10.%d.%d.%d:1", i>>16, (i>>8)&255, i&255), "/v1/audit", "")
	}
	r := take()
	if len(r) != refusedKeys {
		t.Fatalf("%d recorded at once, want %d", len(r), refusedKeys)
	}
	s.refusals.flush(now.Add(refusedWindow), false)
	r = take()
	if len(r) != 1 || r[0].IP != "*" || r[0].Count != 5000-refusedKeys {
		t.Fatalf("the overflow: %v", r)
	}
}
