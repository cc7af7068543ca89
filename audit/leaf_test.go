package audit

import (
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit/tlog"
)

// goldenRecord is a record whose leaf is fixed below.
func goldenRecord() *Record {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 123456789, time.UTC)
	return &Record{
		ID: "01JDAZ3J8V7N0Q4W3M5K6P2R1S", Seq: 42, Gateway: "gw-1",
		TimeStart: t0, TimeEnd: t0.Add(1500 * time.Millisecond), DurationMS: 1500,
		Event: "outbound_call", SourceIdentity: "spiffe://cluster.local/ns/shop/sa/checkout", IdentitySource: "mtls",
		SourceIP: "10.1.2.3", SourceWorkload: "checkout", Listener: "proxy", Kind: "http", Method: "POST",
		Host: "api.stripe.com", Port: 443, Path: "/v1/charges", SNI: "api.stripe.com", ServiceEntry: "payments/stripe",
		DialedIP: "192.0.2.1", TLSOriginated: true, TLSVersion: "TLS1.3", Decision: "allow", Enforced: true,
		PolicyRules: []string{"allow_payments"}, Status: 200, BytesSent: 512, BytesReceived: 2048,
		Meter: "stripe.charge", Cost: 0.002, Currency: "USD", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Count: 1,
	}
}

// The leaf encoding is a public format (what checkpoints vouch for, what
// an independent verifier reads): it must never change for a version.
// If this fails, the change needs a new leaf version instead.
func TestLeafGolden(t *testing.T) {
	// version 1, 34 columns (the 35th, count, is 1: trailing, left out),
	// then each column as AppendLeaf says.
	const want = "0122" +
		"1a30314a44415a334a3856374e30513457334d354b3650325231532a0467772d31f699d2dfbf68aeb1d2dfbf68000000" +
		"00007097400d6f7574626f756e645f63616c6c2a7370696666653a2f2f636c75737465722e6c6f63616c2f6e732f7368" +
		"6f702f73612f636865636b6f7574046d746c730831302e312e322e3308636865636b6f75740570726f78790468747470" +
		"04504f53540e6170692e7374726970652e636f6df6060b2f76312f636861726765730e6170692e7374726970652e636f" +
		"6d0f7061796d656e74732f737472697065093139322e302e322e310106544c53312e3305616c6c6f770100010e616c6c" +
		"6f775f7061796d656e7473900300800880200d7374726970652e636861726765fca9f1d24d62603f0355534420346266" +
		"3932663335373762333464613661336365393239643065306534373336"
	got := hex.EncodeToString(AppendLeaf(nil, goldenRecord()))
	if got != want {
		t.Fatalf("leaf of the golden record changed:\n got %s\nwant %s", got, want)
	}
}

// What the stores cannot tell apart encodes the same: time below the
// millisecond, -0 and 0, NaN and 0, a count of 0 and 1, no list and an
// empty one. What they can, does not.
func TestLeafCanonical(t *testing.T) {
	base := AppendLeaf(nil, goldenRecord())
	same := []func(r *Record){
		func(r *Record) { r.TimeStart = r.TimeStart.Add(500 * time.Microsecond) },
		func(r *Record) { r.TimeEnd = r.TimeEnd.In(time.FixedZone("X", 3600)) },
		func(r *Record) { r.Count = 0 },
	}
	for i, mod := range same {
		r := goldenRecord()
		mod(r)
		if got := AppendLeaf(nil, r); string(got) != string(base) {
			t.Errorf("change %d changed the leaf", i)
		}
	}
	zero := func(mod func(r *Record)) string {
		r := goldenRecord()
		r.Cost, r.PolicyRules = 0, nil
		mod(r)
		return string(AppendLeaf(nil, r))
	}
	z := zero(func(*Record) {})
	for i, mod := range []func(r *Record){
		func(r *Record) { r.Cost = math.Copysign(0, -1) },
		func(r *Record) { r.Cost = math.NaN() },
		func(r *Record) { r.PolicyRules = []string{} },
	} {
		if zero(mod) != z {
			t.Errorf("zero %d changed the leaf", i)
		}
	}
	for i, mod := range []func(r *Record){
		func(r *Record) { r.Seq++ },
		func(r *Record) { r.ID = "01JDAZ3J8V7N0Q4W3M5K6P2R1T" },
		func(r *Record) { r.TimeStart = r.TimeStart.Add(time.Millisecond) },
		func(r *Record) { r.Host = "api.stripe.co" },
		func(r *Record) { r.Count = 2 },
		func(r *Record) { r.PolicyRules = append(r.PolicyRules, "x") },
		func(r *Record) { r.PolicyRules = []string{"allow_payment", "s"} },
		func(r *Record) { r.Enforced = false },
		func(r *Record) { r.TimeEnd = time.Time{} },
	} {
		r := goldenRecord()
		mod(r)
		if string(AppendLeaf(nil, r)) == string(base) {
			t.Errorf("change %d left the leaf as it was", i)
		}
	}
}

// Trailing columns at their zero value are left out: a column appended
// to the schema later leaves the leaves of earlier records as they were.
func TestLeafTrimsTrailingZeros(t *testing.T) {
	// goldenRecord sets every column before count; count is 1, its
	// default, and the columns after it (route, subset, attempts: added
	// with traffic policies) are at their zero value, as in a record
	// written before they existed: all trailing, all left out.
	full := AppendLeaf(nil, goldenRecord())
	if want := byte(columnIndex(t, "count")); full[1] != want {
		t.Fatalf("column count of the golden record %d, want %d", full[1], want)
	}
	r := goldenRecord()
	r.TraceID, r.Count = "", 1
	leaf := AppendLeaf(nil, r)
	if leaf[1] != full[1]-1 {
		t.Fatalf("column count %d, want %d", leaf[1], full[1]-1)
	}
	// The same first columns, byte for byte.
	if string(full[2:len(leaf)]) != string(leaf[2:]) {
		t.Error("the trimmed leaf is not a prefix of the full one's columns")
	}
	if got := AppendLeaf(nil, &Record{}); string(got) != "\x01\x00" {
		t.Errorf("leaf of the zero record: %x", got)
	}
}

func TestLeafAllocatesNothing(t *testing.T) {
	r := goldenRecord()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { _, buf = LeafHash(r, buf) }); n != 0 {
		t.Errorf("LeafHash allocates %v times", n)
	}
}

// BenchmarkLeafHash is the cost of a record's leaf: its encoding and
// hash, and its append to the tree (what each completed record costs the
// store's writer besides the insert of its row).
func BenchmarkLeafHash(b *testing.B) {
	r := goldenRecord()
	var buf, row []byte
	var tr tlog.Tree
	b.ReportAllocs()
	for b.Loop() {
		var h tlog.Hash
		h, buf = LeafHash(r, buf)
		row = tr.Append(row[:0], h)
	}
}

// columnIndex is the position of the column named name in the schema.
func columnIndex(t *testing.T, name string) int {
	t.Helper()
	for i, c := range columns {
		if c.Name == name {
			return i
		}
	}
	t.Fatalf("no column %q", name)
	return -1
}
