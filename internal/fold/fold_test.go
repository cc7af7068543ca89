package fold

import (
	"testing"
	"time"
)

func TestFolder(t *testing.T) {
	type got struct {
		k string
		n int
	}
	var emitted []got
	f := New(10*time.Second, 2, func(k string, first, last time.Time, n int) {
		if last.Before(first) {
			t.Errorf("%s: last before first", k)
		}
		emitted = append(emitted, got{k, n})
	})
	t0 := time.Unix(1000, 0)
	steps := []struct {
		k     string
		first bool
	}{
		{"a", true}, {"a", false}, {"a", false}, {"b", true}, {"b", false},
		{"c", true}, {"c", true}, // over max: not folded, every one recorded
	}
	for i, s := range steps {
		if f.Add(s.k, t0.Add(time.Duration(i)*time.Second)) != s.first {
			t.Fatalf("step %d (%s): first = %v", i, s.k, !s.first)
		}
	}
	f.Flush(t0.Add(8*time.Second), false)
	if len(emitted) != 2 || emitted[0].n+emitted[1].n != 3 {
		t.Fatalf("emitted %v, want a:2 and b:1", emitted)
	}
	// Repeats after a flush start a new count; idle keys are forgotten.
	if f.Add("a", t0.Add(9*time.Second)) {
		t.Fatal("a within its window is a repeat")
	}
	f.Flush(t0.Add(30*time.Second), false)
	if f.Add("b", t0.Add(31*time.Second)) != true {
		t.Fatal("b idle for a window is new again")
	}
	emitted = nil
	f.Flush(t0.Add(32*time.Second), true)
	if len(emitted) != 0 {
		t.Fatalf("final flush emitted %v", emitted)
	}
}
