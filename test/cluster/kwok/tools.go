//go:build tools

// Package tools pins kwok; build.sh runs `go build sigs.k8s.io/kwok/cmd/kwok`.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
