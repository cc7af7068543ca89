// Package version holds the build's version, set with -ldflags -X.
package version

// Version and Commit are stamped by the Makefile; they are variables only
// so that the linker can set them.
var (
	Version = "0.1.0-dev"
	Commit  = "unknown"
)
