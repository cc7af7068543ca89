package audit_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/audit/storetest"
)

// An upgrade with records still in the spool: the new gateway writes the
// old spool into the store whole, closes the calls it left open, and
// continues the seq; its own segments use framing 2.
func TestUpgradeReplaysLegacySpool(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	copyLegacyFixture(t, filepath.Join(path+".spool", "legacy-gw"))
	ctx := context.Background()
	a := openSpooled(t, path, func(o *audit.Options) { o.Gateway = "legacy-gw" })
	r := storetest.Sample(99)
	if err := a.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Seq != 21 {
		t.Errorf("first seq after the upgrade is %d, want 21", r.Seq)
	}
	if d := a.Damage(); len(d) != 0 {
		t.Errorf("damage reported for an intact legacy spool: %+v", d)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rd, err := testStores.OpenReader(ctx, "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	recs, err := audit.QueryAll(ctx, rd, audit.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]audit.Record{}
	for _, rec := range recs {
		byID[rec.ID] = rec
	}
	if len(recs) != 21 {
		t.Fatalf("%d records in the store, want the legacy spool's 20 and 1 new", len(recs))
	}
	for i := range 20 {
		rec, ok := byID[legacyFixture(i).ID]
		switch {
		case !ok:
			t.Fatalf("legacy record %d missing", i)
		case i%4 == 0 && (rec.Status != 200 || rec.Error != ""):
			t.Errorf("legacy record %d: status %d error %q, want its outcome", i, rec.Status, rec.Error)
		case i%4 != 0 && rec.Error != audit.ErrorGatewayRestart:
			t.Errorf("legacy record %d: error %q, want %s", i, rec.Error, audit.ErrorGatewayRestart)
		}
	}
}
