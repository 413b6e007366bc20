package ipc

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/sasl"
	"floe/internal/hadoop/token"
)

// scriptedMech answers each challenge with the next scripted response and
// records what it was given.
type scriptedMech struct {
	responses []string
	seen      []string
	verified  string
	verifyErr error
}

func (m *scriptedMech) Name() string { return "SCRIPTED" }
func (m *scriptedMech) Step(c []byte) ([]byte, bool, error) {
	m.seen = append(m.seen, string(c))
	if len(m.responses) == 0 {
		return nil, true, sasl.ErrState
	}
	r := m.responses[0]
	m.responses = m.responses[1:]
	return []byte(r), false, nil
}
func (m *scriptedMech) Verify(f []byte) error { m.verified = string(f); return m.verifyErr }

type scriptedAuth struct {
	method string
	mech   *scriptedMech
}

func (a scriptedAuth) Method() string { return a.method }
func (a scriptedAuth) Mechanism(*hadooppb.RpcSaslProto_SaslAuth) (sasl.Mechanism, error) {
	return a.mech, nil
}

func saslMsg(state hadooppb.RpcSaslProto_SaslState, tok string, auths ...*hadooppb.RpcSaslProto_SaslAuth) *hadooppb.RpcSaslProto {
	m := &hadooppb.RpcSaslProto{State: state.Enum(), Auths: auths}
	if tok != "" {
		m.Token = []byte(tok)
	}
	return m
}

func offer(method, mech, challenge string) *hadooppb.RpcSaslProto_SaslAuth {
	a := &hadooppb.RpcSaslProto_SaslAuth{Method: proto.String(method), Mechanism: proto.String(mech),
		Protocol: proto.String(""), ServerId: proto.String("default")}
	if challenge != "" {
		a.Challenge = []byte(challenge)
	}
	return a
}

type exchange struct {
	in      *hadooppb.RpcSaslProto
	want    hadooppb.RpcSaslProto_SaslState // -1: no reply
	wantTok string
	wantErr error
}

const noReply = hadooppb.RpcSaslProto_SaslState(-1)

func TestNegotiationScripts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string
		responses  []string
		script     []exchange
		wantMethod string
		wantSeen   []string
		wantVerify string
	}{
		{
			name: "token with challenge in negotiate", method: MethodToken,
			responses: []string{"r1"},
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("KERBEROS", "GSSAPI", ""), offer("TOKEN", "DIGEST-MD5", "c1")),
					want: hadooppb.RpcSaslProto_INITIATE, wantTok: "r1"},
				{in: saslMsg(hadooppb.RpcSaslProto_SUCCESS, "rspauth=x"), want: noReply},
			},
			wantMethod: MethodToken, wantSeen: []string{"c1"}, wantVerify: "rspauth=x",
		},
		{
			name: "extra challenge round", method: MethodToken,
			responses: []string{"r1", "r2"},
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("TOKEN", "DIGEST-MD5", "")),
					want: hadooppb.RpcSaslProto_INITIATE, wantTok: "r1"},
				{in: saslMsg(hadooppb.RpcSaslProto_CHALLENGE, "c2"), want: hadooppb.RpcSaslProto_RESPONSE, wantTok: "r2"},
				{in: saslMsg(hadooppb.RpcSaslProto_SUCCESS, ""), want: noReply},
			},
			wantMethod: MethodToken, wantSeen: []string{"", "c2"},
		},
		{
			name: "server allows simple: success to negotiate", method: MethodToken,
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_SUCCESS, ""), want: noReply},
			},
			wantMethod: MethodSimple,
		},
		{
			name: "server offers simple", method: MethodToken,
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("SIMPLE", "", "")), want: hadooppb.RpcSaslProto_INITIATE},
			},
			wantMethod: MethodSimple,
		},
		{
			name: "no common method", method: MethodToken,
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("KERBEROS", "GSSAPI", "")), wantErr: ErrAuth},
			},
		},
		{
			name: "unsolicited challenge", method: MethodToken,
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_CHALLENGE, "c"), wantErr: ErrAuth},
			},
		},
		{
			name: "wrap is not supported", method: MethodToken, responses: []string{"r1"},
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("TOKEN", "DIGEST-MD5", "c")), want: hadooppb.RpcSaslProto_INITIATE, wantTok: "r1"},
				{in: saslMsg(hadooppb.RpcSaslProto_WRAP, "x"), wantErr: ErrAuth},
			},
			wantSeen: []string{"c"},
		},
		{
			name: "mechanism fails", method: MethodToken,
			script: []exchange{
				{in: saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("TOKEN", "DIGEST-MD5", "c")), wantErr: sasl.ErrState},
			},
			wantSeen: []string{"c"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mech := &scriptedMech{responses: tc.responses}
			n := newNegotiation(scriptedAuth{method: tc.method, mech: mech})
			if n.start().GetState() != hadooppb.RpcSaslProto_NEGOTIATE {
				t.Fatal("start is not NEGOTIATE")
			}
			for i, ex := range tc.script {
				out, err := n.step(ex.in)
				if ex.wantErr != nil {
					if !errors.Is(err, ex.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, ex.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if ex.want == noReply {
					if out != nil {
						t.Fatalf("step %d: reply %v, want none", i, out)
					}
					continue
				}
				if out.GetState() != ex.want || string(out.GetToken()) != ex.wantTok {
					t.Fatalf("step %d: reply %v, want %v %q", i, out, ex.want, ex.wantTok)
				}
				if ex.want == hadooppb.RpcSaslProto_INITIATE && (len(out.Auths) != 1 || out.Auths[0].Challenge != nil) {
					t.Fatalf("step %d: INITIATE must echo one auth without challenge: %v", i, out.Auths)
				}
			}
			if !n.done || n.method != tc.wantMethod {
				t.Fatalf("done=%v method=%q, want %q", n.done, n.method, tc.wantMethod)
			}
			if len(mech.seen) != len(tc.wantSeen) {
				t.Fatalf("mechanism saw %q, want %q", mech.seen, tc.wantSeen)
			}
			for i := range mech.seen {
				if mech.seen[i] != tc.wantSeen[i] {
					t.Fatalf("mechanism saw %q, want %q", mech.seen, tc.wantSeen)
				}
			}
			if mech.verified != tc.wantVerify {
				t.Fatalf("verified %q, want %q", mech.verified, tc.wantVerify)
			}
			if _, err := n.step(saslMsg(hadooppb.RpcSaslProto_SUCCESS, "")); !errors.Is(err, ErrAuth) {
				t.Fatalf("step after done: %v", err)
			}
		})
	}
}

func TestNegotiationBadRspAuth(t *testing.T) {
	mech := &scriptedMech{responses: []string{"r"}, verifyErr: sasl.ErrServerAuth}
	n := newNegotiation(scriptedAuth{method: MethodToken, mech: mech})
	if _, err := n.step(saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "", offer("TOKEN", "DIGEST-MD5", "c"))); err != nil {
		t.Fatal(err)
	}
	_, err := n.step(saslMsg(hadooppb.RpcSaslProto_SUCCESS, "rspauth=bad"))
	if !errors.Is(err, ErrAuth) || !errors.Is(err, sasl.ErrServerAuth) {
		t.Fatalf("err = %v", err)
	}
}

func TestTokenAuthenticatorRealDigest(t *testing.T) {
	// The TOKEN authenticator against the RFC-shaped challenge Hadoop sends.
	a := StaticToken(testToken)
	n := newNegotiation(a)
	out, err := n.step(saslMsg(hadooppb.RpcSaslProto_NEGOTIATE, "",
		offer("TOKEN", "DIGEST-MD5", `realm="default",nonce="`+testNonce+`",qop="auth",charset=utf-8,algorithm=md5-sess`)))
	if err != nil {
		t.Fatal(err)
	}
	rspauth, ok := verifyDigest(string(out.GetToken()), testToken.Password)
	if !ok {
		t.Fatalf("digest response does not verify: %s", out.GetToken())
	}
	if _, err := n.step(saslMsg(hadooppb.RpcSaslProto_SUCCESS, "rspauth="+rspauth)); err != nil || n.method != MethodToken {
		t.Fatalf("success: %v, method %q", err, n.method)
	}
	if _, err := a.Mechanism(offer("TOKEN", "GSSAPI", "")); !errors.Is(err, ErrAuth) {
		t.Fatalf("TOKEN with GSSAPI: %v", err)
	}
	if _, err := (Token{Current: func() *token.Token { return nil }}).Mechanism(offer("TOKEN", "DIGEST-MD5", "")); !errors.Is(err, ErrAuth) {
		t.Fatalf("no token: %v", err)
	}
}
