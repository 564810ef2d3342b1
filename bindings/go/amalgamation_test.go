//go:build linux && cgo

package shmlink

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/shmlink/shmlink/bindings/go/internal/amalgamate"
)

// The committed copy of the C core must match core/ exactly.
func TestAmalgamationUpToDate(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "core", "src")); err != nil {
		t.Skipf("no core/src next to the package (vendored or module cache copy?): %v", err)
	}
	want, err := amalgamate.Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{amalgamate.HeaderOut, amalgamate.SourceOut} {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%v\nregenerate with: %s", err, amalgamate.RegenerateCommand)
		}
		if !bytes.Equal(got, want[name]) {
			t.Errorf("%s is stale: it does not match core/.\nRegenerate from the repository root with:\n\t%s",
				name, amalgamate.RegenerateCommand)
		}
	}
}
