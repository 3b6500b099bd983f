// SPDX-License-Identifier: GPL-2.0
/*
 * insn_marks: a QEMU TCG plugin that counts the guest instructions executed
 * between two marker instructions, for make bench's instruction counts.
 *
 * The markers are long NOPs that nothing else emits:
 *   nopl 0x50494e31(%rax,%rax,1)   0f 1f 84 00 31 4e 49 50   start ("1NIP")
 *   nopl 0x50494e30(%rax,%rax,1)   0f 1f 84 00 30 4e 49 50   stop  ("0NIP")
 * (see tests/src/pin_bench.c).  Every translation block adds its number of
 * instructions to one counter when it starts executing; at a stop marker
 * the plugin prints "insns N", N being the count since the last start
 * marker, through qemu_plugin_outs() (QEMU's log: -d plugin -D FILE).
 * The count includes whatever the vCPU ran in between, interrupts too; run
 * the guest with one vCPU (the counter is not per vCPU).
 *
 * Built against the qemu-plugin.h of the installed QEMU's source package
 * by scripts/qemu-plugin; loaded with
 *   qemu-system-x86_64 -plugin build/plugin/libinsn_marks.so -d plugin -D FILE
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static const unsigned char mark_start[8] = {
	0x0f, 0x1f, 0x84, 0x00, 0x31, 0x4e, 0x49, 0x50 };
static const unsigned char mark_stop[8] = {
	0x0f, 0x1f, 0x84, 0x00, 0x30, 0x4e, 0x49, 0x50 };

static uint64_t executed;	/* instructions, all vCPUs together */
static uint64_t started;	/* executed at the last start marker */
static uint64_t pairs;

static void on_start(unsigned int vcpu, void *udata)
{
	started = executed;
}

static void on_stop(unsigned int vcpu, void *udata)
{
	char line[64];

	snprintf(line, sizeof(line), "insns %" PRIu64 "\n", executed - started);
	qemu_plugin_outs(line);
	pairs++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t i, n = qemu_plugin_tb_n_insns(tb);

	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &executed, n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if (qemu_plugin_insn_size(insn) != sizeof(mark_start))
			continue;
		if (!memcmp(qemu_plugin_insn_data(insn), mark_start, 8))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_start,
					QEMU_PLUGIN_CB_NO_REGS, NULL);
		else if (!memcmp(qemu_plugin_insn_data(insn), mark_stop, 8))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, on_stop,
					QEMU_PLUGIN_CB_NO_REGS, NULL);
	}
}

static void on_exit(qemu_plugin_id_t id, void *p)
{
	char line[64];

	snprintf(line, sizeof(line), "insn_marks: %" PRIu64 " pairs\n", pairs);
	qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	if (strcmp(info->target_name, "x86_64")) {
		fprintf(stderr, "insn_marks: x86_64 guests only, not %s\n",
			info->target_name);
		return -1;
	}
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	qemu_plugin_register_atexit_cb(id, on_exit, NULL);
	return 0;
}
