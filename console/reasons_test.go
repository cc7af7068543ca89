package console

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/vocab"
)

// TestReasonListIsTheVocabulary keeps the search form's reason list to
// internal/vocab: a reason added there must be offered here too.
func TestReasonListIsTheVocabulary(t *testing.T) {
	page, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range vocab.Reasons() {
		if !strings.Contains(string(page), "<option>"+string(r)+"</option>") {
			t.Errorf("console/static/index.html's reason list lacks %s", r)
		}
	}
}
