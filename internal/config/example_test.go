package config_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/config/configdoc"
	"github.com/sluicehq/sluice/internal/yamlx"
	"go.yaml.in/yaml/v3"
)

// exampleFile is the example config, written by `go generate` from the doc
// comments and defaults of this package.
const exampleFile = "../../deploy/examples/sluice.yaml"

// TestExampleConfigDocumentsEveryKey fails when deploy/examples/sluice.yaml
// is not what the doc comments of config.go and Default() make of it
// (docs/contract.md §3): a key, a default or a comment changed without the
// file being regenerated, or the file was edited by hand.
func TestExampleConfigDocumentsEveryKey(t *testing.T) {
	want, err := configdoc.Generate(".")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go generate ./internal/config (and commit the file)\n%s", exampleFile, firstDiff(got, want))
	}
}

// TestEveryKeyHasADocComment fails for a yaml-tagged field without a doc
// comment: the comment is the key's only documentation.
func TestEveryKeyHasADocComment(t *testing.T) {
	_, missing, err := configdoc.ReadDocs(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range missing {
		t.Errorf("%s has a yaml key but no doc comment: say what it does, its unit and what 0 or \"\" means", f)
	}
}

// TestExampleConfigHoldsItsValues reads the example file into an empty
// Config and wants every key with the value the generator meant (Default
// plus the example's overrides): the printed durations, lists and
// quoting read back as written.
func TestExampleConfigHoldsItsValues(t *testing.T) {
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var got config.Config
	for _, fe := range yamlx.Decode(&doc, &got, "") {
		t.Errorf("%s: %v", exampleFile, fe)
	}
	g, err := yaml.Marshal(&got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := yaml.Marshal(configdoc.ExampleConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s does not read back as its values: %s", exampleFile, firstDiff(g, w))
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("first difference at line %d:\n  have: %s\n  want: %s", i+1, gl, wl)
		}
	}
	return "no line differs"
}
