# SPDX-License-Identifier: GPL-2.0
# The DMA-pinning series for mm/gup: thin targets over scripts/.

.PHONY: run test test-debug mutants bench bench-full bench-unbind bench-writeback work export check-export rebase build build-debug build-check bisect-check lint docs deps clean clean-work help

help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## run          fresh machine to report: deps, base, series, build, boot, demo
run:
	@scripts/run

## test         build the work tree and run every gating suite (CI)
test:
	@scripts/test

## test-debug   the same suites on a debug kernel (KASAN, lockdep, DEBUG_VM)
test-debug:
	@scripts/test --debug

## mutants      break the kernel on purpose (tests/mutants/) and show which tests catch it
mutants:
	@scripts/mutants

## bench        pin speed, base kernel vs patched kernel, same config, one run (build/bench/)
bench:
	@scripts/bench

## bench-full   make bench over every backing, size and thread count (1 GiB too)
bench-full:
	@scripts/bench --full

## bench-unbind unbind time of a P2PDMA provider under revocable pins (build/bench/)
bench-unbind:
	@scripts/bench-unbind

## bench-writeback fsync with part of a file pinned, background writeback beside pins; base vs patched (build/bench/)
bench-writeback:
	@scripts/bench-writeback

## work         create build/linux: the base (tag "base") + one commit per patch
work:
	@scripts/tree import

## export       write patches/ back from build/linux base..HEAD
export:
	@scripts/tree export

## check-export import into a scratch tree, export, compare byte for byte
check-export:
	@scripts/tree check

## rebase       move the series to another linux-source-6.12 (VERSION=, default the newest): scripts/tree rebase
rebase:
	@scripts/tree rebase $(VERSION)

## build        build the kernel and the selftests of build/linux
build:
	@scripts/deps && scripts/build

## build-check  touched objects with W=1: Debian amd64 config, arm64, series options off; new warnings vs base
build-check:
	@scripts/deps && scripts/build-check

## bisect-check every patch compiles its touched objects and selftests; KUnit boots at the KUnit patches
bisect-check:
	@scripts/deps && scripts/bisect-check $(ARGS)

## build-debug  build the debug kernel (configs/debug.config) and the selftests
build-debug:
	@scripts/deps && scripts/build --debug

## docs         regenerate docs/mutants.md from the headers of tests/mutants/
docs:
	@scripts/mutants-doc >docs/mutants.md

## lint         checkpatch, kernel-doc and sparse on the series (KTAP)
lint:
	@scripts/lint

## deps         install the Debian packages the project needs
deps:
	@scripts/deps

## clean        remove build/ except the downloaded base and the work tree
clean:
	rm -rf build/obj build/obj-debug build/obj-base build/selftests* build/vm build/logs

## clean-work   remove the work tree build/linux (commit and export first!)
clean-work:
	rm -rf build/linux build/linux-base
