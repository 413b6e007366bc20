package yarn

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

// ApplicationID is a YARN application id, application_<cluster ts>_<n>.
type ApplicationID struct {
	ClusterTimestamp int64
	ID               int32
}

func (a ApplicationID) String() string {
	return fmt.Sprintf("application_%d_%04d", a.ClusterTimestamp, a.ID)
}

// Proto converts the id.
func (a ApplicationID) Proto() *hadooppb.ApplicationIdProto {
	return &hadooppb.ApplicationIdProto{Id: proto.Int32(a.ID), ClusterTimestamp: proto.Int64(a.ClusterTimestamp)}
}

// AppIDFromProto converts an ApplicationIdProto.
func AppIDFromProto(p *hadooppb.ApplicationIdProto) ApplicationID {
	return ApplicationID{ClusterTimestamp: p.GetClusterTimestamp(), ID: p.GetId()}
}

// ParseApplicationID parses "application_<ts>_<n>".
func ParseApplicationID(s string) (ApplicationID, error) {
	f, err := idFields(s, "application", 2)
	if err != nil {
		return ApplicationID{}, err
	}
	return ApplicationID{ClusterTimestamp: f[0], ID: int32(f[1])}, nil
}

// AttemptID is an application attempt id, appattempt_<ts>_<n>_<attempt>.
type AttemptID struct {
	App     ApplicationID
	Attempt int32
}

func (a AttemptID) String() string {
	return fmt.Sprintf("appattempt_%d_%04d_%06d", a.App.ClusterTimestamp, a.App.ID, a.Attempt)
}

// Proto converts the id.
func (a AttemptID) Proto() *hadooppb.ApplicationAttemptIdProto {
	return &hadooppb.ApplicationAttemptIdProto{ApplicationId: a.App.Proto(), AttemptId: proto.Int32(a.Attempt)}
}

// ContainerID is a container id: container_[e<epoch>_]<ts>_<app>_<attempt>_<n>.
// The epoch sits in bits 40 and up of the protobuf id.
type ContainerID struct {
	Attempt AttemptID
	ID      int64
}

func (c ContainerID) String() string {
	epoch, seq := c.ID>>40, c.ID&(1<<40-1)
	e := ""
	if epoch > 0 {
		e = fmt.Sprintf("e%02d_", epoch)
	}
	return fmt.Sprintf("container_%s%d_%04d_%02d_%06d", e, c.Attempt.App.ClusterTimestamp, c.Attempt.App.ID, c.Attempt.Attempt, seq)
}

// Proto converts the id.
func (c ContainerID) Proto() *hadooppb.ContainerIdProto {
	return &hadooppb.ContainerIdProto{AppId: c.Attempt.App.Proto(), AppAttemptId: c.Attempt.Proto(), Id: proto.Int64(c.ID)}
}

// ContainerIDFromProto converts a ContainerIdProto.
func ContainerIDFromProto(p *hadooppb.ContainerIdProto) ContainerID {
	at := p.GetAppAttemptId()
	app := at.GetApplicationId()
	if app == nil {
		app = p.GetAppId()
	}
	return ContainerID{Attempt: AttemptID{App: AppIDFromProto(app), Attempt: at.GetAttemptId()}, ID: p.GetId()}
}

// ParseContainerID parses a container id, as in the CONTAINER_ID variable
// YARN sets in every container.
func ParseContainerID(s string) (ContainerID, error) {
	rest, ok := strings.CutPrefix(s, "container_")
	if !ok {
		return ContainerID{}, fmt.Errorf("%q: %w", s, ErrBadID)
	}
	var epoch int64
	if strings.HasPrefix(rest, "e") {
		e, r, ok := strings.Cut(rest[1:], "_")
		n, err := strconv.ParseInt(e, 10, 64)
		if !ok || err != nil || n < 0 || n >= 1<<23 {
			return ContainerID{}, fmt.Errorf("%q: bad epoch: %w", s, ErrBadID)
		}
		epoch, rest = n, r
	}
	f, err := idFields("container_"+rest, "container", 4)
	if err != nil {
		return ContainerID{}, fmt.Errorf("%q: %w", s, err)
	}
	if f[3] >= 1<<40 {
		return ContainerID{}, fmt.Errorf("%q: sequence too large: %w", s, ErrBadID)
	}
	return ContainerID{
		Attempt: AttemptID{App: ApplicationID{ClusterTimestamp: f[0], ID: int32(f[1])}, Attempt: int32(f[2])},
		ID:      epoch<<40 | f[3],
	}, nil
}

func idFields(s, prefix string, n int) ([]int64, error) {
	parts := strings.Split(s, "_")
	if len(parts) != n+1 || parts[0] != prefix {
		return nil, fmt.Errorf("%q is not a %s id: %w", s, prefix, ErrBadID)
	}
	out := make([]int64, n)
	for i, p := range parts[1:] {
		bits := 32
		if i == 0 || i == n-1 {
			bits = 64
		}
		v, err := strconv.ParseInt(p, 10, bits)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q: field %q: %w", s, p, ErrBadID)
		}
		out[i] = v
	}
	return out, nil
}

// NodeID is a NodeManager's host:port, as YARN names nodes.
func NodeID(p *hadooppb.NodeIdProto) string {
	return fmt.Sprintf("%s:%d", p.GetHost(), p.GetPort())
}
