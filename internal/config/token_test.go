package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/config"
	"github.com/sluicehq/sluice/internal/config/configtest"
)

// A known placeholder admin token is refused when the admin listener is
// reachable from elsewhere, and tolerated on loopback (where make run and
// the tests live).
func TestPlaceholderAdminToken(t *testing.T) {
	const refused = "the admin token is a known placeholder"
	configtest.Run(t, []configtest.Case{
		{Name: "the old manifest's placeholder off loopback", YAML: "listeners: {admin: 0.0.0.0:9901}\nadmin: {token: replace-me-with-a-random-token}\n",
			Want: []string{"cfg:2:9: admin.token: " + refused}},
		{Name: "spelling does not matter", YAML: "listeners: {admin: 0.0.0.0:9901}\nadmin: {token: Change_Me}\n", Want: []string{refused}},
		{Name: "placeholder on loopback", YAML: "listeners: {admin: 127.0.0.1:9901}\nadmin: {token: changeme}\n"},
		{Name: "random token off loopback", YAML: "listeners: {admin: 0.0.0.0:9901}\nadmin: {token: 9f8c2a17d04b6e35a1c9}\n"},
	})
}

// A placeholder read from admin.token_file (a mounted Secret) is refused
// the same way, naming the file key.
func TestPlaceholderAdminTokenFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, token, admin, want string }{
		{"placeholder off loopback", "replace-me-with-a-random-token\n", "0.0.0.0:9901", "admin.token_file: " + "the admin token is a known placeholder"},
		{"placeholder on loopback", "replace-me\n", "127.0.0.1:9901", ""},
		{"random off loopback", "1b7e0c5d9a2f4e6b8c3d\n", "[::]:9901", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := filepath.Join(dir, "token"+string(rune('a'+i)))
			cfg := filepath.Join(dir, "sluice"+string(rune('a'+i))+".yaml")
			if err := os.WriteFile(tok, []byte(tc.token), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg, []byte("listeners: {admin: '"+tc.admin+"'}\nadmin: {token_file: "+tok+"}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(cfg)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// The auditor token is a role below the admin token: it needs one, must
// differ from it (also when read from files), and a placeholder is
// refused off loopback.
func TestAuditorToken(t *testing.T) {
	configtest.Run(t, []configtest.Case{
		{Name: "with an admin token", YAML: "admin: {token: 9f8c2a17d04b6e35a1c9, auditor_token: 0c1d2e3f4a5b6c7d8e9f}\n"},
		{Name: "without an admin token", YAML: "admin: {auditor_token: 0c1d2e3f4a5b6c7d8e9f}\n", Want: []string{"admin.auditor_token: needs admin.token"}},
		{Name: "same as the admin token", YAML: "admin: {token: 9f8c2a17d04b6e35a1c9, auditor_token: 9f8c2a17d04b6e35a1c9}\n",
			Want: []string{"admin.auditor_token: must differ from the admin token"}},
		{Name: "placeholder off loopback", YAML: "listeners: {admin: 0.0.0.0:9901}\nadmin: {token: 9f8c2a17d04b6e35a1c9, auditor_token: changeme}\n",
			Want: []string{"the auditor token is a known placeholder"}},
		{Name: "both forms", YAML: "admin: {token: 9f8c2a17d04b6e35a1c9, auditor_token: a1b2c3d4e5f6a7b8c9d0, auditor_token_file: /x}\n",
			Want: []string{"admin.auditor_token_file: set admin.auditor_token or admin.auditor_token_file, not both"}},
	})
	dir := t.TempDir()
	tok := filepath.Join(dir, "auditor")
	if err := os.WriteFile(tok, []byte("9f8c2a17d04b6e35a1c9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sluice.yaml")
	if err := os.WriteFile(cfg, []byte("admin: {token: 9f8c2a17d04b6e35a1c9, auditor_token_file: "+tok+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(cfg); err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Fatalf("got %v, want the file's token refused as the admin token", err)
	}
	if err := os.WriteFile(tok, []byte("0c1d2e3f4a5b6c7d8e9f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(cfg)
	if err != nil || c.Admin.AuditorToken != "0c1d2e3f4a5b6c7d8e9f" {
		t.Fatalf("got %v, %+v", err, c)
	}
}
