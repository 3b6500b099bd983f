// SPDX-License-Identifier: GPL-2.0
/*
 * Scenario client: RDMA memory registration over soft-RoCE (rxe).
 *
 * ibv_reg_mr() ends up in ib_umem_get() (drivers/infiniband/core/umem.c),
 * which pins every base page of the range with pin_user_pages_fast(
 * FOLL_LONGTERM [| FOLL_WRITE]); ibv_dereg_mr() unpins them again.  Each
 * case checks the FOLL_PIN counters of /proc/vmstat move by exactly the
 * number of pages of the registration.  The guest must be idle (nothing
 * else pinning) for the exact comparisons to hold.
 *
 * Needs an RDMA device, e.g.:
 *	ip link add d0 type dummy; ip link set d0 up
 *	rdma link add rxe0 type rxe netdev d0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "ktap.h"
#include "rdma.h"
#include "vmstat.h"

#define PAGE		4096UL
#define NR_PAGES	64
#define THP_SIZE	(2UL << 20)

static const char * const cases[] = {
	"anon 4K pages: reg_mr pins each page, dereg_mr releases them",
	"anon THP 2MiB: reg_mr pins 512 pages, dereg_mr releases them",
	"memfd MAP_SHARED: reg_mr pins each page, dereg_mr releases them",
	"read-only reg_mr over PROT_READ anon: pins each page",
	"writable reg_mr over PROT_READ anon fails with EFAULT, balanced",
	"reg_mr over PROT_NONE range fails with EFAULT, no pins left",
	"reg_mr over range with trailing PROT_NONE page fails, partial pins released",
	"pin counters balanced over the whole run",
};

#define NR_CASES	ARRAY_SIZE(cases)

static struct ibv_pd *pd;

static void *map_anon(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		ktap_print_msg("mmap %zu bytes: %s", len, strerror(errno));
		return NULL;
	}
	return p;
}

/*
 * Register [buf, buf+len) with @access and check the pin counters move by
 * @npages on registration and on deregistration.
 */
static bool reg_check(void *buf, size_t len, int access, long npages)
{
	struct pin_stat base;
	struct ibv_mr *mr;
	bool ok = true;

	if (pin_stat_read(&base))
		return false;

	mr = ibv_reg_mr(pd, buf, len, access);
	if (!mr) {
		ktap_print_msg("ibv_reg_mr(%p, %zu, 0x%x): %s", buf, len,
			       access, strerror(errno));
		pin_stat_balanced(&base, "after failed ibv_reg_mr");
		return false;
	}
	ktap_print_msg("registered %zu bytes, lkey 0x%x", len, mr->lkey);
	if (!pin_stat_expect(&base, npages, 0, "after ibv_reg_mr"))
		ok = false;

	errno = ibv_dereg_mr(mr);
	if (errno) {
		ktap_print_msg("ibv_dereg_mr: %s", strerror(errno));
		return false;
	}
	if (!pin_stat_expect(&base, npages, npages, "after ibv_dereg_mr"))
		ok = false;
	return ok;
}

/* Registration must fail with EFAULT and leave no pin behind. */
static bool reg_must_fail(void *buf, size_t len, int access)
{
	struct pin_stat base, now;
	struct ibv_mr *mr;
	bool ok = true;

	if (pin_stat_read(&base))
		return false;

	errno = 0;
	mr = ibv_reg_mr(pd, buf, len, access);
	if (mr) {
		ktap_print_msg("ibv_reg_mr(%p, %zu, 0x%x) unexpectedly succeeded",
			       buf, len, access);
		ibv_dereg_mr(mr);
		return false;
	}
	if (errno != EFAULT) {
		ktap_print_msg("ibv_reg_mr failed with %s, expected %s",
			       strerror(errno), strerror(EFAULT));
		ok = false;
	}
	if (!pin_stat_balanced(&base, "after failed ibv_reg_mr"))
		return false;
	if (!pin_stat_read(&now))
		ktap_print_msg("transient pins taken and released: %ld",
			       now.acquired - base.acquired);
	return ok;
}

static bool case_anon_4k(void)
{
	size_t len = NR_PAGES * PAGE;
	bool ok;
	char *p;

	p = map_anon(len, PROT_READ | PROT_WRITE);
	if (!p)
		return false;
	/* Keep 4K folios; populate (pins of the zero page are not counted). */
	if (madvise(p, len, MADV_NOHUGEPAGE))
		ktap_print_msg("madvise MADV_NOHUGEPAGE: %s", strerror(errno));
	memset(p, 0xa5, len);

	ok = reg_check(p, len, IBV_ACCESS_LOCAL_WRITE, NR_PAGES);
	munmap(p, len);
	return ok;
}

/* Size in kB of AnonHugePages of the VMA containing @addr, -1 if unknown. */
static long anon_huge_kb(void *addr)
{
	unsigned long start, end, a = (unsigned long)addr;
	bool in_vma = false;
	char line[512];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in_vma = start <= a && a < end;
			continue;
		}
		if (in_vma && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

static int case_anon_thp(void)
{
	size_t maplen = 2 * THP_SIZE;
	char *map, *p;
	char buf[128] = "";
	FILE *f;
	long kb;
	bool ok;

	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	if (!buf[0] || strstr(buf, "[never]")) {
		ktap_skip(cases[1], "transparent hugepages unavailable (%s)",
			  buf[0] ? "enabled=never" : "no sysfs knob");
		return 0;
	}

	map = map_anon(maplen, PROT_READ | PROT_WRITE);
	if (!map)
		return -1;
	p = (char *)(((unsigned long)map + THP_SIZE - 1) & ~(THP_SIZE - 1));
	if (madvise(p, THP_SIZE, MADV_HUGEPAGE))
		ktap_print_msg("madvise MADV_HUGEPAGE: %s", strerror(errno));
	memset(p, 0x5a, THP_SIZE);

	kb = anon_huge_kb(p);
	ktap_print_msg("AnonHugePages of the buffer VMA: %ld kB", kb);
	if (kb < (long)(THP_SIZE >> 10))
		ktap_print_msg("buffer is not THP-backed; checking 4K pins");

	ok = reg_check(p, THP_SIZE, IBV_ACCESS_LOCAL_WRITE, THP_SIZE / PAGE);
	munmap(map, maplen);
	return ok ? 1 : -1;
}

static bool case_memfd(void)
{
	size_t len = NR_PAGES * PAGE;
	bool ok;
	char *p;
	int fd;

	fd = memfd_create("rdma_mr", MFD_CLOEXEC);
	if (fd < 0) {
		ktap_print_msg("memfd_create: %s", strerror(errno));
		return false;
	}
	if (ftruncate(fd, len)) {
		ktap_print_msg("ftruncate memfd: %s", strerror(errno));
		close(fd);
		return false;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		ktap_print_msg("mmap memfd MAP_SHARED: %s", strerror(errno));
		close(fd);
		return false;
	}
	memset(p, 0x3c, len);

	ok = reg_check(p, len, IBV_ACCESS_LOCAL_WRITE, NR_PAGES);
	munmap(p, len);
	close(fd);
	return ok;
}

/* Populated anon pages, then made read-only. */
static char *map_anon_ro(size_t len)
{
	char *p = map_anon(len, PROT_READ | PROT_WRITE);

	if (!p)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 0x77, len);
	if (mprotect(p, len, PROT_READ)) {
		ktap_print_msg("mprotect PROT_READ: %s", strerror(errno));
		munmap(p, len);
		return NULL;
	}
	return p;
}

static bool case_read_only(void)
{
	size_t len = NR_PAGES * PAGE;
	bool ok;
	char *p;

	p = map_anon_ro(len);
	if (!p)
		return false;
	/* No IBV_ACCESS_LOCAL_WRITE: ib_umem_get() pins without FOLL_WRITE. */
	ok = reg_check(p, len, 0, NR_PAGES);
	munmap(p, len);
	return ok;
}

static bool case_write_on_ro(void)
{
	size_t len = NR_PAGES * PAGE;
	bool ok;
	char *p;

	p = map_anon_ro(len);
	if (!p)
		return false;
	ok = reg_must_fail(p, len, IBV_ACCESS_LOCAL_WRITE);
	munmap(p, len);
	return ok;
}

static bool case_prot_none(void)
{
	size_t len = 16 * PAGE;
	bool ok;
	char *p;

	p = map_anon(len, PROT_NONE);
	if (!p)
		return false;
	ok = reg_must_fail(p, len, IBV_ACCESS_LOCAL_WRITE);
	munmap(p, len);
	return ok;
}

static bool case_partial(void)
{
	size_t len = 16 * PAGE;
	bool ok;
	char *p;

	p = map_anon(len, PROT_READ | PROT_WRITE);
	if (!p)
		return false;
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 0x11, len);
	if (mprotect(p + len - PAGE, PAGE, PROT_NONE)) {
		ktap_print_msg("mprotect PROT_NONE: %s", strerror(errno));
		munmap(p, len);
		return false;
	}
	ok = reg_must_fail(p, len, IBV_ACCESS_LOCAL_WRITE);
	munmap(p, len);
	return ok;
}

int main(void)
{
	struct ibv_context *ctx;
	struct pin_stat start;
	unsigned int i;
	int ret;

	ktap_plan(NR_CASES);

	ctx = rdma_open_device();
	if (!ctx) {
		for (i = 0; i < NR_CASES; i++)
			ktap_skip(cases[i], "no usable RDMA device (rdma link add rxe0 type rxe netdev <if>)");
		ktap_finished();
	}

	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		ktap_print_msg("ibv_alloc_pd: %s", strerror(errno));
		for (i = 0; i < NR_CASES; i++)
			ktap_fail("%s", cases[i]);
		ktap_finished();
	}

	if (pin_stat_read(&start)) {
		for (i = 0; i < NR_CASES; i++)
			ktap_fail("%s", cases[i]);
		ktap_finished();
	}

	ktap_result(case_anon_4k(), cases[0]);
	ret = case_anon_thp();
	if (ret)
		ktap_result(ret > 0, cases[1]);
	ktap_result(case_memfd(), cases[2]);
	ktap_result(case_read_only(), cases[3]);
	ktap_result(case_write_on_ro(), cases[4]);
	ktap_result(case_prot_none(), cases[5]);
	ktap_result(case_partial(), cases[6]);

	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ktap_result(pin_stat_balanced(&start, "whole run"), cases[7]);

	ktap_finished();
}
