// SPDX-License-Identifier: GPL-2.0
/*
 * unbind_bench: what revocable pins add to the unbind of a P2PDMA provider.
 *
 * For each configuration (MiB of p2pmem pinned, number of subscriptions),
 * and each round: unbind the provider's driver without pins and bind it
 * again (the same boot's baseline); then map the memory, pin it revocably
 * through gup_test (PIN_LONGTERM_TEST_FLAG_REVOCABLE | _P2PDMA), split
 * evenly over that many gup_test files (one subscription each), unbind
 * again, check that every subscription was called and holds nothing, and
 * bind again.  Prints one line per configuration: the median no-pin unbind,
 * and the median, p90 and max of the extra time (unbind with pins minus the
 * median no-pin unbind of the configuration), plus the time the kernel
 * spent in the revocation callbacks of the unbind (debugfs
 * pin_revoke/stats, revoke_ns_total).
 *
 * With -R N,...: the same for N RDMA memory regions instead of gup_test
 * files, one p2pmem page each, registered with ibv_reg_mr() on rxe with
 * rdma_rxe.revocable_mrs=Y (each MR is a subscription of its own, revoked
 * by the unbind); the MRs are deregistered after the unbind.
 *
 *   unbind_bench [-r ROUNDS] [-s SUBS,...] [-m MIB,...] [-R MRS,...]
 *					(as root, in a VM)
 *
 * Unbinds the provider: only on a test machine.  Exit status 0 if every
 * round revoked every pin and every unbind completed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/types.h>
#include <infiniband/verbs.h>

#include "sysfs.h"
#include "p2p_provider.h"	/* tools/testing/selftests/mm of the kernel tree */

/* The gup_test debugfs ABI (mm/gup_test.h), revocable part. */
struct pin_longterm_test {
	__u64 addr;
	__u64 size;
	__u32 flags;
};
struct pin_longterm_test_status {
	__u32 argsz;
	__u32 flags;
	__u64 nr_pinned;
	__u32 calls;
	__u32 revoked;
	__u64 cb_ns;
};
#define PIN_LONGTERM_TEST_START		_IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STATUS	_IOWR('g', 14, struct pin_longterm_test_status)
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	1
#define PIN_LONGTERM_TEST_FLAG_P2PDMA		8
#define PIN_LONGTERM_TEST_FLAG_REVOCABLE	16

#define MAX_ROUNDS	100
#define MAX_SUBS	1024

static struct p2p_provider prov;

static void die(const char *what)
{
	fprintf(stderr, "unbind_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long stat_value(const char *name)
{
	char line[128], key[64];
	long val = -1, v;
	FILE *f = fopen("/sys/kernel/debug/pin_revoke/stats", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %ld", key, &v) == 2 && !strcmp(key, name))
			val = v;
	fclose(f);
	return val;
}

/*
 * Unbind, in a child (an unbind that waits for a pin cannot hold the
 * benchmark: it gives up after 60 s); returns the seconds the write took.
 */
static double unbind(void)
{
	struct p2p_unbind u;

	errno = -p2p_provider_unbind_start(&prov, &u, NULL);
	if (errno)
		die("unbind: fork");
	if (!p2p_provider_unbind_wait(&prov, &u, 60)) {
		p2p_provider_unbind_abandon(&prov, &u);
		errno = ETIMEDOUT;
		die("unbind still waiting after 60 s");
	}
	errno = u.err;
	if (errno)
		die("unbind");
	return u.t1 - u.t0;
}

static void bind_driver(void)
{
	errno = -p2p_provider_bind(&prov, 5);
	if (errno == ETIMEDOUT)
		die("p2pmem not published again within 5 s");
	if (errno)
		die("bind");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The @pct percentile of @n sorted values (nearest rank). */
static double pctl(const double *v, int n, int pct)
{
	int i = (pct * n + 99) / 100 - 1;

	return v[i < 0 ? 0 : i];
}

/* @len bytes of the provider's p2pmem, mapped and written. */
static char *map_p2pmem(size_t len)
{
	char *mem = p2p_provider_map(&prov, len);

	if (!mem)
		die(prov.alloc_path);
	memset(mem, 0x5a, len);
	return mem;
}

/*
 * Sort the rounds' figures: @extra becomes the unbind time with pins minus
 * the median no-pin unbind.  Returns that median.
 */
static double sort_rounds(double *base, double *extra, double *cb_ms, int rounds)
{
	double median;
	int r;

	qsort(base, rounds, sizeof(double), cmp_double);
	median = pctl(base, rounds, 50);
	for (r = 0; r < rounds; r++)
		extra[r] -= median;
	qsort(extra, rounds, sizeof(double), cmp_double);
	qsort(cb_ms, rounds, sizeof(double), cmp_double);
	return median;
}

static bool run(int mib, int subs, int rounds)
{
	size_t len = (size_t)mib << 20, slice = len / subs;
	double base[MAX_ROUNDS], extra[MAX_ROUNDS], cb_ms[MAX_ROUNDS], median;
	bool ok = true;
	int *fds, r, i;

	fds = calloc(subs, sizeof(*fds));
	if (!fds)
		die("calloc");
	for (r = 0; r < rounds; r++) {
		struct pin_longterm_test_status st;
		long cb_ns;
		char *mem;

		base[r] = unbind();
		bind_driver();
		mem = map_p2pmem(len);
		for (i = 0; i < subs; i++) {
			struct pin_longterm_test args = {
				.addr = (__u64)(uintptr_t)(mem + i * slice),
				.size = slice,
				.flags = PIN_LONGTERM_TEST_FLAG_REVOCABLE |
					 PIN_LONGTERM_TEST_FLAG_P2PDMA |
					 PIN_LONGTERM_TEST_FLAG_USE_WRITE,
			};

			fds[i] = open("/sys/kernel/debug/gup_test", O_RDWR);
			if (fds[i] < 0)
				die("open gup_test");
			if (ioctl(fds[i], PIN_LONGTERM_TEST_START, &args))
				die("revocable pin");
		}
		cb_ns = stat_value("revoke_ns_total");
		extra[r] = unbind();
		cb_ms[r] = (stat_value("revoke_ns_total") - cb_ns) / 1e6;
		for (i = 0; i < subs; i++) {
			memset(&st, 0, sizeof(st));
			st.argsz = sizeof(st);
			if (ioctl(fds[i], PIN_LONGTERM_TEST_STATUS, &st))
				die("status");
			if (st.revoked != 1 || st.nr_pinned) {
				fprintf(stderr, "unbind_bench: %d MiB/%d: subscription %d: revoked %u, %llu pages held\n",
					mib, subs, i, st.revoked,
					(unsigned long long)st.nr_pinned);
				ok = false;
			}
			close(fds[i]);
		}
		munmap(mem, len);
		bind_driver();
	}
	median = sort_rounds(base, extra, cb_ms, rounds);
	printf("%4d MiB %5d subs %4d pages/sub  no-pin unbind %7.1f ms  extra: median %6.1f  p90 %6.1f  max %6.1f ms  callbacks median %6.1f ms%s\n",
	       mib, subs, (int)(slice / getpagesize()), median * 1e3,
	       pctl(extra, rounds, 50) * 1e3, pctl(extra, rounds, 90) * 1e3,
	       extra[rounds - 1] * 1e3, pctl(cb_ms, rounds, 50),
	       ok ? "" : "  FAILED");
	fflush(stdout);
	free(fds);
	return ok;
}

#define REVOCABLE_MRS	"/sys/module/rdma_rxe/parameters/revocable_mrs"

static struct ibv_context *rdma_ctx;
static struct ibv_pd *rdma_pd;

/* rxe0 (created over a dummy netdev if there is no RDMA device), revocable. */
static void rdma_setup(void)
{
	struct ibv_device **list;
	int n = 0;

	list = ibv_get_device_list(&n);
	if (!list || !n) {
		if (list)
			ibv_free_device_list(list);
		if (system("ip link add ub0 type dummy 2>/dev/null; ip link set ub0 up && "
			   "rdma link add rxe0 type rxe netdev ub0"))
			die("rdma link add rxe0");
		list = ibv_get_device_list(&n);
		if (!list || !n)
			die("no RDMA device");
	}
	rdma_ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	if (!rdma_ctx)
		die("ibv_open_device");
	rdma_pd = ibv_alloc_pd(rdma_ctx);
	if (!rdma_pd)
		die("ibv_alloc_pd");
	if (!write_str(REVOCABLE_MRS, "Y"))
		die(REVOCABLE_MRS);
}

/* As run(), with @nr MRs of one p2pmem page each as the subscriptions. */
static bool run_mrs(int nr, int rounds)
{
	size_t page = getpagesize(), len = nr * page;
	double base[MAX_ROUNDS], extra[MAX_ROUNDS], cb_ms[MAX_ROUNDS], median;
	struct ibv_mr **mrs;
	bool ok = true;
	int r, i;

	mrs = calloc(nr, sizeof(*mrs));
	if (!mrs)
		die("calloc");
	for (r = 0; r < rounds; r++) {
		long cb_ns, calls;
		char *mem;

		base[r] = unbind();
		bind_driver();
		mem = map_p2pmem(len);
		for (i = 0; i < nr; i++) {
			mrs[i] = ibv_reg_mr(rdma_pd, mem + i * page, page,
					    IBV_ACCESS_LOCAL_WRITE |
					    IBV_ACCESS_REMOTE_WRITE |
					    IBV_ACCESS_REMOTE_READ);
			if (!mrs[i])
				die("ibv_reg_mr of p2pmem");
		}
		cb_ns = stat_value("revoke_ns_total");
		calls = stat_value("revoke_calls");
		extra[r] = unbind();
		cb_ms[r] = (stat_value("revoke_ns_total") - cb_ns) / 1e6;
		calls = stat_value("revoke_calls") - calls;
		if (calls != nr) {
			fprintf(stderr, "unbind_bench: %d MRs: %ld revocation callbacks\n",
				nr, calls);
			ok = false;
		}
		for (i = 0; i < nr; i++)
			if (ibv_dereg_mr(mrs[i]))
				die("ibv_dereg_mr");
		munmap(mem, len);
		bind_driver();
	}
	median = sort_rounds(base, extra, cb_ms, rounds);
	printf("rxe: %5d MRs of 1 page  no-pin unbind %7.1f ms  extra: median %6.1f  p90 %6.1f  max %6.1f ms  callbacks median %6.1f ms%s\n",
	       nr, median * 1e3, pctl(extra, rounds, 50) * 1e3,
	       pctl(extra, rounds, 90) * 1e3, extra[rounds - 1] * 1e3,
	       pctl(cb_ms, rounds, 50), ok ? "" : "  FAILED");
	fflush(stdout);
	free(mrs);
	return ok;
}

static int parse_list(const char *s, int *v, int max)
{
	int n = 0;

	while (*s && n < max) {
		v[n++] = atoi(s);
		s = strchr(s, ',');
		if (!s)
			break;
		s++;
	}
	return n;
}

int main(int argc, char **argv)
{
	int subs[8] = { 1, 16, 256 }, mibs[8] = { 1, 16 }, mrs[8];
	int nr_subs = 3, nr_mibs = 2, nr_mrs = 0, rounds = 10, opt, s, m;
	bool ok = true;

	while ((opt = getopt(argc, argv, "r:s:m:R:")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 's':
			nr_subs = parse_list(optarg, subs, 8);
			break;
		case 'm':
			nr_mibs = parse_list(optarg, mibs, 8);
			break;
		case 'R':
			nr_mrs = parse_list(optarg, mrs, 8);
			break;
		default:
			fprintf(stderr, "usage: %s [-r ROUNDS] [-s SUBS,...] [-m MIB,...] [-R MRS,...]\n", argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS)
		rounds = 10;
	errno = -p2p_provider_find(&prov, NULL);
	if (errno)
		die(errno == ENODEV ? "no published p2pmem" : "the p2pmem provider's driver");
	/* Bound again if the benchmark exits or is killed while it is not. */
	p2p_provider_restore_on_exit(&prov, NULL);
	printf("provider %s (%s), %d rounds per configuration\n", prov.bdf, prov.drv, rounds);
	for (m = 0; m < nr_mibs; m++)
		for (s = 0; s < nr_subs; s++) {
			if (subs[s] < 1 || subs[s] > MAX_SUBS ||
			    ((size_t)mibs[m] << 20) % ((size_t)subs[s] * getpagesize())) {
				fprintf(stderr, "unbind_bench: %d MiB over %d subscriptions: not whole pages\n",
					mibs[m], subs[s]);
				ok = false;
				continue;
			}
			ok &= run(mibs[m], subs[s], rounds);
		}
	if (nr_mrs)
		rdma_setup();
	for (m = 0; m < nr_mrs; m++) {
		if (mrs[m] < 1 || mrs[m] > 4096) {
			fprintf(stderr, "unbind_bench: %d MRs: 1 to 4096\n", mrs[m]);
			ok = false;
			continue;
		}
		ok &= run_mrs(mrs[m], rounds);
	}
	return ok ? 0 : 1;
}
