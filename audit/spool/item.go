package spool

import "log/slog"

// Pos is a position in the spool: a segment and the offset just after an
// entry. A store behind the spool keeps the Pos of the last entry it
// ingested (its cursor).
type Pos struct {
	Seg, Off int64
}

// Before reports whether p comes before q.
func (p Pos) Before(q Pos) bool {
	return p.Seg < q.Seg || (p.Seg == q.Seg && p.Off < q.Off)
}

// Payload is what an entry carries; the spool frames and checksums it
// without knowing its form.
type Payload interface {
	// AppendPayload appends the encoded payload to dst. It is called on
	// the commit path and should not allocate.
	AppendPayload(dst []byte) []byte
}

// Decoder reads back a payload that Payload.AppendPayload wrote, and the
// seq of the record it holds. An error means the bytes are not an entry
// (damage).
type Decoder func(payload []byte) (Payload, uint64, error)

// Item is one entry: a record (KindRecord) or an outcome (KindOutcome),
// its seq, and where its entry ends (set by Append and Replay).
type Item struct {
	Kind    Kind
	Seq     uint64
	Payload Payload
	Pos     Pos
}

// Options tune a spool.
type Options struct {
	// Logger reports what replay and cleanup find (default
	// slog.Default()).
	Logger *slog.Logger
	// Decode reads payloads back at replay; required to replay.
	Decode Decoder
	// OpenFile opens segment files (default: the OS's, with
	// fdatasync); tests put failing files under the spool.
	OpenFile OpenFileFunc
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.OpenFile == nil {
		o.OpenFile = OpenOSFile
	}
}
