package network

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"floe/internal/bufpool"
	"floe/internal/rpc"
	"floe/internal/rpc/floepb"
)

// The TCP data plane (rpc.DataMagic, internal/rpc/frame.go): a subscription
// on a TCP connection of its own, one per input channel, with the frames of
// internal/rpc instead of a gRPC stream. The subscription protocol, credits,
// events and errors are those of the gRPC plane: the same ServeFunc serves
// both, and an error it returns reaches the consumer with its gRPC status.

// handshakeTimeout bounds the dial, and the challenge and proof, of a new
// connection.
const handshakeTimeout = 10 * time.Second

// closeGrace bounds how long a producer whose serving code returned waits
// for its consumer to close the connection (so that nothing the consumer
// still sends makes the kernel reset the connection before the consumer has
// read the last frames).
const closeGrace = 5 * time.Second

// TCPSubscriber subscribes over the TCP data plane to the TaskManager at
// addr, proving secret. Each subscription dials a connection of its own;
// closeFn closes it. Cancelling the subscription's context closes it too.
func TCPSubscriber(addr, secret string) Subscriber {
	return func(ctx context.Context) (ConsumerStream, func(), error) {
		d := net.Dialer{Timeout: handshakeTimeout} // a host that drops SYNs: not the kernel's two minutes
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("data plane: dial %s: %w", addr, err)
		}
		c := &tcpClient{ctx: ctx, conn: conn, r: rpc.NewFrameReader(conn), w: rpc.NewFrameWriter(conn)}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		if err := c.handshake(secret); err != nil {
			stop()
			conn.Close()
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, fmt.Errorf("data plane: %s: %w", addr, err)
		}
		return c, func() { stop(); conn.Close() }, nil
	}
}

// tcpClient is the consumer's end of a TCP subscription.
type tcpClient struct {
	ctx   context.Context
	conn  net.Conn
	r     *rpc.FrameReader // Recv's
	mu    sync.Mutex       // Send's
	w     *rpc.FrameWriter
	ended atomic.Bool // the producer ended the subscription
}

func (c *tcpClient) handshake(secret string) error {
	_ = c.conn.SetDeadline(time.Now().Add(handshakeTimeout))
	if _, err := io.WriteString(c.conn, rpc.DataMagic); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	f, err := c.r.Read()
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	if f.Kind == rpc.FrameError {
		return f.Err
	}
	if f.Kind != rpc.FrameChallenge || len(f.Bytes) != rpc.NonceLen {
		return fmt.Errorf("%w: frame of kind %d (%d bytes) where a challenge was due", rpc.ErrFrame, f.Kind, len(f.Bytes))
	}
	if err := c.w.WriteBytes(rpc.FrameProof, rpc.DataProof(secret, f.Bytes)); err != nil {
		return fmt.Errorf("send proof: %w", err)
	}
	_ = c.conn.SetDeadline(time.Time{})
	return nil
}

func (c *tcpClient) Send(m *floepb.ConsumerMessage) error {
	c.mu.Lock()
	err := c.w.WriteConsumer(m)
	c.mu.Unlock()
	switch {
	case err == nil:
		return nil
	case c.ended.Load():
		return io.EOF // as gRPC reports a send on a stream the server ended
	case c.ctx.Err() != nil:
		return c.ctx.Err()
	}
	return err
}

func (c *tcpClient) Recv() (*floepb.ProducerMessage, error) {
	f, err := c.r.Read()
	if err != nil {
		if c.ctx.Err() != nil {
			return nil, c.ctx.Err()
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, status.Errorf(codes.Unavailable, "data plane: the producer's connection ended: %v", err)
	}
	switch f.Kind {
	case rpc.FrameProducer:
		return f.Producer, nil
	case rpc.FrameEnd:
		c.ended.Store(true)
		return nil, io.EOF
	case rpc.FrameError:
		c.ended.Store(true)
		return nil, f.Err
	}
	return nil, fmt.Errorf("%w: frame of kind %d from the producer", rpc.ErrFrame, f.Kind)
}

// TCPServer serves subscriptions of the TCP data plane, each with serve
// after checking the consumer's proof of the application's secret. The
// TaskManager hands it the connections its rpc.Mux recognised (ServeConn)
// and closes it when it stops. Safe for concurrent use.
type TCPServer struct {
	secret string
	serve  ServeFunc
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewTCPServer returns a server of subscriptions through serve.
func NewTCPServer(secret string, serve ServeFunc) *TCPServer {
	ctx, cancel := context.WithCancel(context.Background())
	return &TCPServer{secret: secret, serve: serve, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
}

// Close cancels every subscription being served, closes their connections
// and waits for ServeConn's calls to return; later connections are refused.
func (s *TCPServer) Close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// ServeConn serves one connection whose DataMagic was read, until its
// subscription ended; it closes conn.
func (s *TCPServer) ServeConn(conn net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return
	}
	s.conns[conn] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
		s.wg.Done()
	}()

	r, w := rpc.NewFrameReader(conn), rpc.NewFrameWriter(conn)
	if !s.authenticate(conn, r, w) {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	st := &tcpServerStream{ctx: ctx, w: w, wake: make(chan struct{}, 1), readDone: make(chan struct{})}
	go st.read(r, cancel)
	defer func() {
		conn.Close() // ends the reader, and a Recv of the serving code still waiting
		<-st.readDone
	}()
	err := s.serve(st)
	st.mu.Lock()
	st.done = true // the serving code's Sends are over
	werr := w.WriteEnd(err)
	st.mu.Unlock()
	if werr != nil {
		return
	}
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	t := time.NewTimer(closeGrace)
	defer t.Stop()
	select { // until the consumer closes (its reads see the end first)
	case <-st.readDone:
	case <-t.C:
	case <-s.ctx.Done():
	}
}

// authenticate sends a challenge and checks the proof; a wrong one is
// answered with Unauthenticated, as the gRPC plane answers a wrong secret.
func (s *TCPServer) authenticate(conn net.Conn, r *rpc.FrameReader, w *rpc.FrameWriter) bool {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	nonce := make([]byte, rpc.NonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return false
	}
	if err := w.WriteBytes(rpc.FrameChallenge, nonce); err != nil {
		return false
	}
	f, err := r.Read()
	if err != nil || f.Kind != rpc.FrameProof || !rpc.CheckDataProof(s.secret, nonce, f.Bytes) {
		if w.WriteEnd(status.Error(codes.Unauthenticated, "floe: caller did not present this application's secret")) == nil {
			drainClose(conn)
		}
		return false
	}
	_ = conn.SetDeadline(time.Time{})
	return true
}

// drainClose lets the peer read what was written before conn closes: it
// closes conn's sending side, then reads and drops what the peer still sends
// until the peer closes (at most handshakeTimeout), because closing a socket
// with unread bytes resets the connection, and the peer may lose the last
// frames.
func drainClose(conn net.Conn) {
	if tc, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	_, _ = io.Copy(io.Discard, conn)
}

// tcpServerStream is the producer's end of a TCP subscription. A goroutine
// of its own reads the consumer's frames into a queue, so that a consumer
// that goes away cancels the stream's context even while the serving code
// is not receiving (as gRPC's transport does).
type tcpServerStream struct {
	ctx context.Context

	mu   sync.Mutex // Send's, and done
	w    *rpc.FrameWriter
	done bool

	qmu      sync.Mutex
	queue    []*floepb.ConsumerMessage
	err      error // why reading stopped (after the queue)
	wake     chan struct{}
	readDone chan struct{}
}

func (st *tcpServerStream) read(r *rpc.FrameReader, cancel context.CancelFunc) {
	defer close(st.readDone)
	for {
		f, err := r.Read()
		if err == nil && f.Kind != rpc.FrameConsumer {
			err = fmt.Errorf("%w: frame of kind %d from the consumer", rpc.ErrFrame, f.Kind)
		}
		st.qmu.Lock()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = io.EOF
			}
			st.err = err
		} else {
			st.queue = append(st.queue, f.Consumer)
		}
		st.qmu.Unlock()
		signal(st.wake)
		if err != nil {
			cancel() // the consumer went away: as gRPC cancels a stream's context
			return
		}
	}
}

func (st *tcpServerStream) Context() context.Context { return st.ctx }

func (st *tcpServerStream) Recv() (*floepb.ConsumerMessage, error) {
	for {
		st.qmu.Lock()
		if len(st.queue) > 0 {
			m := st.queue[0]
			st.queue[0] = nil
			st.queue = st.queue[1:]
			st.qmu.Unlock()
			return m, nil
		}
		err := st.err
		st.qmu.Unlock()
		if err != nil {
			return nil, err
		}
		<-st.wake
	}
}

func (st *tcpServerStream) Send(m *floepb.ProducerMessage) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.done {
		return errors.New("send after the subscription ended")
	}
	if err := st.ctx.Err(); err != nil {
		return err
	}
	return st.w.WriteProducer(m)
}

// SendOwned sends m and gives its payload back to bufpool.Messages once
// written (sendOwned).
func (st *tcpServerStream) SendOwned(m *floepb.ProducerMessage) error {
	err := st.Send(m)
	if p := m.Payload; len(p) > 0 {
		m.Payload = nil
		bufpool.Messages.Put(&p)
	}
	return err
}
