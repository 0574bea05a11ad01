package watermark

import (
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"unsafe"
)

// Digest condenses a sequence of fields into a short string; each field is
// length-prefixed so that ("ab","c") and ("a","bc") differ. Seeded with a
// machine's secret key, digests of session content stored in a shared store
// cannot confirm a guessed secret offline.
type Digest struct{ h hash.Hash }

// NewDigest starts an unkeyed digest (for values that hold no content).
func NewDigest() *Digest { return &Digest{h: sha256.New()} }

// NewKeyedDigest starts a digest seeded with key.
func NewKeyedDigest(key []byte) *Digest {
	d := NewDigest()
	d.Bytes(key)
	return d
}

// String adds a string field. SHA-256 does not take strings, and copying
// every row's text into a []byte for it cost av-read a tenth of its CPU;
// a hash only reads what it is given (hash.Hash's contract), so it reads
// the string's bytes in place.
func (d *Digest) String(s string) {
	d.Int(int64(len(s)))
	d.h.Write(unsafe.Slice(unsafe.StringData(s), len(s)))
}

// Bytes adds a byte field.
func (d *Digest) Bytes(b []byte) {
	d.Int(int64(len(b)))
	d.h.Write(b)
}

// Int adds an integer field.
func (d *Digest) Int(n int64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	d.h.Write(b[:])
}

// Bool adds a boolean field.
func (d *Digest) Bool(v bool) {
	if v {
		d.Int(1)
	} else {
		d.Int(0)
	}
}

// Sum is the digest so far; the digest may go on.
func (d *Digest) Sum() string { return hex.EncodeToString(d.h.Sum(nil)[:16]) }

// Clone returns an independent copy, so a digest of a prefix and of the
// whole can be taken in one pass.
func (d *Digest) Clone() *Digest {
	state, err := d.h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err) // sha256 always marshals
	}
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		panic(err)
	}
	return &Digest{h: h}
}
