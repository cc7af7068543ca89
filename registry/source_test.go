package registry

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeSource is an ObjectSource of fixed documents that records what a
// load told it.
type fakeSource struct {
	docs    []Document
	used    []string
	skipped []string
	creds   []string
}

func (f *fakeSource) Documents() []Document { return f.docs }
func (f *fakeSource) Credentials(_ context.Context, names []string) string {
	f.creds = append(f.creds, names...)
	return ""
}
func (f *fakeSource) Applied(used []Document, skipped []Skipped) {
	for _, d := range used {
		f.used = append(f.used, d.File)
	}
	for _, s := range skipped {
		f.skipped = append(f.skipped, s.Document.File+" kept="+map[bool]string{true: "yes", false: "no"}[s.Kept]+": "+s.Diagnostics[0].Msg)
	}
}

func se(name, host string) []byte {
	return []byte("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: " + name + ", namespace: team}\nspec:\n  hosts: [\"" + host + "\"]\n  resolution: DNS\n  ports: [{number: 443, name: https, protocol: TLS}]\n")
}

func doc(name, rv string, data []byte, lastGood *Document) Document {
	return Document{Key: "ServiceEntry team/" + name, File: "kubernetes:team/" + name + "?resourceVersion=" + rv, Data: data, LastGood: lastGood}
}

// A source's documents are judged one by one: a bad one is left out (or
// its last good version kept) while the files and the other documents
// apply; only an invalid file refuses the whole set.
func TestLoadWithSource(t *testing.T) {
	good := doc("a", "1", se("a", "a.example"), nil)
	tests := []struct {
		name      string
		file      string
		docs      []Document
		wantHosts []string
		wantUsed  []string
		wantSkip  []string
		wantErr   string
	}{
		{name: "files and documents merge", file: string(se("f", "f.example")), docs: []Document{good},
			wantHosts: []string{"a.example", "f.example"}, wantUsed: []string{good.File}},
		{name: "an invalid document is skipped, the rest apply", file: string(se("f", "f.example")),
			docs:      []Document{good, doc("b", "7", se("b", "*"), nil)},
			wantHosts: []string{"a.example", "f.example"}, wantUsed: []string{good.File},
			wantSkip: []string{"kubernetes:team/b?resourceVersion=7 kept=no: invalid host *"}},
		{name: "an invalid edit keeps the last good version", docs: []Document{doc("a", "2", se("a", "*"), &good)},
			wantHosts: []string{"a.example"}, wantUsed: []string{good.File},
			wantSkip: []string{"kubernetes:team/a?resourceVersion=2 kept=yes: invalid host *"}},
		{name: "a document clashing with a file is skipped", file: string(se("a", "f.example")), docs: []Document{good},
			wantHosts: []string{"f.example"}, wantUsed: []string{},
			wantSkip: []string{"kubernetes:team/a?resourceVersion=1 kept=no: duplicate ServiceEntry team/a"}},
		{name: "an invalid file refuses the whole set", file: string(se("f", "*")), docs: []Document{good}, wantErr: "invalid host *"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				if err := os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			src := &fakeSource{docs: tc.docs}
			s, _, err := LoadWithSource(context.Background(), []string{dir}, BuildOptions{}, src)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.SortedHosts(); !slices.Equal(got, tc.wantHosts) {
				t.Errorf("hosts %q, want %q", got, tc.wantHosts)
			}
			if src.used == nil {
				src.used = []string{}
			}
			if !slices.Equal(src.used, tc.wantUsed) {
				t.Errorf("used %q, want %q", src.used, tc.wantUsed)
			}
			for i, w := range tc.wantSkip {
				if i >= len(src.skipped) || !strings.HasPrefix(src.skipped[i], w) {
					t.Errorf("skipped %q, want %q", src.skipped, tc.wantSkip)
					break
				}
			}
			if len(src.skipped) != len(tc.wantSkip) {
				t.Errorf("skipped %q, want %q", src.skipped, tc.wantSkip)
			}
		})
	}
}

// The credentialName of every DestinationRule, from files and documents,
// is asked of the source, which mirrors those Secrets.
func TestLoadWithSourceAsksForCredentials(t *testing.T) {
	dr := Document{Key: "DestinationRule team/a", File: "kubernetes:team/a-dr?resourceVersion=3", Data: []byte(
		"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: a, namespace: team}\nspec:\n  host: a.example\n  trafficPolicy:\n    portLevelSettings:\n    - port: {number: 443}\n      tls: {mode: SIMPLE, credentialName: a-ca}\n")}
	src := &fakeSource{docs: []Document{doc("a", "1", se("a", "a.example"), nil), dr}}
	_, _, _ = LoadWithSource(context.Background(), []string{t.TempDir()}, BuildOptions{CredentialsDir: t.TempDir()}, src)
	if !slices.Contains(src.creds, "a-ca") {
		t.Fatalf("credentials asked: %q", src.creds)
	}
}
