package ipc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// Option configures a Client.
type Option func(*config)

type config struct {
	protocol          string
	auth              Authenticator
	user              string
	clientID          []byte
	connectTimeout    time.Duration
	callTimeout       time.Duration
	pingInterval      time.Duration
	idleTimeout       time.Duration
	maxAttempts       int
	backoff           time.Duration
	maxBackoff        time.Duration
	maxResponseLength int
	dialer            func(ctx context.Context, network, addr string) (net.Conn, error)
	log               zerolog.Logger
}

func newConfig(protocol string, opts []Option) *config {
	c := &config{
		protocol:          protocol,
		auth:              Simple{},
		user:              DefaultUser(),
		connectTimeout:    10 * time.Second,
		callTimeout:       2 * time.Minute,
		pingInterval:      30 * time.Second,
		idleTimeout:       10 * time.Second,
		maxAttempts:       4,
		backoff:           200 * time.Millisecond,
		maxBackoff:        5 * time.Second,
		maxResponseLength: DefaultMaxResponseLength,
		dialer:            (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		log:               zerolog.Nop(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.clientID == nil {
		c.clientID = make([]byte, 16)
		_, _ = rand.Read(c.clientID)
		c.clientID[6] = c.clientID[6]&0x0f | 0x40 // a version 4 UUID, as Hadoop's
		c.clientID[8] = c.clientID[8]&0x3f | 0x80
	}
	if c.maxAttempts < 1 {
		c.maxAttempts = 1
	}
	return c
}

// WithAuth sets the authenticator (default Simple{}).
func WithAuth(a Authenticator) Option { return func(c *config) { c.auth = a } }

// WithUser sets the user named in the connection context under SIMPLE
// authentication (default DefaultUser()).
func WithUser(u string) Option { return func(c *config) { c.user = u } }

// WithConnectTimeout bounds dialing plus the handshake, and each write
// (default 10s).
func WithConnectTimeout(d time.Duration) Option { return func(c *config) { c.connectTimeout = d } }

// WithCallTimeout bounds each call attempt when the caller's context has no
// earlier deadline (default 2m; 0 for none).
func WithCallTimeout(d time.Duration) Option { return func(c *config) { c.callTimeout = d } }

// WithPingInterval sets how often a connection with calls in flight pings
// the server (default 30s; 0 disables).
func WithPingInterval(d time.Duration) Option { return func(c *config) { c.pingInterval = d } }

// WithIdleTimeout sets after how long without calls a connection is
// replaced by a fresh one rather than reused (default 10s, Hadoop's
// ipc.client.connection.maxidletime), so calls do not race the server's
// idle close.
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithRetry sets how many attempts a call gets in total, across failovers,
// and the backoff between them, doubled per round over all addresses up to
// max (default 4 attempts, 200ms, 5s).
func WithRetry(attempts int, backoff, max time.Duration) Option {
	return func(c *config) { c.maxAttempts, c.backoff, c.maxBackoff = attempts, backoff, max }
}

// WithMaxResponseLength caps a response frame (default 128 MiB).
func WithMaxResponseLength(n int) Option { return func(c *config) { c.maxResponseLength = n } }

// WithDialer replaces the TCP dialer (tests).
func WithDialer(d func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(c *config) { c.dialer = d }
}

// WithClientID sets the 16-byte client id (default random).
func WithClientID(id []byte) Option { return func(c *config) { c.clientID = id } }

// WithLogger sets the logger for connection events (default none).
func WithLogger(l zerolog.Logger) Option { return func(c *config) { c.log = l } }

// DefaultUser is the user Hadoop clients act as without Kerberos:
// HADOOP_USER_NAME, else the OS user.
func DefaultUser() string {
	if u := os.Getenv("HADOOP_USER_NAME"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "nobody"
}

// Client calls one protocol on a server, failing over across addresses.
// It is safe for concurrent use.
type Client struct {
	cfg   *config
	addrs []string

	mu     sync.Mutex
	cur    int   // index into addrs
	conn   *conn // nil until dialed
	closed bool
}

// NewClient returns a client for protocol (e.g.
// "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB") on the servers
// at addrs (host:port), tried in order. It does not dial yet.
func NewClient(protocol string, addrs []string, opts ...Option) (*Client, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("ipc: client for %s: %w", protocol, ErrNoAddress)
	}
	return &Client{cfg: newConfig(protocol, opts), addrs: append([]string(nil), addrs...)}, nil
}

// Addrs returns the server addresses.
func (c *Client) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close closes the connection. Calls in flight fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	cn := c.conn
	c.conn, c.closed = nil, true
	c.mu.Unlock()
	if cn != nil {
		cn.close()
	}
	return nil
}

// Call invokes method (the rpc name, e.g. "getNewApplication") with req and
// decodes the response into resp. It retries on network errors and on
// StandbyException / RetriableException, failing over to the next address,
// up to the configured number of attempts.
func (c *Client) Call(ctx context.Context, method string, req, resp proto.Message) error {
	var last error
	var lastAddr string
	attempts := 0
	for attempt := 0; attempt < c.cfg.maxAttempts; attempt++ {
		if attempt > 0 {
			if err := c.sleep(ctx, attempt); err != nil {
				break
			}
		}
		attempts++
		cn, addr, err := c.connection(ctx)
		lastAddr = addr
		if err == nil {
			err = c.callOnce(ctx, cn, method, req, resp, int32(attempt))
			if err == nil {
				return nil
			}
		} else {
			err = fmt.Errorf("connect to %s: %w", addr, err)
		}
		last = err
		if !retriable(err) || ctx.Err() != nil {
			break
		}
		next := c.failover(cn)
		if attempt+1 < c.cfg.maxAttempts {
			// Each failed attempt once: at Warn when it moves to another
			// server (an HA failover), else at Debug as before.
			ev := c.cfg.log.Debug()
			if len(c.addrs) > 1 {
				ev = c.cfg.log.Warn()
			}
			ev.Err(err).Str("addr", addr).Str("next", next).Str("method", method).Int("attempt", attempt+1).
				Int("attempts", c.cfg.maxAttempts).Dur("wait", c.delay(attempt+1)).Msg("ipc call failed, retrying")
		}
	}
	if errors.Is(last, ErrClosed) && c.isClosed() {
		return fmt.Errorf("ipc: %s.%s: %w", shortProtocol(c.cfg.protocol), method, ErrClosed)
	}
	if attempts > 1 {
		what := fmt.Sprintf("ipc: %s.%s on %s (%d attempts over %s)",
			shortProtocol(c.cfg.protocol), method, lastAddr, attempts, strings.Join(c.addrs, ","))
		if attempts == c.cfg.maxAttempts && retriable(last) {
			return fmt.Errorf("%s: %w: %w", what, ErrExhausted, last)
		}
		return fmt.Errorf("%s: %w", what, last)
	}
	return fmt.Errorf("ipc: %s.%s on %s: %w", shortProtocol(c.cfg.protocol), method, lastAddr, last)
}

func (c *Client) callOnce(ctx context.Context, cn *conn, method string, req, resp proto.Message, retry int32) error {
	if c.cfg.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.callTimeout)
		defer cancel()
	}
	return cn.call(ctx, method, req, resp, retry)
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// connection returns a live connection, dialing the current address if
// needed. Dialing happens under the lock so concurrent callers share one
// connection.
func (c *Client) connection(ctx context.Context) (*conn, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	addr := c.addrs[c.cur]
	if c.closed {
		return nil, addr, ErrClosed
	}
	if c.conn != nil {
		if c.conn.alive(c.cfg.idleTimeout) {
			return c.conn, addr, nil
		}
		old := c.conn
		c.conn = nil
		go old.close() // nothing waits on it; its goroutines end promptly
	}
	cn, err := dial(ctx, addr, c.cfg)
	if err != nil {
		return nil, addr, err
	}
	c.cfg.log.Debug().Str("addr", addr).Str("protocol", c.cfg.protocol).Str("auth", cn.method).Msg("ipc connected")
	c.conn = cn
	return cn, addr, nil
}

// failover drops the failed connection and moves to the next address,
// which it returns.
func (c *Client) failover(failed *conn) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if failed != nil && c.conn != failed {
		return c.addrs[c.cur] // someone already replaced it
	}
	if c.conn != nil {
		go c.conn.close()
		c.conn = nil
	}
	c.cur = (c.cur + 1) % len(c.addrs)
	return c.addrs[c.cur]
}

// delay is the wait before attempt (counted from 0): none during the first
// pass over the addresses, then the backoff doubled per round, capped.
func (c *Client) delay(attempt int) time.Duration {
	round := (attempt - 1) / len(c.addrs)
	if (attempt-1)%len(c.addrs) != 0 && round == 0 {
		return 0
	}
	d := c.cfg.backoff << round
	if d > c.cfg.maxBackoff || d <= 0 {
		d = c.cfg.maxBackoff
	}
	return d
}

func (c *Client) sleep(ctx context.Context, attempt int) error {
	d := c.delay(attempt)
	if d == 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retriable reports whether a call that failed with err may be tried again,
// possibly on another server. The caller also stops when its own context
// is done.
func retriable(err error) bool {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Class == classStandby || re.Class == classRetriable
	}
	switch {
	case errors.Is(err, ErrAuth), errors.Is(err, ErrMalformed), errors.Is(err, ErrFrameTooLarge),
		errors.Is(err, ErrClosed), errors.Is(err, ErrNoAddress), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true // the per-attempt call timeout: the server hangs, try another
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func shortProtocol(p string) string {
	p = p[strings.LastIndexByte(p, '.')+1:]
	return strings.TrimSuffix(p, "PB")
}
