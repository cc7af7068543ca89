package egress

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// parseClientHello finds the ClientHello in the bytes a TLS client sent
// first and returns its SNI (host_name; "" when there is none). more
// means b ends before the hello does. It refuses what crypto/tls's server
// refuses before it would call GetConfigForClient, with the same limits:
// records that are not handshake or alert, an SSLv2 hello, a record
// version of 16.0 or more, oversized records, empty handshake records,
// more than 16 ignored (warning alert) records in a row, a first
// message that is not a ClientHello, a message over 64 KiB, and a hello
// crypto/tls's decoder rejects (clientHelloMsg.unmarshal and, for an ECH
// extension, parseECHExt). It is the port of those checks, kept to what
// decides acceptance; the hello may span records, and the records reads.
func parseClientHello(b []byte) (sni string, more bool, err error) {
	var hand []byte // handshake bytes, across records
	useless := 0
	for {
		if len(hand) >= 4 {
			n := int(hand[1])<<16 | int(hand[2])<<8 | int(hand[3])
			if n > tlsMaxHandshake {
				return "", false, fmt.Errorf("tls: handshake message of length %d bytes exceeds maximum of %d bytes", n, tlsMaxHandshake)
			}
			if len(hand) >= 4+n {
				return parseHelloMessage(hand[:4+n])
			}
		}
		if len(b) > 0 && b[0] == 0x80 {
			return "", false, errors.New("tls: unsupported SSLv2 handshake received")
		}
		if len(b) < 5 {
			return "", true, nil
		}
		typ, vers, n := b[0], uint16(b[1])<<8|uint16(b[2]), int(b[3])<<8|int(b[4])
		if (typ != tlsRecordAlert && typ != tlsRecordHandshake) || vers >= 0x1000 {
			return "", false, errors.New("tls: first record does not look like a TLS handshake")
		}
		if n > tlsMaxCiphertext {
			return "", false, fmt.Errorf("tls: oversized record received with length %d", n)
		}
		if len(b) < 5+n {
			return "", true, nil
		}
		data := b[5 : 5+n]
		b = b[5+n:]
		if n > tlsMaxPlaintext {
			return "", false, errors.New("tls: record overflow")
		}
		switch typ {
		case tlsRecordAlert:
			// A warning alert is ignored (16 in a row at most); anything
			// else ends the handshake.
			if len(data) != 2 || data[0] != tlsAlertWarning || data[1] == tlsAlertCloseNotify {
				return "", false, fmt.Errorf("tls: alert %v before the ClientHello", data)
			}
			if useless++; useless > tlsMaxUselessRecords {
				return "", false, errors.New("tls: too many ignored records")
			}
		case tlsRecordHandshake:
			if n == 0 {
				return "", false, errors.New("tls: empty handshake record")
			}
			useless = 0
			if hand == nil {
				hand = data // most hellos are one record: no copy
			} else {
				hand = append(hand[:len(hand):len(hand)], data...)
			}
		}
	}
}

// The limits and codes of crypto/tls (common.go, conn.go).
const (
	tlsRecordAlert       = 21
	tlsRecordHandshake   = 22
	tlsAlertWarning      = 1
	tlsAlertCloseNotify  = 0
	tlsMaxPlaintext      = 16384
	tlsMaxCiphertext     = 16384 + 2048
	tlsMaxHandshake      = 65536
	tlsMaxUselessRecords = 16
	tlsTypeClientHello   = 1
)

// TLS extension numbers the hello decoder checks (crypto/tls common.go).
const (
	extServerName          = 0
	extStatusRequest       = 5
	extSupportedCurves     = 10
	extSupportedPoints     = 11
	extSignatureAlgorithms = 13
	extALPN                = 16
	extSCT                 = 18
	extExtendedMasterSec   = 23
	extSessionTicket       = 35
	extPreSharedKey        = 41
	extEarlyData           = 42
	extSupportedVersions   = 43
	extCookie              = 44
	extPSKModes            = 45
	extSignatureAlgsCert   = 50
	extKeyShare            = 51
	extQUICTransportParams = 57
	extRenegotiationInfo   = 0xff01
	extECH                 = 0xfe0d
)

var errBadHello = errors.New("tls: error decoding ClientHello")

// parseHelloMessage decodes one handshake message that must be a
// ClientHello, as crypto/tls's clientHelloMsg.unmarshal does, keeping
// only the server name.
func parseHelloMessage(msg []byte) (sni string, more bool, err error) {
	if msg[0] != tlsTypeClientHello {
		return "", false, fmt.Errorf("tls: unexpected handshake message of type %d before the ClientHello", msg[0])
	}
	s := cryptobyte.String(msg)
	var ignored cryptobyte.String
	if !s.Skip(4) || !s.Skip(2) || !s.Skip(32) || // type, length, version, random
		!s.ReadUint8LengthPrefixed(&ignored) { // session id
		return "", false, errBadHello
	}
	var suites cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&suites) || len(suites)%2 != 0 ||
		!s.ReadUint8LengthPrefixed(&ignored) { // compression methods
		return "", false, errBadHello
	}
	if s.Empty() {
		return "", false, nil // no extensions
	}
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return "", false, errBadHello
	}
	var seen helloExtSet
	var name []byte
	var ech []byte
	for !exts.Empty() {
		var ext uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&ext) || !exts.ReadUint16LengthPrefixed(&data) {
			return "", false, errBadHello
		}
		if !seen.add(ext) {
			return "", false, errBadHello // an extension twice
		}
		ok := true
		switch ext {
		case extServerName:
			name, ok = parseServerName(&data)
		case extStatusRequest:
			var typ uint8
			ok = data.ReadUint8(&typ) && data.ReadUint16LengthPrefixed(&ignored) && data.ReadUint16LengthPrefixed(&ignored)
		case extSupportedCurves, extSignatureAlgorithms, extSignatureAlgsCert:
			ok = data.ReadUint16LengthPrefixed(&ignored) && !ignored.Empty() && len(ignored)%2 == 0
		case extSupportedPoints:
			ok = data.ReadUint8LengthPrefixed(&ignored) && !ignored.Empty()
		case extSessionTicket, extQUICTransportParams:
			data = nil // any content
		case extECH:
			ech, data = data, nil
		case extRenegotiationInfo, extPSKModes:
			ok = data.ReadUint8LengthPrefixed(&ignored)
		case extExtendedMasterSec, extSCT, extEarlyData:
			// no content
		case extALPN:
			ok = parseALPN(&data)
		case extSupportedVersions:
			ok = data.ReadUint8LengthPrefixed(&ignored) && !ignored.Empty() && len(ignored)%2 == 0
		case extCookie:
			ok = data.ReadUint16LengthPrefixed(&ignored) && !ignored.Empty()
		case extKeyShare:
			ok = parseKeyShares(&data)
		case extPreSharedKey:
			ok = exts.Empty() && parsePSK(&data) // must be the last extension
		default:
			continue // unknown extensions are ignored, content and all
		}
		if !ok || !data.Empty() {
			return "", false, errBadHello
		}
	}
	if len(ech) > 0 && !validECHExt(ech) {
		return "", false, errors.New("tls: invalid encrypted_client_hello extension")
	}
	return string(name), false, nil
}

// helloExtSet remembers the extensions seen (crypto/tls refuses
// duplicates): the low numbers in a bit set, the rest (renegotiation_info,
// GREASE, ECH ...) in a small array, then a slice, so that a usual hello
// allocates nothing here.
type helloExtSet struct {
	low  uint64
	high [8]uint16
	n    int
	more []uint16
}

func (s *helloExtSet) add(ext uint16) bool {
	if ext < 64 {
		bit := uint64(1) << ext
		if s.low&bit != 0 {
			return false
		}
		s.low |= bit
		return true
	}
	for _, e := range s.high[:s.n] {
		if e == ext {
			return false
		}
	}
	for _, e := range s.more {
		if e == ext {
			return false
		}
	}
	if s.n < len(s.high) {
		s.high[s.n] = ext
		s.n++
	} else {
		s.more = append(s.more, ext)
	}
	return true
}

// parseServerName reads RFC 6066's server_name list: one host_name at
// most, not empty, without a trailing dot; other name types are skipped.
func parseServerName(data *cryptobyte.String) ([]byte, bool) {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return nil, false
	}
	var name []byte
	for !list.Empty() {
		var typ uint8
		var n cryptobyte.String
		if !list.ReadUint8(&typ) || !list.ReadUint16LengthPrefixed(&n) || n.Empty() {
			return nil, false
		}
		if typ != 0 {
			continue
		}
		if len(name) != 0 || strings.HasSuffix(string(n), ".") {
			return nil, false
		}
		name = n
	}
	return name, true
}

// parseALPN reads a protocol list: not empty, no empty protocol.
func parseALPN(data *cryptobyte.String) bool {
	var list cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&list) || list.Empty() {
		return false
	}
	for !list.Empty() {
		var proto cryptobyte.String
		if !list.ReadUint8LengthPrefixed(&proto) || proto.Empty() {
			return false
		}
	}
	return true
}

// parseKeyShares reads the key_share list: each share a group and
// non-empty data.
func parseKeyShares(data *cryptobyte.String) bool {
	var shares cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&shares) {
		return false
	}
	for !shares.Empty() {
		var group uint16
		var key cryptobyte.String
		if !shares.ReadUint16(&group) || !shares.ReadUint16LengthPrefixed(&key) || key.Empty() {
			return false
		}
	}
	return true
}

// parsePSK reads pre_shared_key: identities (non-empty labels, ticket
// ages) and binders (non-empty), neither list empty.
func parsePSK(data *cryptobyte.String) bool {
	var ids cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&ids) || ids.Empty() {
		return false
	}
	for !ids.Empty() {
		var label cryptobyte.String
		var age uint32
		if !ids.ReadUint16LengthPrefixed(&label) || !ids.ReadUint32(&age) || label.Empty() {
			return false
		}
	}
	var binders cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&binders) || binders.Empty() {
		return false
	}
	for !binders.Empty() {
		var binder cryptobyte.String
		if !binders.ReadUint8LengthPrefixed(&binder) || binder.Empty() {
			return false
		}
	}
	return true
}

// validECHExt is crypto/tls's parseECHExt as its server uses it with no
// ECH keys: an inner marker with nothing after it, or an outer extension
// whose fixed fields are all there.
func validECHExt(ext []byte) bool {
	s := cryptobyte.String(ext)
	var typ uint8
	if !s.ReadUint8(&typ) {
		return false
	}
	switch typ {
	case 1: // inner
		return s.Empty()
	case 0: // outer: KDF, AEAD, config id, encap, payload
		var v cryptobyte.String
		return s.Skip(2) && s.Skip(2) && s.Skip(1) && s.ReadUint16LengthPrefixed(&v) && s.ReadUint16LengthPrefixed(&v)
	}
	return false
}
