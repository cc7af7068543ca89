package registry

import (
	"context"
	"slices"
)

// ObjectSource supplies resources that do not come from files: the Kubernetes
// API (registry/kube). A load merges its documents with the files'.
//
// Files are a set that is valid or refused whole, as before. A source's
// resources are judged one at a time, like objects in a cluster: one that
// is invalid on its own, or that the merged set cannot take (a duplicate
// of a file's resource, a certificate that does not load), is left out of
// the load while the rest apply, and its last good version, if it had
// one, stays in its place.
type ObjectSource interface {
	// Documents returns the source's objects as YAML documents.
	Documents() []Document
	// Credentials is given the credentialName of every DestinationRule of
	// the set being built; it returns the directory that holds one
	// subdirectory per name (BuildOptions.CredentialsDir), or "" to keep
	// the configured one.
	Credentials(ctx context.Context, names []string) string
	// Applied reports a load that succeeded: the documents it used (for
	// their keys: the source's new last good versions) and those it left
	// out, with the findings that name them.
	Applied(used []Document, skipped []Skipped)
}

// Document is one object of an ObjectSource.
type Document struct {
	// Key identifies the object across its versions, e.g.
	// "ServiceEntry payments/stripe".
	Key string
	// File is what findings and /v1/registry call it, e.g.
	// "kubernetes:payments/stripe?resourceVersion=42".
	File string
	// Data is the object as YAML.
	Data []byte
	// LastGood is the version last applied, used when this one cannot be;
	// nil when there is none (or it is this one).
	LastGood *Document
}

// Skipped is a document a load left out, and why.
type Skipped struct {
	Document    Document
	Diagnostics Diagnostics // the errors that name it
	// Kept is true when its last good version applies instead.
	Kept bool
}

// LoadWithSource reads paths like LoadPaths and merges the documents of
// src. An invalid file, or a source document whose error cannot be
// isolated, refuses the whole set (a *ValidationError or *SizeError);
// otherwise the snapshot holds the files and every source document that
// is valid, and src.Applied is told which were used and which were not.
func LoadWithSource(ctx context.Context, paths []string, opts BuildOptions, src ObjectSource) (*Snapshot, Diagnostics, error) {
	if src == nil {
		return LoadPaths(paths, opts)
	}
	defer boundGC()()
	files, fileRes, ds, skippedObjects, err := readFileSet(paths, opts.MaxBytes)
	if err != nil {
		return nil, ds, err
	}
	docs := src.Documents()
	var skipped []Skipped
	// chosen[i] is the version of docs[i] in this load, parsed (nil: none).
	chosen := make([]*parsedDoc, len(docs))
	for i := range docs {
		d := parseDoc(&docs[i])
		if len(d.errs) == 0 {
			chosen[i] = d
			continue
		}
		sk := Skipped{Document: docs[i], Diagnostics: d.errs}
		if lg := docs[i].LastGood; lg != nil {
			if g := parseDoc(lg); len(g.errs) == 0 {
				chosen[i], sk.Kept = g, true
			}
		}
		skipped = append(skipped, sk)
	}
	// Build the merge; a source document named by an error is left out
	// (its last good version tried in its place once) and the set rebuilt,
	// so that one bad object never blocks the others. Each round removes
	// at least one document, so this ends.
	for {
		res := slices.Clone(fileRes)
		byFile := map[string]int{}
		for i, d := range chosen {
			if d != nil {
				res = append(res, d.res...)
				byFile[d.doc.File] = i
			}
		}
		var creds []string
		for _, r := range res {
			creds = append(creds, credentialNames(r)...)
		}
		o := opts
		if dir := src.Credentials(ctx, creds); dir != "" {
			o.CredentialsDir = dir
		}
		s, bds := Build(res, o)
		if s != nil {
			used := make([]Document, 0, len(chosen))
			for _, d := range chosen {
				if d != nil {
					used = append(used, *d.doc)
				}
			}
			if r, ok := src.(Restrictor); ok {
				if allow, on := r.Restriction(); on {
					s.restrict(allow)
				}
			}
			src.Applied(used, skipped)
			s.Files, s.Skipped = files, skippedObjects
			return s, append(ds, bds...), nil
		}
		blamed := map[int]Diagnostics{}
		for _, e := range bds.Errors() {
			if i, ok := byFile[e.File]; ok {
				blamed[i] = append(blamed[i], e)
			}
		}
		if len(blamed) == 0 {
			all := append(ds, bds...)
			return nil, all, &ValidationError{all}
		}
		for i, errs := range blamed {
			d := chosen[i]
			sk := Skipped{Document: *d.doc, Diagnostics: errs}
			chosen[i] = nil
			if lg := docs[i].LastGood; lg != nil && d.doc != lg {
				if g := parseDoc(lg); len(g.errs) == 0 {
					chosen[i], sk.Kept = g, true
				}
			}
			skipped = append(skipped, sk)
		}
	}
}

// parsedDoc is a Document parsed, with its errors on its own: YAML,
// schema and Istio's checks of the resource alone.
type parsedDoc struct {
	doc  *Document
	res  []*Resource
	errs Diagnostics
}

func parseDoc(d *Document) *parsedDoc {
	res, ds, _ := Parse(d.File, d.Data)
	errs := ds.Errors()
	for _, r := range res {
		errs = append(errs, r.checks.Errors()...)
	}
	return &parsedDoc{doc: d, res: res, errs: errs}
}

// credentialNames lists the credentialName of every TLS setting of a
// DestinationRule.
func credentialNames(r *Resource) []string {
	dr := r.DestinationRule
	if dr == nil {
		return nil
	}
	var names []string
	add := func(tp *TrafficPolicy) {
		if tp == nil {
			return
		}
		if tp.TLS != nil && tp.TLS.CredentialName != "" {
			names = append(names, tp.TLS.CredentialName)
		}
		for _, pl := range tp.PortLevelSettings {
			if pl.TLS != nil && pl.TLS.CredentialName != "" {
				names = append(names, pl.TLS.CredentialName)
			}
		}
	}
	add(dr.TrafficPolicy)
	for _, ss := range dr.Subsets {
		add(ss.TrafficPolicy)
	}
	return names
}

// BoundGC lowers GOGC to what a load runs at until the returned function
// is called, as loads do (boundGC): for work that builds a registry's
// worth of garbage outside a load, such as the Kubernetes source's first
// list of every object.
func BoundGC() (restore func()) { return boundGC() }
