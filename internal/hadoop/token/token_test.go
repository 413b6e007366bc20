package token

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A version 0 file written out byte by byte from Credentials.write and
// Token.write: one AMRMToken under alias "a", one secret "k".
func writableSample(t testing.TB) []byte {
	t.Helper()
	h := strings.Join([]string{
		"48445453", "00", // HDTS, version 0
		"01",       // one token
		"0161",     // alias "a"
		"03010203", // identifier
		"02aabb",   // password
		"10" + hex.EncodeToString([]byte("YARN_AM_RM_TOKEN")),
		"0e" + hex.EncodeToString([]byte("127.0.0.1:8030")),
		"01",   // one secret
		"016b", // alias "k"
		"8f80", // a 128-byte secret follows: vint 0x8f 0x80 is 128
	}, "")
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, bytes.Repeat([]byte{7}, 128)...)
}

func TestParseWritable(t *testing.T) {
	c, err := Parse(writableSample(t))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Find(KindAMRMToken, "")
	if err != nil {
		t.Fatal(err)
	}
	want := &Token{Identifier: []byte{1, 2, 3}, Password: []byte{0xaa, 0xbb}, Kind: KindAMRMToken, Service: "127.0.0.1:8030"}
	if !equalToken(tok, want) {
		t.Fatalf("token = %v", tok)
	}
	if len(c.Secrets["k"]) != 128 {
		t.Fatalf("secret = %d bytes", len(c.Secrets["k"]))
	}
	if _, err := c.Find(KindAMRMToken, "elsewhere:1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find other service: %v", err)
	}
	// Our writer produces the same bytes.
	out, err := c.Marshal(FormatWritable)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, writableSample(t)) {
		t.Fatalf("Marshal(FormatWritable)\n got %x\nwant %x", out, writableSample(t))
	}
}

func TestParseProtobuf(t *testing.T) {
	// HDTS, version 1, then a delimited CredentialsProto, hand-assembled:
	// tokens { alias "a" token { identifier 01 password 02 kind "K" service "S" } }
	// secrets { alias "s" secret 09 }
	tokenMsg := "0a0101" + "120102" + "1a014b" + "220153"
	kv := "0a0161" + "12" + hexLen(tokenMsg) + tokenMsg
	sec := "0a0173" + "1a0109"
	body := "0a" + hexLen(kv) + kv + "12" + hexLen(sec) + sec
	b, err := hex.DecodeString("4844545301" + hexLen(body) + body)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !equalToken(c.Tokens["a"], &Token{Identifier: []byte{1}, Password: []byte{2}, Kind: "K", Service: "S"}) {
		t.Fatalf("token = %v", c.Tokens["a"])
	}
	if !bytes.Equal(c.Secrets["s"], []byte{9}) {
		t.Fatalf("secret = %x", c.Secrets["s"])
	}
	out, err := c.Marshal(FormatProtobuf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("Marshal(FormatProtobuf)\n got %x\nwant %x", out, b)
	}
}

func hexLen(h string) string { return hex.EncodeToString([]byte{byte(len(h) / 2)}) }

func TestVLong(t *testing.T) {
	for _, tc := range []struct {
		v   int64
		hex string
	}{
		{0, "00"}, {127, "7f"}, {-1, "ff"}, {-112, "90"}, {128, "8f80"}, {255, "8fff"},
		{256, "8e0100"}, {-113, "8770"}, {1 << 40, "8a010000000000"},
		{-1 << 63, "807fffffffffffffff"}, {1<<63 - 1, "887fffffffffffffff"},
	} {
		got := hex.EncodeToString(appendVLong(nil, tc.v))
		if got != tc.hex {
			t.Errorf("appendVLong(%d) = %s, want %s", tc.v, got, tc.hex)
		}
		b, _ := hex.DecodeString(tc.hex)
		r := &reader{b: b}
		if v := r.vlong(); v != tc.v || r.err != nil || len(r.b) != 0 {
			t.Errorf("vlong(%s) = %d, %v", tc.hex, v, r.err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := writableSample(t)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"bad magic", []byte("HDTX\x00\x00\x00")},
		{"unknown version", []byte("HDTS\x07")},
		{"truncated", good[:len(good)-1]},
		{"huge count", []byte("HDTS\x00\x8c\x7f\xff\xff\xff")},
		{"negative length", []byte("HDTS\x00\x01\xff")},
		{"proto length past end", []byte("HDTS\x01\x05\x0a")},
		{"proto garbage", []byte("HDTS\x01\x02\xff\xff")},
		{"proto token entry without token", []byte("HDTS\x01\x05\x0a\x03\x0a\x01a")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.b); !errors.Is(err, ErrFormat) {
				t.Fatalf("err = %v, want ErrFormat", err)
			}
		})
	}
}

func TestReadFileAndEnvironment(t *testing.T) {
	p := filepath.Join(t.TempDir(), "container_tokens")
	if err := os.WriteFile(p, writableSample(t), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvTokenFile, p)
	c, err := FromEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ByKind(KindAMRMToken)) != 1 {
		t.Fatalf("tokens = %v", c.Tokens)
	}
	t.Setenv(EnvTokenFile, "")
	if _, err := FromEnvironment(); !errors.Is(err, ErrNoTokenFile) {
		t.Fatalf("unset: %v", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestSASLCredentials(t *testing.T) {
	u, p := (&Token{Identifier: []byte{0xfb, 0xff}, Password: []byte("pw")}).SASLCredentials()
	if u != "+/8=" || p != "cHc=" {
		t.Fatalf("got %q %q", u, p)
	}
}

func equalToken(a, b *Token) bool {
	return a != nil && b != nil && bytes.Equal(a.Identifier, b.Identifier) && bytes.Equal(a.Password, b.Password) &&
		a.Kind == b.Kind && a.Service == b.Service
}

func FuzzParse(f *testing.F) {
	f.Add(writableSample(f))
	c := NewCredentials()
	c.Add("x", &Token{Identifier: []byte("id"), Password: []byte("pw"), Kind: KindNMToken, Service: "h:1"})
	c.Secrets["s"] = []byte("secret")
	for _, fm := range []Format{FormatWritable, FormatProtobuf} {
		b, err := c.Marshal(fm)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("HDTS\x00\x88\x7f\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error does not wrap ErrFormat: %v", err)
			}
			return
		}
		// What parses must round-trip through both formats.
		for _, fm := range []Format{FormatWritable, FormatProtobuf} {
			out, err := c.Marshal(fm)
			if err != nil {
				t.Fatal(err)
			}
			c2, err := Parse(out)
			if err != nil {
				t.Fatalf("re-parse %d: %v", fm, err)
			}
			if len(c2.Tokens) != len(c.Tokens) || len(c2.Secrets) != len(c.Secrets) {
				t.Fatalf("round trip %d lost entries", fm)
			}
		}
	})
}
