package registry

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluicehq/sluice/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// Kinds Sluice reads.
const (
	KindServiceEntry    = "ServiceEntry"
	KindDestinationRule = "DestinationRule"
	KindVirtualService  = "VirtualService"
)

// apiVersions with the one shared schema.
var apiVersions = map[string]bool{
	"networking.istio.io/v1":       true,
	"networking.istio.io/v1beta1":  true,
	"networking.istio.io/v1alpha3": true,
}

// Parse reads the multi-document YAML data of one file named file.
func Parse(file string, data []byte) (res []*Resource, diags Diagnostics, skipped int) {
	return parseStream(file, bytes.NewReader(data))
}

// parseStream reads multi-document YAML from in, one document at a time:
// each document's tree is dropped once its resources are parsed and
// checked (Resource.seal), so memory follows the largest document, not
// the file. A syntax error ends the file, as it ends the YAML stream.
//
// Documents are read by yamlx.Doc, which builds no yaml.Node trees and
// reuses its nodes from one document to the next. From the first
// document it does not read (YAML it leaves to yaml.v3: anchors, block
// scalars, tabs…) or whose decoding finds errors, yaml.v3 and
// yamlx.Decode read the rest of the file, as they once read all of it,
// at the same lines and byte offsets (what comes before is blanked: see
// blank), and from a document or more earlier, since yaml.v3 blames an
// error in the first tokens of a document on the one before it
// (recentDocs). So findings and
// their order are the same whichever reader found them
// (TestFastPathMatchesYAMLv3, FuzzFastPath).
func parseStream(file string, in io.Reader) (res []*Resource, diags Diagnostics, skipped int) {
	shared := newInterner() // a file's entries repeat its team's labels and namespaces
	sp := newSplitter(in)
	var d yamlx.Doc
	var recent recentDocs
	doc := 0
	for {
		text, line, off, isDoc, more := sp.next()
		if !more {
			return res, diags, skipped
		}
		root, read := d.Parse(text, line, shared.bytes)
		if read && !isDoc {
			return res, diags, skipped // comments only
		}
		var r []*Resource
		var ds Diagnostics
		var s int
		decoded := read && root == yamlx.NoNode // empty document ("---" at the end, comments only)
		if read && !decoded {
			r, ds, s, decoded = parseObjectFast(file, doc, &d, root, root, "")
		}
		if !decoded {
			from := io.MultiReader(blank(off, line), bytes.NewReader(text), sp.rest())
			if len(recent.docs) > 0 {
				first := &recent.docs[0]
				var nres, ndiags int
				parts := []io.Reader{blank(first.off, first.line)}
				for i := range recent.docs {
					x := &recent.docs[i]
					nres, ndiags, skipped = nres+x.res, ndiags+x.diags, skipped-x.skipped
					parts = append(parts, bytes.NewReader(x.text))
				}
				res, diags = dropLast(res, nres), dropLast(diags, ndiags)
				from = io.MultiReader(append(parts, bytes.NewReader(text), sp.rest())...)
				doc = first.doc
			}
			r, ds, s := parseYAML(file, fullReads{from}, doc, shared)
			return append(res, r...), append(diags, ds...), skipped + s
		}
		for _, x := range r {
			x.seal(shared)
		}
		res, diags, skipped = append(res, r...), append(diags, ds...), skipped+s
		recent.add(text, line, off, doc, len(r), len(ds), s, d.Len()+1)
		doc++
	}
}

// recentDocs are the last documents read, enough of them that yaml.v3
// cannot look past them: it scans a few tokens ahead (two beyond the one
// it parses, more while a key may be pending), and blames an error it
// finds there on the document it is parsing.
type recentDocs struct {
	docs  []recentDoc
	spare [][]byte
}

type recentDoc struct {
	text                []byte
	line, off, doc      int
	res, diags, skipped int // what it added
	tokens              int // at least as many tokens as yaml.v3 scans in it
}

// lookahead is more tokens than yaml.v3 scans ahead.
const lookahead = 16

func (rd *recentDocs) add(text []byte, line, off, doc, res, diags, skipped, tokens int) {
	var buf []byte
	if n := len(rd.spare); n > 0 {
		buf, rd.spare = rd.spare[n-1][:0], rd.spare[:n-1]
	}
	rd.docs = append(rd.docs, recentDoc{append(buf, text...), line, off, doc, res, diags, skipped, tokens})
	// The first document is needed while the ones after it are too few
	// for yaml.v3 to look past.
	for {
		after := 0
		for _, x := range rd.docs[1:] {
			after += x.tokens
		}
		if after < lookahead {
			return
		}
		rd.spare = append(rd.spare, rd.docs[0].text)
		rd.docs = append(rd.docs[:0], rd.docs[1:]...)
	}
}

// dropLast drops the last n elements of s; none left is nil, as if
// there had been none.
func dropLast[S ~[]E, E any](s S, n int) S {
	if len(s) == n {
		return nil
	}
	return s[:len(s)-n]
}

// parseYAML reads the documents of in with yaml.v3, the first of them
// document doc of file.
//
// Scanning YAML is about half the work; a goroutine does it a few
// documents ahead of the checks, so that one large file keeps two CPUs
// busy.
func parseYAML(file string, in io.Reader, doc int, shared *interner) (res []*Resource, diags Diagnostics, skipped int) {
	for d := range scanDocuments(in) {
		if errors.Is(d.err, io.EOF) {
			break
		}
		if d.err != nil {
			diags = append(diags, syntaxDiag(file, doc, d.err))
			break
		}
		n := d.node
		if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
			doc++
			continue // empty document ("---" at the end, comments only)
		}
		top := n.Content[0]
		r, ds, s := parseObject(file, doc, top, top, "")
		for _, x := range r {
			x.seal(shared)
		}
		res, diags, skipped = append(res, r...), append(diags, ds...), skipped+s
		doc++
	}
	return res, diags, skipped
}

// splitter cuts a YAML stream into the text of its documents where a
// line starts with "---". The text of a document starts with its "---"
// line; the first also with the lines before it.
type splitter struct {
	r    *bufio.Reader
	buf  []byte // the document being read
	line int    // the line the next read starts
	off  int    // and its offset in the stream
	eof  bool

	hasPending  bool
	pending     []byte // the "---" line that starts the next document
	pendingLine int
	pendingOff  int
}

func newSplitter(in io.Reader) *splitter {
	r, ok := in.(*bufio.Reader)
	if !ok {
		r = bufio.NewReaderSize(in, 64<<10)
	}
	return &splitter{r: r, line: 1}
}

// next returns the text of the next document and the line it starts
// on, and more false at the end of the stream. A stream that holds only
// comments and blank lines has no document: its text is returned as
// not a document (doc false), since yaml.v3 still checks its characters.
// "---" starts a document, even an empty one (as yaml.v3 reads it). The
// text is valid until next is called again.
func (s *splitter) next() (text []byte, line, off int, doc, more bool) {
	s.buf = s.buf[:0]
	line, off = s.line, s.off
	marked, content := false, false
	if s.hasPending {
		s.buf = append(s.buf, s.pending...)
		s.hasPending = false
		line, off, marked = s.pendingLine, s.pendingOff, true
	}
	for !s.eof {
		l, err := s.readLine()
		if len(l) > 0 {
			if isMarker(l) {
				if marked || content {
					s.pending = append(s.pending[:0], l...)
					s.hasPending, s.pendingLine, s.pendingOff = true, s.line, s.off
					s.line++
					s.off += len(l)
					return s.buf, line, off, true, true
				}
				marked = true
			} else if !content {
				content = hasContent(l)
			}
			s.buf = append(s.buf, l...)
			s.line++
			s.off += len(l)
		}
		if err != nil {
			s.eof = true
		}
	}
	return s.buf, line, off, marked || content, len(s.buf) > 0
}

// readLine reads one line, its "\n" included; a read error (io.EOF at
// the end) ends the stream, as the reader underneath keeps it.
func (s *splitter) readLine() ([]byte, error) {
	l, err := s.r.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return l, err
	}
	long := append([]byte(nil), l...)
	for err == bufio.ErrBufferFull {
		l, err = s.r.ReadSlice('\n')
		long = append(long, l...)
	}
	return long, err
}

// rest is what the splitter has not returned yet: the next document's
// "---" line, if read, and the stream after it.
func (s *splitter) rest() io.Reader {
	if !s.hasPending {
		return s.r
	}
	return io.MultiReader(bytes.NewReader(s.pending), s.r)
}

// isMarker reports whether line starts a document: "---" followed by a
// blank or the end of the line.
func isMarker(l []byte) bool {
	return len(l) >= 3 && l[0] == '-' && l[1] == '-' && l[2] == '-' && (len(l) == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r')
}

// hasContent reports whether a line holds more than blanks or a comment.
func hasContent(l []byte) bool {
	for _, c := range l {
		switch c {
		case ' ', '\t', '\n', '\r':
		case '#':
			return false
		default:
			return true
		}
	}
	return false
}

// blank stands in for the first off bytes of a stream, which end line
// line-1: as many bytes and line breaks, all else spaces. yaml.v3 then
// reads what follows at the same lines, and in the same 512-byte reads
// (which decide whether a bad character later in the file or a syntax
// error comes first).
func blank(off, line int) io.Reader {
	return &blankReader{spaces: off - (line - 1), newlines: line - 1}
}

type blankReader struct{ spaces, newlines int }

func (b *blankReader) Read(p []byte) (int, error) {
	n := 0
	for ; n < len(p) && b.spaces > 0; n, b.spaces = n+1, b.spaces-1 {
		p[n] = ' '
	}
	for ; n < len(p) && b.newlines > 0; n, b.newlines = n+1, b.newlines-1 {
		p[n] = '\n'
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// fullReads fills every read it can, across the readers of an
// io.MultiReader, as a file read through a bufio.Reader does.
type fullReads struct{ r io.Reader }

func (f fullReads) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if err == io.ErrUnexpectedEOF {
		err = nil
	}
	return n, err
}

// scanned is one document of a YAML stream, or the error that ended it.
type scanned struct {
	node *yaml.Node
	err  error
}

// scanAhead is how many documents the scanner may run ahead of the
// checks: enough to keep both busy, few enough that memory stays per
// document.
const scanAhead = 16

// scanDocuments decodes the documents of in into YAML trees on its own
// goroutine. The channel ends after the first error (io.EOF at the end);
// its reader must drain it.
func scanDocuments(in io.Reader) <-chan scanned {
	out := make(chan scanned, scanAhead)
	go func() {
		defer close(out)
		dec := yaml.NewDecoder(in)
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			out <- scanned{&n, err}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// parseObject reads one Kubernetes object; a "List" is expanded into its
// items (the output of `kubectl get -o yaml`).
func parseObject(file string, doc int, root, obj *yaml.Node, prefix string) (res []*Resource, diags Diagnostics, skipped int) {
	if obj.Kind != yaml.MappingNode {
		return nil, Diagnostics{{File: file, Line: obj.Line, Column: obj.Column, Doc: doc, Field: strings.TrimSuffix(prefix, "."),
			Msg: "expected a Kubernetes object (a mapping with apiVersion and kind)"}}, 0
	}
	var head struct{ APIVersion, Kind string }
	if n := lookup(obj, "apiVersion"); n != nil {
		head.APIVersion = n.Value
	}
	if n := lookup(obj, "kind"); n != nil {
		head.Kind = n.Value
	}
	if items := lookup(obj, "items"); head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && items != nil {
		if items == nil || items.Kind != yaml.SequenceNode {
			return nil, nil, 1
		}
		for i, it := range items.Content {
			r, d, s := parseObject(file, doc, root, it, fmt.Sprintf("%sitems[%d].", prefix, i))
			res, diags, skipped = append(res, r...), append(diags, d...), skipped+s
		}
		return res, diags, skipped
	}
	if head.Kind != KindServiceEntry && head.Kind != KindDestinationRule && head.Kind != KindVirtualService {
		return nil, nil, 1
	}
	group := strings.SplitN(head.APIVersion, "/", 2)[0]
	if group != "networking.istio.io" {
		return nil, nil, 1 // same kind name in another API group is not ours
	}
	// The names Sluice knows are kept as constants, not as copies from
	// every document.
	head.Kind = knownString(head.Kind, KindServiceEntry, KindDestinationRule, KindVirtualService)
	head.APIVersion = knownString(head.APIVersion, "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
	r := &Resource{APIVersion: head.APIVersion, Kind: head.Kind, Source: Source{file, doc}, parsing: &parseState{node: root, item: prefix}}
	var envelope struct {
		APIVersion string    `yaml:"apiVersion"`
		Kind       string    `yaml:"kind"`
		Metadata   Metadata  `yaml:"metadata"`
		Spec       yaml.Node `yaml:"spec"`
		Status     yaml.Node `yaml:"status"`
	}
	envDiags := yamlx.Decode(obj, &envelope, strings.TrimSuffix(prefix, "."))
	r.Metadata = envelope.Metadata
	if r.Metadata.Namespace == "" {
		r.Metadata.Namespace = "default"
	}
	for _, fe := range envDiags {
		diags = append(diags, r.fieldDiag(fe))
	}
	if !apiVersions[head.APIVersion] {
		diags = append(diags, r.diag(SevError, "apiVersion", "unsupported apiVersion %q (want networking.istio.io/v1, v1beta1 or v1alpha3)", head.APIVersion))
		return []*Resource{r}, diags, 0
	}
	if r.Metadata.Name == "" {
		diags = append(diags, r.diag(SevError, "metadata.name", "name is required"))
	}
	spec := lookup(obj, "spec")
	if spec == nil {
		diags = append(diags, r.diag(SevError, "spec", "spec is required"))
		spec = &yaml.Node{Kind: yaml.MappingNode}
	}
	switch head.Kind {
	case KindServiceEntry:
		r.parsing.se = &ServiceEntrySpec{}
		for _, fe := range yamlx.Decode(spec, r.parsing.se, prefix+"spec") {
			diags = append(diags, r.fieldDiag(fe))
		}
	case KindDestinationRule:
		r.DestinationRule = &DestinationRuleSpec{}
		for _, fe := range yamlx.Decode(spec, r.DestinationRule, prefix+"spec") {
			diags = append(diags, r.fieldDiag(fe))
		}
	case KindVirtualService:
		r.VirtualService = &VirtualServiceSpec{}
		for _, fe := range yamlx.Decode(spec, r.VirtualService, prefix+"spec") {
			diags = append(diags, r.fieldDiag(fe))
		}
	}
	return []*Resource{r}, diags, 0
}

// parseObjectFast is parseObject for a document read by yamlx.Doc. It
// reports false where parseObject would find the object's YAML wrong (a
// value of the wrong type, an unknown key…) or not a Kubernetes object:
// parseObject is then to read the document, for its findings.
func parseObjectFast(file string, doc int, d *yamlx.Doc, root, obj yamlx.NodeID, prefix string) (res []*Resource, diags Diagnostics, skipped int, ok bool) {
	if d.Kind(obj) != yaml.MappingNode {
		return nil, nil, 0, false
	}
	var head struct{ APIVersion, Kind string }
	if n := d.Lookup(obj, "apiVersion"); n != yamlx.NoNode {
		head.APIVersion = d.String(n)
	}
	if n := d.Lookup(obj, "kind"); n != yamlx.NoNode {
		head.Kind = d.String(n)
	}
	if items := d.Lookup(obj, "items"); head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && items != yamlx.NoNode {
		if items == yamlx.NoNode || d.Kind(items) != yaml.SequenceNode {
			return nil, nil, 1, true
		}
		ok = true
		d.Items(items, func(i int, it yamlx.NodeID) {
			if !ok {
				return
			}
			r, ds, s, itemOK := parseObjectFast(file, doc, d, root, it, fmt.Sprintf("%sitems[%d].", prefix, i))
			res, diags, skipped, ok = append(res, r...), append(diags, ds...), skipped+s, itemOK
		})
		return res, diags, skipped, ok
	}
	if head.Kind != KindServiceEntry && head.Kind != KindDestinationRule && head.Kind != KindVirtualService {
		return nil, nil, 1, true
	}
	group := strings.SplitN(head.APIVersion, "/", 2)[0]
	if group != "networking.istio.io" {
		return nil, nil, 1, true // same kind name in another API group is not ours
	}
	head.Kind = knownString(head.Kind, KindServiceEntry, KindDestinationRule, KindVirtualService)
	head.APIVersion = knownString(head.APIVersion, "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3")
	r := &Resource{APIVersion: head.APIVersion, Kind: head.Kind, Source: Source{file, doc}, parsing: &parseState{doc: d, root: root, item: prefix}}
	// The envelope, as parseObject decodes it: apiVersion and kind are
	// strings, spec and status anything, and no other key is known.
	// Metadata's other keys (uid, managedFields…) are not kept.
	ok = true
	d.Pairs(obj, func(k, v yamlx.NodeID) {
		switch string(d.Bytes(k)) {
		case "apiVersion", "kind":
			ok = ok && (d.IsNull(v) || d.Kind(v) == yaml.ScalarNode)
		case "metadata":
			ok = ok && d.Decode(v, &r.Metadata, yamlx.DecodeOptions{SkipInline: true})
		case "spec", "status":
		default:
			ok = false
		}
	})
	if !ok {
		return nil, nil, 0, false
	}
	if r.Metadata.Namespace == "" {
		r.Metadata.Namespace = "default"
	}
	if !apiVersions[head.APIVersion] {
		diags = append(diags, r.diag(SevError, "apiVersion", "unsupported apiVersion %q (want networking.istio.io/v1, v1beta1 or v1alpha3)", head.APIVersion))
		return []*Resource{r}, diags, 0, true
	}
	if r.Metadata.Name == "" {
		diags = append(diags, r.diag(SevError, "metadata.name", "name is required"))
	}
	spec := d.Lookup(obj, "spec")
	if spec == yamlx.NoNode {
		diags = append(diags, r.diag(SevError, "spec", "spec is required"))
	}
	switch head.Kind {
	case KindServiceEntry:
		r.parsing.se = &ServiceEntrySpec{}
		if spec != yamlx.NoNode && !d.Decode(spec, r.parsing.se, yamlx.DecodeOptions{}) {
			return nil, nil, 0, false
		}
	case KindDestinationRule:
		r.DestinationRule = &DestinationRuleSpec{}
		if spec != yamlx.NoNode && !d.Decode(spec, r.DestinationRule, yamlx.DecodeOptions{}) {
			return nil, nil, 0, false
		}
	case KindVirtualService:
		r.VirtualService = &VirtualServiceSpec{}
		if spec != yamlx.NoNode && !d.Decode(spec, r.VirtualService, yamlx.DecodeOptions{}) {
			return nil, nil, 0, false
		}
	}
	return []*Resource{r}, diags, 0, true
}

// knownString returns the one of known equal to s, else s.
func knownString(s string, known ...string) string {
	for _, k := range known {
		if s == k {
			return k
		}
	}
	return s
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func syntaxDiag(file string, doc int, err error) Diagnostic {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		_, msg, _ = strings.Cut(msg, ": ")
	}
	return Diagnostic{File: file, Line: line, Doc: doc, Msg: "YAML syntax error: " + msg}
}
