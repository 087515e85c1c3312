package embedded

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestChecksums(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"stories260K.bin", Model, "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"},
		{"tok512.bin", Tokenizer, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"},
	} {
		sum := sha256.Sum256(tc.data)
		if got := hex.EncodeToString(sum[:]); got != tc.want {
			t.Errorf("%s: sha256 %s, want %s", tc.name, got, tc.want)
		}
	}
}
