# floe's own gRPC protocols (proto/floe) -> internal/rpc/floepb.
# protoc comes from Debian's protobuf-compiler; the Go plugins from the Go proxy.
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.0

.PHONY: proto-tools proto-floe
proto-tools:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler" >&2; exit 1; }
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto-floe: proto-tools
	PATH=$(CURDIR)/bin:$$PATH protoc -I proto --go_out=. --go_opt=module=floe \
		--go-grpc_out=. --go-grpc_opt=module=floe proto/floe/*.proto
