package audit

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit/spool"
)

// settled holds back, with everything after it, an open call queued since
// the cut whose outcome has not come, and any call whose queued outcome
// lies past such a call.
func TestSettled(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	since := now.Add(-400 * time.Millisecond).UnixNano()
	type entry struct {
		item spool.Item
		age  time.Duration // in the queue
	}
	begin := func(id string, age time.Duration) entry {
		return entry{spool.Item{Kind: spool.KindRecord, Payload: spooled{&Record{ID: id, TimeStart: now}}}, age}
	}
	whole := func(id string) entry {
		return entry{spool.Item{Kind: spool.KindRecord, Payload: spooled{&Record{ID: id, TimeStart: now, TimeEnd: now}}}, 0}
	}
	outcome := func(id string) entry {
		return entry{spool.Item{Kind: spool.KindOutcome, Payload: spooled{&Record{ID: id, TimeEnd: now}}}, 0}
	}
	const young, old = 10 * time.Millisecond, time.Second
	tests := []struct {
		name    string
		entries []entry
		want    int
	}{
		{"empty", nil, 0},
		{"finished records go", []entry{whole("a"), whole("b")}, 2},
		{"an old open call goes", []entry{begin("a", old), whole("b")}, 2},
		{"a young call with its outcome goes", []entry{begin("a", young), whole("b"), outcome("a")}, 3},
		{"outcomes of earlier calls go", []entry{outcome("x"), outcome("y")}, 2},
		{"a young open call waits, and what follows", []entry{whole("a"), begin("b", young), whole("c"), outcome("z")}, 1},
		{"a young open call at the front holds all", []entry{begin("a", 0), outcome("b")}, 0},
		{"a call whose outcome lies past the cut waits with it", []entry{whole("x"), begin("a", young), begin("b", young), outcome("a")}, 1},
		{"an old call goes though its outcome lies past the cut", []entry{begin("a", old), whole("x"), begin("b", young), outcome("a")}, 2},
		{"calls and outcomes interleaved", []entry{begin("a", young), begin("b", young), outcome("a"), whole("x"), outcome("b"), begin("c", 0)}, 5},
		{"an old open call before a young settled one", []entry{begin("old", old), begin("a", 0), outcome("a")}, 3},
	}
	q := newIngestQueue(time.Now)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var items []spool.Item
			var arrived []int64
			for _, e := range tt.entries {
				items = append(items, e.item)
				arrived = append(arrived, now.Add(-e.age).UnixNano())
			}
			if got := q.settled(items, arrived, since); got != tt.want {
				t.Errorf("settled = %d, want %d", got, tt.want)
			}
		})
	}
}
