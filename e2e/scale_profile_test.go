package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// cpuChunk is the length of one CPU profile request: a phase is profiled as back-to-back
// chunks (pprof merges them: go tool pprof bin cpu-creates-*.pprof), because its length is
// not known when it starts and a cancelled profile request returns nothing.
const cpuChunk = 5 * time.Second

// scaleProfiler takes CPU and heap profiles of the Warden subprocess through its
// --pprof-bind-address, and CPU profiles of the API server (whose status writes bound the
// run), when WARDEN_SCALE_PPROF=1, and saves them in the scale directory. A nil
// *scaleProfiler does nothing, so the run reads the same with profiling off.
type scaleProfiler struct {
	b    *testing.B
	addr string
	dir  string
	api  profTarget
}

// profTarget is a process serving /debug/pprof/.
type profTarget struct {
	base   string // scheme://host:port
	client *http.Client
}

// newScaleProfiler returns a profiler if WARDEN_SCALE_PPROF=1, else nil. api is the API
// server's admin configuration.
func newScaleProfiler(b *testing.B, dir string, api *rest.Config) *scaleProfiler {
	if os.Getenv("WARDEN_SCALE_PPROF") != "1" {
		return nil
	}
	hc, err := rest.HTTPClientFor(api)
	if err != nil {
		b.Fatal(err)
	}
	return &scaleProfiler{b: b, addr: fmt.Sprintf("127.0.0.1:%d", freePort(b)), dir: dir,
		api: profTarget{base: strings.TrimSuffix(api.Host, "/"), client: hc}}
}

func (p *scaleProfiler) warden() profTarget {
	return profTarget{base: "http://" + p.addr, client: http.DefaultClient}
}

// args are the flags that make Warden serve pprof.
func (p *scaleProfiler) args() []string {
	if p == nil {
		return nil
	}
	return []string{"--pprof-bind-address", p.addr}
}

// fetch saves one profile from path (e.g. "heap") as dir/name, retrying while the
// process is not listening yet (a restart).
func (p *scaleProfiler) fetch(ctx context.Context, t profTarget, path, name string) error {
	url := t.base + "/debug/pprof/" + path
	var resp *http.Response
	var err error
	for range 200 {
		var req *http.Request
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, url, nil); err != nil {
			return err
		}
		if resp, err = t.client.Do(req); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond) // waiting for the listener, not a measurement
	}
	if err != nil {
		return fmt.Errorf("profile %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: %s", path, resp.Status)
	}
	f, err := os.Create(filepath.Join(p.dir, name))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", path, err)
	}
	return f.Close()
}

// heap saves the heap profile (in use at the last GC, and allocations since the start) as
// heap-<phase>.pprof.
func (p *scaleProfiler) heap(ctx context.Context, phase string) {
	if p == nil {
		return
	}
	if err := p.fetch(ctx, p.warden(), "heap", "heap-"+phase+".pprof"); err != nil {
		p.b.Logf("pprof: %v", err)
	}
}

// cpu profiles Warden's CPU as cpu-<phase>-<n>.pprof chunks, and the API server's as
// apiserver-cpu-<phase>-<n>.pprof, until the returned stop is called; stop waits for the
// chunks in flight.
func (p *scaleProfiler) cpu(ctx context.Context, phase string) (stop func()) {
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for prefix, t := range map[string]profTarget{"": p.warden(), "apiserver-": p.api} {
		wg.Go(func() {
			for n := 1; ; n++ {
				select {
				case <-done:
					return
				default:
				}
				path := fmt.Sprintf("profile?seconds=%d", int(cpuChunk.Seconds()))
				if err := p.fetch(ctx, t, path, fmt.Sprintf("%scpu-%s-%02d.pprof", prefix, phase, n)); err != nil {
					p.b.Logf("pprof: %v", err)
					return
				}
			}
		})
	}
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
		p.b.Logf("pprof: cpu-%s-*.pprof and heap profiles in %s (go tool pprof %s/warden %s/cpu-%s-*.pprof)",
			phase, p.dir, p.dir, p.dir, phase)
	}
}

// self profiles the benchmark process itself (where the ADS client decodes what Warden
// sends) until stop is called, into cpu-self-<phase>.pprof.
func (p *scaleProfiler) self(phase string) (stop func()) {
	if p == nil {
		return func() {}
	}
	path := filepath.Join(p.dir, "cpu-self-"+phase+".pprof")
	f, err := os.Create(path)
	if err != nil {
		p.b.Logf("pprof: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		p.b.Logf("pprof: %v", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			p.b.Logf("pprof: %v", err)
		}
	}
}
