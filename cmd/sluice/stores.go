package main

import (
	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/discard"
	"github.com/sluicehq/sluice/audit/postgres"
	"github.com/sluicehq/sluice/audit/sqlite"
)

// stores are the audit stores audit.store may name (docs/contract.md §3):
// the one place they are listed, one line each. A new store is a package
// under audit/ and a line here (audit/README.md, "Adding a store").
func stores() *audit.Stores {
	s := &audit.Stores{}
	s.Register(sqlite.Driver())   // sqlite://PATH, the default, behind a spool
	s.Register(postgres.Driver()) // postgres:// and postgresql://, for replicas
	s.Register(discard.Driver())  // discard://, for benchmarks only
	return s
}
