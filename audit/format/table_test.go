package format

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/audit"
	"github.com/sluicehq/sluice/internal/vocab"
)

// A failed tunnel shows a status and a short reason, never the error
// string; times are shown in the asked zone with its offset.
func TestTableFailedTunnelAndZone(t *testing.T) {
	at := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	recs := []audit.Record{
		{ID: "a", TimeStart: at, TimeEnd: at.Add(time.Second), Kind: vocab.KindConnect, Host: "x.example", Port: 443,
			Decision: vocab.DecisionAllow, Reason: string(vocab.UpstreamUnreachable), Error: "dial tcp 192.0.2.1:443: connect: connection refused"},
		{ID: "b", TimeStart: at, TimeEnd: at.Add(time.Second), Kind: vocab.KindConnect, Host: "y.example", Port: 443,
			Decision: vocab.DecisionAllow, Error: "read tcp 10.0.0.1:5555->192.0.2.1:443: read: connection reset by peer"},
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	var b bytes.Buffer
	w, _ := NewRecordWriterIn(&b, Table, paris)
	for i := range recs {
		_ = w.Write(&recs[i])
	}
	_ = w.Flush()
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Contains(out, "dial tcp") || strings.Contains(out, "read tcp") ||
		!strings.Contains(lines[1], " 502 ") || !strings.Contains(lines[1], "upstream_unreachable") ||
		!strings.Contains(lines[2], " failed ") || !strings.Contains(lines[2], " reset ") ||
		!strings.HasPrefix(lines[1], "2026-11-21 13:00:00.000 +01:00") {
		t.Errorf("table:\n%s", out)
	}
}
