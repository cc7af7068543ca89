package main

import "errors"

// exitError ends the program with a code and an optional message, for
// commands whose failure is an answer (validate, policy test) rather than
// an error.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func asExit(err error, target **exitError) bool { return errors.As(err, target) }

// exitCode returns an error that makes sluice exit with code.
func exitCode(code int, msg string) error { return &exitError{code: code, msg: msg} }
