package dnsproxy

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// overflows counts the refused queries of one window folded into one
// "*" record: a source's beyond its foldPerSource names, or every
// source's beyond the window's budget.
type overflows struct {
	count       int
	first, last time.Time
	qtype       uint16
	anyType     bool     // several query types
	names       int      // distinct (name, type) pairs counted
	sources     int      // distinct sources counted (the window's overflow record)
	namesMore   bool     // the set of maxFolds was full: names is a lower bound
	sourcesMore bool     // and so is sources
	examples    []string // the first foldExamples distinct names, "name TYPE"
}

// add counts one query; newName and newSource say whether its name and
// source were not counted yet, namesFull and sourcesFull whether that
// could not be known (the set was full).
func (o *overflows) add(k foldKey, now time.Time, newName, namesFull, newSource, sourcesFull bool) {
	if o.count == 0 {
		o.first, o.qtype = now, k.qtype
	} else if k.qtype != o.qtype {
		o.anyType = true
	}
	o.count++
	o.last = now
	if newName {
		o.names++
		if len(o.examples) < foldExamples {
			o.examples = append(o.examples, example(k.name, k.qtype))
		}
	}
	if newSource {
		o.sources++
	}
	o.namesMore = o.namesMore || namesFull
	o.sourcesMore = o.sourcesMore || sourcesFull
}

// denial is the "*" record of src (invalid: the window's overflow
// record), its error field saying what it folded, e.g.
//
//	folded 1992 queries for 1992 distinct names beyond the 8 with records
//	of their own from this source in this window; e.g. "n8.flood.test A", …
func (o *overflows) denial(src netip.Addr, r denyReason) denial {
	var b strings.Builder
	b.WriteString("folded ")
	b.WriteString(strconv.Itoa(o.count))
	b.WriteString(" queries ")
	if !src.IsValid() {
		b.WriteString("from ")
		bound(&b, o.sources, o.sourcesMore, "source", "sources")
		b.WriteByte(' ')
	}
	b.WriteString("for ")
	bound(&b, o.names, o.namesMore, "distinct name", "distinct names")
	if src.IsValid() {
		b.WriteString(" beyond the " + strconv.Itoa(foldPerSource) + " with records of their own from this source in this window")
	} else {
		b.WriteString(" beyond the window's budget of " + strconv.Itoa(foldWindowBudget) + " records")
	}
	for i, e := range o.examples {
		if i == 0 {
			b.WriteString("; e.g. ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(e))
	}
	return denial{src: src, host: "*", qtype: o.qtype, anyType: o.anyType, reason: r,
		first: o.first, last: o.last, count: o.count, detail: b.String()}
}

// bound writes n with its noun, "at least" when more is set.
func bound(b *strings.Builder, n int, more bool, one, many string) {
	if more {
		b.WriteString("at least ")
	}
	b.WriteString(strconv.Itoa(n))
	b.WriteByte(' ')
	if n == 1 && !more {
		b.WriteString(one)
	} else {
		b.WriteString(many)
	}
}

// example is a quoted name: "name TYPE", the name cut at foldExampleLen
// bytes.
func example(name string, qtype uint16) string {
	if len(name) > foldExampleLen {
		name = name[:foldExampleLen] + "…"
	}
	return name + " " + dns.Type(qtype).String()
}
