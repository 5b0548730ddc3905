#!/usr/bin/env bash
# Builds one pinned tool from its Go module under hack/tools/ into a binary.
# Called by hack/tools.mk; usage:
#
#   build.sh MODULE_DIR PACKAGE OUTPUT [NOTE]
#
# The tool is named after OUTPUT; its version is that of the module providing
# PACKAGE in MODULE_DIR/go.mod.
# The build runs `go build -v` in the background; its output goes to a log and a
# progress line (elapsed time, packages compiled, the latest one) is printed every
# PROGRESS_EVERY seconds (default 15), so a cold multi-minute build is not silent.
# On failure the end of the log is printed and the exit status is non-zero; the
# output file is only replaced by a binary that built completely.
set -euo pipefail

if [[ $# -lt 3 ]]; then
	echo "usage: $0 MODULE_DIR PACKAGE OUTPUT [NOTE]" >&2
	exit 2
fi
moddir=$1 pkg=$2 out=$3 note=${4:-}
name=$(basename "$out")
GO=${GO:-go}
every=${PROGRESS_EVERY:-15}

if ! command -v "$GO" >/dev/null 2>&1; then
	echo "error: '$GO' is not on PATH: install Go (1.26 or later) to build $name, or set GO=/path/to/go" >&2
	exit 1
fi

# GOWORK=off: a go.work at the repository root must not change the pins.
export GOWORK=off
if ! mod=$(cd "$moddir" && "$GO" list -f '{{with .Module}}{{.Path}} {{.Version}}{{end}}' "$pkg" 2>&1); then
	echo "error: cannot resolve $pkg in $moddir/go.mod:" >&2
	echo "$mod" >&2
	exit 1
fi
version=${mod#* } modpath=${mod%% *}
echo "building $name $version from $modpath${note:+ ($note)}…"

# Stamp the version as the projects' own release builds do; otherwise
# kube-apiserver (and its /version endpoint) says v0.0.0-master and helm v4.3.
ldflags='-s -w'
case $modpath in
k8s.io/kubernetes)
	mm=${version#v}
	v=k8s.io/component-base/version
	ldflags+=" -X $v.gitVersion=$version -X $v.gitMajor=${mm%%.*} -X $v.gitMinor=$(cut -d. -f2 <<<"$mm")"
	ldflags+=" -X $v.gitTreeState=clean"
	;;
helm.sh/helm/v4)
	ldflags+=" -X helm.sh/helm/v4/internal/version.version=$version"
	;;
esac
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
log=$(mktemp)
tmp="$out.tmp.$$"
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -f "$log" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$SECONDS
(
	cd "$moddir"
	# CGO_ENABLED=0: static binaries, as upstream releases are built.
	exec env CGO_ENABLED="${CGO_ENABLED:-0}" \
		"$GO" build -v -trimpath -ldflags="$ldflags" -o "$tmp" "$pkg"
) >"$log" 2>&1 &
pid=$!

next=$((SECONDS + every))
while kill -0 "$pid" 2>/dev/null; do
	sleep 1
	if ((SECONDS >= next)); then
		next=$((SECONDS + every))
		n=$(grep -c . "$log" || true)
		last=$(tail -n 1 "$log" 2>/dev/null || true)
		echo "  … $name: $((SECONDS - start))s, $n packages compiled${last:+ (latest: $last)}"
	fi
done

if wait "$pid"; then
	pid=
	mv -f "$tmp" "$out"
	echo "built $name $version -> $out in $((SECONDS - start))s"
else
	status=$?
	pid=
	echo "error: building $name $version from $pkg in $moddir failed (exit $status); last lines of go build:" >&2
	tail -n 40 "$log" >&2
	exit 1
fi
