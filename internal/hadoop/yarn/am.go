package yarn

import (
	"context"
	"fmt"

	"floe/internal/hadoop/hadooppb"
	"floe/internal/hadoop/ipc"
	"floe/internal/hadoop/token"
)

// AM is the thin driver of an ApplicationMaster's link to YARN: it feeds
// the Allocator's requests to the RM, hands NMTokens to the NMClient, and
// returns each Update to the caller, whose loop decides what to start and
// when to heartbeat next. AM holds no goroutines; it is driven by one owner.
type AM struct {
	RM    *AMRMClient
	NM    *NMClient
	Alloc *Allocator

	registered bool
	host       string
	port       int32
	url        string
	// reregistrations counts the registrations after the first one that a
	// ResourceManager without this attempt's registration asked for.
	reregistrations int
}

// Reregistrations returns how many times the AM registered again because
// the ResourceManager had lost its registration (RM failovers or restarts).
func (am *AM) Reregistrations() int { return am.reregistrations }

// NewAM ties an AMRMClient and an NMClient to a new Allocator.
func NewAM(rm *AMRMClient, nm *NMClient) *AM {
	return &AM{RM: rm, NM: nm, Alloc: NewAllocator()}
}

// Register registers the AM and takes over what a previous attempt left:
// its containers and NMTokens.
func (am *AM) Register(ctx context.Context, host string, port int32, trackingURL string) (*hadooppb.RegisterApplicationMasterResponseProto, error) {
	resp, err := am.RM.Register(ctx, host, port, trackingURL)
	if err != nil {
		return nil, err
	}
	am.registered, am.host, am.port, am.url = true, host, port, trackingURL
	for _, t := range resp.GetNmTokensFromPreviousAttempts() {
		am.NM.SetToken(NodeID(t.GetNodeId()), token.FromProto(t.GetToken()))
	}
	am.Alloc.AddRunning(resp.GetContainersFromPreviousAttempts()...)
	return resp, nil
}

// Heartbeat sends one allocate call and returns what it brought. On a
// resync order it registers again, as Hadoop's AMRMClient does. When the
// ResourceManager does not know this attempt's registration (it failed over
// to another RM, or restarted, and recovered the application), Heartbeat
// registers again, resends every outstanding request and release, and
// allocates once more; the containers keep running. Update.Reregistered
// says so.
func (am *AM) Heartbeat(ctx context.Context, progress float32) (Update, error) {
	if !am.registered {
		return Update{}, fmt.Errorf("yarn: heartbeat before Register")
	}
	resp, err := am.RM.Allocate(ctx, am.Alloc.BuildRequest(progress))
	reregistered := false
	if err != nil && NotRegistered(err) {
		if rerr := am.reregister(ctx); rerr != nil {
			return Update{}, fmt.Errorf("yarn: allocate: %w; registering again: %w", err, rerr)
		}
		reregistered = true
		resp, err = am.RM.Allocate(ctx, am.Alloc.BuildRequest(progress))
	}
	if err != nil {
		return Update{Reregistered: reregistered}, err
	}
	u := am.Alloc.HandleResponse(resp)
	u.Reregistered = reregistered
	for node, t := range u.NMTokens {
		am.NM.SetToken(node, t)
	}
	if u.Resync {
		if _, err := am.Register(ctx, am.host, am.port, am.url); err != nil {
			return u, fmt.Errorf("yarn: re-register after resync: %w", err)
		}
	}
	return u, nil
}

// Start launches an allocated container.
func (am *AM) Start(ctx context.Context, a Allocated, launch Launch) error {
	return am.NM.Start(ctx, a.Container, launch.Proto())
}

// reregister registers again with a ResourceManager that lost this
// attempt's registration, after resetting the allocator for it.
func (am *AM) reregister(ctx context.Context) error {
	am.Alloc.Resync()
	if _, err := am.Register(ctx, am.host, am.port, am.url); err != nil {
		return err
	}
	am.reregistrations++
	return nil
}

// Finish unregisters with the final status, registering again first when
// the ResourceManager lost the registration (as Hadoop's AMRMClient does).
func (am *AM) Finish(ctx context.Context, status hadooppb.FinalApplicationStatusProto, diagnostics string) error {
	err := am.RM.Finish(ctx, status, diagnostics, am.url)
	if err != nil && NotRegistered(err) && am.registered {
		if rerr := am.reregister(ctx); rerr != nil {
			return fmt.Errorf("yarn: finish: %w; registering again: %w", err, rerr)
		}
		err = am.RM.Finish(ctx, status, diagnostics, am.url)
	}
	return err
}

// NotRegistered reports whether err is the ResourceManager's
// ApplicationMasterNotRegisteredException: it does not know this attempt's
// registration, as after an RM failover or restart with recovery.
func NotRegistered(err error) bool {
	return ipc.IsRemote(err, "ApplicationMasterNotRegisteredException")
}

// Close closes the RM and NM connections.
func (am *AM) Close() error {
	_ = am.NM.Close()
	return am.RM.Close()
}
