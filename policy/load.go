package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/loader"
)

// source is one loaded set of policy: parsed Rego modules and the data
// documents, from local paths or from a remote bundle.
type source struct {
	modules map[string]*ast.Module // by file name
	data    map[string]any
	files   []string       // every .rego and data file loaded (local paths)
	bundles []BundleStatus // bundles loaded (local directories and tarballs)
}

func newSource() *source {
	return &source{modules: map[string]*ast.Module{}, data: map[string]any{}}
}

// isBundlePath reports whether p is an OPA bundle: a directory with a
// .manifest, or a .tar.gz/.tgz file.
func isBundlePath(p string) bool {
	st, err := os.Stat(p)
	if err != nil {
		return false
	}
	if st.IsDir() {
		_, err := os.Stat(filepath.Join(p, ".manifest"))
		return err == nil
	}
	return strings.HasSuffix(p, ".tar.gz") || strings.HasSuffix(p, ".tgz")
}

// fileFilter returns the loader filter of the engine: hidden entries below
// the given paths are skipped (Kubernetes ConfigMap volumes hold every file
// twice, under ..data and a timestamped directory), and so are Rego unit
// tests (*_test.rego) unless tests is set.
func fileFilter(tests bool) loader.Filter {
	return func(path string, info fs.FileInfo, depth int) bool {
		name := info.Name()
		if depth > 0 && strings.HasPrefix(name, ".") {
			return true
		}
		return !tests && !info.IsDir() && strings.HasSuffix(name, "_test.rego")
	}
}

// bundleFilter is fileFilter for the inside of a bundle, whose .manifest
// and .signatures.json must be read.
func bundleFilter(tests bool) loader.Filter {
	return func(path string, info fs.FileInfo, depth int) bool {
		return !tests && !info.IsDir() && strings.HasSuffix(info.Name(), "_test.rego")
	}
}

// loadPaths reads .rego files, data.json/data.yaml files and OPA bundles
// (directories with a .manifest, .tar.gz files) from paths, the way `opa
// run` and `opa test` read them: a data file's document is placed under
// data at its directory's path relative to the path given. Unit tests are
// left out unless tests is set.
func loadPaths(paths []string, tests bool) (*source, error) {
	src := newSource()
	var plain []string
	var errs Errors
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			errs = append(errs, &Error{File: p, Message: "cannot read policy path: " + pathErr(err)})
			continue
		}
		if isBundlePath(p) {
			b, err := loader.NewFileLoader().
				WithRegoVersion(ast.RegoV1).
				WithProcessAnnotation(true).
				WithFilter(bundleFilter(tests)).
				AsBundle(p)
			if err != nil {
				errs = append(errs, asErrors(err)...)
				continue
			}
			if err := src.addBundle(p, b); err != nil {
				errs = append(errs, asErrors(err)...)
			}
			continue
		}
		plain = append(plain, p)
	}
	if len(plain) > 0 {
		res, err := loader.NewFileLoader().
			WithRegoVersion(ast.RegoV1).
			WithProcessAnnotation(true).
			Filtered(plain, fileFilter(tests))
		if err != nil {
			errs = append(errs, asErrors(err)...)
		} else {
			for name, f := range res.Modules {
				src.modules[name] = f.Parsed
			}
			if err := mergeData(src.data, res.Documents, nil); err != nil {
				errs = append(errs, &Error{Message: err.Error()})
			}
			files, _ := loader.FilteredPaths(plain, fileFilter(tests))
			for _, f := range files {
				switch strings.ToLower(filepath.Ext(f)) {
				case ".rego", ".json", ".yaml", ".yml", ".gz", ".tgz":
					src.files = append(src.files, f)
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	slices.Sort(src.files)
	return src, nil
}

func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// addBundle adds a bundle's modules and data to src. Delta bundles
// (patches) are refused: Sluice activates whole snapshots only.
func (src *source) addBundle(name string, b *bundle.Bundle) error {
	if b.Type() == bundle.DeltaBundleType {
		return fmt.Errorf("bundle %s: delta bundles are not supported; serve a snapshot bundle", name)
	}
	for _, m := range b.Modules {
		key, parsed := m.Path, m.Parsed
		if !strings.HasPrefix(key, name) {
			// A tarball names its files /x.rego; parse again under
			// <bundle>/x.rego so that errors say where the file came from.
			key = strings.TrimSuffix(name, "/") + "/" + strings.TrimPrefix(m.Path, "/")
			var err error
			parsed, err = ast.ParseModuleWithOpts(key, string(m.Raw),
				ast.ParserOptions{RegoVersion: m.Parsed.RegoVersionSpan().Min(), ProcessAnnotation: true})
			if err != nil {
				return err
			}
		}
		if _, dup := src.modules[key]; dup {
			return fmt.Errorf("bundle %s: module %s loaded twice", name, key)
		}
		src.modules[key] = parsed
	}
	if err := mergeData(src.data, b.Data, nil); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	src.bundles = append(src.bundles, BundleStatus{Path: name, Revision: b.Manifest.Revision})
	return nil
}

// merge combines sources into one; module names must not repeat and data
// documents must not conflict.
func merge(srcs ...*source) (*source, error) {
	out := newSource()
	for _, s := range srcs {
		if s == nil {
			continue
		}
		for k, m := range s.modules {
			if _, dup := out.modules[k]; dup {
				return nil, fmt.Errorf("module %s is loaded twice", k)
			}
			out.modules[k] = m
		}
		if err := mergeData(out.data, s.data, nil); err != nil {
			return nil, err
		}
		out.files = append(out.files, s.files...)
		out.bundles = append(out.bundles, s.bundles...)
	}
	return out, nil
}

// mergeData deep-merges src into dst; two values at the same path that
// are not both objects are a conflict.
func mergeData(dst, src map[string]any, path []string) error {
	for k, v := range src {
		cur, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		cm, ok1 := cur.(map[string]any)
		vm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 {
			return fmt.Errorf("data conflict at data.%s: defined by more than one file", strings.Join(append(path, k), "."))
		}
		// Do not modify a map another source owns.
		cm = maps.Clone(cm)
		if err := mergeData(cm, vm, append(path, k)); err != nil {
			return err
		}
		dst[k] = cm
	}
	return nil
}
