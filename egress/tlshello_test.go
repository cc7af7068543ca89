package egress

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// captureHello returns the ClientHello record a tls.Client with cfg
// sends (a real handshake against a net.Pipe that never answers; Go's
// client sends its hello as one record).
func captureHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		_ = tls.Client(a, cfg).Handshake()
		a.Close()
	}()
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatalf("no ClientHello for %+v: %v", cfg, err)
	}
	rec := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, rec); err != nil {
		t.Fatalf("ClientHello for %+v: %v", cfg, err)
	}
	return append(hdr, rec...)
}

// referenceHello is what crypto/tls's server makes of b (then EOF): the
// SNI it would hand GetConfigForClient, or its error. It is how
// readClientHello worked before parseClientHello.
func referenceHello(b []byte) (string, error) {
	errSeen := errors.New("hello read")
	var sni string
	seen := false
	cfg := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		sni, seen = h.ServerName, true
		return nil, errSeen
	}}
	err := tls.Server(&memConn{r: bytes.NewReader(b)}, cfg).Handshake()
	if seen {
		return sni, nil
	}
	if err == nil {
		err = errors.New("no ClientHello")
	}
	return "", err
}

// memConn is a net.Conn whose reads come from r, at most max bytes each
// (0: no limit), and whose writes vanish.
type memConn struct {
	net.Conn
	r   io.Reader
	max int
}

func (m *memConn) Read(p []byte) (int, error) {
	if m.max > 0 && len(p) > m.max {
		p = p[:m.max]
	}
	return m.r.Read(p)
}
func (m *memConn) Write(p []byte) (int, error)      { return len(p), nil }
func (m *memConn) Close() error                     { return nil }
func (m *memConn) SetReadDeadline(time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(time.Time) error { return nil }
func (m *memConn) SetDeadline(time.Time) error      { return nil }

// sameAsCryptoTLS fails t when parseClientHello and crypto/tls disagree
// about b: both accept it with the same SNI, or both refuse it (an
// incomplete hello is refused by crypto/tls at EOF).
func sameAsCryptoTLS(t testing.TB, b []byte) {
	t.Helper()
	want, werr := referenceHello(b)
	got, more, err := parseClientHello(b)
	if more && err == nil {
		err = io.ErrUnexpectedEOF
	}
	switch {
	case (err == nil) != (werr == nil):
		t.Fatalf("%x:\nparseClientHello: %q, %v\ncrypto/tls:       %q, %v", b, got, err, want, werr)
	case err == nil && got != want:
		t.Fatalf("%x: SNI %q, crypto/tls %q", b, got, want)
	}
}

// helloConfigs are client configurations whose hellos differ: names,
// ALPN, versions, groups, tickets.
func helloConfigs() []*tls.Config {
	names := []string{"secure.test", "", "a.b.c.d.e.f.example", "xn--bcher-kva.example", "UPPER.Example", "x",
		"127.0.0.1", "::1", "name-with-dash.example", string(bytes.Repeat([]byte("a"), 63)) + ".example",
		string(bytes.Repeat([]byte("long."), 50)) + "example"}
	alpns := [][]string{nil, {"h2"}, {"http/1.1"}, {"h2", "http/1.1"}, {"a", "bb", "ccc", "dddd", "x-custom/1"}}
	versions := [][2]uint16{{0, 0}, {tls.VersionTLS12, tls.VersionTLS12}, {tls.VersionTLS13, tls.VersionTLS13}, {tls.VersionTLS10, tls.VersionTLS12}}
	curves := [][]tls.CurveID{nil, {tls.X25519}, {tls.CurveP256, tls.CurveP384}, {tls.X25519MLKEM768, tls.X25519}}
	var out []*tls.Config
	for i, name := range names {
		for j, alpn := range alpns {
			v := versions[(i+j)%len(versions)]
			out = append(out, &tls.Config{ServerName: name, NextProtos: alpn, MinVersion: v[0], MaxVersion: v[1],
				CurvePreferences: curves[(i*3+j)%len(curves)], SessionTicketsDisabled: (i+j)%2 == 0, InsecureSkipVerify: true})
		}
	}
	return out
}

// reframe splits a hello's handshake bytes into records of the sizes
// rnd picks (crypto/tls reassembles a message across records).
func reframe(hello []byte, rnd *rand.Rand) []byte {
	msg := hello[5:]
	var out []byte
	for len(msg) > 0 {
		n := min(len(msg), 1+rnd.IntN(300))
		out = append(out, 22, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

func TestParseClientHelloAgreesWithCryptoTLS(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, cfg := range helloConfigs() {
		hello := captureHello(t, cfg)
		if cfg.ServerName != "" && net.ParseIP(cfg.ServerName) == nil {
			if sni, _, err := parseClientHello(hello); err != nil || sni != cfg.ServerName {
				t.Errorf("%q: SNI %q, %v", cfg.ServerName, sni, err)
			}
		}
		sameAsCryptoTLS(t, hello)
		framed := reframe(hello, rnd)
		sameAsCryptoTLS(t, framed)
		// Read in pieces: one byte at a time, and at random.
		for _, max := range []int{1, 7, 1 + rnd.IntN(500)} {
			sni, raw, err := readClientHello(&memConn{r: bytes.NewReader(framed), max: max}, 0, nil)
			if want, _ := referenceHello(framed); err != nil || sni != want || !bytes.Equal(raw, framed) {
				t.Errorf("%q read %d bytes at a time: %q, %v (read %d of %d)", cfg.ServerName, max, sni, err, len(raw), len(framed))
			}
		}
		// Every truncation is refused (incomplete), as crypto/tls does.
		for n := 0; n < len(hello); n += 1 + n/8 {
			sameAsCryptoTLS(t, hello[:n])
		}
		// Damaged hellos: both refuse, or both accept with one SNI.
		for range 200 {
			b := bytes.Clone(framed)
			for range 1 + rnd.IntN(3) {
				b[rnd.IntN(len(b))] ^= byte(1 + rnd.IntN(255))
			}
			sameAsCryptoTLS(t, b)
		}
	}
}

// Hand-made records crypto/tls refuses, or accepts, before and around a
// hello.
func TestParseClientHelloRecords(t *testing.T) {
	hello := captureHello(t, &tls.Config{ServerName: "secure.test"})
	warning := []byte{21, 3, 1, 0, 2, 1, 90}
	var sixteen, seventeen []byte
	for range 16 {
		sixteen = append(sixteen, warning...)
	}
	seventeen = append(bytes.Clone(sixteen), warning...)
	record := func(typ byte, vers uint16, data []byte) []byte {
		return append([]byte{typ, byte(vers >> 8), byte(vers), byte(len(data) >> 8), byte(len(data))}, data...)
	}
	msg := hello[5:]
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"a hello", hello},
		{"a hello and more bytes", append(bytes.Clone(hello), 23, 3, 3, 0, 1, 0)},
		{"warning alerts first", append(bytes.Clone(sixteen), hello...)},
		{"seventeen warning alerts", append(bytes.Clone(seventeen), hello...)},
		{"a fatal alert", append([]byte{21, 3, 1, 0, 2, 2, 40}, hello...)},
		{"close_notify", append([]byte{21, 3, 1, 0, 2, 1, 0}, hello...)},
		{"a long alert", append([]byte{21, 3, 1, 0, 3, 1, 90, 0}, hello...)},
		{"change_cipher_spec first", append([]byte{20, 3, 1, 0, 1, 1}, hello...)},
		{"application data first", append([]byte{23, 3, 1, 0, 1, 1}, hello...)},
		{"an empty handshake record", append([]byte{22, 3, 1, 0, 0}, hello...)},
		{"record version 0x1000", record(22, 0x1000, msg)},
		{"record version 0x0300", record(22, 0x0300, msg)},
		{"SSLv2", append([]byte{0x80, 0x2e, 1, 3, 1}, hello[5:40]...)},
		{"not a ClientHello", record(22, 0x0301, append([]byte{2}, msg[1:]...))},
		{"a message over 64 KiB", record(22, 0x0301, []byte{1, 1, 0, 1})},
		{"a record over the limit", append([]byte{22, 3, 1, 0x48, 1}, make([]byte, 0x4801)...)},
		{"a plaintext record over 16 KiB", append([]byte{22, 3, 1, 0x40, 1}, make([]byte, 0x4001)...)},
		{"nothing", nil},
		{"HTTP", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	} {
		t.Run(tt.name, func(t *testing.T) { sameAsCryptoTLS(t, tt.b) })
	}
}

// FuzzParseClientHello: for any bytes, parseClientHello and crypto/tls
// agree (go test ./egress -run '^$' -fuzz FuzzParseClientHello).
func FuzzParseClientHello(f *testing.F) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for i, cfg := range helloConfigs() {
		if i%5 == 0 {
			hello := captureHello(f, cfg)
			f.Add(hello)
			f.Add(reframe(hello, rnd))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) { sameAsCryptoTLS(t, b) })
}

func BenchmarkReadClientHello(b *testing.B) {
	hello := captureHello(b, &tls.Config{ServerName: "secure.test", NextProtos: []string{"h2", "http/1.1"}})
	buf := make([]byte, 0, helloReadSize)
	b.ReportAllocs()
	for b.Loop() {
		sni, _, err := readClientHello(&memConn{r: bytes.NewReader(hello)}, time.Second, buf)
		if err != nil || sni != "secure.test" {
			b.Fatal(sni, err)
		}
	}
}

// withExtension returns hello (one record) with the extension typ, data
// appended to its extensions and every length fixed up.
func withExtension(t *testing.T, hello []byte, typ uint16, data []byte) []byte {
	t.Helper()
	body := hello[9:]
	i := 2 + 32
	i += 1 + int(body[i])                       // session id
	i += 2 + (int(body[i])<<8 | int(body[i+1])) // cipher suites
	i += 1 + int(body[i])                       // compression methods
	extLen := int(body[i])<<8 | int(body[i+1])
	if i+2+extLen != len(body) {
		t.Fatalf("hello layout: extensions end at %d of %d", i+2+extLen, len(body))
	}
	ext := append([]byte{byte(typ >> 8), byte(typ), byte(len(data) >> 8), byte(len(data))}, data...)
	nb := append(bytes.Clone(body), ext...)
	extLen += len(ext)
	nb[i], nb[i+1] = byte(extLen>>8), byte(extLen)
	msg := append([]byte{1, byte(len(nb) >> 16), byte(len(nb) >> 8), byte(len(nb))}, nb...)
	return append([]byte{22, 3, 1, byte(len(msg) >> 8), byte(len(msg))}, msg...)
}

// Extensions crypto/tls decodes, well and badly formed, added to a real
// hello: both parsers give the same verdict (and SNI).
func TestParseClientHelloExtensions(t *testing.T) {
	hello := captureHello(t, &tls.Config{ServerName: "secure.test", MaxVersion: tls.VersionTLS12, SessionTicketsDisabled: true})
	u16 := func(b ...byte) []byte { return append([]byte{byte(len(b) >> 8), byte(len(b))}, b...) }
	u8 := func(b ...byte) []byte { return append([]byte{byte(len(b))}, b...) }
	exts := []struct {
		typ  uint16
		data []byte
	}{
		{0, nil}, {0, u16(0, 0, 1, 'x')}, // a second server_name
		{5, []byte{1, 0, 0, 0, 0}}, {5, []byte{1, 0, 0}}, {5, []byte{1, 0, 0, 0, 0, 9}},
		{11, u8(0)}, {11, u8()}, {11, append(u8(0), 1)},
		{18, nil}, {18, []byte{1}}, {23, nil}, {23, []byte{0}}, {42, nil}, {42, []byte{1}},
		{35, nil}, {35, []byte{1, 2, 3}}, {57, []byte{1, 2}},
		{44, u16(1)}, {44, u16()}, {45, u8(1)}, {45, []byte{2, 1}},
		{50, u16(4, 3)}, {50, u16()}, {50, u16(4)},
		{51, u16(0, 29, 0, 1, 7)}, {51, u16(0, 29, 0, 0)}, {51, u16()},
		{41, append(u16(0, 1, 'a', 0, 0, 0, 0), u16(1, 9)...)}, {41, append(u16(0, 0, 0, 0, 0, 0), u16(1, 9)...)},
		{41, append(u16(0, 1, 'a', 0, 0, 0, 0), u16()...)}, {41, append(u16(0, 1, 'a', 0, 0, 0, 0), u16(0)...)},
		{0xff01, u8()}, {0xff01, []byte{0, 1}},
		{0xfe0d, []byte{1}}, {0xfe0d, []byte{1, 0}}, {0xfe0d, []byte{2}}, {0xfe0d, nil},
		{0xfe0d, append([]byte{0, 0, 1, 0, 1, 7}, append(u16(1, 2), u16(3)...)...)},
		{0xfe0d, append([]byte{0, 0, 1, 0, 1, 7}, u16(1, 2)...)},
		{0x0a0a, []byte{1, 2, 3}}, {0x4469, nil},
	}
	for _, e := range exts {
		b := withExtension(t, hello, e.typ, e.data)
		t.Run(fmt.Sprintf("%#04x %x", e.typ, e.data), func(t *testing.T) { sameAsCryptoTLS(t, b) })
	}
	// An extension twice, and pre_shared_key before another extension.
	twice := withExtension(t, withExtension(t, hello, 0x0a0a, nil), 0x0a0a, nil)
	t.Run("an extension twice", func(t *testing.T) { sameAsCryptoTLS(t, twice) })
	psk := withExtension(t, withExtension(t, hello, 41, append(u16(0, 1, 'a', 0, 0, 0, 0), u16(1, 9)...)), 18, nil)
	t.Run("pre_shared_key not last", func(t *testing.T) { sameAsCryptoTLS(t, psk) })
}
