// Not part of the tutorial: lets the test point the unchanged program (main.go) at a server on a
// free port. main.go hard-codes endPoints = []string{"127.0.0.1:2379"}; package-level variables are
// initialised before init() runs, so this overrides them before main() dials.
package main

import (
	"os"
	"strings"
)

func init() {
	if v := os.Getenv("ETCD_ENDPOINTS"); v != "" {
		endPoints = strings.Split(v, ",")
	}
}
