# The security team's policy: every call to a declared destination is
# asked here. The registry is the floor (undeclared destinations are
# refused before policy runs); this policy can only narrow it.
# Replace it with your own (deploy/examples/policy shows rules by caller
# identity, method and path, with their unit tests).
package sluice.egress

default allow := true
