package sasl

import (
	"errors"
	"strings"
	"testing"
)

// RFC 2831 section 4, example 1 (IMAP): the response and rspauth values are
// the RFC's.
const (
	rfcChallenge = `realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`
	rfcResponse  = `charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",maxbuf=65536,response=d388dad90d4bbd760a152321f2143af7,qop=auth`
	rfcRspAuth   = `rspauth=ea40f60335c427b5527b84dbabcdfffd`
)

func rfcClient() *DigestMD5 {
	d := NewDigestMD5("chris", "secret", "imap", "elwood.innosoft.com")
	d.CNonce = func() string { return "OA6MHXh6VqTrRk" }
	return d
}

func TestDigestMD5RFC2831Example(t *testing.T) {
	resp, rspauth := digestResponse("chris", "elwood.innosoft.com", "secret",
		"OA6MG9tEQGm2hh", "OA6MHXh6VqTrRk", "00000001", "auth", "imap/elwood.innosoft.com")
	if resp != "d388dad90d4bbd760a152321f2143af7" {
		t.Errorf("response = %s", resp)
	}
	if rspauth != "ea40f60335c427b5527b84dbabcdfffd" {
		t.Errorf("rspauth = %s", rspauth)
	}

	d := rfcClient()
	out, done, err := d.Step([]byte(rfcChallenge))
	if err != nil || done {
		t.Fatalf("Step: done=%v err=%v", done, err)
	}
	if string(out) != rfcResponse {
		t.Errorf("response\n got %s\nwant %s", out, rfcResponse)
	}
	if err := d.Verify([]byte(rfcRspAuth)); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestDigestMD5RspAuthAsChallenge(t *testing.T) {
	d := rfcClient()
	if _, _, err := d.Step([]byte(rfcChallenge)); err != nil {
		t.Fatal(err)
	}
	out, done, err := d.Step([]byte(rfcRspAuth))
	if err != nil || !done || len(out) != 0 {
		t.Fatalf("second step: out=%q done=%v err=%v", out, done, err)
	}
	// The SUCCESS that follows carries nothing more.
	if err := d.Verify(nil); err != nil {
		t.Fatalf("Verify(nil) after rspauth: %v", err)
	}
	if _, _, err := d.Step(nil); !errors.Is(err, ErrState) {
		t.Fatalf("third step: %v, want ErrState", err)
	}
}

func TestDigestMD5Errors(t *testing.T) {
	for _, tc := range []struct {
		name, challenge string
		want            error
	}{
		{"no nonce", `realm="r",qop="auth",algorithm=md5-sess`, ErrChallenge},
		{"wrong algorithm", `nonce="n",qop="auth",algorithm=md5`, ErrChallenge},
		{"qop auth-conf only", `nonce="n",qop="auth-conf",algorithm=md5-sess`, ErrChallenge},
		{"unterminated", `nonce="n,algorithm=md5-sess`, ErrChallenge},
		{"no value", `nonce`, ErrChallenge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := rfcClient().Step([]byte(tc.challenge))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	d := rfcClient()
	if err := d.Verify([]byte(rfcRspAuth)); !errors.Is(err, ErrState) {
		t.Fatalf("Verify before Step: %v", err)
	}
	if _, _, err := d.Step([]byte(rfcChallenge)); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify([]byte("rspauth=00000000000000000000000000000000")); !errors.Is(err, ErrServerAuth) {
		t.Fatalf("wrong rspauth: %v", err)
	}
	if err := rfcClientStepped(t).Verify(nil); !errors.Is(err, ErrServerAuth) {
		t.Fatalf("missing rspauth: %v", err)
	}
}

func rfcClientStepped(t *testing.T) *DigestMD5 {
	d := rfcClient()
	if _, _, err := d.Step([]byte(rfcChallenge)); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseDirectives(t *testing.T) {
	kv, err := parseDirectives(` realm="a\"b" , qop="auth",qop=auth-int, nonce = x ,`)
	if err != nil {
		t.Fatal(err)
	}
	if kv["realm"] != `a"b` || kv["nonce"] != "x" || !strings.Contains(kv["qop"], "auth-int") {
		t.Fatalf("kv = %v", kv)
	}
}

func FuzzDigestMD5Challenge(f *testing.F) {
	f.Add([]byte(rfcChallenge))
	f.Add([]byte(`nonce="\`))
	f.Add([]byte(`,,,=`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := rfcClient()
		_, _, _ = d.Step(b)
		_ = d.Verify(b)
	})
}
