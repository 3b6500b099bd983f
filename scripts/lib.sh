# SPDX-License-Identifier: GPL-2.0
# Common settings for the project's scripts.  Sourced, not executed.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
LOGS=$BUILD/logs
WORK=${WORK:-$BUILD/linux}                 # the work tree: base + one commit per patch
OBJ=${OBJ:-$BUILD/obj}            # out-of-tree kernel objects
BASE_PKG=linux-source-6.12
BASE_PINNED=6.12.118-1~deb12u1    # the pinned base (scripts/tree rebase moves it)
# BASE_VERSION and BASE_DIR are set by scripts/tree rebase to fetch another
# version beside the pinned one; everything else uses the pinned base.
BASE_VERSION=${BASE_VERSION:-$BASE_PINNED}
BASE_SUBLEVEL=${BASE_VERSION#6.12.}
BASE_SUBLEVEL=${BASE_SUBLEVEL%%[-+~]*}
BASE_DIR=${BASE_DIR:-$BUILD/base}
BASE_INFO=$BASE_DIR/info          # what scripts/base actually got
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dma-pinning-ccache}

# Every make of the kernel passes the same compilers: kbuild rebuilds
# whatever was built with another command line (HOSTCC included).
KMAKE_CC=(CC="ccache gcc" HOSTCC="ccache gcc")

# Guest set-ups shared by scripts/test and scripts/mutants.
# KUnit boot: ZONE_MOVABLE (movablecore=) and a CMA area that holds more
# than half of its zone's free memory (hugetlb_cma=1G in 4G), for the
# FOLL_LONGTERM migration cases; 2M huge pages for the hugetlb cases.
KUNIT_MEM=4G
KUNIT_KARGS="movablecore=50% hugetlb_cma=1G hugepagesz=2M hugepages=16"
# Suites boot: huge pages of both sizes reserved at boot, while memory is
# unfragmented (gup_longterm and cow test 1 GiB hugetlb too); two NUMA
# nodes, so that migration between nodes can be tested (8 GiB: two nodes
# of 4 GiB, so that each gets a 1 GiB page at boot).
SUITE_MEM=8G
SUITE_KARGS="hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=160 numa=fake=2"

# Boot profiles: the scripts/vm options of each kind of boot, spelled once
# (scripts/test, scripts/mutants, scripts/run).  Options given after the
# profile's override it (scripts/vm takes the last -t, -m).
#   kunit   the built-in KUnit suites, run at boot
#   suites  the mm selftests and scenario clients (tests/guest/run)
#   p2pdma  an NVMe CMB behind a PCIe switch and QEMU's edu device behind a
#           vIOMMU (scripts/vm --vfio --p2pdma): p2pmem, vfio_p2p, rdma_p2p
vm_profile() {
	case $1 in
	kunit) VM_ARGS=(-m "$KUNIT_MEM" -c 2 -t 600 --allow "$TOP/tests/kunit.allowlist"
			-a "kunit.enable=1" -a "$KUNIT_KARGS") ;;
	suites) VM_ARGS=(-m "$SUITE_MEM" -c 2 -t 2400 -a "$SUITE_KARGS") ;;
	p2pdma) VM_ARGS=(-m 2G -c 2 -t 900 --vfio --p2pdma
			 --allow "$TOP/tests/p2pdma.allowlist") ;;
	*) die "unknown boot profile: $1" ;;
	esac
}
# vm_boot PROFILE NAME KERNEL [scripts/vm options...] -- CMD...
vm_boot() {
	local profile=$1 name=$2 kernel=$3
	shift 3
	vm_profile "$profile"
	"$TOP/scripts/vm" -n "$name" -k "$kernel" "${VM_ARGS[@]}" "$@"
}

# The preamble of every command that boots the series' kernel: Debian
# packages, the base, the work tree (from patches/ when absent), the build.
# ensure_kernel [--debug]
ensure_kernel() {
	"$TOP/scripts/deps" || return 1
	"$TOP/scripts/base" || return 1
	[ -d "$WORK/.git" ] || "$TOP/scripts/tree" import || return 1
	"$TOP/scripts/build" "$@"
}

# The project's one identity, used for every commit the tooling makes.
GIT_IDENT_NAME="DMA pinning series"
GIT_IDENT_EMAIL="dma-pinning@example.org"

mkdir -p "$LOGS"

msg()  { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die()  { msg "error: $*"; exit 1; }

# Print the base warning (if any) so that it heads every report.
base_warning() {
	local have newest
	[ -f "$BASE_DIR/WARNING" ] && sed 's/^/WARNING: /' "$BASE_DIR/WARNING"
	have=$(sed -n 's/^version=//p' "$BASE_INFO" 2>/dev/null)
	newest=$(base_newest)
	if [ -n "$have" ] && [ -n "$newest" ] && dpkg --compare-versions "$newest" gt "$have"; then
		echo "WARNING: the base $BASE_PKG $have is not the newest in the archive ($newest): scripts/tree rebase $newest"
	fi
	return 0
}

# The newest $BASE_PKG the apt lists know (offline: the lists as last
# updated), or nothing.
base_newest() {
	apt-cache madison "$BASE_PKG" 2>/dev/null |
		awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -V | tail -n1
}

# The base kernel (tag "base") built with the patched kernel's .config, for
# the benchmarks: worktree build/bench-base/linux, objects in
# build/bench-base/obj (the same relative layout as build/linux and
# build/obj, so that ccache serves every file the series does not touch).
# olddefconfig drops the options the base does not have (e.g. the series'
# KUnit suite); base_config_diff lists them.  Logs go to RUN_DIR.  Sets
# BWORK and BOBJ.
#
#   build_base_kernel RUN_DIR
build_base_kernel() {
	local run=$1 t
	BWORK=$BUILD/bench-base/linux BOBJ=$BUILD/bench-base/obj
	mkdir -p "$BUILD/bench-base"
	[ -d "$BWORK" ] || git -C "$WORK" worktree add -q --detach "$BWORK" base || exit 1
	# After scripts/tree rebase the worktree follows the new base.
	[ "$(git -C "$BWORK" rev-parse HEAD)" = "$(git -C "$WORK" rev-parse base)" ] ||
		git -C "$BWORK" checkout -q --detach base ||
		die "$BWORK is not at the base commit and cannot be moved there"
	mkdir -p "$BOBJ"
	cmp -s "$OBJ/.config" "$BOBJ/.config.patched" || {
		cp "$OBJ/.config" "$BOBJ/.config"
		cp "$OBJ/.config" "$BOBJ/.config.patched"
		make -C "$BWORK" O="$BOBJ" "${KMAKE_CC[@]}" olddefconfig >"$run/base-config.log" 2>&1 ||
			die "configuring the base failed: $run/base-config.log"
	}
	base_config_diff "$run"
	msg "building the base kernel in $BOBJ (log: $run/base-build.log)"
	t=$(date +%s)
	(
		export CCACHE_BASEDIR=$BWORK CCACHE_NOHASHDIR=1 CCACHE_SLOPPINESS=time_macros
		export KBUILD_BUILD_TIMESTAMP="2025-01-01" KBUILD_BUILD_USER=dma-pinning KBUILD_BUILD_HOST=build
		make -C "$BWORK" O="$BOBJ" -j"$(nproc)" "${KMAKE_CC[@]}" bzImage
	) >"$run/base-build.log" 2>&1 ||
		{ tail -n 20 "$run/base-build.log" >&2; die "base kernel build failed"; }
	msg "base kernel built in $(($(date +%s) - t)) s"
}

# Options of the patched kernel ($OBJ) that the base ($BOBJ) does not have,
# and the other way round, to RUN_DIR/config-diff.txt.
#
#   base_config_diff RUN_DIR
base_config_diff() {
	diff <(grep '^CONFIG_' "$OBJ/.config" | sort) <(grep '^CONFIG_' "$BOBJ/.config" | sort) |
		sed -n 's/^< /only in the patched kernel: /p; s/^> /only in the base kernel: /p' >"$1/config-diff.txt"
}
