package rpc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// SniffTimeout bounds how long a Mux waits for a new connection's first
// bytes: a client that connects and says nothing is dropped then.
const SniffTimeout = 10 * time.Second

// Mux shares one listener between the gRPC server and the TCP data plane: it
// reads the first bytes of each accepted connection, hands one that opens
// with DataMagic to the data plane, and any other (HTTP/2's preface) to the
// gRPC server through GRPC's listener, the bytes it read put back in front.
// Each connection is sniffed on a goroutine of its own within SniffTimeout,
// so a silent client holds up no other. Safe for concurrent use.
type Mux struct {
	base    net.Listener
	timeout time.Duration
	conns   chan net.Conn // for gRPC
	done    chan struct{} // closed by Close
	once    sync.Once
	errMu   sync.Mutex
	err     error // why the accept loop stopped (Serve's result)
	wg      sync.WaitGroup
}

// NewMux wraps base; sniffing waits at most timeout (SniffTimeout if zero).
// Nothing is accepted before Serve runs.
func NewMux(base net.Listener, timeout time.Duration) *Mux {
	if timeout <= 0 {
		timeout = SniffTimeout
	}
	return &Mux{base: base, timeout: timeout, conns: make(chan net.Conn), done: make(chan struct{})}
}

// GRPC is the listener to serve gRPC on: it accepts the connections that are
// not the data plane's. Closing it closes the Mux.
func (m *Mux) GRPC() net.Listener { return grpcListener{m} }

// Serve accepts connections until the Mux is closed (nil) or the listener
// fails, calling data on the sniffing goroutine for each data plane
// connection (data owns it, and should return when its peer is done). It
// returns once every such call has returned.
func (m *Mux) Serve(data func(net.Conn)) error {
	defer m.wg.Wait()
	for {
		c, err := m.base.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				select {
				case <-time.After(5 * time.Millisecond):
					continue
				case <-m.done:
				}
			}
			select {
			case <-m.done:
				return nil
			default:
			}
			m.fail(fmt.Errorf("accept on %s: %w", m.base.Addr(), err))
			return m.Err()
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.sniff(c, data)
		}()
	}
}

func (m *Mux) sniff(c net.Conn, data func(net.Conn)) {
	head := make([]byte, len(DataMagic))
	_ = c.SetReadDeadline(time.Now().Add(m.timeout))
	stop := make(chan struct{})
	go func() { // Close ends a sniff in progress
		select {
		case <-m.done:
			_ = c.SetReadDeadline(time.Now())
		case <-stop:
		}
	}()
	n, err := io.ReadFull(c, head)
	close(stop)
	if err != nil && n == 0 {
		c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if err == nil && string(head) == DataMagic {
		data(c)
		return
	}
	pc := &prefixConn{Conn: c, r: io.MultiReader(bytes.NewReader(head[:n]), c)}
	select {
	case m.conns <- pc:
	case <-m.done:
		c.Close()
	}
}

func (m *Mux) fail(err error) {
	m.errMu.Lock()
	if m.err == nil {
		m.err = err
	}
	m.errMu.Unlock()
	m.Close()
}

// Err is why the Mux stopped accepting: nil after Close.
func (m *Mux) Err() error {
	m.errMu.Lock()
	defer m.errMu.Unlock()
	return m.err
}

// Close stops accepting and closes the listener; the data plane's
// connections already handed over are data's to close.
func (m *Mux) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		err = m.base.Close()
	})
	return err
}

type grpcListener struct{ m *Mux }

func (l grpcListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.conns:
		return c, nil
	case <-l.m.done:
		if err := l.m.Err(); err != nil {
			return nil, err
		}
		return nil, net.ErrClosed
	}
}

func (l grpcListener) Close() error   { return l.m.Close() }
func (l grpcListener) Addr() net.Addr { return l.m.base.Addr() }

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }
