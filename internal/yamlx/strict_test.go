package yamlx

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

type inner struct {
	Port int      `yaml:"port"`
	Tags []string `yaml:"tags"`
}

type outer struct {
	Name  string         `yaml:"name"`
	Inner inner          `yaml:"inner"`
	List  []inner        `yaml:"list"`
	Rest  map[string]any `yaml:",inline"`
}

type strictOuter struct {
	Name  string  `yaml:"name"`
	Inner inner   `yaml:"inner"`
	List  []inner `yaml:"list"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, doc string
		lenient   bool
		want      []string
	}{
		{"ok", "name: a\ninner: {port: 1, tags: [x]}\n", false, nil},
		{"unknown key", "name: a\nnmae: b\n", false, []string{`line 2:1: nmae: unknown key "nmae" (known keys: inner, list, name)`}},
		{"inline rest collects unknown keys", "name: a\nuid: 7\n", true, nil},
		{"bad int", "inner: {port: abc}\n", false, []string{`line 1:15: inner.port: invalid integer "abc"`}},
		{"nested list path", "list: [{port: 1}, {prot: 2}]\n", false, []string{`line 1:20: list[1].prot: unknown key "prot" (known keys: port, tags)`}},
		{"mapping expected", "inner: 5\n", false, []string{`line 1:8: inner: expected a mapping, got "5"`}},
		{"list expected", "inner: {tags: x}\n", false, []string{`line 1:15: inner.tags: expected a list, got "x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tc.doc), &n); err != nil {
				t.Fatal(err)
			}
			var errs []*FieldError
			if tc.lenient {
				var o outer
				errs = Decode(&n, &o, "")
				if o.Rest["uid"] != 7 {
					t.Errorf("rest = %v", o.Rest)
				}
			} else {
				var o strictOuter
				errs = Decode(&n, &o, "")
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLocate(t *testing.T) {
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("a:\n  b:\n  - x: 1\n  - x: 2\n    y: 3\n"), &n)
	for path, want := range map[string][2]int{"a": {1, 1}, "a.b[1].y": {5, 5}, "a.b[1].missing": {4, 5}, "a.b[9]": {2, 3}} {
		l, c := Locate(&n, path)
		if l != want[0] || c != want[1] {
			t.Errorf("Locate(%s) = %d:%d, want %d:%d", path, l, c, want[0], want[1])
		}
	}
}

// setScalar must leave every value exactly as n.Decode would: it only
// saves the decoder.
func TestSetScalarAgreesWithDecode(t *testing.T) {
	type myString string
	scalars := []string{"abc", "'abc'", `"a\tb"`, "443", "-7", "0", "-0", "00", "017", "0x1F", "0o7", "1_000", "+5",
		"99999999999999999999", "128", "-129", "3.0", "1e3", ".inf", "true", "True", "TRUE", "yes", "off", "false",
		"2001-12-14", "~", "null", "''", "!!str 12", "!!int 12", "!!binary aGk=", "! 12", "<<", "|\n  block\n", ">\n  folded\n"}
	for _, s := range scalars {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte("v: "+s+"\n"), &doc); err != nil {
			t.Fatal(err)
		}
		n := doc.Content[0].Content[1]
		for _, target := range []any{new(string), new(myString), new(int), new(int8), new(int64), new(bool), new(uint)} {
			want := reflect.New(reflect.TypeOf(target).Elem())
			wantErr := n.Decode(want.Interface())
			got := reflect.New(reflect.TypeOf(target).Elem())
			if setScalar(n, got.Elem()) {
				if wantErr != nil || got.Elem().Interface() != want.Elem().Interface() {
					t.Errorf("%q into %T: setScalar gives %v, Decode %v (%v)", s, target, got.Elem(), want.Elem(), wantErr)
				}
			}
		}
	}
}
