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

// cpuBySide sums the CPU time of the samples of a CPU profile (pprof's gzipped protobuf,
// profile.proto) by their sideLabel, sideOther for samples without it.
func cpuBySide(profile []byte) (map[string]time.Duration, error) {
	zr, err := gzip.NewReader(bytes.NewReader(profile))
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompressing: %w", err)
	}
	// Profile: sample_type = 1, sample = 2, string_table = 6.
	var types, samples [][]byte
	var strs []string
	err = protoFields(data, func(num protowire.Number, v []byte, _ uint64) {
		switch num {
		case 1:
			types = append(types, v)
		case 2:
			samples = append(samples, v)
		case 6:
			strs = append(strs, string(v))
		}
	})
	if err != nil {
		return nil, err
	}
	cpu := -1 // the index of the "cpu" values (ValueType.type = 1)
	for i, t := range types {
		_ = protoFields(t, func(num protowire.Number, _ []byte, x uint64) {
			if num == 1 && int(x) < len(strs) && strs[x] == "cpu" {
				cpu = i
			}
		})
	}
	if cpu < 0 {
		return nil, fmt.Errorf("no cpu values among %d sample types", len(types))
	}
	out := map[string]time.Duration{}
	for _, s := range samples {
		side, value, err := sampleSide(s, strs, cpu)
		if err != nil {
			return nil, err
		}
		out[side] += time.Duration(value)
	}
	return out, nil
}

// sampleSide returns the sideLabel of a Sample (value = 2, label = 3) and its value of index
// cpu.
func sampleSide(sample []byte, strs []string, cpu int) (string, int64, error) {
	side := sideOther
	var values []int64
	err := protoFields(sample, func(num protowire.Number, v []byte, x uint64) {
		switch {
		case num == 2 && v != nil: // packed
			for len(v) > 0 {
				y, n := protowire.ConsumeVarint(v)
				if n < 0 {
					return
				}
				values, v = append(values, int64(y)), v[n:]
			}
		case num == 2:
			values = append(values, int64(x))
		case num == 3: // Label: key = 1, str = 2
			var key, str uint64
			_ = protoFields(v, func(num protowire.Number, _ []byte, x uint64) {
				if num == 1 {
					key = x
				} else if num == 2 {
					str = x
				}
			})
			if int(key) < len(strs) && int(str) < len(strs) && strs[key] == sideLabel {
				side = strs[str]
			}
		}
	})
	if err != nil || cpu >= len(values) {
		return "", 0, fmt.Errorf("a sample without cpu values (%w)", err)
	}
	return side, values[cpu], nil
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

// writeHeapProfile writes a heap profile to file, unless file is empty.
func writeHeapProfile(tb testing.TB, file string) {
	tb.Helper()
	if file == "" {
		return
	}
	f, err := os.Create(file)
	if err != nil {
		tb.Errorf("writing the heap profile: %v", err)
		return
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		tb.Errorf("writing the heap profile: %v", err)
	}
}
