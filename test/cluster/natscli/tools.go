//go:build tools

// Package tools pins the nats CLI (natscli) for `nats bench`, the benchmarks' NATS peer;
// build.sh runs `go build github.com/nats-io/natscli/nats`. v0.1.6 is the newest release
// whose dependencies the Go module proxy and checksum database still serve.
package tools

import _ "github.com/nats-io/natscli/nats"
