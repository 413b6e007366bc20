package yarn

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/token"
)

// AMRMClient speaks ApplicationMasterProtocol to the ResourceManager's
// scheduler, authenticated with the AMRMToken (TOKEN/DIGEST-MD5). It is safe
// for concurrent use, though an AM calls it from one loop.
type AMRMClient struct {
	rpc   *ipc.Client
	names string

	mu  sync.Mutex
	tok *token.Token
}

// NewAMRMClient returns a client for the scheduler address(es) of the
// configuration, authenticating with amrm (see AMRMTokenFromEnvironment).
func NewAMRMClient(c *conf.Conf, amrm *token.Token, opts ...ipc.Option) (*AMRMClient, error) {
	addrs, err := c.RMSchedulerAddresses()
	if err != nil {
		return nil, fmt.Errorf("yarn: scheduler address: %w", err)
	}
	cl, err := NewAMRMClientAt(addrs, amrm, append(failoverOptions(c), opts...)...)
	if err != nil {
		return nil, err
	}
	cl.names = rmNames(c.RMIDs(), addrs)
	return cl, nil
}

// NewAMRMClientAt returns a client for the schedulers at addrs.
func NewAMRMClientAt(addrs []string, amrm *token.Token, opts ...ipc.Option) (*AMRMClient, error) {
	if amrm == nil {
		return nil, fmt.Errorf("yarn: AMRMClient: no AMRMToken: %w", ErrNoToken)
	}
	c := &AMRMClient{tok: amrm}
	opts = append(opts, ipc.WithAuth(ipc.Token{Current: c.Token}))
	rpc, err := ipc.NewClient(ProtocolApplicationMaster, addrs, opts...)
	if err != nil {
		return nil, fmt.Errorf("yarn: %w", err)
	}
	c.rpc = rpc
	return c, nil
}

// AMRMTokenFromEnvironment reads the AMRMToken from the container's token
// file (HADOOP_TOKEN_FILE_LOCATION).
func AMRMTokenFromEnvironment() (*token.Token, error) {
	creds, err := token.FromEnvironment()
	if err != nil {
		return nil, fmt.Errorf("yarn: AMRMToken: %w", err)
	}
	t, err := creds.Find(token.KindAMRMToken, "")
	if err != nil {
		return nil, fmt.Errorf("yarn: AMRMToken: %w: %w", ErrNoToken, err)
	}
	return t, nil
}

// Token returns the AMRMToken new connections use.
func (c *AMRMClient) Token() *token.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// setToken takes a rolled-over AMRMToken; the service stays ours.
func (c *AMRMClient) setToken(t *token.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := *t
	if n.Service == "" {
		n.Service = c.tok.Service
	}
	if n.Kind == "" {
		n.Kind = token.KindAMRMToken
	}
	c.tok = &n
}

// Close closes the connection.
func (c *AMRMClient) Close() error { return c.rpc.Close() }

func (c *AMRMClient) call(ctx context.Context, method string, req, resp proto.Message) error {
	if err := c.rpc.Call(ctx, method, req, resp); err != nil {
		return rmError(c.names, c.rpc.Addrs(), err)
	}
	return nil
}

// Register registers the ApplicationMaster; host, port and trackingURL are
// what the RM shows and proxies (trackingURL may be empty).
func (c *AMRMClient) Register(ctx context.Context, host string, port int32, trackingURL string) (*hadooppb.RegisterApplicationMasterResponseProto, error) {
	resp := &hadooppb.RegisterApplicationMasterResponseProto{}
	err := c.call(ctx, "registerApplicationMaster", &hadooppb.RegisterApplicationMasterRequestProto{
		Host: proto.String(host), RpcPort: proto.Int32(port), TrackingUrl: proto.String(trackingURL),
	}, resp)
	return resp, err
}

// Allocate sends one heartbeat. A rolled-over AMRMToken in the response is
// taken for the next connections.
func (c *AMRMClient) Allocate(ctx context.Context, req *hadooppb.AllocateRequestProto) (*hadooppb.AllocateResponseProto, error) {
	resp := &hadooppb.AllocateResponseProto{}
	if err := c.call(ctx, "allocate", req, resp); err != nil {
		return nil, err
	}
	if t := resp.GetAmRmToken(); t != nil {
		c.setToken(token.FromProto(t))
	}
	return resp, nil
}

// Finish unregisters with the final status. The RM may answer that it has
// not unregistered yet; Finish asks again (every 100ms, as Hadoop's
// AMRMClient) until it has or ctx ends.
func (c *AMRMClient) Finish(ctx context.Context, status hadooppb.FinalApplicationStatusProto, diagnostics, trackingURL string) error {
	req := &hadooppb.FinishApplicationMasterRequestProto{
		FinalApplicationStatus: status.Enum(), Diagnostics: proto.String(diagnostics),
	}
	if trackingURL != "" {
		req.TrackingUrl = proto.String(trackingURL)
	}
	for {
		resp := &hadooppb.FinishApplicationMasterResponseProto{}
		if err := c.call(ctx, "finishApplicationMaster", req, resp); err != nil {
			return err
		}
		if resp.GetIsUnregistered() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("yarn: finishApplicationMaster: %w: %w", ErrNotUnregistered, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
