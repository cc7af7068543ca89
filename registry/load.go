package registry

import (
	"bufio"
	"cmp"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
)

// LoadPaths reads and validates paths without touching any registry: what
// `sluice validate` and every reload do. A set of files larger than
// opts.MaxBytes is refused with a *SizeError before any of it is parsed.
func LoadPaths(paths []string, opts BuildOptions) (*Snapshot, Diagnostics, error) {
	defer boundGC()()
	files, res, ds, skipped, err := readFileSet(paths, opts.MaxBytes)
	if err != nil {
		return nil, ds, err
	}
	s, bds := Build(res, opts)
	ds = append(ds, bds...)
	if s == nil {
		return nil, ds, &ValidationError{ds}
	}
	s.Files, s.Skipped = files, skipped
	return s, ds, nil
}

// readFileSet expands paths and reads every file within maxBytes: the
// files, what they hold, and the findings. A set with errors is refused
// whole (a *ValidationError with the findings; a *SizeError before any
// parsing when it is too big).
func readFileSet(paths []string, maxBytes int64) (files []string, res []*Resource, ds Diagnostics, skipped int, err error) {
	files, err = ExpandPaths(paths)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	sizes, err := checkSizes(files, maxBytes)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	b := &budget{limit: maxBytes}
	res, ds, skipped = readFiles(files, sizes, b)
	if err := b.exceeded(); err != nil {
		return nil, nil, nil, 0, err
	}
	if len(ds.Errors()) > 0 {
		return nil, nil, ds, 0, &ValidationError{ds}
	}
	return files, res, ds, skipped, nil
}

// ReadFiles parses every file. Syntax errors and schema errors (unknown
// keys, wrong types, unknown apiVersions) are returned as findings; other
// kinds are skipped and counted in skipped.
func ReadFiles(files []string) (res []*Resource, diags Diagnostics, skipped int) {
	return readFiles(files, nil, &budget{})
}

// parsed is what one file gave.
type parsed struct {
	res     []*Resource
	diags   Diagnostics
	skipped int
}

// readFiles parses files on every CPU, biggest first (sizes, when given,
// are their sizes), and returns what they hold in the order of files, so
// that findings come out as if the files were read one after the other.
// Every read counts against b.
func readFiles(files []string, sizes []int64, b *budget) (res []*Resource, diags Diagnostics, skipped int) {
	order := make([]int, len(files))
	for i := range order {
		order[i] = i
	}
	if sizes != nil {
		slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(sizes[j], sizes[i]) })
	}
	out := make([]parsed, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = readFile(files[i], b)
			}
		}()
	}
	for _, i := range order {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, p := range out {
		res, diags, skipped = append(res, p.res...), append(diags, p.diags...), skipped+p.skipped
	}
	return res, diags, skipped
}

// readFile parses one file as it streams in: the file's bytes are not
// kept, only what is parsed from them.
func readFile(file string, b *budget) parsed {
	f, err := os.Open(file)
	if err != nil {
		return parsed{diags: Diagnostics{{File: file, Msg: err.Error()}}}
	}
	defer f.Close()
	in := &errReader{r: b.reader(file, f)}
	// yaml reads 512 bytes at a time; a 64 KiB buffer saves the syscalls.
	res, ds, skipped := parseStream(file, bufio.NewReaderSize(in, 64<<10))
	if in.err != nil {
		// A file that cannot be read is one finding, as when nothing of
		// it is read, not a YAML syntax error.
		return parsed{diags: Diagnostics{{File: file, Msg: in.err.Error()}}}
	}
	return parsed{res, ds, skipped}
}

// errReader keeps the first error of r other than io.EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// loadGOGC is the most GOGC a load runs at. The gateway runs at 400, so
// that the collector runs seldom while calls allocate; a load allocates
// three times what it keeps, and at 400 the heap may grow to five times
// what is live before the collector runs: loading 100,000 entries peaked
// at 300 MB, and reloading them beside the snapshot in force at 840 MB
// (BenchmarkLoad100k, BenchmarkReload100k). At 100 they peak at 240 and
// about 400 MB, for a few tenths of a CPU-second more per load.
const loadGOGC = 100

var gcBound struct {
	sync.Mutex
	loads int // loads running
	saved int // the GOGC to restore when the last ends; 0: none
}

// boundGC lowers GOGC to loadGOGC while loads run (an operator's lower
// GOGC, or GOGC=off, is left alone) and returns what restores it.
func boundGC() (restore func()) {
	gcBound.Lock()
	defer gcBound.Unlock()
	if gcBound.loads == 0 {
		s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
		metrics.Read(s)
		gcBound.saved = 0
		if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() > loadGOGC {
			gcBound.saved = debug.SetGCPercent(loadGOGC)
		}
	}
	gcBound.loads++
	return func() {
		gcBound.Lock()
		defer gcBound.Unlock()
		if gcBound.loads--; gcBound.loads == 0 && gcBound.saved != 0 {
			debug.SetGCPercent(gcBound.saved)
		}
	}
}
