package configdoc

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

func TestFlow(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{config.Duration(0), "0s"},
		{config.Duration(250 * time.Millisecond), "250ms"},
		{config.Duration(300 * time.Second), "5m"},
		{config.Duration(90 * time.Second), "1m30s"},
		{config.Duration(2 * time.Hour), "2h"},
		{config.Duration(90 * time.Minute), "1h30m"},
		{config.Duration(400 * 24 * time.Hour), "400d"},
		{"", `""`},
		{"127.0.0.1:3128", "127.0.0.1:3128"},
		{"*", `'*'`},
		{"true", `"true"`},
		{0.0, "0"},
		{0.002, "0.002"},
		{false, "false"},
		{65536, "65536"},
		{[]string(nil), "[]"},
		{[]string{"a", ""}, `[a, ""]`},
		{[]config.Source{{CIDR: "10.0.0.0/8", Workload: "w"}}, "[{cidr: 10.0.0.0/8, workload: w}]"},
	} {
		got, err := flow(reflect.ValueOf(tc.v))
		if err != nil || got != tc.want {
			t.Errorf("flow(%#v) = %q, %v; want %q", tc.v, got, err, tc.want)
		}
		if d, ok := tc.v.(config.Duration); ok {
			if back, err := config.ParseDuration(got); err != nil || back != d.D() {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, d.D())
			}
		}
	}
}
