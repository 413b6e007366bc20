package ipc

import (
	"fmt"
	"strings"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/sasl"
)

// negotiation is the client side of Hadoop's SASL exchange
// (SaslRpcClient.saslConnect) as a state machine without I/O: start gives
// the first message to send, step takes each message from the server and
// gives the reply, until done.
type negotiation struct {
	auth   Authenticator
	mech   sasl.Mechanism
	chosen *hadooppb.RpcSaslProto_SaslAuth
	// method is the auth method in force once done: the authenticator's,
	// or SIMPLE when the server lets the client in without SASL.
	method string
	done   bool
}

func newNegotiation(a Authenticator) *negotiation { return &negotiation{auth: a} }

func (n *negotiation) start() *hadooppb.RpcSaslProto {
	return &hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_NEGOTIATE.Enum()}
}

// step consumes one server message. It returns the reply to send, or nil
// when there is none; done() tells when the negotiation is over.
func (n *negotiation) step(in *hadooppb.RpcSaslProto) (*hadooppb.RpcSaslProto, error) {
	if n.done {
		return nil, fmt.Errorf("SASL message %v after the negotiation ended: %w", in.GetState(), ErrAuth)
	}
	switch in.GetState() {
	case hadooppb.RpcSaslProto_NEGOTIATE:
		if n.chosen != nil {
			return nil, fmt.Errorf("second SASL NEGOTIATE: %w", ErrAuth)
		}
		return n.negotiate(in.GetAuths())
	case hadooppb.RpcSaslProto_CHALLENGE:
		if n.mech == nil {
			return nil, fmt.Errorf("SASL CHALLENGE before a mechanism was chosen: %w", ErrAuth)
		}
		resp, _, err := n.mech.Step(in.GetToken())
		if err != nil {
			return nil, fmt.Errorf("SASL %s challenge: %w: %w", n.mech.Name(), ErrAuth, err)
		}
		return reply(hadooppb.RpcSaslProto_RESPONSE, resp), nil
	case hadooppb.RpcSaslProto_SUCCESS:
		n.done = true
		if n.mech == nil {
			// A server that allows SIMPLE answers NEGOTIATE with SUCCESS.
			n.method = MethodSimple
			return nil, nil
		}
		if err := n.mech.Verify(in.GetToken()); err != nil {
			return nil, fmt.Errorf("SASL %s success: %w: %w", n.mech.Name(), ErrAuth, err)
		}
		n.method = n.auth.Method()
		return nil, nil
	default:
		return nil, fmt.Errorf("unsupported SASL state %v: %w", in.GetState(), ErrAuth)
	}
}

func (n *negotiation) negotiate(offers []*hadooppb.RpcSaslProto_SaslAuth) (*hadooppb.RpcSaslProto, error) {
	var methods []string
	for _, o := range offers {
		methods = append(methods, o.GetMethod())
		if o.GetMethod() == MethodSimple {
			// The server takes SIMPLE: switch to it without waiting for
			// SUCCESS, as Hadoop's client does.
			n.chosen, n.method, n.done = o, MethodSimple, true
			return &hadooppb.RpcSaslProto{
				State: hadooppb.RpcSaslProto_INITIATE.Enum(),
				Auths: []*hadooppb.RpcSaslProto_SaslAuth{o},
			}, nil
		}
		if o.GetMethod() != n.auth.Method() {
			continue
		}
		mech, err := n.auth.Mechanism(o)
		if err != nil {
			return nil, fmt.Errorf("SASL %s: %w", o.GetMethod(), err)
		}
		n.mech, n.chosen = mech, o
		var challenge []byte
		if o.Challenge != nil {
			challenge = o.GetChallenge()
		}
		resp, _, err := mech.Step(challenge)
		if err != nil {
			return nil, fmt.Errorf("SASL %s first challenge: %w: %w", mech.Name(), ErrAuth, err)
		}
		echo := &hadooppb.RpcSaslProto_SaslAuth{
			Method: o.Method, Mechanism: o.Mechanism, Protocol: o.Protocol, ServerId: o.ServerId,
		}
		out := reply(hadooppb.RpcSaslProto_INITIATE, resp)
		out.Auths = []*hadooppb.RpcSaslProto_SaslAuth{echo}
		return out, nil
	}
	return nil, fmt.Errorf("client authenticates with %s, server offers [%s]: %w",
		n.auth.Method(), strings.Join(methods, ", "), ErrAuth)
}

func reply(state hadooppb.RpcSaslProto_SaslState, tok []byte) *hadooppb.RpcSaslProto {
	if tok == nil {
		tok = []byte{}
	}
	return &hadooppb.RpcSaslProto{State: state.Enum(), Token: tok}
}
