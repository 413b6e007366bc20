package ipc

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/token"
)

// fakeServer speaks just enough Hadoop IPC v9 for the client's tests:
// preamble, SASL (TOKEN/DIGEST-MD5 or SIMPLE), connection context, calls.
type fakeServer struct {
	t  testing.TB
	ln net.Listener

	// sasl: "none" (SIMPLE without SASL), "token", "simple-ok" (SUCCESS to
	// NEGOTIATE), "silent" (never answers NEGOTIATE).
	sasl     string
	password []byte // the token password the server derives
	handler  func(method string, req []byte) (proto.Message, *RemoteError)

	mu       sync.Mutex
	users    []string // effective user of each connection context ("" if none)
	protos   []string
	authByte []byte
	pings    atomic.Int32
	conns    atomic.Int32
	wg       sync.WaitGroup
	open     map[net.Conn]bool
}

func newFakeServer(t testing.TB, mode string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{t: t, ln: ln, sasl: mode, open: map[net.Conn]bool{}, handler: echoHandler}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) addr() string { return s.ln.Addr().String() }

func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.open {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.conns.Add(1)
		s.mu.Lock()
		s.open[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = s.handle(c)
		}()
	}
}

var echoHandler = func(method string, req []byte) (proto.Message, *RemoteError) {
	in := &hadooppb.StringStringMapProto{}
	if err := proto.Unmarshal(req, in); err != nil {
		return nil, &RemoteError{Class: "java.io.IOException", Message: err.Error()}
	}
	return &hadooppb.StringStringMapProto{Key: proto.String(method), Value: in.Value}, nil
}

type writer struct {
	mu sync.Mutex
	c  net.Conn
}

func (w *writer) send(callID int32, status hadooppb.RpcResponseHeaderProto_RpcStatusProto, body proto.Message, re *RemoteError) error {
	hdr := &hadooppb.RpcResponseHeaderProto{CallId: proto.Uint32(uint32(callID)), Status: status.Enum()}
	if re != nil {
		hdr.ExceptionClassName = proto.String(re.Class)
		hdr.ErrorMsg = proto.String(re.Message)
		hdr.ErrorDetail = hadooppb.RpcResponseHeaderProto_ERROR_APPLICATION.Enum()
	}
	msgs := []proto.Message{hdr}
	if body != nil {
		msgs = append(msgs, body)
	}
	f, err := appendFrame(nil, msgs...)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.c.Write(f)
	return err
}

func (s *fakeServer) handle(c net.Conn) error {
	br := bufio.NewReader(c)
	w := &writer{c: c}
	pre := make([]byte, 7)
	if _, err := io.ReadFull(br, pre); err != nil {
		return err
	}
	if !bytes.Equal(pre[:6], []byte("hrpc\x09\x00")) {
		return fmt.Errorf("bad preamble %x", pre)
	}
	s.mu.Lock()
	s.authByte = append(s.authByte, pre[6])
	s.mu.Unlock()
	if pre[6] == authSASL {
		if err := s.sasl1(br, w); err != nil {
			return err
		}
	}
	// Connection context.
	f, err := readFrame(br, 1<<20)
	if err != nil {
		return err
	}
	hdr := &hadooppb.RpcRequestHeaderProto{}
	rest, err := consumeDelimited(f, hdr)
	if err != nil || hdr.GetCallId() != callIDCtx {
		return fmt.Errorf("want connection context, got %v %v", hdr, err)
	}
	cc := &hadooppb.IpcConnectionContextProto{}
	if _, err := consumeDelimited(rest, cc); err != nil {
		return err
	}
	s.mu.Lock()
	s.users = append(s.users, cc.GetUserInfo().GetEffectiveUser())
	s.protos = append(s.protos, cc.GetProtocol())
	s.mu.Unlock()
	var cw sync.WaitGroup
	defer cw.Wait()
	for {
		f, err := readFrame(br, 1<<20)
		if err != nil {
			return err
		}
		hdr := &hadooppb.RpcRequestHeaderProto{}
		rest, err := consumeDelimited(f, hdr)
		if err != nil {
			return err
		}
		if hdr.GetCallId() == callIDPing {
			s.pings.Add(1)
			continue
		}
		rh := &hadooppb.RequestHeaderProto{}
		rest, err = consumeDelimited(rest, rh)
		if err != nil {
			return err
		}
		n, k := consumeVarintForTest(rest)
		req := rest[k : k+n]
		id := hdr.GetCallId()
		cw.Add(1)
		go func() {
			defer cw.Done()
			resp, re := s.handler(rh.GetMethodName(), req)
			switch {
			case re != nil && re.Fatal:
				_ = w.send(id, hadooppb.RpcResponseHeaderProto_FATAL, nil, re)
				_ = c.Close()
			case re != nil:
				_ = w.send(id, hadooppb.RpcResponseHeaderProto_ERROR, nil, re)
			case resp == nil:
				// no answer
			default:
				if raw, ok := resp.(rawFrame); ok {
					w.mu.Lock()
					_, _ = c.Write(raw.b)
					w.mu.Unlock()
					return
				}
				_ = w.send(id, hadooppb.RpcResponseHeaderProto_SUCCESS, resp, nil)
			}
		}()
	}
}

// rawFrame makes the fake server write bytes as they are.
type rawFrame struct {
	proto.Message
	b []byte
}

func consumeVarintForTest(b []byte) (int, int) {
	var v, shift, i int
	for ; i < len(b); i++ {
		v |= int(b[i]&0x7f) << shift
		shift += 7
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

const testNonce = "c2VydmVyLW5vbmNl"

func (s *fakeServer) sasl1(br *bufio.Reader, w *writer) error {
	in, err := s.readSASL(br)
	if err != nil {
		return err
	}
	if in.GetState() != hadooppb.RpcSaslProto_NEGOTIATE {
		return fmt.Errorf("want NEGOTIATE, got %v", in.GetState())
	}
	switch s.sasl {
	case "silent":
		_, _ = io.Copy(io.Discard, br)
		return nil
	case "simple-ok":
		return w.send(callIDSASL, hadooppb.RpcResponseHeaderProto_SUCCESS,
			&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_SUCCESS.Enum()}, nil)
	}
	challenge := `realm="default",nonce="` + testNonce + `",qop="auth",charset=utf-8,algorithm=md5-sess`
	neg := &hadooppb.RpcSaslProto{
		State: hadooppb.RpcSaslProto_NEGOTIATE.Enum(),
		Auths: []*hadooppb.RpcSaslProto_SaslAuth{{
			Method: proto.String("TOKEN"), Mechanism: proto.String("DIGEST-MD5"),
			Protocol: proto.String(""), ServerId: proto.String("default"), Challenge: []byte(challenge),
		}},
	}
	if err := w.send(callIDSASL, hadooppb.RpcResponseHeaderProto_SUCCESS, neg, nil); err != nil {
		return err
	}
	in, err = s.readSASL(br)
	if err != nil {
		return err
	}
	if in.GetState() != hadooppb.RpcSaslProto_INITIATE || len(in.GetAuths()) != 1 || in.GetAuths()[0].GetMethod() != "TOKEN" {
		return fmt.Errorf("want INITIATE TOKEN, got %v", in)
	}
	rspauth, ok := verifyDigest(string(in.GetToken()), s.password)
	if !ok {
		_ = w.send(callIDSASL, hadooppb.RpcResponseHeaderProto_FATAL, nil,
			&RemoteError{Class: "javax.security.sasl.SaslException", Message: "DIGEST-MD5: digest response format violation. Mismatched response."})
		return errors.New("bad digest")
	}
	return w.send(callIDSASL, hadooppb.RpcResponseHeaderProto_SUCCESS,
		&hadooppb.RpcSaslProto{State: hadooppb.RpcSaslProto_SUCCESS.Enum(), Token: []byte("rspauth=" + rspauth)}, nil)
}

func (s *fakeServer) readSASL(br *bufio.Reader) (*hadooppb.RpcSaslProto, error) {
	f, err := readFrame(br, 1<<20)
	if err != nil {
		return nil, err
	}
	hdr := &hadooppb.RpcRequestHeaderProto{}
	rest, err := consumeDelimited(f, hdr)
	if err != nil {
		return nil, err
	}
	if hdr.GetCallId() != callIDSASL {
		return nil, fmt.Errorf("SASL frame with call id %d", hdr.GetCallId())
	}
	m := &hadooppb.RpcSaslProto{}
	_, err = consumeDelimited(rest, m)
	return m, err
}

var directive = regexp.MustCompile(`([a-z-]+)=(?:"([^"]*)"|([^,]*))`)

// verifyDigest checks a DIGEST-MD5 response the way a server does, from the
// token password: the username is base64(identifier), looked up by the
// caller; here the server knows the one password.
func verifyDigest(resp string, password []byte) (rspauth string, ok bool) {
	kv := map[string]string{}
	for _, m := range directive.FindAllStringSubmatch(resp, -1) {
		kv[m[1]] = m[2] + m[3]
	}
	_, pass := (&token.Token{Password: password}).SASLCredentials()
	h := md5.Sum([]byte(kv["username"] + ":" + kv["realm"] + ":" + pass))
	ha1 := hexmd5(string(h[:]) + ":" + testNonce + ":" + kv["cnonce"])
	kd := func(a2 string) string {
		return hexmd5(ha1 + ":" + testNonce + ":" + kv["nc"] + ":" + kv["cnonce"] + ":auth:" + hexmd5(a2))
	}
	if kv["nonce"] != testNonce || kv["digest-uri"] != "/default" || kv["response"] != kd("AUTHENTICATE:/default") {
		return "", false
	}
	return kd(":/default"), true
}

func hexmd5(s string) string {
	h := md5.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// delayed answers after d.
func delayed(d time.Duration) func(string, []byte) (proto.Message, *RemoteError) {
	return func(m string, req []byte) (proto.Message, *RemoteError) {
		time.Sleep(d)
		return echoHandler(m, req)
	}
}
