package registry

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestIstioCRDTestdata runs the CRD test files of istio/istio
// (pkg/config/validation/testdata/crds at 86c9f01, copied to
// testdata/istio): every document of a *-invalid file must draw at least
// one error, every document of a *-valid file none. Istio's files mark
// the API server's expected error with an _err key, which is dropped
// here (the API server's wording is not Istio's webhook's, nor Sluice's).
func TestIstioCRDTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/istio/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/istio files")
	}
	errKey := regexp.MustCompile(`(?m)^#?_err:.*$`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		invalid := strings.HasSuffix(f, "-invalid.yaml")
		for i, doc := range strings.Split(string(b), "\n---\n") {
			doc = errKey.ReplaceAllString(doc, "")
			if strings.TrimSpace(doc) == "" {
				continue
			}
			res, ds, _ := Parse(f, []byte(doc))
			if len(ds.Errors()) == 0 {
				_, bds := Build(res, BuildOptions{CredentialsDir: t.TempDir()})
				ds = append(ds, bds...)
			}
			if got := len(ds.Errors()) > 0; got != invalid {
				t.Errorf("%s doc %d: errors %v, want invalid=%v:\n%s", f, i, ds.Errors(), invalid, doc)
			}
		}
	}
}
