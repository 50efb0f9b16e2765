// Command etcd is etcd's own server entry point, built from its published module because
// `go install` refuses a module with replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
