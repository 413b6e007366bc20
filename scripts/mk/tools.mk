# Go tools that make test runs, installed from the Go module proxy into ./bin at
# pinned versions, so a fresh machine with only Go needs nothing else.
# staticcheck v0.8.2 is release 2026.2.2, built with and able to load Go 1.26 code.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(CURDIR)/bin/staticcheck

.PHONY: tools staticcheck
tools: $(STATICCHECK)

# Reinstalled when this file (and so the pinned version) changes.
$(STATICCHECK): scripts/mk/tools.mk
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
