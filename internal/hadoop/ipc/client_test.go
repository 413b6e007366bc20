package ipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/token"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testProtocol = "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB"

func newTestClient(t *testing.T, addrs []string, opts ...Option) *Client {
	t.Helper()
	opts = append([]Option{WithUser("alice"), WithConnectTimeout(2 * time.Second), WithRetry(2, 10*time.Millisecond, 50*time.Millisecond)}, opts...)
	c, err := NewClient(testProtocol, addrs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func echo(t *testing.T, c *Client, v string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp := &hadooppb.StringStringMapProto{}
	if err := c.Call(ctx, "echo", &hadooppb.StringStringMapProto{Value: proto.String(v)}, resp); err != nil {
		return err
	}
	if resp.GetKey() != "echo" || resp.GetValue() != v {
		return fmt.Errorf("echo %q: got %v", v, resp)
	}
	return nil
}

var testToken = &token.Token{Identifier: []byte("identifier\x00\x01"), Password: []byte("s3cret"), Kind: token.KindAMRMToken}

func TestCallSimple(t *testing.T) {
	s := newFakeServer(t, "none")
	c := newTestClient(t, []string{s.addr()})
	for i := range 3 {
		if err := echo(t, c, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if s.conns.Load() != 1 {
		t.Errorf("connections = %d, want 1 reused", s.conns.Load())
	}
	if s.authByte[0] != authNone || s.users[0] != "alice" || s.protos[0] != testProtocol {
		t.Errorf("auth=%x users=%v protos=%v", s.authByte, s.users, s.protos)
	}
}

func TestCallToken(t *testing.T) {
	s := newFakeServer(t, "token")
	s.password = testToken.Password
	c := newTestClient(t, []string{s.addr()}, WithAuth(StaticToken(testToken)))
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	if s.authByte[0] != authSASL || s.users[0] != "" {
		t.Errorf("auth=%x users=%q: TOKEN must send no user", s.authByte, s.users)
	}
}

func TestTokenWrongPassword(t *testing.T) {
	s := newFakeServer(t, "token")
	s.password = []byte("another")
	c := newTestClient(t, []string{s.addr()}, WithAuth(StaticToken(testToken)))
	err := echo(t, c, "x")
	var re *RemoteError
	if !errors.Is(err, ErrAuth) || !errors.As(err, &re) || re.SimpleClass() != "SaslException" {
		t.Fatalf("err = %v, want ErrAuth with SaslException", err)
	}
	if s.conns.Load() != 1 {
		t.Errorf("auth failure retried: %d connections", s.conns.Load())
	}
}

func TestTokenServerAllowsSimple(t *testing.T) {
	s := newFakeServer(t, "simple-ok")
	c := newTestClient(t, []string{s.addr()}, WithAuth(StaticToken(testToken)))
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	if s.users[0] != "alice" {
		t.Errorf("fallback to SIMPLE must name the user, got %q", s.users[0])
	}
}

func TestConcurrentCallsOutOfOrder(t *testing.T) {
	s := newFakeServer(t, "none")
	s.handler = func(m string, req []byte) (proto.Message, *RemoteError) {
		in := &hadooppb.StringStringMapProto{}
		_ = proto.Unmarshal(req, in)
		var n int
		fmt.Sscan(in.GetValue(), &n)
		time.Sleep(time.Duration(20-n) * time.Millisecond) // later calls answer first
		return echoHandler(m, req)
	}
	c := newTestClient(t, []string{s.addr()})
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echo(t, c, fmt.Sprint(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if s.conns.Load() != 1 {
		t.Errorf("connections = %d, want 1", s.conns.Load())
	}
}

func TestRemoteErrorKeepsConnection(t *testing.T) {
	s := newFakeServer(t, "none")
	s.handler = func(m string, req []byte) (proto.Message, *RemoteError) {
		if m == "echo" {
			return echoHandler(m, req)
		}
		return nil, &RemoteError{Class: "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException", Message: "Application with id 'application_1_0001' doesn't exist in RM.\n\tat org.apache..."}
	}
	c := newTestClient(t, []string{s.addr()})
	err := c.Call(context.Background(), "getApplicationReport", &hadooppb.StringStringMapProto{}, &hadooppb.StringStringMapProto{})
	var re *RemoteError
	if !errors.As(err, &re) || re.SimpleClass() != "ApplicationNotFoundException" || !IsRemote(err, "ApplicationNotFoundException") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
	if err := echo(t, c, "after"); err != nil {
		t.Fatal(err)
	}
	if s.conns.Load() != 1 {
		t.Errorf("connections = %d, want 1", s.conns.Load())
	}
}

func TestMalformedResponses(t *testing.T) {
	for name, raw := range map[string][]byte{
		"zero length":      {0, 0, 0, 0},
		"negative length":  {0xff, 0xff, 0xff, 0xfe},
		"pre-v9":           {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"header past end":  {0, 0, 0, 2, 0x7f, 0x01},
		"header garbage":   {0, 0, 0, 3, 0x02, 0xff, 0xff},
		"too large":        {0x10, 0, 0, 0},
		"truncated frame":  {0, 0, 0, 9, 1},
		"missing required": {0, 0, 0, 3, 2, 0x10, 0x00}, // status but no callId
	} {
		t.Run(name, func(t *testing.T) {
			s := newFakeServer(t, "none")
			s.handler = func(string, []byte) (proto.Message, *RemoteError) { return rawFrame{b: raw}, nil }
			c := newTestClient(t, []string{s.addr()}, WithMaxResponseLength(1<<20), WithConnectTimeout(300*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			err := c.Call(ctx, "echo", &hadooppb.StringStringMapProto{}, &hadooppb.StringStringMapProto{})
			if err == nil {
				t.Fatal("no error")
			}
			var ne net.Error
			if name == "truncated frame" {
				if !errors.As(err, &ne) || !ne.Timeout() {
					t.Fatalf("err = %v, want a read timeout", err)
				}
			} else if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("err = %v", err)
			}
			if time.Since(start) > 3*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
		})
	}
}

func TestSuccessBodyMismatch(t *testing.T) {
	s := newFakeServer(t, "none")
	s.handler = func(string, []byte) (proto.Message, *RemoteError) {
		// A valid header followed by bytes that are not the response.
		f, _ := appendFrame(nil, &hadooppb.RpcResponseHeaderProto{CallId: proto.Uint32(0), Status: hadooppb.RpcResponseHeaderProto_SUCCESS.Enum()})
		f = append(f, 0x05, 0x01)
		f[3] += 2
		return rawFrame{b: f}, nil
	}
	c := newTestClient(t, []string{s.addr()})
	err := c.Call(context.Background(), "echo", &hadooppb.StringStringMapProto{}, &hadooppb.StringStringMapProto{})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newTestClient(t, []string{addr}, WithRetry(3, 10*time.Millisecond, 20*time.Millisecond))
	start := time.Now()
	err = echo(t, c, "x")
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("err = %v, want 3 attempts", err)
	}
	if !errors.Is(err, ErrExhausted) {
		t.Errorf("err = %v, want ErrExhausted", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
}

func TestHandshakeTimeout(t *testing.T) {
	s := newFakeServer(t, "silent")
	c := newTestClient(t, []string{s.addr()}, WithAuth(StaticToken(testToken)), WithConnectTimeout(200*time.Millisecond), WithRetry(1, 0, 0))
	start := time.Now()
	err := echo(t, c, "x")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestCallDeadlineAndHang(t *testing.T) {
	s := newFakeServer(t, "none")
	s.handler = func(string, []byte) (proto.Message, *RemoteError) { return nil, nil } // never answers
	c := newTestClient(t, []string{s.addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "echo", &hadooppb.StringStringMapProto{}, &hadooppb.StringStringMapProto{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	// The per-attempt call timeout bounds a call without a deadline too.
	c2 := newTestClient(t, []string{s.addr()}, WithCallTimeout(50*time.Millisecond), WithRetry(2, time.Millisecond, time.Millisecond))
	err = c2.Call(context.Background(), "echo", &hadooppb.StringStringMapProto{}, &hadooppb.StringStringMapProto{})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 attempts") {
		t.Fatalf("err = %v", err)
	}
}

func TestFailover(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	standby := newFakeServer(t, "none")
	standby.handler = func(string, []byte) (proto.Message, *RemoteError) {
		return nil, &RemoteError{Class: classStandby, Message: "Operation category READ is not supported in state standby"}
	}
	active := newFakeServer(t, "none")
	c := newTestClient(t, []string{deadAddr, standby.addr(), active.addr()}, WithRetry(5, time.Millisecond, 5*time.Millisecond))
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	if standby.conns.Load() != 1 || active.conns.Load() != 1 {
		t.Errorf("standby %d, active %d connections", standby.conns.Load(), active.conns.Load())
	}
}

// TestFailoverAllStandby: every server refuses, so the call ends after its
// attempts with an error that names every address and wraps ErrExhausted,
// and each failed attempt is logged once.
func TestFailoverAllStandby(t *testing.T) {
	var calls [2]atomic.Int32
	var addrs []string
	for i := range 2 {
		s := newFakeServer(t, "none")
		s.handler = func(string, []byte) (proto.Message, *RemoteError) {
			calls[i].Add(1)
			return nil, &RemoteError{Class: classStandby, Message: "standby"}
		}
		addrs = append(addrs, s.addr())
	}
	var logs strings.Builder
	c := newTestClient(t, addrs, WithRetry(5, time.Millisecond, 2*time.Millisecond), WithLogger(zerolog.New(&logs)))
	err := echo(t, c, "x")
	if !errors.Is(err, ErrExhausted) || !IsRemote(err, "StandbyException") {
		t.Fatalf("err = %v, want ErrExhausted and the StandbyException", err)
	}
	for _, a := range addrs {
		if !strings.Contains(err.Error(), a) {
			t.Errorf("err = %v does not name %s", err, a)
		}
	}
	if n := strings.Count(logs.String(), "ipc call failed, retrying"); n != 4 {
		t.Errorf("%d retry log lines for 5 attempts, want 4:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"level":"warn"`) {
		t.Errorf("failover not logged at warn: %s", logs.String())
	}
	// Calls alternate between the two: 3 on the first, 2 on the second.
	if calls[0].Load() != 3 || calls[1].Load() != 2 {
		t.Errorf("calls %d, %d; want 3, 2", calls[0].Load(), calls[1].Load())
	}
	// A remote error that is not worth retrying is not "exhausted".
	refuse := newFakeServer(t, "none")
	refuse.handler = func(string, []byte) (proto.Message, *RemoteError) {
		return nil, &RemoteError{Class: "org.apache.hadoop.yarn.exceptions.YarnException", Message: "no"}
	}
	c2 := newTestClient(t, []string{refuse.addr()})
	if err := echo(t, c2, "x"); errors.Is(err, ErrExhausted) || !IsRemote(err, "YarnException") {
		t.Errorf("err = %v", err)
	}
}

func TestRedialAfterServerClose(t *testing.T) {
	s := newFakeServer(t, "none")
	calls := 0
	var mu sync.Mutex
	s.handler = func(m string, req []byte) (proto.Message, *RemoteError) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 2 {
			return nil, &RemoteError{Class: "java.io.IOException", Message: "bye", Fatal: true}
		}
		return echoHandler(m, req)
	}
	c := newTestClient(t, []string{s.addr()})
	if err := echo(t, c, "1"); err != nil {
		t.Fatal(err)
	}
	if err := echo(t, c, "2"); err == nil {
		t.Fatal("fatal remote error not reported")
	}
	if err := echo(t, c, "3"); err != nil {
		t.Fatalf("after a fatal error the client must redial: %v", err)
	}
	if s.conns.Load() != 2 {
		t.Errorf("connections = %d, want 2", s.conns.Load())
	}
}

func TestIdleRedial(t *testing.T) {
	s := newFakeServer(t, "none")
	c := newTestClient(t, []string{s.addr()}, WithIdleTimeout(20*time.Millisecond))
	if err := echo(t, c, "1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	if err := echo(t, c, "2"); err != nil {
		t.Fatal(err)
	}
	if s.conns.Load() != 2 {
		t.Errorf("connections = %d, want 2", s.conns.Load())
	}
}

func TestPing(t *testing.T) {
	s := newFakeServer(t, "none")
	s.handler = delayed(150 * time.Millisecond)
	c := newTestClient(t, []string{s.addr()}, WithPingInterval(20*time.Millisecond))
	if err := echo(t, c, "x"); err != nil {
		t.Fatal(err)
	}
	if s.pings.Load() == 0 {
		t.Error("no ping while the call waited")
	}
}

func TestCloseWhileCalling(t *testing.T) {
	s := newFakeServer(t, "none")
	s.handler = func(string, []byte) (proto.Message, *RemoteError) { return nil, nil }
	c := newTestClient(t, []string{s.addr()})
	done := make(chan error, 1)
	go func() { done <- echo(t, c, "x") }()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("call did not return after Close")
	}
	if err := echo(t, c, "y"); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v", err)
	}
}

func TestNoAddress(t *testing.T) {
	if _, err := NewClient(testProtocol, nil); !errors.Is(err, ErrNoAddress) {
		t.Fatal(err)
	}
}
