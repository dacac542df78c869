# ECAP Makefile. `make help` lists the targets.
SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# DEFAULT_IMG is the image named in config/manager; deploy substitutes IMG
# for it everywhere (container image and the ECAP_IMAGE env var).
DEFAULT_IMG := ghcr.io/ecap-dev/ecap:dev
IMG ?= $(DEFAULT_IMG)
LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
HELM_VERSION ?= v3.22.0
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
KUSTOMIZE ?= kubectl kustomize
GO_TEST_FLAGS ?= -count=1 -timeout=20m
BENCH_TIME ?= 1x

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN{FS=":.*##"} /^[a-zA-Z_-]+:.*##/{printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: build
build: ## Build the ecap binary into bin/ecap.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$$(git describe --always --dirty 2>/dev/null || echo dev)" -o $(LOCALBIN)/ecap ./cmd/ecap

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs, RBAC and webhook manifests.
	$(CONTROLLER_GEN) rbac:roleName=ecap-manager-role crd webhook paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	rm -f charts/ecap/crds/*.yaml && cp config/crd/bases/*.yaml charts/ecap/crds/
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/gen-test-crds.sh

.PHONY: verify-generated
verify-generated: $(CONTROLLER_GEN) ## Fail if generated files are stale.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: envtest
envtest: ## Build or reuse kube-apiserver and etcd for envtest; prints their directory.
	hack/envtest-assets.sh

.PHONY: test
test: $(CONTROLLER_GEN) $(HELM) ## Run every test (generated-file check, vet, unit, envtest, kafka) on a fresh machine.
	CONTROLLER_GEN=$(CONTROLLER_GEN) hack/verify-generated.sh
	go vet ./...
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go test $(GO_TEST_FLAGS) ./...

.PHONY: bench
bench: ## Run the measurements and print the `bench: <name> <value> <unit>` figures.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go run ./hack/benchreport

.PHONY: demo
demo: ## Run the whole platform locally on embedded defaults (no cluster, no Docker).
	go run ./cmd/ecap dev

##@ Deployment

.PHONY: docker-build
docker-build: ## Build the container image.
	docker build -t $(IMG) .

.PHONY: deploy
deploy: ## Install CRDs, RBAC, webhook and manager (image IMG) into the current kubectl context; needs cert-manager.
	$(KUSTOMIZE) config/default | sed 's#$(DEFAULT_IMG)#$(IMG)#g' | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: ## Remove what deploy installed.
	$(KUSTOMIZE) config/default | kubectl delete --ignore-not-found -f -

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart.
	$(HELM) lint charts/ecap

##@ Tools (built from the Go module proxy into bin/, pinned)

$(CONTROLLER_GEN):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(HELM):
	mkdir -p $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $(HELM)
