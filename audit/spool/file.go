package spool

import (
	"os"
	"syscall"
)

// File is what the spool needs of a segment file. It is an interface so
// that a test can put a file whose Write or Datasync fails under the spool
// (audit's spool_sync_test.go): the fdatasync is what makes Begin's
// promise true, and nothing else would notice it missing.
type File interface {
	Write(b []byte) (int, error)
	// Datasync makes what was written durable (fdatasync).
	Datasync() error
	Stat() (os.FileInfo, error)
	Name() string
	Close() error
}

// OpenFileFunc opens a segment file (Options.OpenFile).
type OpenFileFunc func(path string, flag int, perm os.FileMode) (File, error)

// osFile is a segment file on disk.
type osFile struct{ *os.File }

func (f osFile) Datasync() error { return syscall.Fdatasync(int(f.Fd())) }

// OpenOSFile opens a segment file on disk: the default OpenFileFunc.
func OpenOSFile(path string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(path, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// SyncDir fsyncs a directory, making the names in it durable (a new
// segment, a new store file).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
