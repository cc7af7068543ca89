package yamlx

import (
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Doc is one YAML document read by Doc.Parse without yaml.Node trees: a
// flat list of nodes that is reused from one document to the next, so
// that reading a large registry allocates only the values it keeps.
//
// Parse reads the YAML that Istio resources and Kubernetes lists are
// written in — block and flow mappings and sequences, plain and quoted
// scalars on one line, comments — and refuses everything else (anchors,
// tags, block and multi-line scalars, tabs, directives, "..."), and
// everything go.yaml.in/yaml/v3 would reject. For what it accepts, the
// nodes are yaml.v3's: the same kinds, values, lines and columns
// (TestFastMatchesYAMLv3 and FuzzFastMatchesYAMLv3 hold it to that). A
// caller falls back to yaml.v3 for a document Parse refuses, so that the
// refusal costs time, never a different result or message.
type Doc struct {
	nodes    []fnode
	text     []byte // the document's bytes, not owned
	arena    []byte // the values of quoted scalars with escapes
	nonASCII bool   // text has bytes >= 0x80 (columns count characters)
	intern   func([]byte) string

	// parser state
	pos, line, lineStart, depth int
}

// NodeID identifies a node of a Doc; NoNode is none.
type NodeID int32

// NoNode is the absent node.
const NoNode NodeID = -1

type fnode struct {
	kind              yaml.Kind  // ScalarNode, MappingNode or SequenceNode
	style             yaml.Style // 0, SingleQuotedStyle, DoubleQuotedStyle or FlowStyle
	escaped           bool       // the value is in arena
	null              bool       // a plain scalar yaml reads as null
	line, col         int32
	off, end          int32 // a scalar's value: text[off:end] or arena[off:end]
	first, last, next NodeID
	count             int32 // children (keys and values for a mapping)
}

// unsupported ends a Parse that met YAML it does not read.
type unsupported struct{}

const maxDepth = 64

// maxKey is the most bytes from a key's start to its ":" that Parse
// reads: yaml.v3 stops looking for the ":" of a key 1024 characters on.
const maxKey = 1000

// Parse reads one document from text, whose first byte is at line
// firstLine (1-based) of its file. It returns the document's top node
// (NoNode for an empty document) and ok; ok is false when text holds
// YAML that Parse does not read, or that is not valid. Nodes of an
// earlier Parse are no longer valid; intern, if not nil, makes the
// strings Decode stores (it may share equal ones).
func (d *Doc) Parse(text []byte, firstLine int, intern func([]byte) string) (root NodeID, ok bool) {
	d.nodes, d.arena = d.nodes[:0], d.arena[:0]
	d.text, d.intern = text, intern
	d.pos, d.line, d.lineStart, d.depth = 0, firstLine, 0, 0
	if !d.checkChars() {
		return NoNode, false
	}
	defer func() {
		if r := recover(); r != nil {
			if _, is := r.(unsupported); !is {
				panic(r)
			}
			root, ok = NoNode, false
		}
	}()
	return d.document(), true
}

// checkChars refuses the characters yaml.v3 rejects or reads other than
// as themselves: control characters (tabs and CR included, which Parse
// does not handle), invalid UTF-8, non-printable characters, byte order
// marks and the Unicode line breaks NEL, LS and PS.
func (d *Doc) checkChars() bool {
	d.nonASCII = false
	t := d.text
	for i := 0; i < len(t); {
		c := t[i]
		if c < 0x80 {
			if c < 0x20 && c != '\n' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		d.nonASCII = true
		r, n := utf8.DecodeRune(t[i:])
		if r == utf8.RuneError || r < 0xa0 || r == 0x2028 || r == 0x2029 || r == 0xfeff || r == 0xfffe || r == 0xffff {
			return false
		}
		i += n
	}
	return true
}

func fail() { panic(unsupported{}) }

func (d *Doc) peek() byte {
	if d.pos < len(d.text) {
		return d.text[d.pos]
	}
	return 0
}

func (d *Doc) at(i int) byte {
	if d.pos+i < len(d.text) {
		return d.text[d.pos+i]
	}
	return 0
}

func blankz(c byte) bool { return c == ' ' || c == '\n' || c == 0 }

// column is the 0-based column of pos, in characters.
func (d *Doc) column() int {
	c := d.pos - d.lineStart
	if d.nonASCII {
		for _, b := range d.text[d.lineStart:d.pos] {
			if b&0xc0 == 0x80 {
				c--
			}
		}
	}
	return c
}

func (d *Doc) eof() bool { return d.pos >= len(d.text) }

func (d *Doc) skipSpaces() {
	for d.pos < len(d.text) && d.text[d.pos] == ' ' {
		d.pos++
	}
}

// skipToContent skips spaces, comments and line breaks up to the next
// token; a document marker at the start of a line ends what Parse reads.
func (d *Doc) skipToContent() {
	for d.pos < len(d.text) {
		switch d.text[d.pos] {
		case ' ':
			d.pos++
		case '#':
			for d.pos < len(d.text) && d.text[d.pos] != '\n' {
				d.pos++
			}
		case '\n':
			d.pos++
			d.line++
			d.lineStart = d.pos
			if d.marker() {
				fail()
			}
		default:
			return
		}
	}
}

// marker reports whether a "---" or "..." line starts at pos.
func (d *Doc) marker() bool {
	if d.pos != d.lineStart || d.pos+3 > len(d.text) {
		return false
	}
	t := d.text[d.pos:]
	return (t[0] == '-' && t[1] == '-' && t[2] == '-' || t[0] == '.' && t[1] == '.' && t[2] == '.') && blankz(d.at(3))
}

// endLine checks that only a comment follows a value on its line, and
// moves to the next token.
func (d *Doc) endLine() {
	d.skipSpaces()
	switch d.peek() {
	case '#', '\n', 0:
	default:
		fail()
	}
	d.skipToContent()
}

func (d *Doc) node(kind yaml.Kind, style yaml.Style) NodeID {
	d.nodes = append(d.nodes, fnode{kind: kind, style: style, line: int32(d.line), col: int32(d.column() + 1), first: NoNode, last: NoNode, next: NoNode})
	return NodeID(len(d.nodes) - 1)
}

func (d *Doc) add(parent, child NodeID) {
	p := &d.nodes[parent]
	if p.last == NoNode {
		p.first = child
	} else {
		d.nodes[p.last].next = child
	}
	p.last = child
	p.count++
}

func (d *Doc) enter() {
	if d.depth++; d.depth > maxDepth {
		fail()
	}
}

func (d *Doc) document() NodeID {
	// Comments and blank lines may come before the "---" that starts the
	// document.
	for !d.eof() {
		d.skipSpaces()
		switch d.peek() {
		case '#':
			for !d.eof() && d.peek() != '\n' {
				d.pos++
			}
			continue
		case '\n':
			d.pos++
			d.line++
			d.lineStart = d.pos
			continue
		}
		break
	}
	if d.eof() {
		return NoNode
	}
	if d.pos == d.lineStart && d.marker() {
		if d.text[d.pos] == '.' {
			fail()
		}
		d.pos += 3
		d.endLine()
		if d.eof() {
			return NoNode
		}
	}
	var root NodeID
	switch c := d.peek(); {
	case c == '[' || c == '{':
		root = d.flowNode()
		d.endLine()
	case c == '-' && blankz(d.at(1)):
		root = d.blockSeq(d.column())
	default:
		root = d.blockMap(d.column(), NoNode)
	}
	if !d.eof() {
		fail()
	}
	return root
}

// blockMap reads a block mapping whose keys are at column c; key, if
// not NoNode, is its first key, already read.
func (d *Doc) blockMap(c int, key NodeID) NodeID {
	d.enter()
	defer func() { d.depth-- }()
	m, start := NoNode, d.pos // (a first key given was measured by the caller)
	for {
		if key == NoNode {
			if c2 := d.peek(); c2 == '-' && blankz(d.at(1)) || c2 == '[' || c2 == '{' {
				fail()
			}
			start = d.pos
			key = d.scalar(false)
		}
		d.skipSpaces()
		if d.peek() != ':' || !blankz(d.at(1)) || d.pos-start > maxKey {
			fail()
		}
		d.pos++
		if m == NoNode {
			// the mapping starts where its first key does
			m = d.node(yaml.MappingNode, 0)
			d.nodes[m].line, d.nodes[m].col = d.nodes[key].line, d.nodes[key].col
		}
		d.add(m, key)
		d.add(m, d.mapValue(c))
		key = NoNode
		if d.eof() {
			return m
		}
		switch n := d.column(); {
		case n < c:
			return m
		case n > c:
			fail()
		}
	}
}

// mapValue reads the value of a key of a block mapping at column c, after
// its ':'.
func (d *Doc) mapValue(c int) NodeID {
	d.skipSpaces()
	switch ch := d.peek(); ch {
	case '#', '\n', 0:
		line, col := d.line, d.column()
		d.skipToContent()
		if !d.eof() {
			n := d.column()
			isSeq := d.peek() == '-' && blankz(d.at(1))
			switch {
			case n > c && isSeq:
				return d.blockSeq(n)
			case n > c:
				return d.blockMap(n, NoNode)
			case n == c && isSeq:
				return d.blockSeq(c) // "key:\n- item", the sequence as indented as the key
			}
		}
		// An empty value is null. (Its position, where yaml.v3 puts the
		// next token, is not kept: nothing reports on it.)
		v := d.node(yaml.ScalarNode, 0)
		d.nodes[v].null, d.nodes[v].line, d.nodes[v].col = true, int32(line), int32(col+1)
		return v
	}
	v := d.inline(false)
	d.endLine()
	if !d.eof() && d.column() > c {
		fail() // a plain scalar going on, or a value too far in
	}
	return v
}

// inline reads a flow collection or a scalar that starts on this line.
func (d *Doc) inline(flow bool) NodeID {
	switch d.peek() {
	case '[', '{':
		return d.flowNode()
	}
	return d.scalar(flow)
}

// blockSeq reads a block sequence whose "-" are at column c.
func (d *Doc) blockSeq(c int) NodeID {
	d.enter()
	defer func() { d.depth-- }()
	s := d.node(yaml.SequenceNode, 0)
	for {
		d.pos++ // '-'
		d.skipSpaces()
		ch := d.peek()
		if ch == '#' || ch == '\n' || ch == 0 || ch == '-' && blankz(d.at(1)) {
			fail() // an item on the lines below, or a sequence in a sequence
		}
		var item NodeID
		if ch == '[' || ch == '{' {
			item = d.flowNode()
			d.endLine()
		} else {
			ic := d.column()
			start := d.pos
			k := d.scalar(false)
			d.skipSpaces()
			if d.peek() == ':' && blankz(d.at(1)) {
				if d.pos-start > maxKey {
					fail()
				}
				item = d.blockMap(ic, k)
			} else {
				item = k
				d.endLine()
			}
		}
		d.add(s, item)
		if d.eof() {
			return s
		}
		switch n := d.column(); {
		case n > c:
			fail()
		case n < c:
			return s
		}
		if d.peek() != '-' || !blankz(d.at(1)) {
			return s
		}
	}
}

// flowNode reads a flow mapping, sequence or scalar.
func (d *Doc) flowNode() NodeID {
	switch d.peek() {
	case '{':
		return d.flowMap()
	case '[':
		return d.flowSeq()
	}
	return d.scalar(true)
}

// flowSkip skips spaces, line breaks and comments inside a flow
// collection.
func (d *Doc) flowSkip() { d.skipToContent() }

func (d *Doc) flowMap() NodeID {
	d.enter()
	defer func() { d.depth-- }()
	m := d.node(yaml.MappingNode, yaml.FlowStyle)
	d.pos++
	d.flowSkip()
	for d.peek() != '}' {
		switch d.peek() {
		case '[', '{', ',', ':', '?':
			fail()
		}
		start := d.pos
		k := d.scalar(true)
		d.skipSpaces()
		if d.peek() != ':' || d.pos-start > maxKey {
			fail()
		}
		d.pos++
		d.flowSkip()
		var v NodeID
		if c := d.peek(); c == ',' || c == '}' {
			v = d.node(yaml.ScalarNode, 0)
			d.nodes[v].null = true
		} else {
			v = d.flowNode()
			d.flowSkip()
		}
		d.add(m, k)
		d.add(m, v)
		switch d.peek() {
		case ',':
			d.pos++
			d.flowSkip()
		case '}':
		default:
			fail()
		}
	}
	d.pos++
	return m
}

func (d *Doc) flowSeq() NodeID {
	d.enter()
	defer func() { d.depth-- }()
	s := d.node(yaml.SequenceNode, yaml.FlowStyle)
	d.pos++
	d.flowSkip()
	for d.peek() != ']' {
		item := d.flowNode()
		d.flowSkip()
		d.add(s, item)
		switch d.peek() {
		case ',':
			d.pos++
			d.flowSkip()
		case ']':
		default:
			fail() // ':' (a pair in a sequence) included
		}
	}
	d.pos++
	return s
}

// scalar reads a quoted or plain scalar on this line.
func (d *Doc) scalar(flow bool) NodeID {
	switch d.peek() {
	case '\'':
		return d.singleQuoted()
	case '"':
		return d.doubleQuoted()
	}
	return d.plain(flow)
}

// plain reads a plain scalar that ends on its line, as yaml.v3's
// scanner does: it ends before ": ", " #", a line break and, in a flow
// collection, before ",[]{}?"; spaces inside it are kept, those after it
// are not part of it.
func (d *Doc) plain(flow bool) NodeID {
	c := d.peek()
	switch c {
	case 0, ' ', '\n', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		fail()
	case '-':
		if n := d.at(1); blankz(n) || flow && isFlowIndicator(n) {
			fail()
		}
	}
	v := d.node(yaml.ScalarNode, 0)
	start, end := d.pos, d.pos
	t := d.text
	for d.pos < len(t) {
		c := t[d.pos]
		if c == ' ' {
			// spaces belong to the scalar only if more of it follows
			j := d.pos
			for j < len(t) && t[j] == ' ' {
				j++
			}
			if j == len(t) || t[j] == '\n' || t[j] == '#' {
				break
			}
			d.pos = j
			continue
		}
		if c == '\n' || c == ':' && (d.pos+1 == len(t) || t[d.pos+1] == ' ' || t[d.pos+1] == '\n') || flow && (isFlowIndicator(c) || c == '?') {
			break
		}
		d.pos++
		end = d.pos
	}
	d.pos = end
	n := &d.nodes[v]
	n.off, n.end = int32(start), int32(end)
	switch string(t[start:end]) {
	case "~", "null", "Null", "NULL":
		n.null = true
	}
	if flow {
		d.flowPlainEnds()
	}
	return v
}

// flowPlainEnds refuses a plain scalar in a flow collection that yaml.v3
// would go on reading on the next line.
func (d *Doc) flowPlainEnds() {
	save, line, ls := d.pos, d.line, d.lineStart
	d.skipSpaces()
	if d.peek() != '\n' {
		d.pos = save
		return
	}
	d.skipToContent()
	switch d.peek() {
	case ',', ']', '}':
	default:
		fail()
	}
	d.pos, d.line, d.lineStart = save, line, ls
}

func isFlowIndicator(c byte) bool {
	return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'
}

// singleQuoted reads '...' on one line, where two quotes are one.
func (d *Doc) singleQuoted() NodeID {
	v := d.node(yaml.ScalarNode, yaml.SingleQuotedStyle)
	d.pos++
	t := d.text
	start := d.pos
	escaped := false
	for {
		if d.pos >= len(t) || t[d.pos] == '\n' {
			fail()
		}
		if t[d.pos] == '\'' {
			if d.at(1) == '\'' {
				escaped = true
				d.pos += 2
				continue
			}
			break
		}
		d.pos++
	}
	n := &d.nodes[v]
	if !escaped {
		n.off, n.end = int32(start), int32(d.pos)
	} else {
		a := len(d.arena)
		for i := start; i < d.pos; i++ {
			d.arena = append(d.arena, t[i])
			if t[i] == '\'' {
				i++
			}
		}
		n.escaped, n.off, n.end = true, int32(a), int32(len(d.arena))
	}
	d.pos++
	return v
}

// doubleQuoted reads "..." on one line, with the escapes JSON has.
func (d *Doc) doubleQuoted() NodeID {
	v := d.node(yaml.ScalarNode, yaml.DoubleQuotedStyle)
	d.pos++
	t := d.text
	start := d.pos
	for d.pos < len(t) && t[d.pos] != '"' && t[d.pos] != '\\' && t[d.pos] != '\n' {
		d.pos++
	}
	if d.pos < len(t) && t[d.pos] == '"' {
		n := &d.nodes[v]
		n.off, n.end = int32(start), int32(d.pos)
		d.pos++
		return v
	}
	a := len(d.arena)
	d.arena = append(d.arena, t[start:d.pos]...)
	for {
		if d.pos >= len(t) || t[d.pos] == '\n' {
			fail()
		}
		c := t[d.pos]
		if c == '"' {
			break
		}
		if c != '\\' {
			d.arena = append(d.arena, c)
			d.pos++
			continue
		}
		e := d.at(1)
		d.pos += 2
		switch e {
		case '\\', '"':
			d.arena = append(d.arena, e)
		case 'n':
			d.arena = append(d.arena, '\n')
		case 't':
			d.arena = append(d.arena, '\t')
		case 'r':
			d.arena = append(d.arena, '\r')
		case 'b':
			d.arena = append(d.arena, '\b')
		case 'f':
			d.arena = append(d.arena, '\f')
		case 'u':
			var r rune
			for i := 0; i < 4; i++ {
				h := hexVal(d.at(0))
				if h < 0 {
					fail()
				}
				r = r<<4 | rune(h)
				d.pos++
			}
			if r >= 0xd800 && r <= 0xdfff {
				fail()
			}
			d.arena = utf8.AppendRune(d.arena, r)
		default:
			fail()
		}
	}
	n := &d.nodes[v]
	n.escaped, n.off, n.end = true, int32(a), int32(len(d.arena))
	d.pos++
	return v
}

func hexVal(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
