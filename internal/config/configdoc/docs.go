// Package configdoc writes deploy/examples/sluice.yaml from the config
// structs of internal/config: every key in struct order, its default from
// config.Default() and its field's doc comment, so that each key is
// documented once, next to its field (docs/contract.md §3). The generator
// (internal/config/gendoc, run by `go generate ./internal/config`) and the
// test that the file is current both call Generate.
package configdoc

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
)

// Docs are the doc comments of yaml-tagged struct fields, by struct type
// name and then Go field name.
type Docs map[string]map[string]string

// ReadDocs parses the non-test Go files of the package in dir and returns
// the doc comment of every yaml-tagged field, and the names ("Type.Field")
// of the yaml-tagged fields that have none, in source order.
func ReadDocs(dir string) (Docs, []string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, nil, err
	}
	docs := Docs{}
	var missing []string
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return true
			}
			for _, field := range st.Fields.List {
				if yamlKey(field) == "" {
					continue
				}
				for _, id := range field.Names {
					doc := strings.TrimSpace(field.Doc.Text())
					if doc == "" {
						missing = append(missing, ts.Name.Name+"."+id.Name)
						continue
					}
					if docs[ts.Name.Name] == nil {
						docs[ts.Name.Name] = map[string]string{}
					}
					docs[ts.Name.Name][id.Name] = doc
				}
			}
			return true
		})
	}
	return docs, missing, nil
}

// yamlKey returns the key a field's yaml tag names, "" for untagged and
// yaml:"-" fields.
func yamlKey(f *ast.Field) string {
	if f.Tag == nil {
		return ""
	}
	tag, err := strconv.Unquote(f.Tag.Value)
	if err != nil {
		return ""
	}
	return tagKey(reflect.StructTag(tag))
}

// tagKey returns the key of a yaml struct tag, "" when there is none.
func tagKey(tag reflect.StructTag) string {
	key, _, _ := strings.Cut(tag.Get("yaml"), ",")
	if key == "-" {
		return ""
	}
	return key
}

// comment returns a field's doc as the comment of its yaml key: the Go
// field name that opens a doc comment becomes the key, so that the
// sentence reads for the file ("proxy is the explicit HTTP proxy").
func (d Docs) comment(typeName, field, key string) (string, error) {
	doc, ok := d[typeName][field]
	if !ok {
		return "", fmt.Errorf("configdoc: %s.%s (%s) has no doc comment", typeName, field, key)
	}
	if rest, ok := strings.CutPrefix(doc, field+" "); ok {
		doc = key + " " + rest
	}
	return doc, nil
}
