package sasl

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// DigestMD5 is a DIGEST-MD5 client (RFC 2831) for qop "auth".
//
// Hadoop's TOKEN authentication uses it with Username = base64(token
// identifier), Password = base64(token password), Protocol "" and Server
// "default" (so the digest-uri is "/default").
type DigestMD5 struct {
	Username string
	Password string
	// Protocol and Server form the digest-uri "protocol/server".
	Protocol string
	Server   string
	// CNonce, when set, returns the client nonce (tests use it to replay
	// RFC 2831's example). By default 16 random bytes, base64-encoded.
	CNonce func() string

	step    int
	rspauth string // expected rspauth value, hex
}

// NewDigestMD5 returns a DIGEST-MD5 client.
func NewDigestMD5(username, password, protocol, server string) *DigestMD5 {
	return &DigestMD5{Username: username, Password: password, Protocol: protocol, Server: server}
}

// Name implements Mechanism.
func (d *DigestMD5) Name() string { return "DIGEST-MD5" }

// Step implements Mechanism. The first call takes the digest-challenge and
// returns the digest-response. A second call takes the response-auth
// ("rspauth=...") if the server sends it as a further challenge, verifies
// it, and returns an empty response.
func (d *DigestMD5) Step(challenge []byte) ([]byte, bool, error) {
	switch d.step {
	case 0:
		d.step = 1
		resp, err := d.respond(challenge)
		return resp, false, err
	case 1:
		d.step = 2
		return nil, true, d.Verify(challenge)
	default:
		return nil, true, fmt.Errorf("digest-md5 step %d: %w", d.step+1, ErrState)
	}
}

// Verify implements Mechanism: it checks rspauth. Empty final data is
// accepted only if rspauth was already verified by Step.
func (d *DigestMD5) Verify(final []byte) error {
	if d.step == 0 {
		return fmt.Errorf("digest-md5 verify before challenge: %w", ErrState)
	}
	if len(final) == 0 {
		if d.step == 2 {
			return nil
		}
		return fmt.Errorf("digest-md5: no rspauth from server: %w", ErrServerAuth)
	}
	d.step = 2
	kv, err := parseDirectives(string(final))
	if err != nil {
		return err
	}
	got, ok := kv["rspauth"]
	if !ok {
		return fmt.Errorf("digest-md5: final data has no rspauth: %w", ErrServerAuth)
	}
	if got != d.rspauth {
		return fmt.Errorf("digest-md5: rspauth mismatch: %w", ErrServerAuth)
	}
	return nil
}

func (d *DigestMD5) respond(challenge []byte) ([]byte, error) {
	kv, err := parseDirectives(string(challenge))
	if err != nil {
		return nil, err
	}
	nonce, ok := kv["nonce"]
	if !ok || nonce == "" {
		return nil, fmt.Errorf("digest-md5: challenge has no nonce: %w", ErrChallenge)
	}
	if alg := kv["algorithm"]; alg != "md5-sess" {
		return nil, fmt.Errorf("digest-md5: algorithm %q, want md5-sess: %w", alg, ErrChallenge)
	}
	if qops, ok := kv["qop"]; ok && !hasToken(qops, "auth") {
		return nil, fmt.Errorf("digest-md5: server offers qop %q, only auth is supported: %w", qops, ErrChallenge)
	}
	// The realm, if the server offers several, is the first; Hadoop sends one.
	realm := kv["realm"]
	cnonce := d.cnonce()
	const nc = "00000001"
	const qop = "auth"
	uri := d.Protocol + "/" + d.Server

	response, rspauth := digestResponse(d.Username, realm, d.Password, nonce, cnonce, nc, qop, uri)
	d.rspauth = rspauth

	var b strings.Builder
	utf8 := kv["charset"] == "utf-8"
	if utf8 {
		b.WriteString("charset=utf-8,")
	}
	fmt.Fprintf(&b, "username=%s,", quote(d.Username))
	if realm != "" {
		fmt.Fprintf(&b, "realm=%s,", quote(realm))
	}
	fmt.Fprintf(&b, "nonce=%s,nc=%s,cnonce=%s,digest-uri=%s,maxbuf=65536,response=%s,qop=%s",
		quote(nonce), nc, quote(cnonce), quote(uri), response, qop)
	return []byte(b.String()), nil
}

func (d *DigestMD5) cnonce() string {
	if d.CNonce != nil {
		return d.CNonce()
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return base64.StdEncoding.EncodeToString(b[:])
}

// digestResponse computes the response and the expected rspauth values of
// RFC 2831 section 2.1.2.1 for qop "auth" (no authzid).
func digestResponse(user, realm, pass, nonce, cnonce, nc, qop, uri string) (response, rspauth string) {
	h := md5.Sum([]byte(user + ":" + realm + ":" + pass))
	a1 := string(h[:]) + ":" + nonce + ":" + cnonce
	ha1 := hexMD5(a1)
	kd := func(a2 string) string {
		return hexMD5(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + hexMD5(a2))
	}
	return kd("AUTHENTICATE:" + uri), kd(":" + uri)
}

func hexMD5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func hasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.TrimSpace(t) == tok {
			return true
		}
	}
	return false
}

// parseDirectives parses a comma-separated list of key=value or
// key="quoted value" directives (RFC 2831 section 7.1). Keys are
// lower-cased; a repeated key keeps its first value except qop, whose
// values are joined.
func parseDirectives(s string) (map[string]string, error) {
	kv := make(map[string]string)
	i := 0
	skip := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return kv, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && s[i] != ',' {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("digest-md5: directive %q has no value: %w", s[start:i], ErrChallenge)
		}
		key := strings.ToLower(strings.TrimSpace(s[start:i]))
		i++ // '='
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				i++
				if c == '\\' && i < len(s) {
					b.WriteByte(s[i])
					i++
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("digest-md5: unterminated quoted value for %q: %w", key, ErrChallenge)
			}
			val = b.String()
		} else {
			start := i
			for i < len(s) && s[i] != ',' {
				i++
			}
			val = strings.TrimSpace(s[start:i])
		}
		if old, dup := kv[key]; dup {
			if key == "qop" {
				kv[key] = old + "," + val
			}
			continue
		}
		kv[key] = val
	}
}
