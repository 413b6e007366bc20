package ipc

import (
	"fmt"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/sasl"
	"floe/internal/hadoop/token"
)

// Hadoop authentication methods (SaslRpcServer.AuthMethod).
const (
	MethodSimple   = "SIMPLE"
	MethodToken    = "TOKEN"
	MethodKerberos = "KERBEROS"
)

// An Authenticator decides how a connection authenticates. Simple and
// Token are the two this package provides; a Kerberos authenticator would
// return MethodKerberos and a GSSAPI sasl.Mechanism.
type Authenticator interface {
	// Method is the Hadoop auth method: MethodSimple, MethodToken, ...
	// With MethodSimple the connection skips SASL altogether.
	Method() string
	// Mechanism returns a SASL client for an auth the server offers (its
	// method equals Method()), or an error if this authenticator cannot
	// take it. offer.Protocol and offer.ServerId name the service.
	Mechanism(offer *hadooppb.RpcSaslProto_SaslAuth) (sasl.Mechanism, error)
}

// Simple authenticates as the user named in the connection context, with
// no SASL: what Hadoop clients do on clusters without Kerberos.
type Simple struct{}

// Method implements Authenticator.
func (Simple) Method() string { return MethodSimple }

// Mechanism implements Authenticator; SIMPLE never negotiates one.
func (Simple) Mechanism(*hadooppb.RpcSaslProto_SaslAuth) (sasl.Mechanism, error) {
	return nil, fmt.Errorf("SIMPLE has no SASL mechanism: %w", ErrAuth)
}

// Token authenticates with a Hadoop token over DIGEST-MD5, as an AM does
// with its AMRMToken and NMTokens. Current is called for each new
// connection, so a token that rolls over (the AMRMToken) is picked up.
type Token struct {
	Current func() *token.Token
}

// StaticToken returns a Token authenticator for a fixed token.
func StaticToken(t *token.Token) Token {
	return Token{Current: func() *token.Token { return t }}
}

// Method implements Authenticator.
func (Token) Method() string { return MethodToken }

// Mechanism implements Authenticator.
func (a Token) Mechanism(offer *hadooppb.RpcSaslProto_SaslAuth) (sasl.Mechanism, error) {
	if offer.GetMechanism() != "DIGEST-MD5" {
		return nil, fmt.Errorf("TOKEN with mechanism %q: %w", offer.GetMechanism(), ErrAuth)
	}
	t := a.Current()
	if t == nil {
		return nil, fmt.Errorf("TOKEN offered but no token is set: %w", ErrAuth)
	}
	user, pass := t.SASLCredentials()
	return sasl.NewDigestMD5(user, pass, offer.GetProtocol(), offer.GetServerId()), nil
}
