package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/format"
)

// loadTZ reads --tz: Local, UTC or an IANA name.
func loadTZ(name string) (*time.Location, error) {
	switch strings.ToLower(name) {
	case "", "local":
		return time.Local, nil
	case "utc", "z":
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("--tz: %w", err)
	}
	return loc, nil
}

// describeFilter says in words what f selects, for "no records match …".
func describeFilter(f *audit.Filter, loc *time.Location) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	t := func(ts time.Time) string {
		if ts.IsZero() {
			return ""
		}
		return ts.In(loc).Format(format.LocalLayout)
	}
	add("since", t(f.Since))
	add("until", t(f.Until))
	add("source", f.Source)
	add("host", f.Host)
	add("decision", f.Decision)
	add("reason", f.Reason)
	add("event", f.Event)
	add("id", f.ID)
	add("service entry", f.ServiceEntry)
	if f.Status != 0 {
		add("status", strconv.Itoa(f.Status))
	}
	add("path", f.Path)
	add("after", f.After)
	if len(parts) == 0 {
		return "(the store holds no records)"
	}
	return strings.Join(parts, ", ")
}
