package audit

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// appendRecordV1 writes a version-1 payload: the version byte, then the
// first 35 columns exactly as appendFirstColumns writes them (what the
// gateway wrote until commit 943f5b2; TestSpoolFixturesRecords holds it
// to the spools written then).
func appendRecordV1(dst []byte, r *Record) []byte {
	return appendFirstColumns(append(dst, payloadV1), r)
}

// filled is a record with every column set to a random value, the same
// for the same seed.
func filled(seed uint64) *Record {
	rnd := rand.New(rand.NewPCG(seed, seed))
	r := &Record{}
	for _, c := range columns {
		randomValue(rnd, c.Field(r))
	}
	return r
}

// codecRecords are records to round-trip: empty, a call begun, every
// field set.
func codecRecords() map[string]*Record {
	begin := filled(1)
	ClearOutcome(begin)
	full := filled(3)
	full.ID, full.Seq, full.Gateway = "01KAAAAAAAAAAAAAAAAAAAAAAA", 42, "gw-ü"
	full.TimeEnd = full.TimeStart.Add(1500 * time.Microsecond)
	full.DurationMS, full.Status, full.Error = 1.5, 502, "upstream_tls_error: x509"
	full.BytesSent, full.BytesReceived, full.Cost, full.Meter, full.Currency = 1<<40, -1, 0.002, "charge", "EUR"
	full.PolicyRules = []string{"a", "", "ü"}
	full.Count = 7
	full.DialedIP, full.TLSVersion, full.SNI = "192.0.2.1", "TLS1.3", "api.example.com"
	full.TimeStart = full.TimeStart.Add(123) // nanoseconds survive
	return map[string]*Record{
		"zero":     {},
		"begin":    begin,
		"full":     full,
		"no rules": {ID: "x", PolicyRules: nil, Port: -1},
	}
}

// decoded is r as a decoder gives it back: times in UTC, no empty rules.
func decoded(r *Record) Record {
	want := *r
	want.TimeStart, want.TimeEnd = want.TimeStart.UTC(), want.TimeEnd.UTC()
	if want.TimeStart.IsZero() {
		want.TimeStart = time.Time{}
	}
	if want.TimeEnd.IsZero() {
		want.TimeEnd = time.Time{}
	}
	if len(want.PolicyRules) == 0 {
		want.PolicyRules = nil
	}
	return want
}

// Both payload versions round-trip every record, and every truncation is
// rejected, never a panic.
func TestPayloadRoundTrip(t *testing.T) {
	for version, enc := range map[string]func([]byte, *Record) []byte{"v1": appendRecordV1, "v2": appendRecord} {
		for name, r := range codecRecords() {
			t.Run(version+"/"+name, func(t *testing.T) {
				b := enc(nil, r)
				got, err := decodeRecord(b)
				if err != nil {
					t.Fatal(err)
				}
				want := decoded(r)
				if version == "v1" {
					// Version 1 carries the first schema's columns only.
					for _, c := range columns[v1Columns:] {
						Zero(c.Field(&want))
					}
				}
				if !reflect.DeepEqual(*got, want) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
				}
				for i := range len(b) {
					if _, err := decodeRecord(b[:i]); err == nil {
						t.Fatalf("truncated to %d bytes: accepted", i)
					}
				}
			})
		}
	}
	if _, err := decodeRecord([]byte{9, 0}); err == nil {
		t.Error("unknown payload version accepted")
	}
}

// A version-2 payload is the version-1 payload of the same record with
// the column count after the version byte: the same columns, in the same
// order, with the same primitives.
func TestPayloadV2ExtendsV1(t *testing.T) {
	for name, r := range codecRecords() {
		v1, v2 := appendRecordV1(nil, r), appendRecord(nil, r)
		want := append([]byte{payloadV2}, binary.AppendUvarint(nil, uint64(len(columns)))...)
		want = append(want, v1[1:]...)
		// Columns added since the first schema follow.
		if !strings.HasPrefix(string(v2), string(want)) {
			t.Errorf("%s: v2 is not v1 with a column count", name)
		}
	}
}

// A payload written when the schema had fewer columns leaves the later
// ones zero; one written by a newer schema with more columns (appended)
// has them skipped. Neither needs another decoder.
func TestPayloadColumnCount(t *testing.T) {
	r := codecRecords()["full"]
	full := appendRecord(nil, r)
	head := len(binary.AppendUvarint(nil, uint64(len(columns)))) + 1

	// Fewer: the first 30 columns only.
	short := appendFields(nil, r, planOf(columns[:30]))
	probe := &Record{}
	for _, c := range columns[:30] {
		reflect.ValueOf(c.Field(probe)).Elem().Set(reflect.ValueOf(c.Field(r)).Elem())
	}
	got, err := decodeRecord(short)
	if err != nil {
		t.Fatal(err)
	}
	if want := decoded(probe); !reflect.DeepEqual(*got, want) {
		t.Fatalf("30 columns:\n got %+v\nwant %+v", *got, want)
	}
	if got.TraceID != "" || got.Count != 0 || got.Currency != "" {
		t.Errorf("columns beyond the payload's are not zero: %+v", *got)
	}

	// More: two columns the schema does not know, after the known ones.
	long := append([]byte{payloadV2}, binary.AppendUvarint(nil, uint64(len(columns)+2))...)
	long = append(long, full[head:]...)
	long = binary.AppendUvarint(long, 3)
	long = append(long, "new"...)
	long = binary.LittleEndian.AppendUint64(long, math.Float64bits(2.5))
	got, err = decodeRecord(long)
	if err != nil {
		t.Fatal(err)
	}
	if want := decoded(r); !reflect.DeepEqual(*got, want) {
		t.Fatalf("two unknown columns:\n got %+v\nwant %+v", *got, want)
	}
}

// The unrolled encoding of the first columns (codec_fast.go) is exactly
// what the table gives: the same columns, order, types and bytes.
func TestAppendRecordIsTableDriven(t *testing.T) {
	plan := planOf(columns)
	recs := formRecords()
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		r := Record{}
		for _, c := range columns {
			randomValue(rnd, c.Field(&r))
		}
		recs = append(recs, r)
	}
	for i, r := range recs {
		if got, want := appendRecord(nil, &r), appendFields(nil, &r, plan); string(got) != string(want) {
			t.Fatalf("record %d (%+v): appendRecord and the table disagree", i, r)
		}
	}
}

// randomValue sets the field p points to (a Column.Field) to a random
// value: strings of any bytes, integers of any size and sign, floats over
// forty orders of magnitude, times or the zero time, short lists.
func randomValue(rnd *rand.Rand, p any) {
	str := func() string {
		b := make([]byte, rnd.IntN(3)*rnd.IntN(90))
		for i := range b {
			b[i] = byte(rnd.IntN(256))
		}
		return string(b)
	}
	sign := int64(1 - 2*rnd.IntN(2))
	switch v := p.(type) {
	case *string:
		*v = str()
	case *uint64:
		*v = rnd.Uint64() >> rnd.IntN(64)
	case *int:
		*v = int(rnd.Int64() >> rnd.IntN(64) * sign)
	case *int64:
		*v = rnd.Int64() >> rnd.IntN(64) * sign
	case *float64:
		*v = rnd.NormFloat64() * math.Pow(10, float64(rnd.IntN(40)-20))
	case *bool:
		*v = rnd.IntN(2) == 1
	case *time.Time:
		if rnd.IntN(4) > 0 {
			*v = time.Unix(0, rnd.Int64()>>1)
		}
	case *[]string:
		for range rnd.IntN(4) {
			*v = append(*v, str())
		}
	default:
		panic(fmt.Sprintf("randomValue: %T", p))
	}
}

// v1Columns is how many columns the first schema had: what a version-1
// payload carries.
const v1Columns = 35
