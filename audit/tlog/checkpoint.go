package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a C2SP tlog-checkpoint: the origin line (the log's name:
// the gateway id), the tree size in decimal and the root hash in base64,
// each on its own line. Signed, it is a C2SP signed note.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   Hash
}

// Text is the checkpoint's body, the text a signature covers.
func (c Checkpoint) Text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n"
}

// CheckOrigin reports whether origin can be an origin line: not empty, no
// control characters (a gateway id is the origin of its log).
func CheckOrigin(origin string) error {
	if origin == "" {
		return errors.New("empty origin")
	}
	for _, r := range origin {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return fmt.Errorf("origin %q has a control character", origin)
		}
	}
	return nil
}

// ParseCheckpoint reads a checkpoint body (lines after the third, the
// C2SP extension lines, are allowed and ignored).
func ParseCheckpoint(text string) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.SplitAfter(text, "\n")
	if len(lines) < 3 || !strings.HasSuffix(text, "\n") {
		return c, errors.New("tlog: malformed checkpoint: want origin, size and root lines")
	}
	c.Origin = strings.TrimSuffix(lines[0], "\n")
	size := strings.TrimSuffix(lines[1], "\n")
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != size {
		return c, fmt.Errorf("tlog: malformed checkpoint size %q", size)
	}
	c.Size = n
	root, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(lines[2], "\n"))
	if err != nil || len(root) != HashSize {
		return c, fmt.Errorf("tlog: malformed checkpoint root %q", strings.TrimSuffix(lines[2], "\n"))
	}
	copy(c.Root[:], root)
	if c.Origin == "" {
		return c, errors.New("tlog: malformed checkpoint: empty origin")
	}
	return c, nil
}

// Sign signs c with s: a C2SP signed note.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	if err := CheckOrigin(c.Origin); err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// Open checks the signatures of a signed checkpoint against known and
// parses it. A note not signed by any of known, or with a signature of
// one of them that does not verify, is an error: a forged checkpoint.
func Open(msg []byte, known note.Verifiers) (Checkpoint, *note.Note, error) {
	n, err := note.Open(msg, known)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			names := make([]string, 0, len(unverified.Note.UnverifiedSigs))
			for _, s := range unverified.Note.UnverifiedSigs {
				names = append(names, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
			return Checkpoint{}, nil, fmt.Errorf("not signed by a known key (signed by %s)", strings.Join(names, ", "))
		}
		return Checkpoint{}, nil, err
	}
	c, err := ParseCheckpoint(n.Text)
	return c, n, err
}

// SplitNotes splits text holding signed notes one after another (a
// checkpoint file, to which each checkpoint is appended followed by a
// blank line) into the notes. Each note is its text lines, a blank line,
// and its signature lines ("— name signature").
func SplitNotes(data []byte) [][]byte {
	var out [][]byte
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, i := -1, 0
	for i < len(lines) {
		line := lines[i]
		if start < 0 {
			if len(bytes.TrimSpace(line)) == 0 {
				i++
				continue
			}
			start = i
		}
		// The text: up to a blank line.
		for i < len(lines) && len(bytes.TrimRight(lines[i], "\r\n")) > 0 {
			i++
		}
		i++ // the blank line
		for i < len(lines) && bytes.HasPrefix(lines[i], []byte("— ")) {
			i++
		}
		out = append(out, bytes.Join(lines[start:min(i, len(lines))], nil))
		start = -1
	}
	return out
}

// DefaultKeyName is the name of the keys GenerateKey makes by default.
const DefaultKeyName = "sluice-audit"

// GenerateKey makes an Ed25519 key pair for signed notes named name: the
// signer key (PRIVATE+KEY+name+hash+key, secret) and the verifier key
// (name+hash+key, public), in x/mod/sumdb/note's text forms.
func GenerateKey(name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand.Reader, name)
}

// ReadSigner reads a signer key file (GenerateKey's skey).
func ReadSigner(path string) (note.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a signer key (sluice audit keygen writes one): %w", path, err)
	}
	return s, nil
}

// VerifierKeyOf is the verifier key of a signer key.
func VerifierKeyOf(skey string) (string, error) {
	// PRIVATE+KEY+name+hash+base64(alg || seed)
	parts := strings.SplitN(strings.TrimSpace(skey), "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("not a signer key")
	}
	key, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != 1 {
		return "", errors.New("not an Ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(key[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// ReadVerifier reads a verifier key file (GenerateKey's vkey), or derives
// the verifier of a signer key file.
func ReadVerifier(path string) (note.Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSpace(string(b))
	if strings.HasPrefix(key, "PRIVATE+KEY+") {
		if key, err = VerifierKeyOf(key); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	v, err := note.NewVerifier(key)
	if err != nil {
		return nil, fmt.Errorf("%s: not a verifier key (sluice audit keygen writes one): %w", path, err)
	}
	return v, nil
}

// Verifiers is the list of verifiers vs, for Open.
func Verifiers(vs ...note.Verifier) note.Verifiers { return note.VerifierList(vs...) }
