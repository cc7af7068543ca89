// Package configtest runs the table-driven tests of config Checks, so that
// every component tests its own section of sluice.yaml the same way: each
// case is config text and the problems it must produce, positions included.
package configtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
)

// Case is one config text and what Parse must say about it.
type Case struct {
	Name string
	YAML string
	// Want holds one substring per expected problem, e.g.
	// `cfg:1:12: registry.mode: invalid value "enforc"`; the file is named
	// "cfg". Nil means the config is valid.
	Want []string
}

// Run parses each case with config.Parse and checks, and fails unless the
// problems are exactly those the case wants.
func Run(t *testing.T, cases []Case, checks ...config.Check) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.YAML), "cfg", checks...)
			if tc.Want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			var es config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want config.Errors: %v", err, err)
			}
			if len(es) != len(tc.Want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tc.Want), err)
			}
			for _, w := range tc.Want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}
