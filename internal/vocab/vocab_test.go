package vocab

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func TestEveryReasonIsListedOnceWithAStatus(t *testing.T) {
	seen := map[Reason]bool{}
	for _, r := range Reasons() {
		if seen[r] {
			t.Errorf("%s listed twice", r)
		}
		seen[r] = true
		if s := r.Status(); s < 400 || s > 599 {
			t.Errorf("%s answers %d", r, s)
		}
	}
	if BadRequest.Status() != 400 || ForbiddenAddress.Status() != 403 || UpstreamTimeout.Status() != 504 || AuditUnavailable.Status() != 503 {
		t.Error("status mapping changed")
	}
	if !ForbiddenAddress.Refusal() || DNSFailure.Refusal() || Reason("").Refusal() {
		t.Error("refusal classes changed")
	}
}

// The contract lists exactly the reasons of the vocabulary.
func TestContractListsTheReasons(t *testing.T) {
	b, err := os.ReadFile("../../docs/contract.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "## 7.")
	end := strings.Index(doc, "## 8.")
	if start < 0 || end < start {
		t.Fatal("docs/contract.md has no §7")
	}
	var inDoc []string
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(doc[start:end], -1) {
		if strings.Contains(m[1], "_") && !slices.Contains(inDoc, m[1]) && m[1] != "egress_denied" && m[1] != "egress_failed" && !strings.HasSuffix(m[1], "_") {
			inDoc = append(inDoc, m[1])
		}
	}
	var ours []string
	for _, r := range Reasons() {
		ours = append(ours, string(r))
	}
	slices.Sort(inDoc)
	slices.Sort(ours)
	if !slices.Equal(inDoc, ours) {
		t.Errorf("docs/contract.md §7 lists %v\nvocab has %v", inDoc, ours)
	}
}
