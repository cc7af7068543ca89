// Package yamlx decodes YAML documents strictly: unknown keys and bad
// values are reported with the line, column and dotted path of the key, so
// that a user can fix a config file or an Istio resource without guessing.
package yamlx

import (
	"encoding"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

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
	decodeValue(node, reflect.ValueOf(out).Elem(), &path{base: prefix, index: -1}, &errs)
	return errs
}

// path is the path of the value being decoded, as a chain from the root:
// it is written out only for an error, since most values have none.
type path struct {
	parent *path
	base   string // the root's prefix
	key    string // a mapping key under parent
	index  int    // else a list index under parent (-1: neither)
}

func (p *path) String() string {
	switch {
	case p.parent == nil:
		return p.base
	case p.index >= 0:
		return p.parent.String() + "[" + strconv.Itoa(p.index) + "]"
	}
	return join(p.parent.String(), p.key)
}

var nodeType = reflect.TypeOf(yaml.Node{})
var durationType = reflect.TypeOf(time.Duration(0))
var unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
var textUnmarshalerType = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// typeInfo is what decoding needs to know of a type, worked out once per
// type rather than for every value.
type typeInfo struct {
	unmarshals bool             // *T decodes itself (yaml.Unmarshaler or encoding.TextUnmarshaler)
	fields     map[string][]int // structs: YAML key → field index
	rest       int              // structs: the `yaml:",inline"` map field, or -1
	known      string           // structs: the keys, sorted, for messages
}

var typeInfos sync.Map // reflect.Type → *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	pt := reflect.PointerTo(t)
	ti := &typeInfo{unmarshals: pt.Implements(unmarshalerType) || pt.Implements(textUnmarshalerType), rest: -1}
	if t.Kind() == reflect.Struct {
		ti.fields = structFields(t)
		ti.rest = restField(t)
		ti.known = knownKeys(ti.fields)
	}
	typeInfos.Store(t, ti)
	return ti
}

func decodeValue(n *yaml.Node, v reflect.Value, p *path, errs *[]*FieldError) {
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
	ti := infoOf(v.Type())
	// Types with their own decoding (durations, enums) decode themselves.
	if v.CanAddr() && ti.unmarshals {
		if err := n.Decode(v.Addr().Interface()); err != nil {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), cleanErr(err)})
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decodeValue(n, v.Elem(), p, errs)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), fmt.Sprintf("expected a mapping, got %s", kindName(n))})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := ti.fields[k.Value]
			if !ok && ti.rest >= 0 {
				rest := v.Field(ti.rest)
				var x any
				_ = val.Decode(&x)
				if rest.IsNil() {
					rest.Set(reflect.MakeMap(rest.Type()))
				}
				rest.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(&x).Elem())
				continue
			}
			kp := &path{parent: p, key: k.Value, index: -1}
			if !ok {
				*errs = append(*errs, &FieldError{k.Line, k.Column, kp.String(),
					fmt.Sprintf("unknown key %q (known keys: %s)", k.Value, ti.known)})
				continue
			}
			decodeValue(val, fieldByIndex(v, idx), kp, errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), fmt.Sprintf("expected a list, got %s", kindName(n))})
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			decodeValue(item, s.Index(i), &path{parent: p, index: i}, errs)
		}
		v.Set(s)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), fmt.Sprintf("expected a mapping, got %s", kindName(n))})
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		kt, et := v.Type().Key(), v.Type().Elem()
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kv := reflect.New(kt).Elem()
			if !setScalar(k, kv) {
				if err := k.Decode(kv.Addr().Interface()); err != nil {
					*errs = append(*errs, &FieldError{k.Line, k.Column, join(p.String(), k.Value), cleanErr(err)})
					continue
				}
			}
			ev := reflect.New(et).Elem()
			decodeValue(val, ev, &path{parent: p, key: k.Value, index: -1}, errs)
			v.SetMapIndex(kv, ev)
		}
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), cleanErr(err)})
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		if n.Kind != yaml.ScalarNode {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), fmt.Sprintf("expected a %s, got %s", typeName(v.Type()), kindName(n))})
			return
		}
		if setScalar(n, v) {
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			*errs = append(*errs, &FieldError{n.Line, n.Column, p.String(), fmt.Sprintf("invalid %s %q", typeName(v.Type()), n.Value)})
		}
	}
}

// fieldByIndex is v.FieldByIndex for the common one-step index.
func fieldByIndex(v reflect.Value, idx []int) reflect.Value {
	if len(idx) == 1 {
		return v.Field(idx[0])
	}
	return v.FieldByIndex(idx)
}

// setScalar sets v from the untagged scalar n where the outcome of
// n.Decode is plain to see — a string, a decimal integer, a boolean —
// without a decoder for every scalar, and reports whether it did. Like
// n.Decode it takes n.Tag as the parser resolved it; anything else
// (explicit tags, other number forms, types that decode themselves) is
// left to n.Decode.
func setScalar(n *yaml.Node, v reflect.Value) bool {
	if n.Kind != yaml.ScalarNode || n.Style&yaml.TaggedStyle != 0 {
		return false
	}
	switch v.Kind() {
	case reflect.String:
		switch n.Tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			// n.Decode sets every such scalar's text; only !!binary
			// (always explicit) and !!null differ.
			if infoOf(v.Type()).unmarshals {
				return false
			}
			v.SetString(n.Value)
			return true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Tag != "!!int" || v.Type() == durationType || infoOf(v.Type()).unmarshals {
			return false
		}
		i, ok := decimal(n.Value)
		if !ok || v.OverflowInt(i) {
			return false
		}
		v.SetInt(i)
		return true
	case reflect.Bool:
		if n.Tag != "!!bool" || infoOf(v.Type()).unmarshals {
			return false
		}
		switch n.Value {
		case "true", "True", "TRUE":
			v.SetBool(true)
			return true
		case "false", "False", "FALSE":
			v.SetBool(false)
			return true
		}
	}
	return false
}

// decimal parses s when it is a plain decimal integer without sign "+",
// leading zeros or "_" (which YAML reads as octal or other forms).
func decimal(s string) (int64, bool) {
	d := s
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 || d[0] == '0' && (len(d) > 1 || len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.ParseInt(s, 10, 64)
	return i, err == nil
}

// restField returns the index of the `yaml:",inline"` map[string]any field
// of a struct type, which collects keys the struct does not name; -1 if
// none.
func restField(t reflect.Type) int {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type.Kind() == reflect.Map && strings.Contains(f.Tag.Get("yaml"), "inline") {
			return i
		}
	}
	return -1
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
