// Command gitboot-agent runs on every node: it pulls the node's runtime
// overlay from the gitboot server at an interval and applies it.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "gitboot-agent: not implemented yet")
	os.Exit(1)
}
