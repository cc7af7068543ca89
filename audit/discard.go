package audit

import (
	"context"
	"time"
)

// discardStore keeps nothing. It exists for one purpose: measuring what
// recording costs (`audit.store: discard://` beside a real store in one
// benchmark run). It is never the right choice in production, and
// `sluice validate` says so.
type discardStore struct{}

func (discardStore) Write(context.Context, *Batch) error                      { return nil }
func (discardStore) LastSeq(context.Context, string) (uint64, error)          { return 0, nil }
func (discardStore) OpenRecords(context.Context, string) ([]Record, error)    { return nil, nil }
func (discardStore) Prune(context.Context, time.Time, int) (int, error)       { return 0, nil }
func (discardStore) Check(context.Context) error                              { return nil }
func (discardStore) Query(context.Context, Filter, func(*Record) error) error { return nil }
func (discardStore) Cost(context.Context, CostQuery) ([]CostRow, error)       { return nil, nil }
func (discardStore) Close() error                                             { return nil }
