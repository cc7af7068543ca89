package registry

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync/atomic"
)

// SizeError refuses a set of registry files whose total size exceeds
// limits.registry_bytes. The set is refused whole, before any of it is
// parsed: a registry that large would cost the gateway memory and seconds
// of CPU at every reload, and is most often a mistake (a generated dump,
// a log file with a .yaml name).
type SizeError struct {
	// Limit is limits.registry_bytes.
	Limit int64
	// Total is the size of every file, as stat reported it, or the bytes
	// read so far when a file grew while it was read.
	Total int64
	// Biggest are the largest files, largest first (at most three).
	Biggest []FileSize
	// Grew names the file that grew past the limit while it was read; ""
	// when the sizes on disk were already over it.
	Grew string
}

// FileSize is one file of the registry and its size in bytes.
type FileSize struct {
	File string `json:"file"`
	Size int64  `json:"size"`
}

// Error names the limit, the total and the biggest files, e.g.
// "registry: files total 80.0 MiB (83886080 bytes), over
// limits.registry_bytes 64.0 MiB (67108864 bytes); biggest: a.yaml 70.0
// MiB, b.yaml 10.0 MiB".
func (e *SizeError) Error() string {
	var b strings.Builder
	if e.Grew != "" {
		fmt.Fprintf(&b, "registry: %s grew while it was read: %s read, over limits.registry_bytes %s",
			e.Grew, exact(e.Total), exact(e.Limit))
	} else {
		fmt.Fprintf(&b, "registry: files total %s, over limits.registry_bytes %s", exact(e.Total), exact(e.Limit))
	}
	for i, f := range e.Biggest {
		if i == 0 {
			b.WriteString("; biggest: ")
		} else {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %s", f.File, mib(f.Size))
	}
	return b.String()
}

// exact writes a size readably and to the byte: "64.0 MiB (67108864
// bytes)".
func exact(n int64) string {
	if n < 1<<10 {
		return mib(n)
	}
	return fmt.Sprintf("%s (%d bytes)", mib(n), n)
}

// mib writes a size the way people read it: bytes, KiB or MiB.
func mib(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// maxBiggest is how many of the largest files a SizeError names.
const maxBiggest = 3

// checkSizes stats files and refuses them when their total exceeds limit
// (0 = no limit). It returns the sizes, in the order of files.
func checkSizes(files []string, limit int64) ([]int64, error) {
	sizes := make([]int64, len(files))
	var total int64
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		sizes[i] = st.Size()
		total += st.Size()
	}
	if limit > 0 && total > limit {
		return nil, &SizeError{Limit: limit, Total: total, Biggest: biggest(files, sizes)}
	}
	return sizes, nil
}

// biggest lists the largest files, largest first, ties in path order.
func biggest(files []string, sizes []int64) []FileSize {
	all := make([]FileSize, len(files))
	for i, f := range files {
		all[i] = FileSize{f, sizes[i]}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Size > all[j].Size })
	return all[:min(len(all), maxBiggest)]
}

// budget is the bytes a load may still read: limits.registry_bytes shared
// by every file of the set, so a file that grows between stat and read
// (or several files read at once) cannot take the load past the limit.
type budget struct {
	limit int64 // 0 = none
	read  atomic.Int64
	grew  atomic.Pointer[string] // the first file read past the limit
}

// errOverBudget ends a read that would pass the limit; the loader turns
// it into a SizeError.
var errOverBudget = errors.New("registry: read past limits.registry_bytes")

// reader wraps r, the contents of file, so that its reads count against
// the budget.
func (b *budget) reader(file string, r io.Reader) io.Reader {
	if b.limit <= 0 {
		return r
	}
	return &budgetReader{r: r, b: b, file: file}
}

// exceeded returns the SizeError of a load that read past the limit, or
// nil.
func (b *budget) exceeded() error {
	f := b.grew.Load()
	if f == nil {
		return nil
	}
	return &SizeError{Limit: b.limit, Total: b.read.Load(), Grew: *f}
}

type budgetReader struct {
	r    io.Reader
	b    *budget
	file string
}

// Read reads at most what is left of the budget plus one byte, so that
// reaching the limit exactly is fine and passing it is seen.
func (br *budgetReader) Read(p []byte) (int, error) {
	left := br.b.limit - br.b.read.Load() + 1
	if left <= 0 {
		br.over()
		return 0, errOverBudget
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := br.r.Read(p)
	if br.b.read.Add(int64(n)) > br.b.limit {
		br.over()
		return n, errOverBudget
	}
	return n, err
}

func (br *budgetReader) over() {
	f := br.file
	br.b.grew.CompareAndSwap(nil, &f)
}
