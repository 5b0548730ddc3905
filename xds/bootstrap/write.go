package bootstrap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Write writes the Envoy bootstrap described by o to w as indented JSON. When o has TLS
// files and a ResourcesDir, it first writes the SDS files the bootstrap refers to, each
// atomically (a temporary file renamed into place), creating ResourcesDir/sds if needed.
//
// The JSON is stable: the same options always give the same bytes (protojson's own output
// varies its whitespace on purpose, so it is re-indented).
func Write(w io.Writer, o Options) error {
	b, err := Generate(o)
	if err != nil {
		return err
	}
	o = o.withDefaults()
	if o.sds() {
		files, err := sdsFiles(o)
		if err != nil {
			return err
		}
		for _, name := range slices.Sorted(maps.Keys(files)) {
			data, err := marshal(files[name])
			if err != nil {
				return err
			}
			if err := writeFileAtomic(filepath.Join(o.ResourcesDir, name), data); err != nil {
				return err
			}
		}
	}
	data, err := marshal(b)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("writing bootstrap: %w", err)
	}
	return nil
}

// sdsFiles returns the SDS files for o, by path relative to o.ResourcesDir. Each is what
// Envoy expects from a path-based SDS config source: a DiscoveryResponse holding one Secret,
// whose name is the one the bootstrap's SdsSecretConfig asks for.
func sdsFiles(o Options) (map[string]*discoveryv3.DiscoveryResponse, error) {
	certificate := &tlsv3.TlsCertificate{
		CertificateChain: fileSource(o.CertFile),
		PrivateKey:       fileSource(o.KeyFile),
	}
	// Envoy reloads the pair when this directory changes (the kubelet swapping "..data" in
	// a Secret volume) and checks that certificate and key were read from one version. When
	// the two files live in different directories, Envoy's default applies instead: it
	// watches each file's parent directory.
	if dir := filepath.Dir(o.CertFile); dir == filepath.Dir(o.KeyFile) {
		certificate.WatchedDirectory = &corev3.WatchedDirectory{Path: dir}
	}
	validation := validationContext(o)
	validation.WatchedDirectory = &corev3.WatchedDirectory{Path: filepath.Dir(o.CAFile)}

	secrets := map[string]*tlsv3.Secret{
		TLSCertificateFile: {
			Name: TLSCertificateSecret,
			Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: certificate},
		},
		ValidationContextFile: {
			Name: ValidationContextSecret,
			Type: &tlsv3.Secret_ValidationContext{ValidationContext: validation},
		},
	}
	files := make(map[string]*discoveryv3.DiscoveryResponse, len(secrets))
	for name, secret := range secrets {
		packed, err := packValid(secret)
		if err != nil {
			return nil, err
		}
		resp := &discoveryv3.DiscoveryResponse{TypeUrl: resource.SecretType, Resources: []*anypb.Any{packed}}
		if err := resp.ValidateAll(); err != nil {
			return nil, fmt.Errorf("generated SDS file %s is invalid: %w", name, err)
		}
		files[name] = resp
	}
	return files, nil
}

// marshal returns m as indented JSON with Envoy's (proto) field names, ending in a newline.
func marshal(m proto.Message) ([]byte, error) {
	raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	var compact, out bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, err
	}
	if err := json.Indent(&out, compact.Bytes(), "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// writeFileAtomic writes data to path through a temporary file in the same directory, so
// that a reader (Envoy) never sees a partial file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op once renamed
	// The files name certificate paths, not their contents: they may be world-readable,
	// which Envoy needs when it runs as another user than the init container writing them.
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
