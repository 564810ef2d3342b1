package amalgamate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestGenerateInlinesHeadersOnce(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod":                 "module x\n",
		"core/include/shmlink.h": "/* public */\n",
		"core/src/internal.h":    "#ifndef I_H\n#define I_H\n#include \"atomics.h\"\n#include \"shmlink.h\"\nint internal;\n#endif\n",
		"core/src/atomics.h":     "#ifndef A_H\n#define A_H\nint atomics;\n#endif\n",
		"core/src/b.c":           "#include <stdio.h>\n#include \"internal.h\"\nint b;\n",
		"core/src/a.c":           "#include \"../include/shmlink.h\"\n#include \"internal.h\"\n#include \"atomics.h\"\nint a;\n",
	})
	out, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[HeaderOut]) != "/* public */\n" {
		t.Fatalf("header copy: %q", out[HeaderOut])
	}
	src := string(out[SourceOut])
	for _, once := range []string{"int internal;", "int atomics;", "#line 1 \"../../core/src/internal.h\"", "#line 1 \"../../core/src/atomics.h\""} {
		if n := strings.Count(src, once); n != 1 {
			t.Errorf("%q appears %d times, want 1:\n%s", once, n, src)
		}
	}
	if !strings.HasPrefix(src, BuildConstraint+"\n\n") {
		t.Errorf("the source does not start with %q:\n%s", BuildConstraint, src)
	}
	if !strings.Contains(src, RegenerateCommand) {
		t.Error("no regenerate command in the output")
	}
	ia, ib := strings.Index(src, "int a;"), strings.Index(src, "int b;")
	if ia < 0 || ib < 0 || ia > ib {
		t.Error("sources not in sorted order")
	}
	// After the inlined header, line numbering resumes in a.c at line 3.
	if !strings.Contains(src, "#endif\n#line 3 \"../../core/src/a.c\"\n/* #include \"atomics.h\": already inlined above */\nint a;\n") {
		t.Errorf("line numbering not resumed after an inlined header:\n%s", src)
	}
	if strings.Contains(src, "../include/shmlink.h") && !strings.Contains(src, "#include \"shmlink.h\"") {
		t.Error("public header include not redirected to the package copy")
	}
	if strings.Count(src, "#include <stdio.h>") != 1 {
		t.Error("system include not passed through")
	}
}

func TestGenerateRejectsUnknownInclude(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod":                 "module x\n",
		"core/include/shmlink.h": "\n",
		"core/src/a.c":           "#include \"elsewhere/thing.h\"\n",
	})
	if _, err := Generate(root); err == nil || !strings.Contains(err.Error(), "elsewhere/thing.h") {
		t.Fatalf("Generate: %v, want an error naming the include", err)
	}
}

func TestFindRoot(t *testing.T) {
	root := writeTree(t, map[string]string{
		"go.mod":                 "module x\n",
		"core/include/shmlink.h": "\n",
		"bindings/go/doc.go":     "package x\n",
	})
	got, err := FindRoot(filepath.Join(root, "bindings", "go"))
	if err != nil || got != root {
		t.Fatalf("FindRoot = %q, %v; want %q", got, err, root)
	}
}
