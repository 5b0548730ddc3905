# Pinned tools, built from the Go modules under hack/tools/ (one module per tool;
# kube-apiserver and etcd share hack/tools/kube) into .cache/tools/bin, which is
# git-ignored. Included by the root Makefile. A binary is rebuilt only when its
# module's go.mod changes, so a second `make tools` does nothing.
#
#   make tools            build every tool below
#   make envtest-assets   build only kube-apiserver and etcd (what e2e tests need)
#   make crds-contour     regenerate Contour's CRDs in charts/warden/crds
#
# To change a version: cd hack/tools/NAME && go get MODULE@VERSION && go mod tidy.

GO ?= go

TOOLS_DIR := $(CURDIR)/hack/tools
TOOLS_BIN := $(CURDIR)/.cache/tools/bin
BUILD_TOOL := $(TOOLS_DIR)/build.sh

KUBE_APISERVER := $(TOOLS_BIN)/kube-apiserver
ETCD := $(TOOLS_BIN)/etcd
HELM := $(TOOLS_BIN)/helm
CONTROLLER_GEN := $(TOOLS_BIN)/controller-gen
STATICCHECK := $(TOOLS_BIN)/staticcheck
OPA := $(TOOLS_BIN)/opa

# controller-runtime's envtest (and e2e/framework) finds kube-apiserver and etcd here.
KUBEBUILDER_ASSETS := $(TOOLS_BIN)
export KUBEBUILDER_ASSETS

.PHONY: tools envtest-assets crds-contour

tools: $(KUBE_APISERVER) $(ETCD) $(HELM) $(CONTROLLER_GEN) $(STATICCHECK) $(OPA)

envtest-assets: $(KUBE_APISERVER) $(ETCD)

$(KUBE_APISERVER): $(TOOLS_DIR)/kube/go.mod
	@GO='$(GO)' $(BUILD_TOOL) $(TOOLS_DIR)/kube k8s.io/kubernetes/cmd/kube-apiserver $@ \
		"first run only, a few minutes"

$(ETCD): $(TOOLS_DIR)/kube/go.mod
	@GO='$(GO)' $(BUILD_TOOL) $(TOOLS_DIR)/kube go.etcd.io/etcd/server/v3 $@

$(HELM): $(TOOLS_DIR)/helm/go.mod
	@GO='$(GO)' $(BUILD_TOOL) $(TOOLS_DIR)/helm helm.sh/helm/v4/cmd/helm $@

$(CONTROLLER_GEN): $(TOOLS_DIR)/controller-gen/go.mod
	@GO='$(GO)' $(BUILD_TOOL) $(TOOLS_DIR)/controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen $@

$(STATICCHECK): $(TOOLS_DIR)/staticcheck/go.mod
	@GO='$(GO)' $(BUILD_TOOL) $(TOOLS_DIR)/staticcheck honnef.co/go/tools/cmd/staticcheck $@

$(OPA): $(TOOLS_DIR)/opa/go.mod
	@GO='$(GO)' $(BUILD_TOOL) $(TOOLS_DIR)/opa github.com/open-policy-agent/opa $@

# Contour's HTTPProxy and TLSCertificateDelegation CRDs, copied from the
# github.com/projectcontour/contour version that the root go.mod requires.
CONTOUR_MODULE := github.com/projectcontour/contour
CONTOUR_CRDS := httpproxies.projectcontour.io tlscertificatedelegations.projectcontour.io
CRDS_DIR := $(CURDIR)/charts/warden/crds

crds-contour:
	@command -v '$(GO)' >/dev/null 2>&1 || { echo "error: '$(GO)' is not on PATH: install Go 1.26" >&2; exit 1; }
	@set -eu; \
	$(GO) mod download $(CONTOUR_MODULE) || { echo "error: cannot download $(CONTOUR_MODULE) (is it required in go.mod?)" >&2; exit 1; }; \
	mod=$$($(GO) list -m -f '{{.Path}}@{{.Version}} {{.Dir}}' $(CONTOUR_MODULE)); \
	src="$${mod#* }/examples/contour/01-crds.yaml"; \
	echo "splitting $(CONTOUR_CRDS) out of $${mod%% *} examples/contour/01-crds.yaml"; \
	cd $(TOOLS_DIR)/splitcrds && GOWORK=off $(GO) run . -in "$$src" -out $(CRDS_DIR) \
		-source "$${mod%% *} examples/contour/01-crds.yaml" $(CONTOUR_CRDS)
