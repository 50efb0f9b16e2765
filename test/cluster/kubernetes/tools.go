//go:build tools

// Package tools pins the Kubernetes commands this module builds; build.sh runs
// `go build k8s.io/kubernetes/cmd/<name>` for each of them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
