package yarn

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/token"
)

// NMClient speaks ContainerManagementProtocol to NodeManagers. Each node is
// reached with its own NMToken (the RM sends each once per attempt, in
// allocate or register responses; SetToken caches them) and one connection
// per node. Safe for concurrent use.
type NMClient struct {
	opts []ipc.Option

	mu      sync.Mutex
	tokens  map[string]*token.Token
	clients map[string]*ipc.Client
	closed  bool
}

// NewNMClient returns a client; opts go to each node's IPC client.
func NewNMClient(opts ...ipc.Option) *NMClient {
	return &NMClient{opts: opts, tokens: map[string]*token.Token{}, clients: map[string]*ipc.Client{}}
}

// SetToken caches the NMToken for node (host:port). Connections made from
// then on use it.
func (n *NMClient) SetToken(node string, t *token.Token) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.tokens[node] = t
}

// HasToken reports whether an NMToken for node is cached.
func (n *NMClient) HasToken(node string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tokens[node] != nil
}

// Close closes every connection.
func (n *NMClient) Close() error {
	n.mu.Lock()
	cs := n.clients
	n.clients, n.closed = map[string]*ipc.Client{}, true
	n.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}

func (n *NMClient) client(node string) (*ipc.Client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("yarn: NodeManager %s: %w", node, ipc.ErrClosed)
	}
	if c := n.clients[node]; c != nil {
		return c, nil
	}
	if n.tokens[node] == nil {
		return nil, fmt.Errorf("yarn: NodeManager %s: no NMToken: %w", node, ErrNoToken)
	}
	cur := func() *token.Token {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.tokens[node]
	}
	opts := append(append([]ipc.Option(nil), n.opts...), ipc.WithAuth(ipc.Token{Current: cur}))
	c, err := ipc.NewClient(ProtocolContainerManagement, []string{node}, opts...)
	if err != nil {
		return nil, fmt.Errorf("yarn: %w", err)
	}
	n.clients[node] = c
	return c, nil
}

// Start launches a container the RM allocated, on its node.
func (n *NMClient) Start(ctx context.Context, c *hadooppb.ContainerProto, launch *hadooppb.ContainerLaunchContextProto) error {
	node := NodeID(c.GetNodeId())
	id := ContainerIDFromProto(c.GetId())
	cl, err := n.client(node)
	if err != nil {
		return err
	}
	resp := &hadooppb.StartContainersResponseProto{}
	if err := cl.Call(ctx, "startContainers", &hadooppb.StartContainersRequestProto{
		StartContainerRequest: []*hadooppb.StartContainerRequestProto{{ContainerLaunchContext: launch, ContainerToken: c.GetContainerToken()}},
	}, resp); err != nil {
		return fmt.Errorf("yarn: start %s on %s: %w", id, node, err)
	}
	if err := failed(resp.GetFailedRequests()); err != nil {
		return fmt.Errorf("yarn: start %s on %s: %w", id, node, err)
	}
	return nil
}

// Stop stops a container on node.
func (n *NMClient) Stop(ctx context.Context, node string, id ContainerID) error {
	cl, err := n.client(node)
	if err != nil {
		return err
	}
	resp := &hadooppb.StopContainersResponseProto{}
	if err := cl.Call(ctx, "stopContainers", &hadooppb.StopContainersRequestProto{
		ContainerId: []*hadooppb.ContainerIdProto{id.Proto()},
	}, resp); err != nil {
		return fmt.Errorf("yarn: stop %s on %s: %w", id, node, err)
	}
	if err := failed(resp.GetFailedRequests()); err != nil {
		return fmt.Errorf("yarn: stop %s on %s: %w", id, node, err)
	}
	return nil
}

// Status returns a container's status from its node.
func (n *NMClient) Status(ctx context.Context, node string, id ContainerID) (*hadooppb.ContainerStatusProto, error) {
	cl, err := n.client(node)
	if err != nil {
		return nil, err
	}
	resp := &hadooppb.GetContainerStatusesResponseProto{}
	if err := cl.Call(ctx, "getContainerStatuses", &hadooppb.GetContainerStatusesRequestProto{
		ContainerId: []*hadooppb.ContainerIdProto{id.Proto()},
	}, resp); err != nil {
		return nil, fmt.Errorf("yarn: status of %s on %s: %w", id, node, err)
	}
	if err := failed(resp.GetFailedRequests()); err != nil {
		return nil, fmt.Errorf("yarn: status of %s on %s: %w", id, node, err)
	}
	if len(resp.GetStatus()) == 0 {
		return nil, fmt.Errorf("yarn: status of %s on %s: empty answer: %w", id, node, ErrContainer)
	}
	return resp.GetStatus()[0], nil
}

// failed turns a NodeManager's per-container exceptions into an error that
// wraps ErrContainer and, for the first, a RemoteError.
func failed(fs []*hadooppb.ContainerExceptionMapProto) error {
	if len(fs) == 0 {
		return nil
	}
	var msgs []string
	for _, f := range fs {
		e := f.GetException()
		msgs = append(msgs, fmt.Sprintf("%s: %s", ContainerIDFromProto(f.GetContainerId()), firstLine(e.GetMessage())))
	}
	first := fs[0].GetException()
	return fmt.Errorf("%w: %s: %w", ErrContainer, strings.Join(msgs, "; "),
		&ipc.RemoteError{Class: first.GetClassName(), Message: first.GetMessage()})
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
