// SPDX-License-Identifier: GPL-2.0
/*
 * Scenario client: RDMA MRs over PCI P2PDMA memory, revoked on unbind.
 *
 * The memory is a p2pmem mapping (an NVMe controller memory buffer mapped
 * from /sys/bus/pci/devices/<bdf>/p2pmem/allocate); the RDMA device is
 * soft-RoCE (rxe), whose rdma_rxe.revocable_mrs parameter makes it register
 * user MRs with revocable long-term pins that accept P2PDMA pages.
 *
 * - revocable_mrs=N (the default): ibv_reg_mr() of p2pmem is refused as
 *   without the parameter: EREMOTEIO, read-only or writable (EFAULT when
 *   writable on kernels where kernfs asked every bin-file mapping for
 *   dirty tracking); no pin is left behind.
 * - revocable_mrs=Y: writable and read-only registrations succeed and pin
 *   each 4 KiB page once (the FOLL_PIN counters of /proc/vmstat move by
 *   exactly that much, plus one pin taken and dropped again per GUP-fast
 *   attempt, see transient_max()), dereg releases them; RDMA WRITE and
 *   READ between two RC QPs in loopback move data into and out of the MR,
 *   checked through the mmap.
 * - Unbinding the NVMe under RDMA traffic (RDMA WRITEs and READs of 4 KiB
 *   into the MR, four in flight, from another QP) revokes the MR: the
 *   pages are unpinned, the traffic stops with IBV_WC_REM_ACCESS_ERR
 *   within ERR_BOUND of the start of the unbind (the time is reported),
 *   the WRs behind it are flushed, no READ returns wrong data and no WR
 *   posted after the unbind returned succeeds.  An MR of anonymous
 *   memory, registered with revocable_mrs=Y too, keeps working during and
 *   after the unbind on another QP pair, and keeps its pins.  Local WRs
 *   whose sge uses the revoked MR's lkey (the source of an RDMA WRITE or a
 *   SEND, the sink of an RDMA READ) complete in error, with the status the
 *   same WR gets with an lkey that names no MR.  ibv_dereg_mr() of the
 *   revoked MR succeeds and unpins nothing a second time.  The NVMe is
 *   then bound again and publishes p2pmem again.
 * - The pin counters balance over the whole run.
 *
 * The program never touches the p2pmem mapping after the unbind (that
 * would raise SIGBUS).  revocable_mrs is restored and the NVMe bound again
 * on every exit path.  The guest must be idle (nothing else pinning) for
 * the exact pin comparisons to hold.  A write(2) to a 9p file pins the
 * user buffer: output meant for one is kept in a memfd until the end.
 *
 * Needs root, an RDMA device (rxe0 over a dummy netdev is created if there
 * is none) and a published p2pmem: scripts/vm --p2pdma.  Exit status 4
 * (skip) without them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <infiniband/verbs.h>

#include "ktap.h"
#include "p2pmem.h"
#include "rdma.h"
#include "sysfs.h"
#include "vmstat.h"

#define PAGE		4096UL
#define P2P_PAGES	64			/* p2pmem mapped, registered */
#define P2P_LEN		(P2P_PAGES * PAGE)
#define BUF_PAGES	4			/* each anonymous buffer */
#define BUF_LEN		(BUF_PAGES * PAGE)
#define XFER		4096			/* bytes per op of the revoke loop */
#define CTL_XFER	256			/* bytes per control op in the loop */
#define DEPTH		4			/* ops in flight in the revoke loop */
#define SLOTS		4			/* MR slots of XFER bytes it uses */
#define A_LEN		(2 * SLOTS * XFER)	/* a's buffer: sources, sinks */
#define OP_TIMEOUT	10.0			/* s for one work completion */
#define UNBIND_TIMEOUT	60.0			/* s for the unbind to return */
#define ERR_BOUND	10.0			/* s from unbind to the first error */
#define WARMUP_OPS	20			/* ops before the unbind starts */
#define WATCHDOG	480			/* s for the whole run */
#define PORT		1
#define ALLOW_PARAM	"/sys/module/rdma_rxe/parameters/revocable_mrs"
#define P2PMEM_GLOB	"/sys/bus/pci/devices/*/p2pmem/allocate"

enum {
	C_R1_RW, C_R1_RO, C_R2_RW, C_R2_RO, C_R2_DATA, C_R3_REVOKE,
	C_CONTROL, C_R3_LOCAL, C_R3_DEREG, C_REBIND, C_BALANCE, NR_CASES
};

static const char * const cases[] = {
	[C_R1_RW] = "revocable_mrs=N: writable reg_mr of p2pmem fails with EREMOTEIO (EFAULT before the kernfs fix), no pins left",
	[C_R1_RO] = "revocable_mrs=N: read-only reg_mr of p2pmem fails with EREMOTEIO, no pins left",
	[C_R2_RW] = "revocable_mrs=Y: writable reg_mr of p2pmem pins each page, dereg_mr releases them",
	[C_R2_RO] = "revocable_mrs=Y: read-only reg_mr of p2pmem pins each page, dereg_mr releases them",
	[C_R2_DATA] = "RDMA WRITE then READ through a p2pmem MR, data checked through the mmap",
	[C_R3_REVOKE] = "unbind under RDMA traffic revokes the p2pmem MR: REM_ACCESS_ERR in bounded time, pages unpinned",
	[C_CONTROL] = "an anon MR registered with revocable_mrs=Y works during and after the unbind",
	[C_R3_LOCAL] = "local WRs using the revoked MR's lkey complete in error",
	[C_R3_DEREG] = "ibv_dereg_mr of the revoked MR succeeds, nothing unpinned twice",
	[C_REBIND] = "the NVMe binds again and publishes p2pmem again",
	[C_BALANCE] = "pin counters balanced over the whole run",
};

struct end {
	struct ibv_cq *cq;
	struct ibv_qp *qp;
};

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_port_attr port_attr;
static union ibv_gid gid;
static int gid_idx = -1;
/* Pair 1: a -> b (the p2pmem MR's side); pair 2: c <-> d (control). */
static struct end qa, qb, qc, qd;
static char *a_buf, *c_buf;
static struct ibv_mr *a_mr, *c_mr;

static char bdf[64], drv[64], alloc_path[256], bind_path[256],
	    unbind_path[256];

/* What restore() undoes, also from a signal handler. */
static char allow_old[8];
static volatile sig_atomic_t allow_saved, unbound;
static bool unbind_stuck;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Where the output goes at the end when it is kept in a memfd; or -1. */
static int out_fd = -1;

/* Copy the kept output to where it was meant to go. */
static void out_flush(void)
{
	char buf[4096];
	ssize_t n;

	if (out_fd < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	if (lseek(STDOUT_FILENO, 0, SEEK_SET) == 0)
		while ((n = read(STDOUT_FILENO, buf, sizeof(buf))) > 0)
			if (write(out_fd, buf, n) != n)
				break;
	out_fd = -1;
}

/* Is @fd a file of a 9p mount?  (statfs() shows the host's file system.) */
static bool on_9p(int fd)
{
	unsigned int major, minor;
	char line[1024], *type;
	bool ret = false;
	struct stat st;
	FILE *f;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		return false;
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	while (!ret && fgets(line, sizeof(line), f)) {
		type = strstr(line, " - ");
		if (type && sscanf(line, "%*u %*u %u:%u", &major, &minor) == 2 &&
		    makedev(major, minor) == st.st_dev)
			ret = !strncmp(type, " - 9p ", 6);
	}
	fclose(f);
	return ret;
}

/*
 * A write(2) to a 9p file (scripts/vm's output file, for one) pins the
 * user buffer while it is sent, which would show in the pin counts: keep
 * the output in a memfd meanwhile.
 */
static void out_keep(void)
{
	int fd;

	if (!on_9p(STDOUT_FILENO))
		return;
	fd = memfd_create("rdma_p2p.out", 0);
	if (fd < 0)
		return;
	out_fd = dup(STDOUT_FILENO);
	if (out_fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
	    dup2(fd, STDERR_FILENO) < 0) {
		close(fd);
		return;
	}
	close(fd);
	atexit(out_flush);
}

/* Bind the NVMe again if we unbound it, restore revocable_mrs. */
static void restore(void)
{
	if (unbound) {
		write_str(bind_path, bdf);
		unbound = 0;
	}
	if (allow_saved) {
		write_str(ALLOW_PARAM, allow_old);
		allow_saved = 0;
	}
}

static void on_signal(int sig)
{
	static const char msg[] = "# rdma_p2p: killed by a signal, restoring\n";
	ssize_t n = write(STDOUT_FILENO, msg, sizeof(msg) - 1);

	(void)n;
	restore();
	out_flush();
	_exit(sig == SIGALRM ? 124 : 1);
}

static bool have_allow_param(void)
{
	return !access(ALLOW_PARAM, W_OK);
}

static bool set_allow(bool on)
{
	if (!write_str(ALLOW_PARAM, on ? "Y" : "N")) {
		ktap_print_msg("write %s: %s", ALLOW_PARAM, strerror(errno));
		return false;
	}
	return true;
}

static void save_allow(void)
{
	ssize_t n;
	int fd;

	fd = open(ALLOW_PARAM, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, allow_old, sizeof(allow_old) - 1);
	close(fd);
	if (n <= 0)
		return;
	allow_old[n] = 0;
	allow_old[strcspn(allow_old, "\n")] = 0;
	allow_saved = 1;
	ktap_print_msg("rdma_rxe.revocable_mrs was %s", allow_old);
}

/* The first published p2pmem: its BDF, driver and sysfs paths. */
static bool find_p2pmem(void)
{
	char path[300], link[256];
	glob_t g;
	ssize_t n;

	if (glob(P2PMEM_GLOB, 0, NULL, &g))
		return false;
	snprintf(alloc_path, sizeof(alloc_path), "%s", g.gl_pathv[0]);
	globfree(&g);
	if (sscanf(alloc_path, "/sys/bus/pci/devices/%63[^/]", bdf) != 1)
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	snprintf(drv, sizeof(drv), "%s", strrchr(link, '/') + 1);
	snprintf(bind_path, sizeof(bind_path), "/sys/bus/pci/drivers/%s/bind", drv);
	snprintf(unbind_path, sizeof(unbind_path), "/sys/bus/pci/drivers/%s/unbind", drv);
	return true;
}

/* Populated anon memory of 4K pages, not copied into forked children. */
static char *map_anon(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		ktap_print_msg("mmap %zu bytes: %s", len, strerror(errno));
		return NULL;
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	madvise(p, len, MADV_DONTFORK);
	memset(p, 0x11, len);
	return p;
}

static void fill(char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (char)(seed * 131 + i * 7 + (i >> 8));
}

/* Compare byte by byte (no vector loads from the p2pmem mapping). */
static bool same(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i]) {
			ktap_print_msg("data differs at byte %zu: 0x%02x, expected 0x%02x",
				       i, (unsigned char)a[i], (unsigned char)b[i]);
			return false;
		}
	return true;
}

/* --- Queue pairs. */

static bool make_end(struct end *e)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = {
			.max_send_wr = 16,
			.max_recv_wr = 16,
			.max_send_sge = 1,
			.max_recv_sge = 1,
		},
	};

	e->cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	if (!e->cq) {
		ktap_print_msg("ibv_create_cq: %s", strerror(errno));
		return false;
	}
	init.send_cq = e->cq;
	init.recv_cq = e->cq;
	e->qp = ibv_create_qp(pd, &init);
	if (!e->qp) {
		ktap_print_msg("ibv_create_qp: %s", strerror(errno));
		return false;
	}
	return true;
}

static void destroy_end(struct end *e)
{
	if (e->qp)
		ibv_destroy_qp(e->qp);
	if (e->cq)
		ibv_destroy_cq(e->cq);
	e->qp = NULL;
	e->cq = NULL;
}

/* RESET -> INIT -> RTR -> RTS towards QP number @dqpn (loopback GID). */
static bool qp_to_rts(struct ibv_qp *qp, uint32_t dqpn)
{
	struct ibv_qp_attr a;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE))
		goto err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_INIT;
	a.port_num = PORT;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		goto err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = port_attr.active_mtu;
	a.dest_qp_num = dqpn;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 12;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = gid;
	a.ah_attr.grh.sgid_index = gid_idx;
	a.ah_attr.grh.hop_limit = 1;
	a.ah_attr.port_num = PORT;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		goto err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 1;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
			  IBV_QP_MAX_QP_RD_ATOMIC))
		goto err;
	return true;
err:
	ktap_print_msg("ibv_modify_qp(QP 0x%x to state %d): %s", qp->qp_num,
		       a.qp_state, strerror(errno));
	return false;
}

static void drain_cq(struct ibv_cq *cq)
{
	struct ibv_wc wc;

	while (ibv_poll_cq(cq, 1, &wc) > 0)
		;
}

/* (Re)connect two ends to each other, from RESET; drop old completions. */
static bool connect_pair(struct end *x, struct end *y)
{
	if (!qp_to_rts(x->qp, y->qp->qp_num) || !qp_to_rts(y->qp, x->qp->qp_num))
		return false;
	drain_cq(x->cq);
	drain_cq(y->cq);
	return true;
}

static const char *qp_state_name(struct ibv_qp *qp)
{
	static const char * const names[] = {
		"RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR",
	};
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr a;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &init))
		return "?";
	return a.qp_state < ARRAY_SIZE(names) ? names[a.qp_state] : "?";
}

/* Wait up to @timeout s for one completion on @cq; false on timeout. */
static bool wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, double timeout)
{
	struct timespec ts = { 0, 20 * 1000 };
	double end = now() + timeout;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n < 0) {
			ktap_print_msg("ibv_poll_cq: %d", n);
			return false;
		}
		if (n)
			return true;
		if (now() > end)
			return false;
		nanosleep(&ts, NULL);
	}
}

/*
 * Post one signaled @op on @e (local sge @laddr/@len/@lkey, remote
 * @raddr/@rkey for RDMA) and wait for its completion into @wc.  False if
 * it could not be posted or did not complete in time (the QP is then
 * moved to the error state, which flushes it).
 */
static bool do_op(struct end *e, enum ibv_wr_opcode op, void *laddr,
		  uint32_t len, uint32_t lkey, uint64_t raddr, uint32_t rkey,
		  struct ibv_wc *wc)
{
	static uint64_t wr_id;
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr,
		.length = len,
		.lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++wr_id,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

	wr.wr.rdma.remote_addr = raddr;
	wr.wr.rdma.rkey = rkey;
	errno = ibv_post_send(e->qp, &wr, &bad);
	if (errno) {
		ktap_print_msg("ibv_post_send(opcode %d): %s", op, strerror(errno));
		return false;
	}
	if (wait_wc(e->cq, wc, OP_TIMEOUT)) {
		if (wc->wr_id != wr.wr_id)
			ktap_print_msg("completion of wr_id %llu, expected %llu",
				       (unsigned long long)wc->wr_id,
				       (unsigned long long)wr.wr_id);
		return true;
	}
	ktap_print_msg("opcode %d on QP 0x%x: no completion within %.0f s (QP %s)",
		       op, e->qp->qp_num, OP_TIMEOUT, qp_state_name(e->qp));
	ibv_modify_qp(e->qp, &a, IBV_QP_STATE);
	return false;
}

/* An op that must succeed; prints the status otherwise. */
static bool op_ok(struct end *e, enum ibv_wr_opcode op, void *laddr,
		  uint32_t len, uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_wc wc;

	if (!do_op(e, op, laddr, len, lkey, raddr, rkey, &wc))
		return false;
	if (wc.status == IBV_WC_SUCCESS)
		return true;
	ktap_print_msg("opcode %d on QP 0x%x completed with %s (vendor_err 0x%x)",
		       op, e->qp->qp_num, ibv_wc_status_str(wc.status),
		       wc.vendor_err);
	return false;
}

static void print_gid(int idx, const union ibv_gid *g)
{
	struct ibv_gid_entry ent;
	char s[INET6_ADDRSTRLEN];

	inet_ntop(AF_INET6, g->raw, s, sizeof(s));
	if (!ibv_query_gid_ex(ctx, PORT, idx, &ent, 0))
		ktap_print_msg("GID %d: %s (%s, ifindex %u)", idx, s,
			       ent.gid_type == IBV_GID_TYPE_ROCE_V2 ? "RoCE v2" :
			       ent.gid_type == IBV_GID_TYPE_ROCE_V1 ? "RoCE v1" : "IB",
			       ent.ndev_ifindex);
	else
		ktap_print_msg("GID %d: %s", idx, s);
}

/*
 * Pick a GID both pairs can talk through in loopback: the first non-zero
 * one with which an RDMA WRITE between anonymous MRs works.
 */
static bool setup_pairs(void)
{
	static const union ibv_gid zero;
	int i;

	if (!make_end(&qa) || !make_end(&qb) || !make_end(&qc) || !make_end(&qd))
		return false;
	for (i = 0; i < port_attr.gid_tbl_len; i++) {
		if (ibv_query_gid(ctx, PORT, i, &gid) ||
		    !memcmp(&gid, &zero, sizeof(gid)))
			continue;
		gid_idx = i;
		print_gid(i, &gid);
		if (!connect_pair(&qa, &qb) || !connect_pair(&qc, &qd))
			continue;
		fill(a_buf, BUF_LEN, 1);
		if (op_ok(&qa, IBV_WR_RDMA_WRITE, a_buf, BUF_LEN, a_mr->lkey,
			  (uintptr_t)c_buf, c_mr->rkey) &&
		    same(c_buf, a_buf, BUF_LEN) &&
		    op_ok(&qd, IBV_WR_RDMA_READ, c_buf, BUF_LEN, c_mr->lkey,
			  (uintptr_t)a_buf, a_mr->rkey)) {
			ktap_print_msg("loopback RC traffic works through GID %d, path MTU %d",
				       i, 128 << port_attr.active_mtu);
			/* Fresh PSNs, empty CQs. */
			return connect_pair(&qa, &qb) && connect_pair(&qc, &qd);
		}
	}
	ktap_print_msg("no GID of port %d carries loopback RC traffic", PORT);
	return false;
}

/* --- Registrations. */

/*
 * Registration must fail with @expect (or @alt, if not 0) and leave no pin
 * behind.
 */
static bool reg_refused(void *buf, size_t len, int access, int expect, int alt)
{
	struct pin_stat base, now_ps;
	struct ibv_mr *mr;
	bool ok = true;
	int err;

	if (pin_stat_read(&base))
		return false;
	errno = 0;
	mr = ibv_reg_mr(pd, buf, len, access);
	err = errno;
	if (mr) {
		ktap_print_msg("ibv_reg_mr(p2pmem, %zu, 0x%x) unexpectedly succeeded",
			       len, access);
		ibv_dereg_mr(mr);
		return false;
	}
	ktap_print_msg("ibv_reg_mr(p2pmem, %zu, 0x%x): %s", len, access,
		       strerror(err));
	if (err != expect && (!alt || err != alt)) {
		ktap_print_msg("expected %s", strerror(expect));
		ok = false;
	}
	if (!pin_stat_balanced(&base, "after the refused ibv_reg_mr"))
		return false;
	if (!pin_stat_read(&now_ps))
		ktap_print_msg("transient pins taken and released: %ld",
			       now_ps.acquired - base.acquired);
	return ok;
}

/*
 * ib_umem_get*() pins in calls of up to 512 pages (a page of page
 * pointers) through GUP-fast first.  GUP-fast takes the first P2PDMA page,
 * then finds it must not pin a ZONE_DEVICE page long-term, drops it and
 * falls back to the slow path: a transient pin acquired and released per
 * call, on top of the pages held.
 */
static long transient_max(long npages)
{
	return (npages + 511) / 512;
}

/*
 * The counters moved by @acq acquired and @rel released since @base, give
 * or take up to @slack transient pins (acquired and released alike).
 */
static bool pins_expect(const struct pin_stat *base, long acq, long rel,
			long slack, const char *what)
{
	struct pin_stat now_ps;
	long dacq, drel;

	if (pin_stat_read(&now_ps))
		return false;
	dacq = now_ps.acquired - base->acquired;
	drel = now_ps.released - base->released;
	if (dacq - acq == drel - rel && dacq - acq >= 0 && dacq - acq <= slack) {
		if (dacq != acq)
			ktap_print_msg("%s: %ld transient pins (GUP-fast fallback)",
				       what, dacq - acq);
		return true;
	}
	ktap_print_msg("%s: nr_foll_pin_acquired delta %ld, nr_foll_pin_released delta %ld (expected %ld, %ld, give or take %ld transient)",
		       what, dacq, drel, acq, rel, slack);
	return false;
}

/* Register, check @npages pinned; dereg, check them released. */
static bool reg_check(void *buf, size_t len, int access, long npages)
{
	long slack = transient_max(npages);
	struct pin_stat base;
	struct ibv_mr *mr;
	bool ok = true;

	if (pin_stat_read(&base))
		return false;
	mr = ibv_reg_mr(pd, buf, len, access);
	if (!mr) {
		ktap_print_msg("ibv_reg_mr(p2pmem, %zu, 0x%x): %s", len, access,
			       strerror(errno));
		pin_stat_balanced(&base, "after the failed ibv_reg_mr");
		return false;
	}
	if (!pins_expect(&base, npages, 0, slack, "after ibv_reg_mr"))
		ok = false;
	else
		ktap_print_msg("ibv_reg_mr(p2pmem, %zu, 0x%x): lkey 0x%x, %ld pages pinned",
			       len, access, mr->lkey, npages);
	errno = ibv_dereg_mr(mr);
	if (errno) {
		ktap_print_msg("ibv_dereg_mr: %s", strerror(errno));
		return false;
	}
	if (!pins_expect(&base, npages, npages, slack, "after ibv_dereg_mr"))
		ok = false;
	return ok;
}

#define RW_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)

/* RDMA WRITE into a p2pmem MR, then RDMA READ out of it, from QP a. */
static bool case_data(char *p2p)
{
	size_t woff = 2 * PAGE + 100, roff = 40 * PAGE + 3000;
	uint32_t len = BUF_LEN - 200;
	struct pin_stat base;
	struct ibv_mr *mr;
	char *expect;
	bool ok = true;

	expect = malloc(BUF_LEN);
	if (!expect || pin_stat_read(&base)) {
		free(expect);
		return false;
	}
	mr = ibv_reg_mr(pd, p2p, P2P_LEN, RW_ACCESS);
	if (!mr) {
		ktap_print_msg("ibv_reg_mr(p2pmem): %s", strerror(errno));
		free(expect);
		return false;
	}
	/* Unaligned, across page boundaries of the MR. */
	fill(a_buf, len, 2);
	if (!op_ok(&qa, IBV_WR_RDMA_WRITE, a_buf, len, a_mr->lkey,
		   (uintptr_t)p2p + woff, mr->rkey) ||
	    !same(p2p + woff, a_buf, len))
		ok = false;
	else
		ktap_print_msg("RDMA WRITE of %u bytes at MR offset %zu: data in the p2pmem mapping",
			       len, woff);

	fill(expect, len, 3);
	memcpy(p2p + roff, expect, len);
	memset(a_buf, 0, BUF_LEN);
	if (!op_ok(&qa, IBV_WR_RDMA_READ, a_buf, len, a_mr->lkey,
		   (uintptr_t)p2p + roff, mr->rkey) ||
	    !same(a_buf, expect, len))
		ok = false;
	else
		ktap_print_msg("RDMA READ of %u bytes at MR offset %zu: data written by the CPU",
			       len, roff);
	free(expect);

	errno = ibv_dereg_mr(mr);
	if (errno) {
		ktap_print_msg("ibv_dereg_mr: %s", strerror(errno));
		return false;
	}
	return pins_expect(&base, P2P_PAGES, P2P_PAGES, transient_max(P2P_PAGES),
			   "p2pmem MR with traffic") && ok;
}

/* --- The unbind helper: a child, so that a stuck unbind cannot hold us. */

struct unbind_res {
	double t0, t1;	/* CLOCK_MONOTONIC around the write */
	int ok, err;
};

static pid_t helper_start(int *go, int *res)
{
	int gp[2], rp[2];
	pid_t pid;

	if (pipe(gp) || pipe(rp)) {
		ktap_print_msg("pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		ktap_print_msg("fork: %s", strerror(errno));
		return -1;
	}
	if (!pid) {
		struct unbind_res r = { 0 };
		char c;

		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		close(gp[1]);
		close(rp[0]);
		if (read(gp[0], &c, 1) != 1)
			_exit(0);
		r.t0 = now();
		r.ok = write_str(unbind_path, bdf);
		r.err = errno;
		r.t1 = now();
		if (write(rp[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	close(gp[0]);
	close(rp[1]);
	*go = gp[1];
	*res = rp[0];
	return pid;
}

/* Read the helper's result if it comes within @timeout s. */
static bool helper_result(int res, struct unbind_res *r, double timeout)
{
	struct pollfd pfd = { .fd = res, .events = POLLIN };

	if (poll(&pfd, 1, (int)(timeout * 1000)) <= 0)
		return false;
	return read(res, r, sizeof(*r)) == sizeof(*r);
}

static bool rebind(void)
{
	double t = now();
	char *p;
	int i;

	if (!write_str(bind_path, bdf)) {
		ktap_print_msg("write %s to %s: %s", bdf, bind_path, strerror(errno));
		return false;
	}
	unbound = 0;
	for (i = 0; i < 300 && access(alloc_path, F_OK); i++)
		usleep(100 * 1000);
	if (i == 300) {
		ktap_print_msg("%s not published 30 s after the bind", alloc_path);
		return false;
	}
	ktap_print_msg("%s bound to %s again, p2pmem published after %.0f ms",
		       bdf, drv, (now() - t) * 1e3);
	/* Usable: a page mapped, written and read back. */
	p = p2pmem_map(alloc_path, PAGE);
	if (!p)
		return false;
	fill(a_buf, PAGE, 9);
	memcpy(p, a_buf, PAGE);
	i = same(p, a_buf, PAGE);
	munmap(p, PAGE);
	return i;
}

static const char *wc_name(int status)
{
	return status < 0 ? "none" : ibv_wc_status_str(status);
}

/*
 * One local WR on d, freshly connected to c: @op with its local sge at
 * @laddr/@lkey (the source of an RDMA WRITE or SEND, the sink of an RDMA
 * READ), towards c's anon MR.  Its completion status, -1 if none.
 */
static int local_wr(enum ibv_wr_opcode op, void *laddr, uint32_t lkey)
{
	struct ibv_sge rsge = {
		.addr = (uintptr_t)c_buf,
		.length = BUF_LEN,
		.lkey = c_mr->lkey,
	};
	struct ibv_recv_wr rwr = { .wr_id = 7, .sg_list = &rsge, .num_sge = 1 }, *bad;
	struct ibv_wc wc;

	if (!connect_pair(&qc, &qd))
		return -1;
	if (op == IBV_WR_SEND && ibv_post_recv(qc.qp, &rwr, &bad)) {
		ktap_print_msg("ibv_post_recv: %s", strerror(errno));
		return -1;
	}
	if (!do_op(&qd, op, laddr, XFER, lkey, (uintptr_t)c_buf, c_mr->rkey, &wc))
		return -1;
	return wc.status;
}

/*
 * Local WRs with the revoked MR's lkey, on the healthy pair c <-> d: the
 * source of an RDMA WRITE and of a SEND, the sink of an RDMA READ, each on
 * a freshly connected pair.  They must complete in error, as the same WR
 * with an lkey that names no MR does: rxe reports a local error found by
 * the requester (the source of a WRITE or SEND) by moving the QP to the
 * error state, and its completer then flushes the WQE, so the completion
 * says IBV_WC_WR_FLUSH_ERR there, not the local error.
 */
static bool case_local(struct ibv_mr *mr, char *p2p)
{
	static const struct {
		enum ibv_wr_opcode op;
		const char *what;
	} wrs[] = {
		{ IBV_WR_RDMA_WRITE, "RDMA WRITE sourced from" },
		{ IBV_WR_RDMA_READ, "RDMA READ into" },
		{ IBV_WR_SEND, "SEND sourced from" },
	};
	uint32_t bogus = c_mr->lkey ^ 0x5a;	/* c's MR index, wrong key */
	int st, ref;
	bool ok = true;
	unsigned int i;
	char *orig;

	orig = malloc(BUF_LEN);
	if (!orig)
		return false;
	memset(c_buf, 0xc3, BUF_LEN);
	memcpy(orig, c_buf, BUF_LEN);
	for (i = 0; i < ARRAY_SIZE(wrs); i++) {
		ref = local_wr(wrs[i].op, a_buf, bogus);
		st = local_wr(wrs[i].op, p2p, mr->lkey);
		ktap_print_msg("%s the revoked lkey: %s (an lkey of no MR: %s)",
			       wrs[i].what, wc_name(st), wc_name(ref));
		if (st < 0 || st == IBV_WC_SUCCESS ||
		    !(st == IBV_WC_LOC_PROT_ERR || st == IBV_WC_LOC_QP_OP_ERR ||
		      st == ref))
			ok = false;
	}
	if (!same(c_buf, orig, BUF_LEN)) {
		ktap_print_msg("the anon MR of c was written");
		ok = false;
	}
	free(orig);
	/* Leave the pair usable. */
	return connect_pair(&qc, &qd) && ok;
}

/* Post WR @j of the revoke loop on a: see case_revoke(). */
static bool post_traffic(uint64_t j, char *p2p, uint32_t rkey)
{
	unsigned int s = (j / 2) % SLOTS;
	struct ibv_sge sge = { .length = XFER, .lkey = a_mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = j,
		.sg_list = &sge,
		.num_sge = 1,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (!(j & 1)) {
		sge.addr = (uintptr_t)a_buf + s * XFER;
		fill(a_buf + s * XFER, XFER, j);
		wr.opcode = IBV_WR_RDMA_WRITE;
	} else {
		sge.addr = (uintptr_t)a_buf + (SLOTS + s) * XFER;
		memset(a_buf + (SLOTS + s) * XFER, 0, XFER);
		wr.opcode = IBV_WR_RDMA_READ;
	}
	wr.wr.rdma.remote_addr = (uintptr_t)p2p + s * XFER;
	wr.wr.rdma.rkey = rkey;
	errno = ibv_post_send(qa.qp, &wr, &bad);
	if (errno)
		ktap_print_msg("ibv_post_send(WR %llu): %s", (unsigned long long)j,
			       strerror(errno));
	return !errno;
}

/* READ @j completed: it must have fetched what WRITE @j - 1 wrote. */
static bool read_ok(uint64_t j)
{
	unsigned int s = (j / 2) % SLOTS;
	char expect[XFER];

	fill(expect, XFER, j - 1);
	return !memcmp(a_buf + (SLOTS + s) * XFER, expect, XFER);
}

/*
 * R3: unbind the NVMe while QP a writes and reads the p2pmem MR through
 * QP b, and QP c writes an anon MR (also registered with revocable_mrs=Y)
 * through QP d.  Reports the result of four cases.
 */
static void case_revoke(char *p2p)
{
	bool revoke_ok = false, ctl_ok = false, local_ok = false, dereg_ok = false;
	long ok_ops = 0, ok_before = 0, ok_after = 0, mismatches = 0;
	long ctl_ops = 0, ctl_fail = 0, later = 0, other = 0;
	double t_err = 0, t_go = 0, t_start, last, deadline, dt;
	int go = -1, res = -1, first = -1, first_op = 0, inflight = 0;
	bool have_ur = false, go_sent = false, stop = false, hung = false;
	struct ibv_mr *mr = NULL, *d_mr = NULL;
	struct pin_stat base, start;
	struct unbind_res ur = { 0 };
	bool after[4 * DEPTH];
	uint64_t next = 0;
	struct ibv_wc wc;
	pid_t pid = -1;
	char *d_buf;

	d_buf = map_anon(BUF_LEN);
	if (!d_buf)
		goto report;
	pid = helper_start(&go, &res);
	if (pid < 0)
		goto report;

	pin_stat_read(&start);
	mr = ibv_reg_mr(pd, p2p, P2P_LEN, RW_ACCESS);
	d_mr = ibv_reg_mr(pd, d_buf, BUF_LEN, RW_ACCESS);
	if (!mr || !d_mr) {
		ktap_print_msg("ibv_reg_mr (%s): %s", mr ? "anon" : "p2pmem",
			       strerror(errno));
		goto out;
	}
	if (!pins_expect(&start, P2P_PAGES + BUF_PAGES, 0,
			 transient_max(P2P_PAGES), "p2pmem and anon MRs registered"))
		goto out;
	pin_stat_read(&base);

	/*
	 * DEPTH ops in flight on a, in order: WR j WRITEs 4 KiB of pattern j
	 * into slot (j / 2) % SLOTS of the MR when j is even, and READs that
	 * slot back when it is odd (after the WRITE, in RC order); c writes
	 * d's anon MR after each batch of completions.  The unbind starts
	 * after WARMUP_OPS good ops of a; no new WR is posted after the first
	 * error.
	 */
	t_start = now();
	deadline = t_start + UNBIND_TIMEOUT + 2 * OP_TIMEOUT;
	last = t_start;
	while (now() < deadline) {
		struct ibv_wc wcs[DEPTH];
		int n, k;

		if (!go_sent && ok_ops >= WARMUP_OPS) {
			unbound = 1;
			t_go = now();
			if (write(go, "u", 1) != 1) {
				ktap_print_msg("cannot start the unbind: %s", strerror(errno));
				unbound = 0;
				break;
			}
			go_sent = true;
			ok_before = ok_ops;
		}
		if (go_sent && !have_ur)
			have_ur = helper_result(res, &ur, 0);
		while (!stop && inflight < DEPTH) {
			if (!post_traffic(next, p2p, mr->rkey)) {
				stop = true;
				break;
			}
			after[next % ARRAY_SIZE(after)] = have_ur;
			next++;
			inflight++;
		}
		if (stop && !inflight)
			break;
		n = ibv_poll_cq(qa.cq, DEPTH, wcs);
		if (n < 0)
			break;
		if (!n) {
			struct timespec ts = { 0, 20 * 1000 };

			if (now() - last > OP_TIMEOUT) {
				struct ibv_qp_attr qa_err = { .qp_state = IBV_QPS_ERR };

				ktap_print_msg("a: no completion for %.0f s with %d WRs in flight (QP a %s)",
					       OP_TIMEOUT, inflight, qp_state_name(qa.qp));
				if (stop)
					break;
				ibv_modify_qp(qa.qp, &qa_err, IBV_QP_STATE);
				stop = true;
				last = now();
				hung = true;
			}
			nanosleep(&ts, NULL);
			continue;
		}
		last = now();
		for (k = 0; k < n; k++) {
			uint64_t j = wcs[k].wr_id;

			inflight--;
			if (wcs[k].status != IBV_WC_SUCCESS) {
				if (first < 0) {
					first = wcs[k].status;
					first_op = j & 1 ? IBV_WR_RDMA_READ : IBV_WR_RDMA_WRITE;
					t_err = last;
				} else if (wcs[k].status == IBV_WC_WR_FLUSH_ERR ||
					   wcs[k].status == IBV_WC_REM_ACCESS_ERR) {
					later++;
				} else {
					ktap_print_msg("a: later completion with %s",
						       wc_name(wcs[k].status));
					other++;
				}
				stop = true;
				continue;
			}
			ok_ops++;
			if ((j & 1) && !read_ok(j))
				mismatches++;
			if (after[j % ARRAY_SIZE(after)]) {
				/* Posted after the unbind returned. */
				ok_after++;
				stop = true;
			}
		}

		fill(c_buf, CTL_XFER, ctl_ops);
		ctl_ops++;
		if (!op_ok(&qc, IBV_WR_RDMA_WRITE, c_buf, CTL_XFER, c_mr->lkey,
			   (uintptr_t)d_buf, d_mr->rkey) ||
		    memcmp(d_buf, c_buf, CTL_XFER))
			ctl_fail++;
	}

	if (go_sent && !have_ur) {
		dt = UNBIND_TIMEOUT - (now() - t_go);
		have_ur = helper_result(res, &ur, dt > 0 ? dt : 0);
		if (!have_ur) {
			ktap_print_msg("unbind still running after %.0f s: deregistering the p2pmem MR",
				       UNBIND_TIMEOUT);
			errno = ibv_dereg_mr(mr);
			ktap_print_msg("ibv_dereg_mr: %s", strerror(errno));
			mr = NULL;
			have_ur = helper_result(res, &ur, 30);
			ktap_print_msg("unbind %s after the dereg",
				       have_ur ? "returned" : "still stuck");
		}
	}
	if (have_ur && !ur.ok)
		unbound = 0;	/* still bound */
	while (ibv_poll_cq(qa.cq, 1, &wc) > 0)
		later++;

	ktap_print_msg("a: %ld good RDMA ops of 4 KiB, %d in flight (%.0f/s before the unbind), %ld during the unbind, %ld posted after it returned; %ld READs with wrong data",
		       ok_ops, DEPTH, go_sent ? ok_before / (t_go - t_start) : 0,
		       ok_ops - ok_before,
		       ok_after, mismatches);
	if (have_ur)
		ktap_print_msg("unbind of %s %s, took %.1f ms",
			       bdf, ur.ok ? "returned" : strerror(ur.err),
			       (ur.t1 - ur.t0) * 1e3);
	if (first >= 0 && have_ur)
		ktap_print_msg("first error: RDMA %s completed with %s %.1f ms after the unbind started (%s it returned)",
			       first_op == IBV_WR_RDMA_READ ? "READ" : "WRITE",
			       wc_name(first), (t_err - ur.t0) * 1e3,
			       t_err < ur.t1 ? "before" : "after");
	else
		ktap_print_msg("first error: %s", wc_name(first));
	ktap_print_msg("then %ld completions with WR_FLUSH_ERR or REM_ACCESS_ERR, %ld with another error; QP a %s, QP b %s",
		       later, other, qp_state_name(qa.qp), qp_state_name(qb.qp));
	ktap_print_msg("c: %ld control RDMA WRITEs to the anon MR, %ld failed",
		       ctl_ops, ctl_fail);

	revoke_ok = go_sent && have_ur && ur.ok && first == IBV_WC_REM_ACCESS_ERR &&
		    t_err >= ur.t0 && t_err - ur.t0 <= ERR_BOUND &&
		    !ok_after && !mismatches && !other && !hung;
	/* The p2pmem pages, only they, were unpinned by the unbind. */
	if (!pin_stat_expect(&base, 0, P2P_PAGES, "after the unbind"))
		revoke_ok = false;
	else
		ktap_print_msg("the unbind released the %d pins of the p2pmem MR, kept the %d of the anon MR",
			       P2P_PAGES, BUF_PAGES);
	if (!have_ur)
		goto out;

	/* Control: the anon MR on pair c <-> d, after the unbind. */
	fill(c_buf, BUF_LEN, 5);
	ctl_ok = ctl_ops > 0 && !ctl_fail &&
		 op_ok(&qc, IBV_WR_RDMA_WRITE, c_buf, BUF_LEN, c_mr->lkey,
		       (uintptr_t)d_buf, d_mr->rkey) &&
		 same(d_buf, c_buf, BUF_LEN);
	fill(d_buf, BUF_LEN, 6);
	memset(c_buf, 0, BUF_LEN);
	ctl_ok = ctl_ok &&
		 op_ok(&qc, IBV_WR_RDMA_READ, c_buf, BUF_LEN, c_mr->lkey,
		       (uintptr_t)d_buf, d_mr->rkey) &&
		 same(c_buf, d_buf, BUF_LEN);
	if (ctl_ok)
		ktap_print_msg("anon MR: RDMA WRITE and READ of %lu bytes after the unbind, data checked",
			       BUF_LEN);

	if (mr)
		local_ok = case_local(mr, p2p);

	if (mr) {
		pin_stat_read(&base);
		errno = ibv_dereg_mr(mr);
		mr = NULL;
		ktap_print_msg("ibv_dereg_mr of the revoked MR: %s",
			       errno ? strerror(errno) : "ok");
		dereg_ok = !errno && pin_stat_expect(&base, 0, 0,
						      "ibv_dereg_mr of the revoked MR");
	}
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (d_mr) {
		ibv_dereg_mr(d_mr);
		if (!pin_stat_balanced(&start, "after both MRs were deregistered"))
			dereg_ok = false;
	}
	if (go >= 0)
		close(go);	/* the helper exits if it was not started */
	if (res >= 0)
		close(res);
	if (go_sent && !have_ur) {
		/* Binding would wait for the stuck unbind too. */
		ktap_print_msg("the unbind is stuck: not binding %s again", bdf);
		unbound = 0;
		unbind_stuck = true;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, WNOHANG);
	} else if (pid > 0) {
		waitpid(pid, NULL, 0);
	}
report:
	if (d_buf)
		munmap(d_buf, BUF_LEN);
	ktap_result(revoke_ok, cases[C_R3_REVOKE]);
	ktap_result(ctl_ok, cases[C_CONTROL]);
	ktap_result(local_ok, cases[C_R3_LOCAL]);
	ktap_result(dereg_ok, cases[C_R3_DEREG]);
}

static void __noreturn skip_all(const char *why)
{
	unsigned int i;

	for (i = 0; i < NR_CASES; i++)
		ktap_skip(cases[i], "%s", why);
	ktap_print_msg("Totals: pass:0 fail:0 xfail:0 xpass:0 skip:%u error:0",
		       ktap.skip);
	exit(4);
}

int main(void)
{
	struct pin_stat start;
	bool allow, bound;
	char *p2p;
	int i;

	out_keep();
	ktap_plan(NR_CASES);
	if (geteuid())
		skip_all("needs root");
	if (!find_p2pmem())
		skip_all("no published p2pmem (" P2PMEM_GLOB ")");
	ktap_print_msg("p2pmem of %s (driver %s): %s", bdf, drv, alloc_path);

	ctx = rdma_open_device();
	if (!ctx) {
		ktap_print_msg("no RDMA device: creating rxe0 over a dummy netdev d0");
		if (system("ip link add d0 type dummy 2>/dev/null; ip link set d0 up && "
			   "rdma link add rxe0 type rxe netdev d0"))
			ktap_print_msg("could not create rxe0");
		ctx = rdma_open_device();
	}
	if (!ctx)
		skip_all("no usable RDMA device (rdma link add rxe0 type rxe netdev <if>)");

	atexit(restore);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGALRM, on_signal);
	alarm(WATCHDOG);
	allow = have_allow_param();
	if (allow)
		save_allow();
	else
		ktap_print_msg("no %s: a kernel without revocable rxe MRs", ALLOW_PARAM);

	pd = ibv_alloc_pd(ctx);
	a_buf = map_anon(A_LEN);
	c_buf = map_anon(BUF_LEN);
	p2p = p2pmem_map(alloc_path, P2P_LEN);
	if (!pd || !a_buf || !c_buf || !p2p ||
	    ibv_query_port(ctx, PORT, &port_attr)) {
		ktap_print_msg("setup: %s", strerror(errno));
		goto fail_all;
	}
	for (i = 0; i < (int)P2P_PAGES; i++)
		p2p[i * PAGE] = (char)i;
	if (pin_stat_read(&start))
		goto fail_all;

	/* R1, with the anon MRs not yet registered. */
	if (allow && !set_allow(false))
		goto fail_all;
	/*
	 * GUP refuses P2PDMA pages without FOLL_PCI_P2PDMA (EREMOTEIO).  Until
	 * kernfs installed ->page_mkwrite only for the bin files that need
	 * it, a writable long-term pin of any sysfs bin mapping, p2pmem
	 * included, was refused earlier, as needing dirty tracking (EFAULT).
	 */
	ktap_result(reg_refused(p2p, P2P_LEN, RW_ACCESS, EREMOTEIO, EFAULT),
		    cases[C_R1_RW]);
	ktap_result(reg_refused(p2p, P2P_LEN, IBV_ACCESS_REMOTE_READ, EREMOTEIO, 0),
		    cases[C_R1_RO]);

	a_mr = ibv_reg_mr(pd, a_buf, A_LEN, RW_ACCESS);
	c_mr = ibv_reg_mr(pd, c_buf, BUF_LEN, RW_ACCESS);
	if (!a_mr || !c_mr) {
		ktap_print_msg("ibv_reg_mr(anon): %s", strerror(errno));
		goto fail_rest;
	}

	if (!allow) {
		for (i = C_R2_RW; i < C_BALANCE; i++)
			ktap_skip(cases[i], "kernel without rdma_rxe.revocable_mrs");
		goto balance;
	}
	if (!set_allow(true))
		goto fail_rest;
	ktap_result(reg_check(p2p, P2P_LEN, RW_ACCESS, P2P_PAGES), cases[C_R2_RW]);
	ktap_result(reg_check(p2p, P2P_LEN, IBV_ACCESS_REMOTE_READ, P2P_PAGES),
		    cases[C_R2_RO]);

	if (!setup_pairs()) {
		for (i = C_R2_DATA; i < C_REBIND; i++)
			ktap_fail("%s", cases[i]);
		ktap_skip(cases[C_REBIND], "the NVMe was not unbound");
		goto balance;
	}
	ktap_result(case_data(p2p), cases[C_R2_DATA]);

	case_revoke(p2p);
	/* Not touched since the unbind: it would SIGBUS. */
	munmap(p2p, P2P_LEN);
	p2p = NULL;
	if (unbound) {
		bound = rebind();
		ktap_result(bound, cases[C_REBIND]);
	} else if (unbind_stuck) {
		ktap_fail("%s", cases[C_REBIND]);
	} else {
		ktap_skip(cases[C_REBIND], "the NVMe was not unbound");
	}

balance:
	restore();
	destroy_end(&qa);
	destroy_end(&qb);
	destroy_end(&qc);
	destroy_end(&qd);
	if (a_mr)
		ibv_dereg_mr(a_mr);
	if (c_mr)
		ibv_dereg_mr(c_mr);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	if (p2p)
		munmap(p2p, P2P_LEN);
	ktap_result(pin_stat_balanced(&start, "whole run"), cases[C_BALANCE]);
	ktap_finished();

fail_all:
	for (i = 0; i < C_R2_RW; i++)
		ktap_fail("%s", cases[i]);
fail_rest:
	for (i = C_R2_RW; i < NR_CASES; i++)
		ktap_fail("%s", cases[i]);
	ktap_finished();
}
