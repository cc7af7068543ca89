package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a config file, with its position.
type Error struct {
	File         string
	Line, Column int
	Key          string
	Msg          string
}

// Error formats as "file:line:col: key: msg", the form editors jump to.
func (e *Error) Error() string {
	pos := e.File
	if e.Line > 0 && e.Column > 0 {
		pos = fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Column)
	} else if e.Line > 0 {
		pos = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Key == "" {
		return fmt.Sprintf("%s: %s", pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", pos, e.Key, e.Msg)
}

// Errors is every problem found in one config file.
type Errors []*Error

// Error joins the messages one per line.
func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
