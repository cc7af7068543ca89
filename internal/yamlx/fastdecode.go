package yamlx

import (
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Len is the number of nodes of the document.
func (d *Doc) Len() int { return len(d.nodes) }

// Kind is the node's kind: yaml.ScalarNode, MappingNode or SequenceNode.
func (d *Doc) Kind(id NodeID) yaml.Kind { return d.nodes[id].kind }

// Pos is the node's line and column (1-based), as yaml.Node has them.
func (d *Doc) Pos(id NodeID) (line, col int) {
	n := &d.nodes[id]
	return int(n.line), int(n.col)
}

// IsNull reports whether the node is a scalar yaml reads as null.
func (d *Doc) IsNull(id NodeID) bool { return d.nodes[id].null }

// Bytes is a scalar's value (yaml.Node.Value); valid until the next Parse.
func (d *Doc) Bytes(id NodeID) []byte {
	n := &d.nodes[id]
	if n.kind != yaml.ScalarNode {
		return nil
	}
	if n.escaped {
		return d.arena[n.off:n.end]
	}
	return d.text[n.off:n.end]
}

// String is a scalar's value as a string of its own (or, with an intern
// function, a shared one).
func (d *Doc) String(id NodeID) string {
	b := d.Bytes(id)
	if d.intern != nil {
		return d.intern(b)
	}
	return string(b)
}

// Lookup returns the value of the first key of mapping m equal to key,
// or NoNode.
func (d *Doc) Lookup(m NodeID, key string) NodeID {
	if m == NoNode || d.nodes[m].kind != yaml.MappingNode {
		return NoNode
	}
	for k := d.nodes[m].first; k != NoNode; k = d.nodes[d.nodes[k].next].next {
		if string(d.Bytes(k)) == key {
			return d.nodes[k].next
		}
	}
	return NoNode
}

// Items calls f for every item of sequence s, in order.
func (d *Doc) Items(s NodeID, f func(i int, item NodeID)) {
	i := 0
	for it := d.nodes[s].first; it != NoNode; it = d.nodes[it].next {
		f(i, it)
		i++
	}
}

// Pairs calls f for every key and value of mapping m, in order.
func (d *Doc) Pairs(m NodeID, f func(k, v NodeID)) {
	for k := d.nodes[m].first; k != NoNode; {
		v := d.nodes[k].next
		f(k, v)
		k = d.nodes[v].next
	}
}

// Locate is yamlx.Locate for a node of d.
func (d *Doc) Locate(node NodeID, path string) (line, col int) {
	if node == NoNode {
		return 0, 0
	}
	line, col = d.Pos(node)
	cur := node
	forEachPart(path, func(part string) bool {
		n := &d.nodes[cur]
		if i, ok := index(part); ok && n.kind == yaml.SequenceNode {
			if i < 0 || i >= int(n.count) {
				return false
			}
			cur = n.first
			for ; i > 0; i-- {
				cur = d.nodes[cur].next
			}
			line, col = d.Pos(cur)
			return true
		}
		if n.kind != yaml.MappingNode {
			return false
		}
		for k := n.first; k != NoNode; k = d.nodes[d.nodes[k].next].next {
			if string(d.Bytes(k)) == part {
				line, col = d.Pos(k)
				cur = d.nodes[k].next
				return true
			}
		}
		return false
	})
	return line, col
}

// Node makes the yaml.Node tree of a node, as yaml.v3 would have parsed
// it (comments aside).
func (d *Doc) Node(id NodeID) *yaml.Node {
	n := &d.nodes[id]
	y := &yaml.Node{Kind: n.kind, Style: n.style, Line: int(n.line), Column: int(n.col)}
	switch n.kind {
	case yaml.ScalarNode:
		y.Value = string(d.Bytes(id))
		if n.style == 0 {
			y.Tag = y.ShortTag() // what the parser resolves it to
		} else {
			y.Tag = "!!str"
		}
	case yaml.MappingNode:
		y.Tag = "!!map"
	case yaml.SequenceNode:
		y.Tag = "!!seq"
	}
	if n.count > 0 {
		y.Content = make([]*yaml.Node, 0, n.count)
		for c := n.first; c != NoNode; c = d.nodes[c].next {
			y.Content = append(y.Content, d.Node(c))
		}
	}
	return y
}

// DecodeOptions tune Doc.Decode.
type DecodeOptions struct {
	// SkipInline leaves `yaml:",inline"` maps empty: the keys a struct
	// does not name are accepted and not kept.
	SkipInline bool
}

// Decode decodes node id into out (a pointer) as Decode would decode the
// same YAML, and reports whether it did so without error. When it did
// not, out is partly set and is to be dropped: Decode of the yaml.Node
// tree tells what the errors are.
func (d *Doc) Decode(id NodeID, out any, opts DecodeOptions) bool {
	return d.decode(id, reflect.ValueOf(out).Elem(), opts)
}

func (d *Doc) decode(id NodeID, v reflect.Value, opts DecodeOptions) bool {
	n := &d.nodes[id]
	if n.null {
		return true
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*d.Node(id)))
		return true
	}
	ti := infoOf(t)
	if ti.unmarshals {
		return v.CanAddr() && d.Node(id).Decode(v.Addr().Interface()) == nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return d.decode(id, v.Elem(), opts)
	case reflect.Struct:
		if n.kind != yaml.MappingNode {
			return false
		}
		for k := n.first; k != NoNode; {
			val := d.nodes[k].next
			idx, ok := ti.fields[string(d.Bytes(k))]
			switch {
			case ok:
				if !d.decode(val, fieldByIndex(v, idx), opts) {
					return false
				}
			case ti.rest < 0:
				return false
			case !opts.SkipInline:
				rest := v.Field(ti.rest)
				var x any
				_ = d.Node(val).Decode(&x)
				if rest.IsNil() {
					rest.Set(reflect.MakeMap(rest.Type()))
				}
				rest.SetMapIndex(reflect.ValueOf(string(d.Bytes(k))), reflect.ValueOf(&x).Elem())
			}
			k = d.nodes[val].next
		}
		return true
	case reflect.Slice:
		if n.kind != yaml.SequenceNode {
			return false
		}
		s := reflect.MakeSlice(t, int(n.count), int(n.count))
		i := 0
		for it := n.first; it != NoNode; it = d.nodes[it].next {
			if !d.decode(it, s.Index(i), opts) {
				return false
			}
			i++
		}
		v.Set(s)
		return true
	case reflect.Map:
		if n.kind != yaml.MappingNode || t.Key().Kind() != reflect.String || infoOf(t.Key()).unmarshals {
			return false
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		for k := n.first; k != NoNode; {
			val := d.nodes[k].next
			if d.nodes[k].kind != yaml.ScalarNode || d.nodes[k].null {
				return false
			}
			kv := reflect.New(t.Key()).Elem()
			kv.SetString(d.String(k))
			ev := reflect.New(t.Elem()).Elem()
			if !d.decode(val, ev, opts) {
				return false
			}
			v.SetMapIndex(kv, ev)
			k = d.nodes[val].next
		}
		return true
	case reflect.Interface:
		var x any
		if d.Node(id).Decode(&x) != nil {
			return false
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
		return true
	}
	if n.kind != yaml.ScalarNode {
		return false
	}
	b := d.Bytes(id)
	switch v.Kind() {
	case reflect.String:
		v.SetString(d.String(id))
		return true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.style == 0 && t != durationType {
			if i, ok := decimal(string(b)); ok && !v.OverflowInt(i) {
				v.SetInt(i)
				return true
			}
		}
	case reflect.Bool:
		if n.style == 0 {
			switch string(b) {
			case "true", "True", "TRUE":
				v.SetBool(true)
				return true
			case "false", "False", "FALSE":
				v.SetBool(false)
				return true
			}
		}
	}
	return d.Node(id).Decode(v.Addr().Interface()) == nil
}
