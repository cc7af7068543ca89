package registry

import (
	"errors"
	"fmt"
)

// envoyHeaderValue is Istio's validateHeaderValue
// (pkg/config/validation/header_value_validator.go), itself a port of
// Envoy's header_parser.cc: a header value Istio passes to Envoy may hold
// %VARIABLE% and %VARIABLE(args)% expressions and "%%" for a literal %,
// and any other % is refused, as Envoy would refuse the configuration.
func envoyHeaderValue(v string) error {
	const (
		literal              = iota // processing literal data
		variableName                // consuming a %VAR% name
		expectArray                 // expect starting [ in %VAR([...])%
		expectString                // expect starting " in array of strings
		inString                    // consuming an array element string
		expectDelimiterOrEnd        // expect , or ] in the array
		expectArgsEnd               // expect closing ) in %VAR(...)%
		expectVariableEnd           // expect closing % in %VAR(...)%
	)
	state := literal
	for pos := 0; pos < len(v); pos++ {
		ch := v[pos]
		hasNext := pos+1 < len(v)
		switch state {
		case literal:
			if ch != '%' {
				break
			}
			if !hasNext {
				return errors.New("invalid header configuration. Un-escaped %")
			}
			if v[pos+1] == '%' {
				pos++
				break
			}
			state = variableName
		case variableName:
			if ch == '%' {
				state = literal
			} else if ch == '(' {
				state = expectArray
			}
		case expectArray:
			if ch == '[' {
				state = expectString
			} else if ch != ' ' {
				state = inString
			}
		case expectDelimiterOrEnd:
			switch {
			case ch == ',':
				state = expectString
			case ch == ']':
				state = expectArgsEnd
			case ch != ' ':
				return errors.New("invalid header configuration. Expecting ',', ']', or whitespace")
			}
		case expectString:
			if ch == '"' {
				state = inString
			} else if ch != ' ' {
				return errors.New("invalid header configuration. Expecting '\"'")
			}
		case inString:
			switch {
			case ch == '\\':
				if !hasNext {
					return errors.New("invalid header configuration. Un-terminated backslash in JSON string")
				}
				pos++
			case ch == ')':
				state = expectVariableEnd
			case ch == '"':
				state = expectDelimiterOrEnd
			}
		case expectArgsEnd:
			if ch == ')' {
				state = expectVariableEnd
			} else if ch != ' ' {
				return errors.New("invalid header configuration. Expecting ')' or whitespace after '{}', but found '{}'")
			}
		case expectVariableEnd:
			if ch == '%' {
				state = literal
			} else if ch != ' ' {
				return errors.New("invalid header configuration. Expecting '%' or whitespace after")
			}
		}
	}
	if state != literal {
		return fmt.Errorf("invalid header configuration. Un-terminated variable expression '%s'", v)
	}
	return nil
}
