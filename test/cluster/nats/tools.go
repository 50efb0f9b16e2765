//go:build tools

// Package tools pins nats-server; build.sh runs `go build github.com/nats-io/nats-server/v2`.
package tools

import _ "github.com/nats-io/nats-server/v2"
