package configdoc

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/config"
	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[config.Duration]()

// scalar writes one value as the loader reads it: Durations as 30s or
// 400d, strings quoted only when YAML needs it ("" for empty), numbers and
// booleans plain.
func scalar(v reflect.Value) (string, error) {
	if v.Type() == durationType {
		return formatDuration(time.Duration(v.Int())), nil
	}
	switch v.Kind() {
	case reflect.Map:
		return flow(v)
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64:
		b, err := yaml.Marshal(v.Interface())
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(string(b), "\n"), nil
	}
	return "", fmt.Errorf("configdoc: no example syntax for a %s", v.Type())
}

// formatDuration writes whole days as "400d" and anything else in Go
// syntax without its zero units ("5m", not "5m0s"); config.ParseDuration
// reads both.
func formatDuration(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d == 0:
		return "0s"
	case d%day == 0:
		return fmt.Sprintf("%dd", d/day)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// flow writes a list or a struct on one line in YAML flow style: [a, b],
// {name: x, host: y}; an empty list is [].
func flow(v reflect.Value) (string, error) {
	var parts []string
	switch v.Kind() {
	case reflect.Slice:
		for i := range v.Len() {
			s, err := flow(v.Index(i))
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			s, err := flow(v.MapIndex(k))
			if err != nil {
				return "", err
			}
			parts = append(parts, k.String()+": "+s)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	case reflect.Struct:
		for i := range v.NumField() {
			key := tagKey(v.Type().Field(i).Tag)
			if key == "" {
				continue
			}
			s, err := flow(v.Field(i))
			if err != nil {
				return "", err
			}
			parts = append(parts, key+": "+s)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return scalar(v)
}
