// Package e2e holds the end-to-end tests: they start the real sluice
// binary and drive it with real clients (curl, dig, Go's net/http) on
// loopback. The binary is $SLUICE_BIN, or built once per test run.
package e2e
