package registry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// sizedFile is port443's ServiceEntry named name, padded with a comment
// to size bytes.
func sizedFile(name string, size int) string {
	doc := namedSE(name, "  hosts: ["+name+".example.com]\n"+port443)
	return doc + "#" + strings.Repeat("x", max(0, size-len(doc)-2)) + "\n"
}

func TestRegistryBytesLimit(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]int // name → size
		limit int64
		want  string // "" = loads; else the error
	}{
		{name: "no limit", files: map[string]int{"a.yaml": 4000, "b.yaml": 3000}},
		{name: "under", files: map[string]int{"a.yaml": 4000, "b.yaml": 3000}, limit: 8000},
		{name: "exactly at the limit", files: map[string]int{"a.yaml": 4000, "b.yaml": 4000}, limit: 8000},
		{name: "over: the limit, the total and the biggest files", files: map[string]int{"a.yaml": 1000, "b.yaml": 5000, "c.yaml": 3000, "d.yaml": 2000}, limit: 10000,
			want: "registry: files total 10.7 KiB (11000 bytes), over limits.registry_bytes 9.8 KiB (10000 bytes); biggest: DIR/b.yaml 4.9 KiB, DIR/c.yaml 2.9 KiB, DIR/d.yaml 2.0 KiB"},
		{name: "over, and invalid: refused before parsing", files: map[string]int{"a.yaml": 9000, "bad.yaml": -1}, limit: 1000,
			want: "registry: files total 8.8 KiB (9021 bytes), over limits.registry_bytes 1000 bytes; biggest: DIR/a.yaml 8.8 KiB, DIR/bad.yaml 21 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, size := range tc.files {
				content := sizedFile(strings.TrimSuffix(name, ".yaml"), size)
				if size < 0 {
					content = "kind: [unclosed YAML\n"
				}
				WriteTestFile(t, filepath.Join(dir, name), content)
			}
			s, ds, err := LoadPaths([]string{dir}, BuildOptions{MaxBytes: tc.limit})
			if tc.want == "" {
				if err != nil || s == nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *SizeError
			if !errors.As(err, &se) || ds != nil || s != nil {
				t.Fatalf("got %v (%T), findings %v; want a SizeError and nothing parsed", err, err, ds)
			}
			if got := strings.ReplaceAll(err.Error(), dir, "DIR"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSizeErrorMessage(t *testing.T) {
	tests := []struct {
		err  SizeError
		want string
	}{
		{SizeError{Limit: 64 << 20, Total: 80 << 20, Biggest: []FileSize{{"big.yaml", 70 << 20}, {"small.yaml", 10 << 20}}},
			"registry: files total 80.0 MiB (83886080 bytes), over limits.registry_bytes 64.0 MiB (67108864 bytes); biggest: big.yaml 70.0 MiB, small.yaml 10.0 MiB"},
		{SizeError{Limit: 1 << 20, Total: 1<<20 + 1, Grew: "live.yaml"},
			"registry: live.yaml grew while it was read: 1.0 MiB (1048577 bytes) read, over limits.registry_bytes 1.0 MiB (1048576 bytes)"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// The budget is shared by every file of a load and stops a read that
// passes it, however the sizes looked at stat time.
func TestBudgetReader(t *testing.T) {
	tests := []struct {
		name    string
		limit   int64
		inputs  []int // bytes in each file, read in turn
		grew    string
		readAll int64
	}{
		{name: "no limit", limit: 0, inputs: []int{100, 100}, readAll: 200},
		{name: "exactly the limit", limit: 200, inputs: []int{150, 50}, readAll: 200},
		{name: "one file over", limit: 99, inputs: []int{100}, grew: "f0"},
		{name: "the second file takes the load over", limit: 150, inputs: []int{100, 100}, grew: "f1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &budget{limit: tc.limit}
			var n int64
			for i, size := range tc.inputs {
				r := b.reader("f"+string(rune('0'+i)), strings.NewReader(strings.Repeat("x", size)))
				k, err := io.Copy(io.Discard, r)
				n += k
				if err != nil && !errors.Is(err, errOverBudget) {
					t.Fatal(err)
				}
			}
			err := b.exceeded()
			var se *SizeError
			switch {
			case tc.grew == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.grew == "" && n != tc.readAll:
				t.Fatalf("read %d bytes, want %d", n, tc.readAll)
			case tc.grew != "" && (!errors.As(err, &se) || se.Grew != tc.grew || se.Total <= tc.limit || n > tc.limit+1):
				t.Fatalf("got %v after reading %d bytes; want %s named as grown", err, n, tc.grew)
			}
		})
	}
}

// A file that grows between stat and read — here a FIFO, whose size is 0
// at stat time — is cut off at the limit, not read whole.
func TestRegistryBytesLimitGrowingFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "endless.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		line := []byte("# " + strings.Repeat("x", 1000) + "\n")
		for i := 0; i < 10_000; i++ { // 10 MB unless the reader stops
			if _, err := f.Write(line); err != nil {
				return
			}
		}
	}()
	_, _, err := LoadPaths([]string{dir}, BuildOptions{MaxBytes: 64 << 10})
	var se *SizeError
	if !errors.As(err, &se) || se.Grew != fifo || se.Total > 64<<10+1 {
		t.Fatalf("got %v; want the FIFO refused at the limit", err)
	}
}

// A reload over the limit is refused like any invalid set: the last good
// set stays, and the status says why.
func TestReloadOverLimitKeepsLastGoodSet(t *testing.T) {
	dir := t.TempDir()
	WriteTestFile(t, filepath.Join(dir, "a.yaml"), sizedFile("a", 1000))
	r := New(Options{Paths: []string{dir}, Build: BuildOptions{MaxBytes: 4000}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	WriteTestFile(t, filepath.Join(dir, "b.yaml"), sizedFile("b", 5000))
	err := r.Reload(ctx)
	var se *SizeError
	if !errors.As(err, &se) {
		t.Fatalf("reload: %v, want a SizeError", err)
	}
	st := r.Status()
	if st.OK || st.Generation != 1 || !strings.Contains(st.Message, "over limits.registry_bytes") {
		t.Errorf("status %+v", st)
	}
	if _, res := r.Snapshot().Lookup(mustHost(t, "a.example.com"), 443); res != Declared || r.Snapshot().Generation != 1 {
		t.Error("the last good set is gone")
	}
}
