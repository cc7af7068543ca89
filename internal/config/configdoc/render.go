package configdoc

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/sluicehq/sluice/internal/config"
)

// Render writes cfg as the example file: header, then every yaml key in
// struct order with its doc comment above it. notes, by dotted key, adds a
// last line to a key's comment (why the example's value is not the
// default). Top-level sections are separated by a blank line.
func Render(cfg *config.Config, docs Docs, header string, notes map[string]string) ([]byte, error) {
	r := &renderer{docs: docs, notes: notes}
	r.b.WriteString(header)
	if err := r.fields(reflect.ValueOf(cfg).Elem(), "", ""); err != nil {
		return nil, err
	}
	return []byte(r.b.String()), nil
}

type renderer struct {
	b     strings.Builder
	docs  Docs
	notes map[string]string
}

// fields writes the yaml-tagged fields of the struct v, whose keys are
// below path, at indent.
func (r *renderer) fields(v reflect.Value, path, indent string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := tagKey(f.Tag)
		if key == "" {
			continue
		}
		doc, err := r.docs.comment(t.Name(), f.Name, key)
		if err != nil {
			return err
		}
		full := key
		if path != "" {
			full = path + "." + key
		}
		if note := r.notes[full]; note != "" {
			doc += " " + note
		}
		if indent == "" {
			r.b.WriteString("\n")
		}
		if err := r.field(v.Field(i), full, key, doc, indent); err != nil {
			return err
		}
	}
	return nil
}

// field writes one key: its comment, then its value inline (scalars,
// lists of scalars, empty lists), as a nested block (structs) or as one
// flow mapping per item (lists of structs, whose item keys are documented
// in the list's comment).
func (r *renderer) field(v reflect.Value, path, key, doc, indent string) error {
	paras := []para{{text: doc}}
	structList := v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Struct
	if structList {
		items, err := r.itemDoc(v.Type().Elem())
		if err != nil {
			return err
		}
		paras = append(paras, items...)
	}
	r.comment(paras, indent)
	switch {
	case v.Kind() == reflect.Struct:
		fmt.Fprintf(&r.b, "%s%s:\n", indent, key)
		return r.fields(v, path, indent+"  ")
	case structList && v.Len() > 0:
		fmt.Fprintf(&r.b, "%s%s:\n", indent, key)
		for i := range v.Len() {
			s, err := flow(v.Index(i))
			if err != nil {
				return fmt.Errorf("configdoc: %s[%d]: %w", path, i, err)
			}
			fmt.Fprintf(&r.b, "%s  - %s\n", indent, s)
		}
		return nil
	}
	s, err := flow(v)
	if err != nil {
		return fmt.Errorf("configdoc: %s: %w", path, err)
	}
	fmt.Fprintf(&r.b, "%s%s: %s\n", indent, key, s)
	return nil
}

// itemDoc documents the keys of one item of a list of structs: "Each
// item:", then each key's doc with a hanging indent.
func (r *renderer) itemDoc(t reflect.Type) ([]para, error) {
	paras := []para{{text: "Each item:"}}
	for i := range t.NumField() {
		f := t.Field(i)
		key := tagKey(f.Tag)
		if key == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct || f.Type.Kind() == reflect.Slice {
			return nil, fmt.Errorf("configdoc: %s.%s: list items may hold only scalars", t.Name(), f.Name)
		}
		doc, err := r.docs.comment(t.Name(), f.Name, key)
		if err != nil {
			return nil, err
		}
		paras = append(paras, para{first: "  ", rest: "    ", text: doc})
	}
	return paras, nil
}

// para is a paragraph of a key's comment: its text, refilled, and the
// prefixes of its first and following lines.
type para struct {
	first, rest, text string
}

// width is the longest comment line written, indentation included, unless
// a single word is longer.
const width = 80

// comment writes paras as YAML comment lines at indent, each refilled to
// width.
func (r *renderer) comment(paras []para, indent string) {
	for _, p := range paras {
		line := indent + "# " + p.first
		empty := true
		for _, w := range strings.Fields(p.text) {
			if !empty && len(line)+1+len(w) > width {
				r.b.WriteString(line + "\n")
				line, empty = indent+"# "+p.rest, true
			}
			if !empty {
				line += " "
			}
			line, empty = line+w, false
		}
		r.b.WriteString(line + "\n")
	}
}
