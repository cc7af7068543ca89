package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/config"
)

func TestCheckHelpers(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []config.Problem
		want string // the message, "" for none
	}{
		{"one of", config.OneOf("k", "a", "a", "b"), ""},
		{"not one of", config.OneOf("k", "c", "a", "b"), `invalid value "c" (want one of: a, b)`},
		{"positive", config.Positive("k", config.Duration(time.Second)), ""},
		{"zero is not positive", config.Positive("k", config.Duration(0)), "must be positive"},
		{"at least", config.AtLeast("k", 1024, 1024), ""},
		{"below", config.AtLeast("k", 1000, 1024), "must be at least 1024"},
		{"non-negative", config.NonNegative("k", 0.0), ""},
		{"negative", config.NonNegative("k", int64(-1)), "must not be negative"},
		{"cidr", config.CIDR("k", "10.0.0.0/8"), ""},
		{"bare ip", config.CIDR("k", "2001:db8::1"), ""},
		{"bad cidr", config.CIDR("k", "10.0.0.0/33"), `invalid CIDR "10.0.0.0/33"`},
		{"ip", config.HostPort("k", "1.1.1.1"), ""},
		{"ip and port", config.HostPort("k", "[2001:db8::1]:53"), ""},
		{"name", config.HostPort("k", "dns.example:53"), `invalid address "dns.example:53": want ip or ip:port`},
	} {
		var want []config.Problem
		if tc.want != "" {
			want = []config.Problem{{Key: "k", Msg: tc.want}}
		}
		if !reflect.DeepEqual(tc.got, want) {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, want)
		}
	}
}
