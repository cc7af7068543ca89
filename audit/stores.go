package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Driver is one kind of store (docs/contract.md §3, audit.store): a
// package of its own (audit/sqlite, audit/postgres, audit/discard)
// registered in Stores under its URL schemes.
type Driver struct {
	// Schemes are the URL schemes it serves, without "://".
	Schemes []string
	// Form is how its URL is written, for messages and help:
	// "sqlite://PATH".
	Form string
	// Open opens the store at url, whose scheme is one of Schemes.
	Open func(ctx context.Context, url string, opts StoreOptions) (Store, error)
	// SpoolDir, when set, is where the spools of the store at url live:
	// its stores are SpoolStores, and the Auditor commits records to a
	// spool there (the default of Options.SpoolDir). Nil: records are
	// committed to the store directly.
	SpoolDir func(url string) string
	// Check, when set, reports what is wrong with url beyond its scheme
	// (an empty path), for config validation.
	Check func(url string) error
}

// Stores is the set of stores a program can open, by URL scheme. The
// program builds it once (cmd/sluice/stores.go, one Register per store)
// and passes it to what opens stores (Options.Stores, ConfigCheck,
// PendingSpool, ReplaySpools): there is no global registry.
type Stores struct {
	drivers []*Driver
	schemes map[string]*Driver
}

// Register adds d under each of its schemes. A scheme registered twice is
// a programming error: it panics.
func (s *Stores) Register(d Driver) {
	if s.schemes == nil {
		s.schemes = map[string]*Driver{}
	}
	if d.Open == nil || len(d.Schemes) == 0 {
		panic(fmt.Sprintf("audit: store driver %q without Open or schemes", d.Form))
	}
	dp := &d
	for _, scheme := range d.Schemes {
		if _, dup := s.schemes[scheme]; dup {
			panic("audit: store scheme " + scheme + ":// registered twice")
		}
		s.schemes[scheme] = dp
	}
	s.drivers = append(s.drivers, dp)
}

// driver is the driver of url's scheme, or an error naming the forms the
// registered stores take.
func (s *Stores) driver(url string) (*Driver, error) {
	if scheme, _, ok := strings.Cut(url, "://"); ok && s != nil {
		if d := s.schemes[scheme]; d != nil {
			return d, nil
		}
	}
	return nil, fmt.Errorf("must be %s, got %q", s.describe(), url)
}

// describe lists the forms of the registered stores: "sqlite://PATH,
// postgres://USER@HOST/DB or discard://".
func (s *Stores) describe() string {
	forms := s.Forms()
	switch len(forms) {
	case 0:
		return "a registered store (none is)"
	case 1:
		return forms[0]
	}
	return strings.Join(forms[:len(forms)-1], ", ") + " or " + forms[len(forms)-1]
}

// Forms lists how the URL of each registered store is written, in
// registration order (for help text).
func (s *Stores) Forms() []string { return s.forms(func(*Driver) bool { return true }) }

// SpoolForms lists the Forms of the stores whose records go through
// spools (what ReplaySpools takes).
func (s *Stores) SpoolForms() []string {
	return s.forms(func(d *Driver) bool { return d.SpoolDir != nil })
}

func (s *Stores) forms(keep func(*Driver) bool) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, d := range s.drivers {
		if keep(d) {
			out = append(out, d.Form)
		}
	}
	return out
}

// Schemes lists the registered URL schemes, sorted.
func (s *Stores) Schemes() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.schemes))
	for scheme := range s.schemes {
		out = append(out, scheme)
	}
	slices.Sort(out)
	return out
}

// Check reports what is wrong with url: a scheme no store serves, or what
// its store's Check says.
func (s *Stores) Check(url string) error {
	d, err := s.driver(url)
	if err != nil {
		return err
	}
	if d.Check != nil {
		return d.Check(url)
	}
	return nil
}

// Open opens the store named by url with the driver of its scheme.
func (s *Stores) Open(ctx context.Context, url string, opts StoreOptions) (Store, error) {
	d, err := s.driver(url)
	if err != nil {
		return nil, fmt.Errorf("audit: store: %w", err)
	}
	if d.Check != nil {
		if err := d.Check(url); err != nil {
			return nil, fmt.Errorf("audit: store %q: %w", url, err)
		}
	}
	return d.Open(ctx, url, opts)
}

// OpenReader opens the store named by url for queries only (what `sluice
// audit query --store` uses); it needs no writer and changes nothing.
func (s *Stores) OpenReader(ctx context.Context, url string) (Reader, error) {
	return s.Open(ctx, url, StoreOptions{ReadOnly: true})
}

// SpoolDir is where the spools of the store at url live, or "" when its
// store takes records directly (or no store serves url).
func (s *Stores) SpoolDir(url string) string {
	d, err := s.driver(url)
	if err != nil || d.SpoolDir == nil {
		return ""
	}
	return d.SpoolDir(url)
}
