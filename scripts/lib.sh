# SPDX-License-Identifier: GPL-2.0
# Common settings for the project's scripts.  Sourced, not executed.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
LOGS=$BUILD/logs
WORK=${WORK:-$BUILD/linux}                 # the work tree: base + one commit per patch
OBJ=${OBJ:-$BUILD/obj}            # out-of-tree kernel objects
BASE_PKG=linux-source-6.12
BASE_VERSION=6.12.117-1~deb12u1   # the pinned base
BASE_SUBLEVEL=117
BASE_INFO=$BUILD/base/info        # what scripts/base actually got
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

# The project's one identity, used for every commit the tooling makes.
GIT_IDENT_NAME="DMA pinning series"
GIT_IDENT_EMAIL="dma-pinning@example.org"

mkdir -p "$LOGS"

msg()  { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die()  { msg "error: $*"; exit 1; }

# Print the base warning (if any) so that it heads every report.
base_warning() {
	[ -f "$BUILD/base/WARNING" ] && sed 's/^/WARNING: /' "$BUILD/base/WARNING"
	return 0
}
