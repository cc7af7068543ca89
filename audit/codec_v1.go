package audit

// decodeRecordV1 reads a record payload of version 1, which the gateway
// wrote until the record schema became one table (commit 943f5b2): the
// 35 columns of docs/contract.md §8 in a fixed order, no count. It is
// frozen: spools written then are read by it, whatever the schema becomes
// (testdata/spool-v1 and testdata/spool-framing2 hold such payloads).
// Never change it; a new payload version gets its own reader.
func decodeRecordV1(b []byte) (*Record, error) {
	if len(b) == 0 || b[0] != payloadV1 {
		return nil, errBadEntry
	}
	d := &payloadReader{b: b[1:]}
	r := &Record{}
	r.ID = d.str()
	r.Seq = d.uvarint()
	r.Gateway = d.str()
	r.TimeStart = d.time()
	r.TimeEnd = d.time()
	r.DurationMS = d.float()
	r.Event = d.str()
	r.SourceIdentity = d.str()
	r.IdentitySource = d.str()
	r.SourceIP = d.str()
	r.SourceWorkload = d.str()
	r.Listener = d.str()
	r.Kind = d.str()
	r.Method = d.str()
	r.Host = d.str()
	r.Port = int(d.varint())
	r.Path = d.str()
	r.SNI = d.str()
	r.ServiceEntry = d.str()
	r.DialedIP = d.str()
	r.TLSOriginated = d.boolean()
	r.TLSVersion = d.str()
	r.Decision = d.str()
	r.Enforced = d.boolean()
	r.Reason = d.str()
	if n := d.uvarint(); n > 0 && d.err == nil {
		if n > uint64(len(d.b)) {
			return nil, errBadEntry
		}
		r.PolicyRules = make([]string, 0, n)
		for range n {
			r.PolicyRules = append(r.PolicyRules, d.str())
		}
	}
	r.Status = int(d.varint())
	r.Error = d.str()
	r.BytesSent = d.varint()
	r.BytesReceived = d.varint()
	r.Meter = d.str()
	r.Cost = d.float()
	r.Currency = d.str()
	r.TraceID = d.str()
	r.Count = int(d.varint())
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errBadEntry
	}
	return r, nil
}
