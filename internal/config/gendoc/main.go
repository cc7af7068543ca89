// Command gendoc writes deploy/examples/sluice.yaml from the doc comments
// and defaults of internal/config (see package configdoc). It is run by
// `go generate ./internal/config`:
//
//	go run ./gendoc -src . -out ../../deploy/examples/sluice.yaml
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/sluicehq/sluice/internal/config/configdoc"
)

func main() {
	src := flag.String("src", ".", "directory of package internal/config")
	out := flag.String("out", "../../deploy/examples/sluice.yaml", "file to write")
	flag.Parse()
	b, err := configdoc.Generate(*src)
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}
