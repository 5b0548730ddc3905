package framework

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAssetsDir(t *testing.T) {
	t.Run("unset_without_a_tools_cache_says_to_run_make_tools", func(t *testing.T) {
		t.Setenv("KUBEBUILDER_ASSETS", "")
		_, err := assetsDir(t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "KUBEBUILDER_ASSETS not set") || !strings.Contains(err.Error(), "make tools") {
			t.Fatalf("err = %v, want one saying KUBEBUILDER_ASSETS is not set and to run make tools", err)
		}
	})
	t.Run("unset_uses_the_repository_tools_cache", func(t *testing.T) {
		t.Setenv("KUBEBUILDER_ASSETS", "")
		root := t.TempDir()
		fakeAssets(t, filepath.Join(root, toolsBin))
		got, err := assetsDir(root)
		if err != nil || got != filepath.Join(root, toolsBin) {
			t.Fatalf("assetsDir = %q, %v; want the tools cache", got, err)
		}
	})
	t.Run("a_directory_without_etcd_is_refused", func(t *testing.T) {
		dir := t.TempDir()
		fakeAssets(t, dir)
		if err := os.Remove(filepath.Join(dir, "etcd")); err != nil {
			t.Fatal(err)
		}
		t.Setenv("KUBEBUILDER_ASSETS", dir)
		if _, err := assetsDir(""); err == nil || !strings.Contains(err.Error(), "no executable etcd") {
			t.Fatalf("err = %v, want one naming the missing etcd", err)
		}
	})
}

func TestResolveCRDDirs(t *testing.T) {
	root := t.TempDir()
	t.Run("the_default_directory_may_be_absent", func(t *testing.T) {
		dirs, err := resolveCRDDirs(root, nil, options{})
		if err != nil || dirs != nil {
			t.Fatalf("resolveCRDDirs = %v, %v; want none", dirs, err)
		}
	})
	t.Run("the_default_directory_is_used_when_present", func(t *testing.T) {
		want := filepath.Join(root, DefaultCRDDirectory)
		if err := os.MkdirAll(want, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs, err := resolveCRDDirs(root, nil, options{})
		if err != nil || len(dirs) != 1 || dirs[0] != want {
			t.Fatalf("resolveCRDDirs = %v, %v; want [%s]", dirs, err, want)
		}
	})
	t.Run("explicit_relative_directories_are_under_the_root", func(t *testing.T) {
		var o options
		WithCRDDirectories("a/crds", "/abs/crds")(&o)
		dirs, err := resolveCRDDirs(root, nil, o)
		if err != nil || len(dirs) != 2 || dirs[0] != filepath.Join(root, "a/crds") || dirs[1] != "/abs/crds" {
			t.Fatalf("resolveCRDDirs = %v, %v", dirs, err)
		}
	})
}

func fakeAssets(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
