package main

import (
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // restore
	t.Setenv("GOMEMLIMIT", "")
	n, from, err := setMemoryLimit("230Mi")
	if err != nil || n != 230<<20 || from != "--memory-limit" || debug.SetMemoryLimit(-1) != 230<<20 {
		t.Errorf("setMemoryLimit(230Mi) = %d, %q, %v; runtime limit %d", n, from, err, debug.SetMemoryLimit(-1))
	}
	if _, _, err := setMemoryLimit("lots"); err == nil {
		t.Error("setMemoryLimit(lots) did not fail")
	}
	if n, _, err := setMemoryLimit("0"); n != 0 || err != nil {
		t.Errorf("setMemoryLimit(0) = %d, %v; want none", n, err)
	}
}
