package policy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Every field of the policy input changes the decision cache key: a field
// added to Input but not to cacheKey would let two inputs that differ only
// in it share a cached decision. The test walks Input by reflection, so a
// new field is covered without editing the test. input.time is the one
// field left out of the key on purpose: a policy that reads it is never
// cached (TestTimeMakesAPolicyUncacheable).
func TestEveryInputFieldChangesTheCacheKey(t *testing.T) {
	base := func() *Input {
		return &Input{
			Source:      Source{Identity: "a", IdentitySource: "mtls", IP: "10.0.0.1", Workload: "w"},
			Destination: Destination{Host: "h.example", Port: 443, ServiceEntry: &ServiceEntryRef{Name: "se", Namespace: "ns", Protocol: "HTTPS", Labels: map[string]string{"k": "v"}, Annotations: map[string]string{"k": "v"}}},
			Request:     Request{Kind: "http", Method: "GET", Path: "/", Headers: map[string][]string{"x": {"1"}}, SNI: "h.example", TLSOrigination: false},
			Time:        time.Unix(0, 0),
		}
	}
	ref := cacheKey(fullPlan(), base())
	n := 0
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() == reflect.TypeOf(time.Time{}) {
				return
			}
			for i := 0; i < v.NumField(); i++ {
				name := strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0]
				walk(path+"."+name, v.Field(i))
			}
		case reflect.Pointer:
			walk(path, v.Elem())
		default:
			n++
			in := base()
			mutate(t, path, reflect.ValueOf(in).Elem(), strings.Split(strings.TrimPrefix(path, "."), "."))
			if cacheKey(fullPlan(), in) == ref {
				t.Errorf("input%s does not change the decision cache key (policy/cache.go cacheKey)", path)
			}
		}
	}
	walk("", reflect.ValueOf(base()).Elem())
	if n < 15 {
		t.Fatalf("walked %d fields; the walk is broken", n)
	}
}

// mutate changes the field at path (JSON names) of v.
func mutate(t *testing.T, path string, v reflect.Value, names []string) {
	t.Helper()
	for _, name := range names {
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		found := false
		for i := 0; i < v.NumField(); i++ {
			if strings.Split(v.Type().Field(i).Tag.Get("json"), ",")[0] == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			t.Fatalf("no field %s", path)
		}
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int:
		v.SetInt(v.Int() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		elem := reflect.New(v.Type().Elem()).Elem()
		if elem.Kind() == reflect.Slice {
			elem = reflect.Append(elem, reflect.ValueOf("2"))
		} else {
			elem.SetString("other")
		}
		m.SetMapIndex(reflect.ValueOf("k2"), elem)
		v.Set(m)
	default:
		t.Fatalf("input%s: don't know how to change a %s; teach mutate", path, v.Kind())
	}
}

// A policy that reads input.time is never cached, since time is not in
// the key.
func TestTimeMakesAPolicyUncacheable(t *testing.T) {
	p := &inputPlan{}
	p.add([]string{"time"})
	if cacheable(p, nil) {
		t.Fatal("a plan reading input.time is cacheable")
	}
}
