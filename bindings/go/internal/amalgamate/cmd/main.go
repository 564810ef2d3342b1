// Command cmd regenerates bindings/go/shmlink.h and
// bindings/go/shmlink_amalgamation.c from core/. Run it through
// `go generate ./bindings/go` from the repository root, or directly with
// `go run ./bindings/go/internal/amalgamate/cmd [ROOT]`.
package main

import (
	"fmt"
	"os"

	"github.com/shmlink/shmlink/bindings/go/internal/amalgamate"
)

func main() {
	start := "."
	if len(os.Args) > 2 {
		fmt.Fprintln(os.Stderr, "usage: amalgamate [REPOSITORY-ROOT]")
		os.Exit(2)
	}
	if len(os.Args) == 2 {
		start = os.Args[1]
	}
	root, err := amalgamate.FindRoot(start)
	if err == nil {
		err = amalgamate.Write(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
