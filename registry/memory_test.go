package registry

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"
	"weak"
)

// A reload leaves nothing holding the snapshot it replaced: once calls in
// flight let go of it, the collector can free it (a leak here kept the
// whole previous registry resident after every reload).
func TestReloadReleasesOldSnapshot(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "se.yaml")
	WriteTestFile(t, file, seDoc("  hosts: [one.example.com]\n"+port443))
	r := New(Options{Paths: []string{dir}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r.OnChange(func(*Snapshot) {}) // subscribers are called with the new snapshot only
	ctx := context.Background()
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	old := weak.Make(r.Snapshot())
	WriteTestFile(t, file, seDoc("  hosts: ['*']\n"+port443)) // refused: the old set stays
	if err := r.Reload(ctx); err == nil {
		t.Fatal("invalid set accepted")
	}
	runtime.GC()
	if old.Value() == nil {
		t.Fatal("the set in force was freed")
	}
	WriteTestFile(t, file, seDoc("  hosts: [two.example.com]\n"+port443))
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5 && old.Value() != nil; i++ {
		runtime.GC()
	}
	if old.Value() != nil {
		t.Fatal("the replaced snapshot is still reachable after the swap")
	}
	if r.Snapshot().Generation != 2 {
		t.Fatalf("generation %d", r.Snapshot().Generation)
	}
}

// Per entry of a realistic registry, the most the heap may hold: while
// the resources parsed from the files wait for Build (parsedBudget), and
// once the snapshot is built and the load's garbage collected
// (retainedBudget). Today they are about 1.5 and 1.4 KiB; keeping each
// document's YAML tree costs 5–10 KiB more, and keeping file bytes or
// specs beside the entries adds to both.
const (
	parsedBudget   = 2 << 10
	retainedBudget = 2 << 10
)

// The memory a load holds, measured on a live heap after collections
// (BenchmarkLoad100k measures the peak and the time at scale).
func TestHeapPerEntry(t *testing.T) {
	const n = 10_000
	dir, _ := realisticRegistry(t, genSpec{entries: n, files: 10, drEvery: 5})
	files, err := ExpandPaths([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	perEntry := func(base uint64) float64 {
		now := heapInUse()
		return float64(now-min(now, base)) / n
	}
	base := heapInUse()
	res, ds, _ := ReadFiles(files)
	if len(ds) != 0 {
		t.Fatal(ds)
	}
	parsed := perEntry(base)
	runtime.KeepAlive(res)
	s, _, err := LoadPaths([]string{dir}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	retained := perEntry(base)
	runtime.KeepAlive(s)
	t.Logf("per entry: %.0f bytes parsed, %.0f bytes retained", parsed, retained)
	if parsed > parsedBudget {
		t.Errorf("parsed resources hold %.0f bytes per entry, budget %d", parsed, parsedBudget)
	}
	if retained > retainedBudget {
		t.Errorf("a loaded entry keeps %.0f bytes, budget %d", retained, retainedBudget)
	}
}
