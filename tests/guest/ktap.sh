# SPDX-License-Identifier: GPL-2.0
# KTAP helpers for tests/guest/run, sourced; tests/host/ktap-selftest tests
# them.  CASE_TIMEOUT (seconds) bounds every program.
CASE_TIMEOUT=${CASE_TIMEOUT:-600}

# The outer result of a program, as kselftest's runner gives it: exit 0 is
# ok (if the program printed a plan: a program that prints no KTAP fails),
# 4 is a skip, 124 a timeout, anything else "not ok # exit=N".
# outer_result NAME STATUS OUTPUT_FILE
outer_result() {
	local name=$1 rc=$2 out=$3 reason
	if [ "$rc" = 0 ] && ! grep -qE '^[[:space:]]*1\.\.[0-9]+' "$out"; then
		echo "not ok 1 $name # no plan: the program printed no KTAP"
	elif [ "$rc" = 0 ]; then
		echo "ok 1 $name"
	elif [ "$rc" = 4 ]; then
		reason=$(grep -m1 -i -E 'skip' "$out" |
			sed -E 's/^[#[:space:]]*(1\.\.0[[:space:]]*)?(#[[:space:]]*)?([Ss][Kk][Ii][Pp]:?[[:space:]]*)?//')
		echo "ok 1 $name # SKIP ${reason:-exit 4}"
	elif [ "$rc" = 124 ]; then
		echo "not ok 1 $name # timeout after ${CASE_TIMEOUT} s"
	else
		echo "not ok 1 $name # exit=$rc"
	fi
}

# run_prog TAP DIR NAME CMD...: run CMD from DIR under the timeout, its
# output to tmpfs (a write(2) to the 9p share pins the user buffer, which
# the programs' exact pin counts would see); once it has exited, write TAP:
# a KTAP document of one result, NAME, with the program's own KTAP nested.
run_prog() {
	local tap=$1 dir=$2 name=$3 rc out; shift 3
	out=$(mktemp /tmp/run_prog.XXXXXX)
	(cd "$dir" && exec timeout "$CASE_TIMEOUT" "$@") >"$out" 2>&1
	rc=$?
	{
		echo "KTAP version 1"
		echo "1..1"
		sed 's/^/    /' "$out"
		outer_result "$name" "$rc" "$out"
	} >"$tap"
	rm -f "$out"
	return 0
}

# kselftest_prog_tap LOG P: program P's part of a run_kselftest.sh log of
# run_vmtests.sh, as run_prog writes it (its own KTAP nested, under the
# outer result that run_vmtests.sh gave it; no result line: "not ok").
kselftest_prog_tap() {
	local log=$1 p=$2 out res rc
	out=$(mktemp /tmp/ks_prog.XXXXXX)
	res=$(mktemp /tmp/ks_res.XXXXXX)
	# Its lines come between "running ./P" and run_vmtests.sh's result
	# line, each with two "# " prefixes (run_kselftest.sh's and
	# run_vmtests.sh's); run_vmtests.sh's banner lines are dropped.  A
	# line without the runner's prefix (its own result, after a timeout)
	# ends the part without a result.
	awk -v p="$p" -v res="$res" '
		!on && $0 == "# # running ./" p { on = 1; getline; next }
		!on { next }
		!/^# / { exit }
		/^# (not )?ok [0-9]+ / {
			name = $0
			sub(/^# (not )?ok [0-9]+ (\.\/)?/, "", name)
			sub(/ # .*$/, "", name)
			if (name == p) { print substr($0, 3) >res; exit }
		}
		/^# # \[(PASS|SKIP|FAIL)\]$/ { next }
		{ sub(/^# # ?/, ""); print }
	' "$log" >"$out"
	case $(cat "$res") in
	"ok "*"# SKIP"*) rc=4 ;;
	"ok "*) rc=0 ;;
	"not ok "*"# exit="*) rc=$(sed 's/.*# exit=//' "$res") ;;
	*) rc=1; echo "no result line of run_vmtests.sh for ./$p in the log" >>"$out" ;;
	esac
	echo "KTAP version 1"
	echo "1..1"
	sed 's/^/    /' "$out"
	outer_result "$p" "$rc" "$out"
	rm -f "$out" "$res"
}
