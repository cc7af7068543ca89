package audit

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is the Crockford base32 alphabet of ULIDs: sortable as text,
// no I, L, O, U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLen is the length of a record ID.
const IDLen = 26

// idGen makes ULID-style record IDs: 48 bits of Unix milliseconds, then
// 80 bits that are random for the first ID of each millisecond and
// incremented for the next ones. IDs from one generator are strictly
// increasing as text; IDs from different gateways collide only if their
// random parts do (2^-80). Each Auditor has its own generator.
type idGen struct {
	mu     sync.Mutex
	lastMS uint64
	hi     uint16 // top 16 of the 80 random bits
	lo     uint64 // low 64 bits
}

// next returns the ID for time now.
func (g *idGen) next(now time.Time) string {
	ms := uint64(now.UnixMilli())
	g.mu.Lock()
	if ms <= g.lastMS {
		// Same millisecond (or the clock stepped back): keep the order by
		// incrementing from the last ID.
		ms = g.lastMS
		g.lo++
		if g.lo == 0 {
			g.hi++
		}
	} else {
		var b [10]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure)
		g.lastMS = ms
		g.hi = binary.BigEndian.Uint16(b[:2]) & 0x7fff // room to increment
		g.lo = binary.BigEndian.Uint64(b[2:])
	}
	hi, lo := g.hi, g.lo
	g.mu.Unlock()
	return encodeID(ms, hi, lo)
}

// encodeID writes 48 bits of ms and 80 bits of entropy as 26 Crockford
// base32 characters (the first carries 3 bits).
func encodeID(ms uint64, hi uint16, lo uint64) string {
	var out [IDLen]byte
	// 128 bits as two words: w1 = ms<<16 | hi, w0 = lo.
	w1 := ms<<16 | uint64(hi)
	w0 := lo
	for i := IDLen - 1; i >= 0; i-- {
		out[i] = crockford[w0&31]
		w0 = w0>>5 | w1<<59
		w1 >>= 5
	}
	return string(out[:])
}

// IDTime returns the time encoded in a record ID (millisecond precision),
// or false when id is not one.
func IDTime(id string) (time.Time, bool) {
	if len(id) != IDLen {
		return time.Time{}, false
	}
	var ms uint64
	for i := range 10 {
		c := id[i]
		v := -1
		for j := range len(crockford) {
			if crockford[j] == c {
				v = j
				break
			}
		}
		if v < 0 {
			return time.Time{}, false
		}
		ms = ms<<5 | uint64(v)
	}
	// The first 10 characters hold 50 bits: 2 zero bits and 48 of time.
	return time.UnixMilli(int64(ms)), true
}
