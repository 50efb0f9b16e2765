//go:build tools

// Package tools pins helm; build.sh runs `go build helm.sh/helm/v3/cmd/helm`.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
