package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
)

var quiet = slog.New(slog.DiscardHandler)

func slogTo(w *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testPayload stands for a record in the spool's own tests: an id, a seq
// and padding to a record's usual size. It is written as a version-2
// record payload of three columns ([2][3][id][seq][pad]); decodeTest
// also reads the id and seq of a version-1 record payload (what the
// legacy fixtures hold), which start the same way.
type testPayload struct {
	id  string
	seq uint64
	pad string
}

func (p *testPayload) AppendPayload(dst []byte) []byte {
	dst = append(dst, 2, 3)
	dst = binary.AppendUvarint(dst, uint64(len(p.id)))
	dst = append(dst, p.id...)
	dst = binary.AppendUvarint(dst, p.seq)
	dst = binary.AppendUvarint(dst, uint64(len(p.pad)))
	return append(dst, p.pad...)
}

var errTestPayload = errors.New("not a test payload")

// decodeTest is the Decoder of testPayloads and of the id and seq of
// version-1 record payloads.
func decodeTest(b []byte) (Payload, uint64, error) {
	if len(b) < 2 {
		return nil, 0, errTestPayload
	}
	switch b[0] {
	case 1:
		b = b[1:]
	case 2:
		b = b[2:]
	default:
		return nil, 0, errTestPayload
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, 0, errTestPayload
	}
	p := &testPayload{id: string(b[k : k+int(n)])}
	b = b[k+int(n):]
	if p.seq, k = binary.Uvarint(b); k <= 0 {
		return nil, 0, errTestPayload
	}
	return p, p.seq, nil
}

func idOf(it Item) string { return it.Payload.(*testPayload).id }

// testItems are n record entries, seq from+1 onwards, of about a
// record's size.
func testItems(n, from int) []Item {
	items := make([]Item, n)
	for i := range items {
		seq := uint64(from + i + 1)
		items[i] = Item{Kind: KindRecord, Seq: seq,
			Payload: &testPayload{id: fmt.Sprintf("01TEST%020d", from+i), seq: seq, pad: strings.Repeat("p", 240)}}
	}
	return items
}

func open(t testing.TB, dir string, from Pos, log *slog.Logger) *Spool {
	t.Helper()
	s, err := Open(dir, from, Options{Logger: log, Decode: decodeTest})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func damageFile(t *testing.T, path string, fn func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fn(data), 0o640); err != nil {
		t.Fatal(err)
	}
}
