package yarn

import (
	"sort"

	"google.golang.org/protobuf/proto"

	"floe/internal/hadoop/hadooppb"
)

// Resource is a container size.
type Resource struct {
	MemoryMB int64
	VCores   int32
}

// Proto converts the resource.
func (r Resource) Proto() *hadooppb.ResourceProto {
	return &hadooppb.ResourceProto{Memory: proto.Int64(r.MemoryMB), VirtualCores: proto.Int32(r.VCores)}
}

// ResourceFromProto converts a ResourceProto.
func ResourceFromProto(p *hadooppb.ResourceProto) Resource {
	return Resource{MemoryMB: p.GetMemory(), VCores: p.GetVirtualCores()}
}

// Launch describes a container's process: what YARN localizes, the
// environment, the command (run by bash; <LOG_DIR> is expanded by the
// NodeManager) and the serialized credentials (a token file's bytes).
type Launch struct {
	LocalResources map[string]*hadooppb.LocalResourceProto
	Env            map[string]string
	Command        []string
	Tokens         []byte
}

// Proto builds the ContainerLaunchContextProto, map entries sorted by key.
func (l Launch) Proto() *hadooppb.ContainerLaunchContextProto {
	p := &hadooppb.ContainerLaunchContextProto{Command: append([]string(nil), l.Command...), Tokens: l.Tokens}
	for _, k := range sortedKeys(l.LocalResources) {
		p.LocalResources = append(p.LocalResources, &hadooppb.StringLocalResourceMapProto{Key: proto.String(k), Value: l.LocalResources[k]})
	}
	for _, k := range sortedKeys(l.Env) {
		p.Environment = append(p.Environment, &hadooppb.StringStringMapProto{Key: proto.String(k), Value: proto.String(l.Env[k])})
	}
	return p
}

// AppSpec describes an application to submit.
type AppSpec struct {
	Name        string
	Queue       string // "" is "default"
	Type        string // "" is "YARN"; floe uses "FLOE"
	Tags        []string
	MaxAttempts int32 // 0 takes the cluster's yarn.resourcemanager.am.max-attempts
	Priority    int32
	AMResource  Resource
	AM          Launch
	// KeepContainers keeps containers across AM attempts.
	KeepContainers bool
}

// Proto builds the ApplicationSubmissionContextProto for id.
func (s AppSpec) Proto(id ApplicationID) *hadooppb.ApplicationSubmissionContextProto {
	p := &hadooppb.ApplicationSubmissionContextProto{
		ApplicationId:   id.Proto(),
		ApplicationName: proto.String(s.Name),
		Priority:        &hadooppb.PriorityProto{Priority: proto.Int32(s.Priority)},
		AmContainerSpec: s.AM.Proto(),
		Resource:        s.AMResource.Proto(),
		ApplicationTags: append([]string(nil), s.Tags...),
	}
	if s.Queue != "" {
		p.Queue = proto.String(s.Queue)
	}
	if s.Type != "" {
		p.ApplicationType = proto.String(s.Type)
	}
	if s.MaxAttempts > 0 {
		p.MaxAppAttempts = proto.Int32(s.MaxAttempts)
	}
	if s.KeepContainers {
		p.KeepContainersAcrossApplicationAttempts = proto.Bool(true)
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
