package xds_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// The measurements of BenchmarkFanout: memory, CPU time, and the CPU profile split between
// the server and the clients, which share the process.

// memAvailableMiB is MemAvailable of /proc/meminfo, or 0 if unknown.
func memAvailableMiB() float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// procStatus returns VmRSS and VmHWM of this process, in MiB.
func procStatus(tb testing.TB) (rss, hwm float64) {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Logf("reading RSS: %v", err)
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentileMS is the percentile p of sorted durations (nearest rank), in milliseconds.
func percentileMS(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / float64(time.Millisecond)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sideLabel is the goroutine label (runtime/pprof) that tells which side of the benchmark a
// goroutine works for: the server, the clients or the publisher. Goroutines inherit the
// labels of the goroutine that starts them, so every gRPC goroutine of a side carries it.
const sideLabel = "fanout"

// Values of sideLabel; sideOther is the CPU of goroutines without it (the garbage
// collector's background workers, the runtime), which both sides cause.
const (
	sideServer  = "server"
	sideClients = "clients"
	sidePublish = "publish"
	sideOther   = "other"
)

// onSide runs fn with the goroutine label of side.
func onSide(ctx context.Context, side string, fn func(context.Context)) {
	pprof.Do(ctx, pprof.Labels(sideLabel, side), fn)
}

// cpuProfile is a CPU profile being written to a buffer.
type cpuProfile struct{ buf bytes.Buffer }

// startCPUProfile starts profiling the process's CPU.
func startCPUProfile(tb testing.TB) *cpuProfile {
	tb.Helper()
	p := &cpuProfile{}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		tb.Fatalf("starting the CPU profile: %v", err)
	}
	return p
}

// stop stops the profile, writes it to file if file is not empty, and returns the CPU time
// sampled by side.
func (p *cpuProfile) stop(tb testing.TB, file string) map[string]time.Duration {
	tb.Helper()
	pprof.StopCPUProfile()
	if file != "" {
		if err := os.WriteFile(file, p.buf.Bytes(), 0o644); err != nil {
			tb.Errorf("writing the CPU profile: %v", err)
		}
	}
	shares, err := cpuBySide(p.buf.Bytes())
	if err != nil {
		tb.Errorf("reading the CPU profile: %v", err)
	}
	return shares
}

// profile is the part of a pprof profile (profile.proto) that the benchmark reads.
type profile struct {
	strs []string
	// types are the sample types (ValueType.type), samples the encoded samples.
	types   []string
	samples [][]byte
	// functions are function names by id; locations the function ids of each location.
	functions map[uint64]string
	locations map[uint64][]uint64
}

// parseProfile decodes a pprof profile (gzipped protobuf).
func parseProfile(data []byte) (*profile, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	if data, err = io.ReadAll(zr); err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	p := &profile{functions: map[uint64]string{}, locations: map[uint64][]uint64{}}
	var types, functions, locations [][]byte
	// Profile: sample_type = 1, sample = 2, location = 4, function = 5, string_table = 6.
	err = protoFields(data, func(num protowire.Number, v []byte, _ uint64) {
		switch num {
		case 1:
			types = append(types, v)
		case 2:
			p.samples = append(p.samples, v)
		case 4:
			locations = append(locations, v)
		case 5:
			functions = append(functions, v)
		case 6:
			p.strs = append(p.strs, string(v))
		}
	})
	if err != nil {
		return nil, err
	}
	for _, t := range types { // ValueType: type = 1
		_ = protoFields(t, func(num protowire.Number, _ []byte, x uint64) {
			if num == 1 {
				p.types = append(p.types, p.str(x))
			}
		})
	}
	for _, f := range functions { // Function: id = 1, name = 2
		var id, name uint64
		_ = protoFields(f, func(num protowire.Number, _ []byte, x uint64) {
			if num == 1 {
				id = x
			} else if num == 2 {
				name = x
			}
		})
		p.functions[id] = p.str(name)
	}
	for _, l := range locations { // Location: id = 1, line = 4 (Line: function_id = 1)
		var id uint64
		var fns []uint64
		_ = protoFields(l, func(num protowire.Number, v []byte, x uint64) {
			if num == 1 {
				id = x
			} else if num == 4 {
				_ = protoFields(v, func(num protowire.Number, _ []byte, x uint64) {
					if num == 1 {
						fns = append(fns, x)
					}
				})
			}
		})
		p.locations[id] = fns
	}
	return p, nil
}

// str is the string of index i.
func (p *profile) str(i uint64) string {
	if i < uint64(len(p.strs)) {
		return p.strs[i]
	}
	return ""
}

// cpuBySide sums the CPU time of the samples of a CPU profile by their sideLabel, sideOther
// for samples without it.
func cpuBySide(data []byte) (map[string]time.Duration, error) {
	p, err := parseProfile(data)
	if err != nil {
		return nil, err
	}
	cpu := slices.Index(p.types, "cpu")
	if cpu < 0 {
		return nil, fmt.Errorf("no cpu values among the sample types %v", p.types)
	}
	out := map[string]time.Duration{}
	for _, s := range p.samples {
		smp, err := p.sample(s)
		if err != nil || cpu >= len(smp.values) {
			return nil, fmt.Errorf("a sample without cpu values (%w)", err)
		}
		out[smp.side] += time.Duration(smp.values[cpu])
	}
	return out, nil
}

// heapBySide sums the live heap of a heap profile (inuse_space) by side: sideClients for
// what was allocated with a frame of xds/client or of gRPC's client side on the stack, and
// sideServer for the rest (the server, the cache, the model and translation).
func heapBySide(data []byte) (map[string]float64, error) {
	p, err := parseProfile(data)
	if err != nil {
		return nil, err
	}
	inuse := slices.Index(p.types, "inuse_space")
	if inuse < 0 {
		return nil, fmt.Errorf("no inuse_space values among the sample types %v", p.types)
	}
	out := map[string]float64{}
	for _, s := range p.samples {
		smp, err := p.sample(s)
		if err != nil || inuse >= len(smp.values) {
			return nil, fmt.Errorf("a sample without inuse_space values (%w)", err)
		}
		side := sideServer
		if slices.ContainsFunc(smp.locations, p.clientFrame) {
			side = sideClients
		}
		out[side] += float64(smp.values[inuse]) / (1 << 20)
	}
	return out, nil
}

// clientFrames are the prefixes of the functions that only the clients run.
var clientFrames = []string{
	"github.com/projectwarden/warden/xds/client.",
	"google.golang.org/grpc/internal/transport.(*http2Client)",
	"google.golang.org/grpc/internal/transport.newHTTP2Client",
	"google.golang.org/grpc.(*clientStream)",
	"google.golang.org/grpc.(*csAttempt)",
	"google.golang.org/grpc.(*ClientConn)",
	"google.golang.org/grpc.(*addrConn)",
	"google.golang.org/grpc.NewClient",
}

// clientFrame reports whether the location of id runs a function of the clients only.
func (p *profile) clientFrame(id uint64) bool {
	for _, fn := range p.locations[id] {
		name := p.functions[fn]
		if slices.ContainsFunc(clientFrames, func(prefix string) bool { return strings.HasPrefix(name, prefix) }) {
			return true
		}
	}
	return false
}

// sample is a decoded Sample.
type sample struct {
	locations []uint64
	values    []int64
	side      string
}

// sample decodes a Sample (location_id = 1, value = 2, label = 3); its side is its
// sideLabel, sideOther without one.
func (p *profile) sample(b []byte) (sample, error) {
	smp := sample{side: sideOther}
	// varints appends the packed or single varints of a repeated field.
	varints := func(v []byte, x uint64, out []uint64) []uint64 {
		if v == nil {
			return append(out, x)
		}
		for len(v) > 0 {
			y, n := protowire.ConsumeVarint(v)
			if n < 0 {
				break
			}
			out, v = append(out, y), v[n:]
		}
		return out
	}
	var values []uint64
	err := protoFields(b, func(num protowire.Number, v []byte, x uint64) {
		switch num {
		case 1:
			smp.locations = varints(v, x, smp.locations)
		case 2:
			values = varints(v, x, values)
		case 3: // Label: key = 1, str = 2
			var key, str uint64
			_ = protoFields(v, func(num protowire.Number, _ []byte, x uint64) {
				if num == 1 {
					key = x
				} else if num == 2 {
					str = x
				}
			})
			if p.str(key) == sideLabel {
				smp.side = p.str(str)
			}
		}
	})
	for _, v := range values {
		smp.values = append(smp.values, int64(v))
	}
	return smp, err
}

// protoFields calls fn with every field of the protobuf message b: v for a length-delimited
// field, x for a varint one (others are skipped).
func protoFields(b []byte, fn func(num protowire.Number, v []byte, x uint64)) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			fn(num, v, 0)
			b = b[n:]
		case protowire.VarintType:
			x, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			fn(num, nil, x)
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return nil
}

// formatSides formats CPU time by side, in seconds.
func formatSides(shares map[string]time.Duration) string {
	var total time.Duration
	for _, d := range shares {
		total += d
	}
	return fmt.Sprintf("server %.2f s, clients %.2f s, publish %.2f s, other (GC, runtime) %.2f s; %.2f s sampled",
		shares[sideServer].Seconds(), shares[sideClients].Seconds(), shares[sidePublish].Seconds(), shares[sideOther].Seconds(), total.Seconds())
}

// heapProfile returns a heap profile, and writes it to file unless file is empty.
func heapProfile(tb testing.TB, file string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
		tb.Errorf("writing the heap profile: %v", err)
		return nil
	}
	if file != "" {
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			tb.Errorf("writing the heap profile: %v", err)
		}
	}
	return buf.Bytes()
}
