package registry

import (
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestTypesMatchCRD holds the types Sluice decodes the three kinds into to
// the fields of Istio's CRDs (testdata/istio-crd-fields.txt, from
// crd-all.gen.yaml at 86c9f01): the same keys at every depth, and values
// of the same type. A key Sluice lacks would be refused as unknown where
// the API server takes it; a key it has that the CRD lacks would be taken
// where the API server refuses it.
func TestTypesMatchCRD(t *testing.T) {
	b, err := os.ReadFile("testdata/istio-crd-fields.txt")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	var got []string
	for kind, v := range map[string]any{KindServiceEntry: ServiceEntrySpec{}, KindDestinationRule: DestinationRuleSpec{}, KindVirtualService: VirtualServiceSpec{}} {
		got = crdFields(got, kind, "spec", reflect.TypeOf(v))
	}
	sort.Strings(want)
	sort.Strings(got)
	have := map[string]bool{}
	for _, g := range got {
		have[g] = true
	}
	for _, w := range want {
		if !have[w] {
			t.Errorf("the CRD has %q, Sluice's types do not", w)
		}
		delete(have, w)
	}
	for g := range have {
		t.Errorf("Sluice's types have %q, the CRD does not", g)
	}
}

// crdFields appends "Kind path type" for t at path and everything under
// it, in the CRD's terms.
func crdFields(out []string, kind, path string, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var typ string
	switch t.Kind() {
	case reflect.String:
		typ = "string"
	case reflect.Int, reflect.Int32, reflect.Int64:
		typ = "integer"
	case reflect.Float64:
		typ = "number"
	case reflect.Bool:
		typ = "boolean"
	case reflect.Struct, reflect.Map:
		typ = "object"
	case reflect.Slice:
		typ = "array"
	}
	out = append(out, kind+" "+path+" "+typ)
	switch t.Kind() {
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if tag != "" && tag != "-" {
				out = crdFields(out, kind, path+"."+tag, t.Field(i).Type)
			}
		}
	case reflect.Slice:
		out = crdFields(out, kind, path+"[]", t.Elem())
	case reflect.Map:
		out = crdFields(out, kind, path+"{}", t.Elem())
	}
	return out
}
