// Splits CRDs out of a multi-document YAML file: see main.go and `make crds-contour`.
module github.com/projectwarden/warden/hack/tools/splitcrds

go 1.26.0

require sigs.k8s.io/yaml v1.6.0

require go.yaml.in/yaml/v2 v2.4.2 // indirect
