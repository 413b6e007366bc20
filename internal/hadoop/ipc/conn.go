package ipc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

// conn is one established IPC connection. Calls may be made from many
// goroutines; one reader goroutine dispatches responses and one pinger
// keeps the connection alive while calls wait.
type conn struct {
	addr   string
	cfg    *config
	nc     net.Conn
	method string // auth method in force

	writeMu sync.Mutex

	mu       sync.Mutex
	pending  map[int32]chan response
	nextID   int32
	err      error // set once the connection is dead
	lastUsed time.Time

	done chan struct{} // closed when the connection is dead
	wg   sync.WaitGroup
}

type response struct {
	hdr  *hadooppb.RpcResponseHeaderProto
	body []byte
}

// dial connects to addr and runs the handshake: preamble, SASL if the
// authenticator needs it, connection context.
func dial(ctx context.Context, addr string, cfg *config) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout)
	defer cancel()
	nc, err := cfg.dialer(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &conn{
		addr: addr, cfg: cfg, nc: nc,
		pending: make(map[int32]chan response), done: make(chan struct{}),
		lastUsed: time.Now(),
	}
	deadline, _ := dctx.Deadline()
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(dctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	err = c.handshake()
	if !stop() && err == nil {
		err = dctx.Err() // the deadline hit right after the handshake
	}
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	_ = nc.SetDeadline(time.Time{})
	c.wg.Add(2)
	go c.readLoop()
	go c.pingLoop()
	return c, nil
}

func (c *conn) handshake() error {
	br := bufio.NewReader(c.nc)
	auth := c.cfg.auth
	c.method = auth.Method()
	if auth.Method() == MethodSimple {
		if _, err := c.nc.Write(preamble(authNone)); err != nil {
			return err
		}
	} else {
		if _, err := c.nc.Write(preamble(authSASL)); err != nil {
			return err
		}
		method, err := c.saslConnect(br)
		if err != nil {
			return err
		}
		c.method = method
	}
	ctx := &hadooppb.IpcConnectionContextProto{Protocol: proto.String(c.cfg.protocol)}
	if c.method == MethodSimple {
		ctx.UserInfo = &hadooppb.UserInformationProto{EffectiveUser: proto.String(c.cfg.user)}
	}
	frame, err := appendFrame(nil, requestHeader(callIDCtx, c.cfg.clientID, -1), ctx)
	if err != nil {
		return err
	}
	if _, err := c.nc.Write(frame); err != nil {
		return err
	}
	// Responses are read by readLoop from here on; hand it what bufio holds.
	if br.Buffered() > 0 {
		buffered, _ := br.Peek(br.Buffered())
		c.nc = &prefixConn{Conn: c.nc, prefix: append([]byte{}, buffered...)}
	}
	return nil
}

func (c *conn) saslConnect(br *bufio.Reader) (string, error) {
	n := newNegotiation(c.cfg.auth)
	out := n.start()
	for {
		if out != nil {
			frame, err := appendFrame(nil, requestHeader(callIDSASL, []byte{}, -1), out)
			if err != nil {
				return "", err
			}
			if _, err := c.nc.Write(frame); err != nil {
				return "", err
			}
		}
		if n.done {
			return n.method, nil
		}
		frame, err := readFrame(br, c.cfg.maxResponseLength)
		if err != nil {
			return "", fmt.Errorf("SASL: %w", err)
		}
		hdr, body, err := decodeResponse(frame)
		if err != nil {
			return "", fmt.Errorf("SASL: %w", err)
		}
		if hdr.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
			return "", fmt.Errorf("SASL: %w: %w", ErrAuth, remoteError(hdr))
		}
		if int32(hdr.GetCallId()) != callIDSASL {
			return "", fmt.Errorf("SASL: response for call %d: %w", int32(hdr.GetCallId()), ErrMalformed)
		}
		in := &hadooppb.RpcSaslProto{}
		if err := decodeBody(body, in); err != nil {
			return "", fmt.Errorf("SASL: %w", err)
		}
		if out, err = n.step(in); err != nil {
			return "", err
		}
	}
}

// prefixConn replays bytes the handshake's buffered reader read ahead.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

func (c *conn) readLoop() {
	defer c.wg.Done()
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		// Waiting for a response may take long; once its length has
		// arrived, the rest of the frame must follow within the connect
		// timeout, so a server stalled mid-frame cannot hang callers.
		frame, err := readFrameHook(br, c.cfg.maxResponseLength, func(started bool) {
			if started {
				_ = c.nc.SetReadDeadline(time.Now().Add(c.cfg.connectTimeout))
			} else {
				_ = c.nc.SetReadDeadline(time.Time{})
			}
		})
		if err != nil {
			c.fail(fmt.Errorf("read from %s: %w", c.addr, err))
			return
		}
		hdr, body, err := decodeResponse(frame)
		if err != nil {
			c.fail(fmt.Errorf("read from %s: %w", c.addr, err))
			return
		}
		if hdr.GetStatus() == hadooppb.RpcResponseHeaderProto_FATAL {
			c.fail(fmt.Errorf("server %s closed the connection: %w", c.addr, remoteError(hdr)))
			return
		}
		id := int32(hdr.GetCallId())
		c.mu.Lock()
		ch, ok := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if ok {
			ch <- response{hdr: hdr, body: body} // buffered, never blocks
		}
	}
}

func (c *conn) pingLoop() {
	defer c.wg.Done()
	if c.cfg.pingInterval <= 0 {
		<-c.done
		return
	}
	t := time.NewTicker(c.cfg.pingInterval)
	defer t.Stop()
	ping, _ := appendFrame(nil, requestHeader(callIDPing, c.cfg.clientID, -1))
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.mu.Lock()
			busy := len(c.pending) > 0
			c.mu.Unlock()
			if busy {
				if err := c.write(ping, time.Now().Add(c.cfg.connectTimeout)); err != nil {
					c.fail(fmt.Errorf("ping %s: %w", c.addr, err))
					return
				}
			}
		}
	}
}

func (c *conn) write(frame []byte, deadline time.Time) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.nc.SetWriteDeadline(deadline)
	_, err := c.nc.Write(frame)
	return err
}

// fail marks the connection dead with err, wakes every waiting call and
// closes the socket. The first error wins.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.pending = nil
	close(c.done)
	c.mu.Unlock()
	_ = c.nc.Close()
}

// close shuts the connection and waits for its goroutines.
func (c *conn) close() {
	c.fail(ErrClosed)
	c.wg.Wait()
}

// alive reports whether the connection can take calls and was used within
// idle.
func (c *conn) alive(idle time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && (idle <= 0 || time.Since(c.lastUsed) < idle || len(c.pending) > 0)
}

// call sends one request and waits for its response.
func (c *conn) call(ctx context.Context, method string, req, resp proto.Message, retry int32) error {
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	id := c.nextID
	c.nextID++
	if c.nextID < 0 {
		c.nextID = 0 // negative ids are Hadoop's special calls
	}
	c.pending[id] = ch
	c.lastUsed = time.Now()
	c.mu.Unlock()

	unregister := func() {
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
	}
	frame, err := appendFrame(nil, requestHeader(id, c.cfg.clientID, retry), &hadooppb.RequestHeaderProto{
		MethodName:                 proto.String(method),
		DeclaringClassProtocolName: proto.String(c.cfg.protocol),
		ClientProtocolVersion:      proto.Uint64(1),
	}, req)
	if err != nil {
		unregister()
		return err
	}
	deadline := time.Now().Add(c.cfg.connectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.write(frame, deadline); err != nil {
		c.fail(fmt.Errorf("write to %s: %w", c.addr, err))
		return err
	}
	select {
	case r := <-ch:
		if r.hdr.GetStatus() != hadooppb.RpcResponseHeaderProto_SUCCESS {
			return remoteError(r.hdr)
		}
		if err := decodeBody(r.body, resp); err != nil {
			return fmt.Errorf("response to %s from %s: %w", method, c.addr, err)
		}
		return nil
	case <-c.done:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return err
	case <-ctx.Done():
		unregister()
		return ctx.Err()
	}
}
