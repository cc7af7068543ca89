//go:build tools

// Package tools pins the kube-apiserver command so that go.mod and go.sum
// hold exactly what `go build k8s.io/kubernetes/cmd/kube-apiserver` needs.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
