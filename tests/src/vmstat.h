/* SPDX-License-Identifier: GPL-2.0 */
/*
 * FOLL_PIN accounting from /proc/vmstat.
 *
 * nr_foll_pin_acquired / nr_foll_pin_released are node stats bumped by
 * the number of *pages* pinned / unpinned (mm/gup.c: try_grab_folio(),
 * gup_put_folio() call node_stat_mod_folio(folio, NR_FOLL_PIN_*, refs)
 * where refs counts base pages, also for a PMD-mapped THP).  Pins of the
 * shared zero page are not counted at all, so callers must populate
 * their buffers before pinning them.
 *
 * Node stats are kept in per-cpu deltas that only reach the global value
 * shown by /proc/vmstat when they exceed a threshold or when vmstat_update
 * runs (every vm.stat_interval).  For exact deltas, every read first
 * writes /proc/sys/vm/stat_refresh (root), which folds all per-cpu deltas.
 */
#ifndef VMSTAT_H
#define VMSTAT_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ktap.h"

struct pin_stat {
	long acquired;
	long released;
};

/* Fold per-cpu vmstat deltas into the global counters. */
static inline int vmstat_refresh(void)
{
	static bool warned;
	int fd, ret = 0;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd < 0 || write(fd, "1\n", 2) != 2)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret && !warned) {
		warned = true;
		ktap_print_msg("write /proc/sys/vm/stat_refresh: %s; waiting for vmstat_update instead",
			       strerror(-ret));
	}
	if (ret)
		sleep(2);	/* > default vm.stat_interval (1s) */
	return ret;
}

static inline long vmstat_parse(const char *name)
{
	size_t len = strlen(name);
	char line[256];
	long val = -1;
	FILE *f;

	f = fopen("/proc/vmstat", "r");
	if (!f) {
		ktap_print_msg("fopen /proc/vmstat: %s", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, len) && line[len] == ' ') {
			val = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	if (val < 0)
		ktap_print_msg("%s not found in /proc/vmstat", name);
	return val;
}

/* Read one /proc/vmstat counter; -1 on error. */
static inline long vmstat_read(const char *name)
{
	vmstat_refresh();
	return vmstat_parse(name);
}

/* Snapshot both FOLL_PIN counters after one refresh; -1 on error. */
static inline int pin_stat_read(struct pin_stat *ps)
{
	vmstat_refresh();
	ps->acquired = vmstat_parse("nr_foll_pin_acquired");
	ps->released = vmstat_parse("nr_foll_pin_released");
	return ps->acquired < 0 || ps->released < 0 ? -1 : 0;
}

/*
 * Compare the counter movement since @base with the expected number of
 * pinned (@acq) and unpinned (@rel) pages; print both on mismatch.
 * @what names the step for the diagnostic.
 */
static inline bool pin_stat_expect(const struct pin_stat *base, long acq,
				   long rel, const char *what)
{
	struct pin_stat now;
	long dacq, drel;

	if (pin_stat_read(&now))
		return false;
	dacq = now.acquired - base->acquired;
	drel = now.released - base->released;
	if (dacq == acq && drel == rel)
		return true;
	ktap_print_msg("%s: nr_foll_pin_acquired delta %ld (expected %ld), nr_foll_pin_released delta %ld (expected %ld)",
		       what, dacq, acq, drel, rel);
	return false;
}

/* Pins taken since @base must all have been released again. */
static inline bool pin_stat_balanced(const struct pin_stat *base,
				     const char *what)
{
	struct pin_stat now;
	long dacq, drel;

	if (pin_stat_read(&now))
		return false;
	dacq = now.acquired - base->acquired;
	drel = now.released - base->released;
	if (dacq == drel)
		return true;
	ktap_print_msg("%s: unbalanced, nr_foll_pin_acquired delta %ld, nr_foll_pin_released delta %ld",
		       what, dacq, drel);
	return false;
}

#endif /* VMSTAT_H */
