package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// containerShare is the part of the container's memory limit that becomes the Go soft
// memory limit by default: the rest is for what the Go runtime does not count (the
// binary's pages, which the kernel counts in RSS) and for slack.
const containerShare = 0.9

// Where cgroup v2 and v1 publish a container's memory limit.
var cgroupLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// setMemoryLimit applies --memory-limit: the Go runtime's soft memory limit
// (debug.SetMemoryLimit, what GOMEMLIMIT sets). flag is a Kubernetes quantity ("230Mi"),
// "0" for none, or "" for the default: GOMEMLIMIT if set, otherwise containerShare of
// the container's memory limit if there is one, otherwise none.
//
// Why: with the default GOGC the heap may grow to twice what is live before a collection,
// so a process whose live heap is a third of its container's limit can still be killed
// for memory. A soft limit makes the collector work harder as the heap approaches it
// instead; it never makes an allocation fail. It returns the limit set (0: none) and
// where it came from, for the log.
func setMemoryLimit(flag string) (int64, string, error) {
	switch {
	case flag == "" && os.Getenv("GOMEMLIMIT") != "":
		return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
	case flag == "":
		limit := containerLimit()
		if limit <= 0 {
			return 0, "no container memory limit", nil
		}
		n := int64(float64(limit) * containerShare)
		debug.SetMemoryLimit(n)
		return n, fmt.Sprintf("%.0f%% of the container's limit", containerShare*100), nil
	}
	q, err := resource.ParseQuantity(flag)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit %q: %w", flag, err)
	}
	n := q.Value()
	if n <= 0 {
		debug.SetMemoryLimit(math.MaxInt64) // none, even if GOMEMLIMIT says otherwise
		return 0, "--memory-limit", nil
	}
	debug.SetMemoryLimit(n)
	return n, "--memory-limit", nil
}

// defaultGCPercent is Warden's GOGC when neither --gc-percent nor GOGC says otherwise.
//
// Why not Go's 100: most of Warden's heap is long-lived (informer caches, the policy
// inventory, the routing model, the xDS encodings), so with 100 the heap grows to about
// twice that before each collection. In the 5,000-HTTPProxy scale run (e2e BenchmarkScale)
// 50 took peak RSS from 292 to 229 MiB on the same machine, for about an eighth more CPU
// (the collector had 15% of Warden's CPU at 100). Prometheus makes the same trade with 75.
const defaultGCPercent = 50

// setGCPercent applies --gc-percent: the Go collector's target heap growth
// (debug.SetGCPercent, what GOGC sets). flag is a percentage, "off", or "" for the default:
// GOGC if set, otherwise defaultGCPercent. It returns the percentage set (-1: off) and
// where it came from, for the log.
func setGCPercent(flag string) (int, string, error) {
	switch {
	case flag == "" && os.Getenv("GOGC") != "":
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p) // read back what GOGC set
		return p, "GOGC", nil
	case flag == "":
		debug.SetGCPercent(defaultGCPercent)
		return defaultGCPercent, "default", nil
	case flag == "off":
		debug.SetGCPercent(-1)
		return -1, "--gc-percent", nil
	}
	p, err := strconv.Atoi(flag)
	if err != nil || p < 0 {
		return 0, "", fmt.Errorf("--gc-percent %q: want a percentage (0 or more) or \"off\"", flag)
	}
	debug.SetGCPercent(p)
	return p, "--gc-percent", nil
}

// containerLimit is the memory limit of the cgroup Warden runs in, or 0 if none is set.
func containerLimit() int64 {
	for _, f := range cgroupLimitFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(s, 10, 64)
		// "max" (v2) or a huge number (v1, page-rounded MaxInt64) means no limit.
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0
		}
		return n
	}
	return 0
}
