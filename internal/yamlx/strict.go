// Package yamlx decodes YAML documents strictly: unknown keys and bad
// values are reported with the line, column and dotted path of the key, so
// that a user can fix a config file or an Istio resource without guessing.
package yamlx

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem found at a key of a YAML document.
type FieldError struct {
	Line, Column int
	// Path is the dotted path of the key, e.g. "listeners.proxy" or
	// "spec.ports[1].name".
	Path string
	Msg  string
}

// Error implements error as "line:col: path: msg".
func (e *FieldError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d:%d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("line %d:%d: %s: %s", e.Line, e.Column, e.Path, e.Msg)
}

// Decode decodes node into out (a pointer to a struct) and returns every
// unknown key and every value that does not fit its field. Decoding goes on
// past errors so that all of them are reported at once.
func Decode(node *yaml.Node, out any, prefix string) []*FieldError {
	if node.Kind == yaml.DocumentNode && len(node.Content) > 0 {
		node = node.Content[0]
	}
	var errs []*FieldError
	decodeValue(node, reflect.ValueOf(out).Elem(), prefix, &errs)
	return errs
}

var nodeType = reflect.TypeOf(yaml.Node{})
var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
var textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

func decodeValue(n *yaml.Node, v reflect.Value, path string, errs *[]*FieldError) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return
	}
	// A yaml.Node field keeps the raw node for later decoding.
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	// Types with their own decoding (durations, enums) decode themselves.
	if v.CanAddr() && (v.Addr().Type().Implements(unmarshalerType) || v.Addr().Type().Implements(textUnmarshalerType)) {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, cleanErr(err)})
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decodeValue(n, v.Elem(), path, errs)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, fmt.Sprintf("expected a mapping, got %s", kindName(n))})
			return
		}
		fields := structFields(v.Type())
		rest := restField(v)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok && rest.IsValid() {
				var x any
				_ = val.Decode(&x)
				if rest.IsNil() {
					rest.Set(reflect.MakeMap(rest.Type()))
				}
				rest.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(&x).Elem())
				continue
			}
			if !ok {
				*errs = append(*errs, &FieldError{k.Line, k.Column, join(path, k.Value),
					fmt.Sprintf("unknown key %q (known keys: %s)", k.Value, knownKeys(fields))})
				continue
			}
			decodeValue(val, v.FieldByIndex(idx), join(path, k.Value), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, fmt.Sprintf("expected a list, got %s", kindName(n))})
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeValue(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), errs)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, fmt.Sprintf("expected a mapping, got %s", kindName(n))})
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kv := reflect.New(v.Type().Key()).Elem()
			if err := k.Decode(kv.Addr().Interface()); err != nil {
				*errs = append(*errs, &FieldError{k.Line, k.Column, join(path, k.Value), cleanErr(err)})
				continue
			}
			ev := reflect.New(v.Type().Elem()).Elem()
			decodeValue(val, ev, join(path, k.Value), errs)
			v.SetMapIndex(kv, ev)
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, cleanErr(err)})
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, fmt.Sprintf("expected a %s, got %s", typeName(v.Type()), kindName(n))})
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			*errs = append(*errs, &FieldError{n.Line, n.Column, path, fmt.Sprintf("invalid %s %q", typeName(v.Type()), n.Value)})
		}
	}
}

// restField returns the `yaml:",inline"` map[string]any field of a struct
// value, which collects keys the struct does not name; invalid if none.
func restField(v reflect.Value) reflect.Value {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Map && strings.Contains(f.Tag.Get("yaml"), "inline") {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// structFields maps YAML keys to field indexes, following inline structs.
func structFields(t reflect.Type) map[string][]int {
	m := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Map {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range structFields(f.Type) {
				m[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = []int{i}
	}
	return m
}

func knownKeys(fields map[string][]int) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	}
	return t.String()
}

// cleanErr strips the library's "yaml: unmarshal errors:\n  line N: " prefix:
// FieldError carries the position itself.
func cleanErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "line ") {
		if _, rest, ok := strings.Cut(s, ": "); ok {
			s = rest
		}
	}
	return s
}
