package registry

import "encoding/pem"

// pemBlock returns the DER bytes of the first PEM block, or nil when data
// is not PEM (and so may already be DER).
func pemBlock(data []byte) []byte {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil
	}
	return b.Bytes
}
