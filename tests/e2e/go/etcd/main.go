// Command etcd: etcd's server, built from its published Go module
// go.etcd.io/etcd/server/v3 (the same two lines as etcd's own main.go).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
