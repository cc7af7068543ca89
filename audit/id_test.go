package audit

import (
	"testing"
	"time"
)

func TestIDsSortableUniqueAndTimed(t *testing.T) {
	var g idGen
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 10000 {
		// Several IDs per millisecond, and once the clock steps back.
		now := base.Add(time.Duration(i/7) * time.Millisecond)
		if i == 5000 {
			now = base
		}
		id := g.next(now)
		if len(id) != IDLen {
			t.Fatalf("len(%q) = %d", id, len(id))
		}
		if seen[id] {
			t.Fatalf("duplicate %s", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("not increasing: %s after %s", id, prev)
		}
		prev = id
		if i < 5000 {
			got, ok := IDTime(id)
			if !ok || !got.Equal(now.Truncate(time.Millisecond)) {
				t.Fatalf("IDTime(%s) = %v, %v; want %v", id, got, ok, now)
			}
		}
	}
	if _, ok := IDTime("not-an-id"); ok {
		t.Error("IDTime accepted garbage")
	}
	// Two generators (two gateways) in the same millisecond differ.
	var g2 idGen
	if a, b := g.next(base.Add(time.Hour)), g2.next(base.Add(time.Hour)); a == b {
		t.Errorf("two generators made %s", a)
	}
}
