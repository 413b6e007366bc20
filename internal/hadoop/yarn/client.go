package yarn

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/conf"
	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
)

// Client speaks ApplicationClientProtocol to the ResourceManager (with
// failover across HA ResourceManagers). It is safe for concurrent use.
type Client struct {
	rpc   *ipc.Client
	names string // the RMs for errors: "rm0 (host:port), rm1 (...)"
}

// NewClient returns a client for the ResourceManager(s) the configuration
// names. Options go to the IPC client (auth, timeouts, logger); the default
// is SIMPLE authentication as ipc.DefaultUser(). With ResourceManager HA
// the client tries the RMs in rm-ids order and fails over on connection
// errors and StandbyException, with the retries and backoff of the
// configuration (conf.RMFailover) unless opts set others.
func NewClient(c *conf.Conf, opts ...ipc.Option) (*Client, error) {
	addrs, err := c.RMAddresses()
	if err != nil {
		return nil, fmt.Errorf("yarn: ResourceManager address: %w", err)
	}
	cl, err := NewClientAt(addrs, append(failoverOptions(c), opts...)...)
	if err != nil {
		return nil, err
	}
	cl.names = rmNames(c.RMIDs(), addrs)
	return cl, nil
}

// failoverOptions are the IPC retry options of HA ResourceManagers.
func failoverOptions(c *conf.Conf) []ipc.Option {
	f, ok := c.RMFailover()
	if !ok {
		return nil
	}
	return []ipc.Option{ipc.WithRetry(f.Attempts, f.SleepBase, f.SleepMax)}
}

// rmNames is "rm0 (a:1), rm1 (b:2)", or the addresses without ids.
func rmNames(ids, addrs []string) string {
	var b strings.Builder
	for i, a := range addrs {
		if i > 0 {
			b.WriteString(", ")
		}
		if i < len(ids) {
			b.WriteString(ids[i] + " (" + a + ")")
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// rmError wraps an IPC error; when no ResourceManager answered at all, it
// says so and names them all.
func rmError(names string, addrs []string, err error) error {
	if errors.Is(err, ipc.ErrExhausted) && len(addrs) > 1 {
		if names == "" {
			names = rmNames(nil, addrs)
		}
		return fmt.Errorf("yarn: no ResourceManager answered (tried %s): %w", names, err)
	}
	return fmt.Errorf("yarn: %w", err)
}

// NewClientAt returns a client for the ResourceManagers at addrs.
func NewClientAt(addrs []string, opts ...ipc.Option) (*Client, error) {
	rpc, err := ipc.NewClient(ProtocolApplicationClient, addrs, opts...)
	if err != nil {
		return nil, fmt.Errorf("yarn: %w", err)
	}
	return &Client{rpc: rpc}, nil
}

// Addrs returns the ResourceManager addresses.
func (c *Client) Addrs() []string { return c.rpc.Addrs() }

// Close closes the connection.
func (c *Client) Close() error { return c.rpc.Close() }

func (c *Client) call(ctx context.Context, method string, req, resp proto.Message) error {
	if err := c.rpc.Call(ctx, method, req, resp); err != nil {
		return rmError(c.names, c.rpc.Addrs(), err)
	}
	return nil
}

// NewApplication asks the RM for a new application id; the response also
// carries the largest container the cluster allows.
func (c *Client) NewApplication(ctx context.Context) (ApplicationID, *hadooppb.ResourceProto, error) {
	resp := &hadooppb.GetNewApplicationResponseProto{}
	if err := c.call(ctx, "getNewApplication", &hadooppb.GetNewApplicationRequestProto{}, resp); err != nil {
		return ApplicationID{}, nil, err
	}
	return AppIDFromProto(resp.GetApplicationId()), resp.GetMaximumCapability(), nil
}

// Submit submits an application; see AppSpec for building the context.
func (c *Client) Submit(ctx context.Context, sub *hadooppb.ApplicationSubmissionContextProto) error {
	return c.call(ctx, "submitApplication",
		&hadooppb.SubmitApplicationRequestProto{ApplicationSubmissionContext: sub},
		&hadooppb.SubmitApplicationResponseProto{})
}

// Report returns the application's report.
func (c *Client) Report(ctx context.Context, id ApplicationID) (*hadooppb.ApplicationReportProto, error) {
	resp := &hadooppb.GetApplicationReportResponseProto{}
	if err := c.call(ctx, "getApplicationReport",
		&hadooppb.GetApplicationReportRequestProto{ApplicationId: id.Proto()}, resp); err != nil {
		return nil, unknownApplication(id, err)
	}
	return resp.GetApplicationReport(), nil
}

// Kill asks the RM to kill the application. It reports whether the kill has
// completed; the RM kills asynchronously, so callers poll Report (or call
// Kill again) until it has.
func (c *Client) Kill(ctx context.Context, id ApplicationID, diagnostics string) (bool, error) {
	req := &hadooppb.KillApplicationRequestProto{ApplicationId: id.Proto()}
	if diagnostics != "" {
		req.Diagnostics = proto.String(diagnostics)
	}
	resp := &hadooppb.KillApplicationResponseProto{}
	if err := c.call(ctx, "forceKillApplication", req, resp); err != nil {
		return false, err
	}
	return resp.GetIsKillCompleted(), nil
}

// AppFilter narrows ListApplications; the zero value lists all.
type AppFilter struct {
	Types  []string
	States []hadooppb.YarnApplicationStateProto
	Queues []string
	Tags   []string
	Name   string
	Limit  int64
}

// Applications lists applications, ordered by id.
func (c *Client) Applications(ctx context.Context, f AppFilter) ([]*hadooppb.ApplicationReportProto, error) {
	req := &hadooppb.GetApplicationsRequestProto{
		ApplicationTypes: f.Types, ApplicationStates: f.States, Queues: f.Queues, ApplicationTags: f.Tags,
	}
	if f.Name != "" {
		req.Name = proto.String(f.Name)
	}
	if f.Limit > 0 {
		req.Limit = proto.Int64(f.Limit)
	}
	resp := &hadooppb.GetApplicationsResponseProto{}
	if err := c.call(ctx, "getApplications", req, resp); err != nil {
		return nil, err
	}
	apps := resp.GetApplications()
	sort.Slice(apps, func(i, j int) bool {
		a, b := apps[i].GetApplicationId(), apps[j].GetApplicationId()
		if a.GetClusterTimestamp() != b.GetClusterTimestamp() {
			return a.GetClusterTimestamp() < b.GetClusterTimestamp()
		}
		return a.GetId() < b.GetId()
	})
	return apps, nil
}

// ClusterMetrics returns the RM's node counts.
func (c *Client) ClusterMetrics(ctx context.Context) (*hadooppb.YarnClusterMetricsProto, error) {
	resp := &hadooppb.GetClusterMetricsResponseProto{}
	if err := c.call(ctx, "getClusterMetrics", &hadooppb.GetClusterMetricsRequestProto{}, resp); err != nil {
		return nil, err
	}
	return resp.GetClusterMetrics(), nil
}

// Nodes returns the NodeManagers in the given states (RUNNING when none
// are given, as the RM does), ordered by node id.
func (c *Client) Nodes(ctx context.Context, states ...hadooppb.NodeStateProto) ([]*hadooppb.NodeReportProto, error) {
	resp := &hadooppb.GetClusterNodesResponseProto{}
	if err := c.call(ctx, "getClusterNodes", &hadooppb.GetClusterNodesRequestProto{NodeStates: states}, resp); err != nil {
		return nil, err
	}
	nodes := resp.GetNodeReports()
	sort.Slice(nodes, func(i, j int) bool { return NodeID(nodes[i].GetNodeId()) < NodeID(nodes[j].GetNodeId()) })
	return nodes, nil
}

// Terminal reports whether an application state is final.
func Terminal(s hadooppb.YarnApplicationStateProto) bool {
	return s == hadooppb.YarnApplicationStateProto_FINISHED || s == hadooppb.YarnApplicationStateProto_FAILED ||
		s == hadooppb.YarnApplicationStateProto_KILLED
}

// WaitFor polls the application's report every interval until done returns
// true for it, and returns that report. It ends with the context.
func (c *Client) WaitFor(ctx context.Context, id ApplicationID, interval time.Duration,
	done func(*hadooppb.ApplicationReportProto) bool) (*hadooppb.ApplicationReportProto, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last *hadooppb.ApplicationReportProto
	for {
		r, err := c.Report(ctx, id)
		if err != nil {
			return last, err
		}
		last = r
		if done(r) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("yarn: waiting for %s (last state %v): %w", id, r.GetYarnApplicationState(), ctx.Err())
		case <-t.C:
		}
	}
}

// unknownApplication turns the RM's ApplicationNotFoundException into
// ErrUnknownApplication with the RM's message, its first line, and without
// the Java class name; other errors are returned as they are.
func unknownApplication(id ApplicationID, err error) error {
	var re *ipc.RemoteError
	if !errors.As(err, &re) || re.SimpleClass() != "ApplicationNotFoundException" {
		return err
	}
	msg, _, _ := strings.Cut(re.Message, "\n")
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return fmt.Errorf("%w %s", ErrUnknownApplication, id)
	}
	return fmt.Errorf("%w %s: the ResourceManager says %q", ErrUnknownApplication, id, msg)
}
