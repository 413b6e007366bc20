// Package sasl holds the client side of the SASL mechanisms floe speaks to
// Hadoop servers. Each mechanism is a small state machine with no I/O: the
// caller feeds it the server's challenges and sends back its responses, so
// tests can drive it with recorded or scripted exchanges.
//
// Only DIGEST-MD5 (RFC 2831) with qop "auth" is implemented: it is what
// Hadoop's TOKEN authentication uses. qop "auth-int"/"auth-conf" (wrapping)
// and GSSAPI (Kerberos) are not; a Kerberos mechanism would implement
// Mechanism too.
package sasl

import "errors"

// Mechanism is one SASL client exchange. Step is called with each challenge
// from the server (the first one possibly empty) and returns the response to
// send. Once the server reports success, Step is called once more with the
// server's final data (possibly empty) so the mechanism can verify it; done
// is true when the mechanism needs nothing further.
//
// A Mechanism is not safe for concurrent use.
type Mechanism interface {
	// Name is the SASL mechanism name, e.g. "DIGEST-MD5".
	Name() string
	// Step consumes a challenge and produces the next response.
	Step(challenge []byte) (response []byte, done bool, err error)
	// Verify checks the server's final data sent with SUCCESS.
	Verify(final []byte) error
}

// Sentinel errors. Every error this package returns wraps one of them.
var (
	// ErrChallenge means the server's challenge could not be parsed or asks
	// for something this client does not support.
	ErrChallenge = errors.New("sasl: bad challenge")
	// ErrServerAuth means the server failed to prove it knows the secret.
	ErrServerAuth = errors.New("sasl: server authentication failed")
	// ErrState means the mechanism was stepped out of order.
	ErrState = errors.New("sasl: unexpected step")
)
