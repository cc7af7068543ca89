package audit

import (
	"os"
	"syscall"
)

// spoolFile is what the spool needs of a segment file. It is an interface
// so that a test can put a file whose Write or Datasync fails under the
// spool (spool_sync_test.go): the fdatasync is what makes Begin's promise
// true, and nothing else would notice it missing.
type spoolFile interface {
	Write(b []byte) (int, error)
	// Datasync makes what was written durable (fdatasync).
	Datasync() error
	Stat() (os.FileInfo, error)
	Name() string
	Close() error
}

// openSpoolFileFunc opens a segment file; Options.openSpoolFile replaces
// it in tests.
type openSpoolFileFunc func(path string, flag int, perm os.FileMode) (spoolFile, error)

// osSpoolFile is a segment file on disk.
type osSpoolFile struct{ *os.File }

func (f osSpoolFile) Datasync() error { return syscall.Fdatasync(int(f.Fd())) }

// openOSSpoolFile is the production openSpoolFileFunc.
func openOSSpoolFile(path string, flag int, perm os.FileMode) (spoolFile, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	return osSpoolFile{f}, nil
}
