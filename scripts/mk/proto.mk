# `make proto` regenerates internal/hadoop/hadooppb from proto/hadoop/*.proto.
# protoc comes from Debian's protobuf-compiler; protoc-gen-go is installed from
# the Go module proxy into ./bin at the version go.mod pins.
PROTOC ?= protoc
PROTOC_GEN_GO_VERSION ?= v1.36.12
PROTOC_GEN_GO := $(CURDIR)/bin/protoc-gen-go

.PHONY: proto proto-hadoop
proto: proto-hadoop

$(PROTOC_GEN_GO):
	@command -v $(PROTOC) >/dev/null || { echo "protoc not found: apt-get install protobuf-compiler" >&2; exit 1; }
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

proto-hadoop: $(PROTOC_GEN_GO)
	rm -f internal/hadoop/hadooppb/*.pb.go
	$(PROTOC) -I proto --plugin=protoc-gen-go=$(PROTOC_GEN_GO) \
		--go_out=. --go_opt=module=floe \
		proto/hadoop/*.proto
