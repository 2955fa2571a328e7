// Command pause is the pod sandbox ("pause") image of the test node: it
// blocks until SIGTERM or SIGINT and exits 0. Built statically, it is the
// only file of its image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}
