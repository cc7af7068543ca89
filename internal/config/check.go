package config

import (
	"fmt"
	"strings"
)

// Problem is one invalid value a Check found: the dotted key ("dns.ttl",
// "cost.meters[0].host") and what is wrong with it. Parse turns it into an
// Error with the file, line and column of the key.
type Problem struct {
	Key, Msg string
}

// Check validates the config sections one component owns, the way a Caddy
// module validates its own config: the component knows what its keys
// mean, internal/config only decodes them and composes the checks (Load,
// Parse). A Check must not change the Config.
type Check func(*Config) []Problem

// Problemf returns the Problem at key with a formatted message.
func Problemf(key, format string, a ...any) Problem {
	return Problem{Key: key, Msg: fmt.Sprintf(format, a...)}
}

// number is what the numeric checks accept: ints, byte counts, Durations
// and prices.
type number interface {
	~int | ~int64 | ~float64
}

// The helpers below return no Problem or one, so that a Check can append
// them: ps = append(ps, config.OneOf(...)...).

// OneOf checks that v is one of allowed.
func OneOf(key, v string, allowed ...string) []Problem {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return []Problem{Problemf(key, "invalid value %q (want one of: %s)", v, strings.Join(allowed, ", "))}
}

// Positive checks that v is above zero.
func Positive[T number](key string, v T) []Problem {
	if v > 0 {
		return nil
	}
	return []Problem{{key, "must be positive"}}
}

// AtLeast checks that v is min or more.
func AtLeast[T number](key string, v, min T) []Problem {
	if v >= min {
		return nil
	}
	return []Problem{Problemf(key, "must be at least %v", min)}
}

// NonNegative checks that v is zero or more.
func NonNegative[T number](key string, v T) []Problem {
	if v >= 0 {
		return nil
	}
	return []Problem{{key, "must not be negative"}}
}

// CIDR checks that s is a CIDR or a bare IP (ParsePrefix).
func CIDR(key, s string) []Problem {
	if _, err := ParsePrefix(s); err != nil {
		return []Problem{{key, err.Error()}}
	}
	return nil
}

// HostPort checks that s is "ip" or "ip:port" (ParseHostPort).
func HostPort(key, s string) []Problem {
	if _, err := ParseHostPort(s, 0); err != nil {
		return []Problem{{key, err.Error()}}
	}
	return nil
}
