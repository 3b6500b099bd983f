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
