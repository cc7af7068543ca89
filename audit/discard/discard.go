// Package discard is the store that keeps nothing (audit.store:
// discard://). It exists for one purpose: measuring what recording costs
// (a gateway with it beside one with a real store, in one benchmark run;
// bench/egress). It is never the right choice in production, and `sluice
// serve` and `sluice validate` say so.
package discard

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/audit"
)

// URL is the only URL of the store.
const URL = "discard://"

// Driver is the discard store for audit.Stores.
func Driver() audit.Driver {
	return audit.Driver{
		Schemes: []string{"discard"},
		Form:    URL,
		Open: func(context.Context, string, audit.StoreOptions) (audit.Store, error) {
			return store{}, nil
		},
		Check: func(url string) error {
			if url != URL {
				return fmt.Errorf("takes no path (%s)", URL)
			}
			return nil
		},
	}
}

// store keeps nothing: every write succeeds, every query is empty.
type store struct{}

func (store) Write(context.Context, *audit.Batch) error                            { return nil }
func (store) LastSeq(context.Context, string) (uint64, error)                      { return 0, nil }
func (store) OpenRecords(context.Context, string) ([]audit.Record, error)          { return nil, nil }
func (store) Prune(context.Context, time.Time, int) (int, error)                   { return 0, nil }
func (store) Check(context.Context) error                                          { return nil }
func (store) Query(context.Context, audit.Filter, func(*audit.Record) error) error { return nil }
func (store) Cost(context.Context, audit.CostQuery) ([]audit.CostRow, error)       { return nil, nil }
func (store) Close() error                                                         { return nil }
