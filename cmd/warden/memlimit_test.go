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

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100)) // restore
	t.Setenv("GOGC", "")
	for _, tc := range []struct {
		flag, gogc string
		want       int
		from       string
	}{
		{flag: "", want: defaultGCPercent, from: "default"},
		{flag: "", gogc: "80", want: 80, from: "GOGC"},
		{flag: "30", gogc: "80", want: 30, from: "--gc-percent"},
		{flag: "off", want: -1, from: "--gc-percent"},
	} {
		t.Setenv("GOGC", tc.gogc)
		if tc.gogc != "" {
			debug.SetGCPercent(80) // what the runtime read from GOGC at start
		}
		got, from, err := setGCPercent(tc.flag)
		if err != nil || got != tc.want || from != tc.from || debug.SetGCPercent(got) != tc.want {
			t.Errorf("setGCPercent(%q) with GOGC=%q = %d, %q, %v; want %d from %q", tc.flag, tc.gogc, got, from, err, tc.want, tc.from)
		}
	}
	for _, bad := range []string{"-5", "lots"} {
		if _, _, err := setGCPercent(bad); err == nil {
			t.Errorf("setGCPercent(%q) did not fail", bad)
		}
	}
}
