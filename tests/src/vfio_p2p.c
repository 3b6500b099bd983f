// SPDX-License-Identifier: GPL-2.0
/*
 * Scenario client: revocable P2P VFIO mappings, with a real DMA master.
 *
 * QEMU's edu device (1234:11e8) is bound to vfio-pci and driven through a
 * VFIO type1v2 container behind the vIOMMU (intel-iommu).  Its DMA engine
 * copies between its 4 KiB internal buffer (device address 0x40000) and an
 * IOVA, so a pattern travels anon RAM -> edu -> vIOMMU -> IOVA; when the
 * IOVA maps P2PDMA memory (an NVMe controller memory buffer, mmap()ed from
 * /sys/bus/pci/devices/<bdf>/p2pmem/allocate), the bytes land in the CMB
 * and are read back through that mmap.
 *
 * The cases check, with the FOLL_PIN counters of /proc/vmstat:
 *  - the harness: a RAM round trip through the edu; a DMA to an unmapped
 *    IOVA that the vIOMMU faults (a "DMAR: ... fault addr" line); the P2P
 *    route, RAM -> edu -> CMB and back, with the CMB BAR mmap()ed from
 *    sysfs (a VM_PFNMAP mapping, which type1 maps without pinning, on the
 *    base kernel and with the series; a revocable MAP_DMA of it fails with
 *    EFAULT: a VM_PFNMAP mapping cannot be pinned);
 *  - as on the base kernel, VFIO_IOMMU_MAP_DMA of p2pmem without
 *    VFIO_DMA_MAP_FLAG_REVOCABLE fails and leaves no pin;
 *  - with VFIO_TYPE1_REVOCABLE (skipped on a kernel without it): bad flag
 *    combinations fail with EINVAL, and so do revocable mappings of anonymous
 *    memory and of page cache (a memfd page, which leaves the container
 *    attached to no file); a revocable mapping of 1 MiB of p2pmem
 *    pins 256 pages without charging locked_vm, carries DMA both ways, and
 *    its UNMAP_DMA releases every pin; unbinding the NVMe provider revokes
 *    a mapping: the revoke eventfd fires once, GET_INFO counts it, the pins
 *    are dropped, DMA to its IOVA faults, the tombstone refuses an
 *    overlapping MAP_DMA (EEXIST) and is removed by UNMAP_DMA; then the
 *    provider is bound again;
 *  - a hot-unplug of the NVMe provider (QMP device_del, asked of the host
 *    through scripts/qmp-agent; skipped without it): twice with no pin, then
 *    under a revocable VFIO mapping and a revocable gup_test pin of its
 *    CMB: the removal takes at most 100 ms longer than with no pin, both
 *    revocations are reported and every pin is released; then the
 *    controller is added back (device_add) and publishes p2pmem again.
 *
 * Needs root, a boot with scripts/vm --vfio --p2pdma (exit status 4, every
 * case skipped, without an edu device or a published p2pmem).  Unbinds the
 * provider's driver: only on a test machine.  The guest must be idle, and
 * the output must not go to a 9p file (a write(2) there pins the buffer):
 * tests/guest/run writes it to tmpfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "gup_test.h"	/* mm/gup_test.h of the kernel tree (-iquote) */
#include "ktap.h"
#include "p2pmem.h"
#include "sysfs.h"
#include "vmstat.h"

/* The revocable P2P uAPI, until <linux/vfio.h> has it. */
#ifndef VFIO_TYPE1_REVOCABLE
#define VFIO_TYPE1_REVOCABLE		11
#endif
#ifndef VFIO_DMA_MAP_FLAG_REVOCABLE
#define VFIO_DMA_MAP_FLAG_REVOCABLE	(1 << 3)
#endif
#ifndef VFIO_IOMMU_TYPE1_SET_REVOKE_EVENTFD
struct vfio_iommu_type1_revoke_eventfd {
	__u32	argsz;
	__u32	flags;
	__s32	fd;
};

#define VFIO_IOMMU_TYPE1_SET_REVOKE_EVENTFD	_IO(VFIO_TYPE, VFIO_BASE + 22)
#endif
#ifndef VFIO_IOMMU_TYPE1_INFO_CAP_REVOKE
#define VFIO_IOMMU_TYPE1_INFO_CAP_REVOKE	4
struct vfio_iommu_type1_info_cap_revoke {
	struct vfio_info_cap_header header;
	__u32	nr_revoked;
	__u32	reserved;
};
#endif

#define PAGE		4096UL
#define P2P_SIZE	(1UL << 20)
#define P2P_PAGES	((long)(P2P_SIZE / PAGE))
#define P2PMEM_GLOB	"/sys/bus/pci/devices/*/p2pmem/allocate"

/*
 * IOVAs: the edu's default DMA mask is 28 bits, keep them below 256 MiB.
 * IOVA_A and IOVA_B map one anon page each for the whole run.
 */
#define IOVA_P2P	0x100000UL
#define IOVA_A		0x400000UL
#define IOVA_B		0x401000UL
#define IOVA_UNMAPPED	0x800000UL
#define IOVA_BAR	0x2000000UL

/* edu registers (QEMU hw/misc/edu.c) */
#define EDU_VENDOR	0x1234
#define EDU_DEVICE	0x11e8
#define EDU_ID		0x00
#define EDU_ID_VALUE	0x010000edu
#define EDU_LIVENESS	0x04
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_RUN	0x1
#define EDU_CMD_TO_RAM	0x2	/* edu buffer -> IOVA; clear: IOVA -> buffer */
#define EDU_BUF		0x40000UL	/* its 4 KiB buffer, in device space */
/*
 * QEMU up to 8.0 (edu_check_range()) refuses a transfer that ends at the
 * end of the buffer, with a hw_error() that stops the whole VM: move a
 * page as two halves, both through the start of the buffer.
 */
#define EDU_CHUNK	2048UL
#define EDU_DMA_TIMEOUT_MS	5000

/* How long the provider's unbind and rebind may take. */
#define UNBIND_TIMEOUT_S	30
#define REBIND_TIMEOUT_S	20
/* A hot-unplug: pciehp waits 5 s after the attention button. */
#define UNPLUG_TIMEOUT_S	30
/* What revocable pins may add to a hot-unplug. */
#define UNPLUG_EXTRA_S		0.1
/* The QEMU id of the CMB NVMe (scripts/vm --p2pdma) and how to add it back. */
#define QMP_DEVICE_DEL	"{\"execute\": \"device_del\", \"arguments\": {\"id\": \"p2pnvme0\"}}"
#define QMP_DEVICE_ADD	"{\"execute\": \"device_add\", \"arguments\": {\"driver\": \"nvme\", " \
	"\"id\": \"p2pnvme0\", \"serial\": \"p2p0\", \"cmb_size_mb\": 64, \"bus\": \"dn0\"}}"
#define UNPLUG_PIN_PAGES	64

enum {
	C_SETUP, C_RAM, C_FAULT, C_BAR, C_V1_RW, C_V1_RO, C_VADDR, C_ANON,
	C_SHMEM,
	C_MAP, C_TO_CMB, C_FROM_CMB, C_UNMAP, C_EVENTFD, C_REVOKED,
	C_REVOKED_FAULT, C_EEXIST, C_TOMBSTONE, C_REBIND,
	C_UNPLUG_BASE, C_UNPLUG, C_UNPLUG_BACK, C_BALANCE,
	NR_CASES
};

static const char * const cases[NR_CASES] = {
	[C_SETUP] = "setup: edu bound to vfio-pci, type1v2 container, BAR0 answers",
	[C_RAM] = "RAM round trip: 4 KiB pattern, anon page -> edu -> anon page",
	[C_FAULT] = "edu DMA to an unmapped IOVA faults in the vIOMMU (DMAR line in the log)",
	[C_BAR] = "CMB BAR mmap()ed from sysfs (VM_PFNMAP): edu DMA both ways without a pin, as on the base; EFAULT with REVOCABLE",
	[C_V1_RW] = "MAP_DMA of p2pmem READ|WRITE without REVOCABLE fails with EREMOTEIO, pins balanced",
	[C_V1_RO] = "MAP_DMA of p2pmem READ without REVOCABLE fails with EREMOTEIO, pins balanced",
	[C_VADDR] = "MAP_DMA REVOCABLE|VADDR fails with EINVAL",
	[C_ANON] = "MAP_DMA REVOCABLE of anonymous memory fails with EINVAL, nothing pinned",
	[C_SHMEM] = "MAP_DMA REVOCABLE of a shared memfd page fails with EINVAL, nothing pinned, the container not attached to the file",
	[C_MAP] = "revocable MAP_DMA of 1 MiB p2pmem: 256 pages pinned, VmLck unchanged",
	[C_TO_CMB] = "DMA RAM -> edu -> CMB, first and last page, read back through the p2pmem mmap",
	[C_FROM_CMB] = "DMA CMB -> edu -> RAM, compared",
	[C_UNMAP] = "UNMAP_DMA of the revocable mapping returns 1 MiB and releases the 256 pins",
	[C_EVENTFD] = "unbind of the provider signals the revoke eventfd once",
	[C_REVOKED] = "revocation reported by GET_INFO (nr_revoked 1), 256 pins released",
	[C_REVOKED_FAULT] = "edu DMA to the revoked IOVA faults in the vIOMMU",
	[C_EEXIST] = "MAP_DMA over the revoked mapping fails with EEXIST",
	[C_TOMBSTONE] = "UNMAP_DMA of the revoked mapping returns 1 MiB, its IOVA maps again",
	[C_REBIND] = "provider bound again, p2pmem published again",
	[C_UNPLUG_BASE] = "hot-unplug of the provider (QMP device_del) with no pin, twice: removed, added back (device_add), p2pmem published",
	[C_UNPLUG] = "hot-unplug under a revocable mapping and a revocable gup_test pin: removal within the no-pin time + 100 ms, both revoked, every pin released",
	[C_UNPLUG_BACK] = "provider added back after the hot-unplug under pins, p2pmem published again",
	[C_BALANCE] = "pin counters balanced over the run, none left after closing the container",
};

static struct {
	char bdf[32];
	int group_id;
	bool bound_here;		/* we set driver_override */
	int container, group, device;
	volatile uint8_t *bar0;
	size_t bar0_size;
} vfio = { .container = -1, .group = -1, .device = -1 };

static struct {
	char bdf[32];
	char drv[64];
	char *mem;			/* P2P_SIZE bytes of its p2pmem */
	volatile sig_atomic_t unbound;
} prov;

static uint8_t *buf_a, *buf_b, *buf_c;	/* anon pages */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(unsigned int c, bool ok)
{
	ktap_result(ok, cases[c]);
}

/* Skip the cases from @from up to, not including, @to, with @why. */
static void skip_range(unsigned int from, unsigned int to, const char *why)
{
	unsigned int c;

	for (c = from; c < to; c++)
		ktap_skip(cases[c], "%s", why);
}

/* The first line of @path into @buf, newline removed; false if none. */
static bool read_line(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return true;
}

/* Basename of the symlink @path into @buf; false if it does not exist. */
static bool link_name(const char *path, char *buf, size_t len)
{
	char target[PATH_MAX];
	ssize_t n;

	n = readlink(path, target, sizeof(target) - 1);
	if (n <= 0)
		return false;
	target[n] = 0;
	snprintf(buf, len, "%s", strrchr(target, '/') + 1);
	return true;
}

static long vmlck_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f;

	f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* A 4 KiB pattern that differs for each @seed. */
static void fill(uint8_t *p, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < PAGE; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = x;
	}
}

/* Compare a page with the pattern of @seed; print the first difference. */
static bool check(const volatile uint8_t *p, uint32_t seed, const char *what)
{
	uint8_t want[PAGE];
	size_t i, bad = 0, first = 0;

	fill(want, seed);
	for (i = 0; i < PAGE; i++) {
		if (p[i] != want[i] && !bad++)
			first = i;
	}
	if (bad)
		ktap_print_msg("%s: %zu of %lu bytes differ, first at %zu (0x%02x, expected 0x%02x)",
			       what, bad, PAGE, first, p[first], want[first]);
	return !bad;
}

/* --- The kernel log, for the vIOMMU's fault reports. */

/* /dev/kmsg, positioned at its end; -1 on error. */
static int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		ktap_print_msg("open /dev/kmsg: %s", strerror(errno));
	else
		lseek(fd, 0, SEEK_END);
	return fd;
}

/*
 * Wait up to @ms for a kernel log record containing "fault addr 0x<iova>"
 * from the vIOMMU; print the DMAR records seen as diagnostics.
 */
static bool kmsg_wait_fault(int fd, unsigned long iova, int ms)
{
	char rec[1024], needle[64];
	double end = now() + ms / 1e3;
	bool found = false;
	ssize_t n;

	snprintf(needle, sizeof(needle), "fault addr 0x%lx ", iova);
	while (!found && now() < end) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;		/* records overwritten */
		if (n <= 0) {
			usleep(20 * 1000);
			continue;
		}
		rec[n] = 0;
		rec[strcspn(rec, "\n")] = 0;
		if (!strstr(rec, "DMAR"))
			continue;
		ktap_print_msg("  kernel: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
		found = strstr(rec, needle);
	}
	return found;
}

/* --- The edu device. */

static uint32_t edu_rd32(unsigned int reg)
{
	return *(volatile uint32_t *)(vfio.bar0 + reg);
}

static void edu_wr32(unsigned int reg, uint32_t val)
{
	*(volatile uint32_t *)(vfio.bar0 + reg) = val;
}

static uint64_t edu_rd64(unsigned int reg)
{
	return *(volatile uint64_t *)(vfio.bar0 + reg);
}

static void edu_wr64(unsigned int reg, uint64_t val)
{
	*(volatile uint64_t *)(vfio.bar0 + reg) = val;
}

static bool edu_dma_idle(int ms)
{
	double end = now() + ms / 1e3;

	while (edu_rd64(EDU_DMA_CMD) & EDU_CMD_RUN) {
		if (now() > end)
			return false;
		usleep(5 * 1000);
	}
	return true;
}

/*
 * One edu DMA of EDU_CHUNK bytes: IOVA -> its buffer (@to_ram false) or
 * its buffer -> IOVA.  False on a timeout.  The edu reports no error: a
 * DMA that the vIOMMU refuses completes all the same.
 */
static bool edu_dma(unsigned long iova, bool to_ram)
{
	if (!edu_dma_idle(EDU_DMA_TIMEOUT_MS)) {
		ktap_print_msg("edu: a previous DMA is still running");
		return false;
	}
	edu_wr64(EDU_DMA_SRC, to_ram ? EDU_BUF : iova);
	edu_wr64(EDU_DMA_DST, to_ram ? iova : EDU_BUF);
	edu_wr64(EDU_DMA_CNT, EDU_CHUNK);
	edu_wr64(EDU_DMA_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0));
	if (!edu_dma_idle(EDU_DMA_TIMEOUT_MS)) {
		ktap_print_msg("edu: DMA %s IOVA 0x%lx did not complete in %d ms",
			       to_ram ? "to" : "from", iova, EDU_DMA_TIMEOUT_MS);
		return false;
	}
	return true;
}

/* Copy a page from IOVA @src to IOVA @dst through the edu's buffer. */
static bool edu_copy(unsigned long src, unsigned long dst)
{
	double t = now();
	unsigned long off;

	for (off = 0; off < PAGE; off += EDU_CHUNK)
		if (!edu_dma(src + off, false) || !edu_dma(dst + off, true))
			return false;
	ktap_print_msg("edu: %lu bytes IOVA 0x%lx -> edu -> IOVA 0x%lx in %.0f ms (%lu DMAs)",
		       PAGE, src, dst, (now() - t) * 1e3, 2 * PAGE / EDU_CHUNK);
	return true;
}

/* --- VFIO. */

static int dma_map(void *vaddr, unsigned long iova, size_t size, __u32 flags)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = flags,
		.vaddr = (__u64)(uintptr_t)vaddr,
		.iova = iova,
		.size = size,
	};

	return ioctl(vfio.container, VFIO_IOMMU_MAP_DMA, &map) ? errno : 0;
}

/* UNMAP_DMA; 0 or the errno, the size the kernel unmapped in *@done. */
static int dma_unmap(unsigned long iova, size_t size, __u64 *done)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = iova,
		.size = size,
	};
	int err = ioctl(vfio.container, VFIO_IOMMU_UNMAP_DMA, &unmap) ? errno : 0;

	if (done)
		*done = unmap.size;
	return err;
}

/* VFIO_IOMMU_GET_INFO with its capability chain (free() it); NULL on error. */
static struct vfio_iommu_type1_info *get_info(void)
{
	struct vfio_iommu_type1_info *info = NULL;
	__u32 argsz = sizeof(*info);

	/* Once with the bare structure, again with the size it asks for. */
	do {
		free(info);
		info = calloc(1, argsz);
		if (!info)
			return NULL;
		info->argsz = argsz;
		if (ioctl(vfio.container, VFIO_IOMMU_GET_INFO, info)) {
			ktap_print_msg("VFIO_IOMMU_GET_INFO: %s", strerror(errno));
			free(info);
			return NULL;
		}
	} while (info->argsz > argsz && (argsz = info->argsz));
	return info;
}

/* Capability @id of @info, if it holds @len bytes; NULL otherwise. */
static void *find_cap(struct vfio_iommu_type1_info *info, __u16 id, size_t len)
{
	struct vfio_info_cap_header *hdr;
	__u32 off;

	if (!info || !(info->flags & VFIO_IOMMU_INFO_CAPS))
		return NULL;
	for (off = info->cap_offset; off && off + sizeof(*hdr) <= info->argsz;
	     off = hdr->next) {
		hdr = (void *)((char *)info + off);
		if (hdr->id == id)
			return off + len <= info->argsz ? hdr : NULL;
	}
	return NULL;
}

/* The nr_revoked of GET_INFO's REVOKE capability, -1 without one. */
static long info_nr_revoked(void)
{
	struct vfio_iommu_type1_info *info = get_info();
	struct vfio_iommu_type1_info_cap_revoke *cap;
	long nr = -1;

	cap = find_cap(info, VFIO_IOMMU_TYPE1_INFO_CAP_REVOKE, sizeof(*cap));
	if (cap)
		nr = cap->nr_revoked;
	free(info);
	return nr;
}

/* Print the usable IOVA ranges (and exercise the capability chain). */
static void print_iova_ranges(void)
{
	struct vfio_iommu_type1_info *info = get_info();
	struct vfio_iommu_type1_info_cap_iova_range *cap;
	__u32 i;

	cap = find_cap(info, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, sizeof(*cap));
	if (cap && (char *)&cap->iova_ranges[cap->nr_iovas] <= (char *)info + info->argsz)
		for (i = 0; i < cap->nr_iovas; i++)
			ktap_print_msg("IOVA range %u: 0x%llx-0x%llx", i,
				       (unsigned long long)cap->iova_ranges[i].start,
				       (unsigned long long)cap->iova_ranges[i].end);
	else
		ktap_print_msg("no IOVA range capability");
	free(info);
}

static bool find_edu(void)
{
	char path[PATH_MAX], val[32];
	bool found = false;
	glob_t g;
	size_t i;

	if (glob("/sys/bus/pci/devices/*", 0, NULL, &g))
		return false;
	for (i = 0; i < g.gl_pathc && !found; i++) {
		snprintf(path, sizeof(path), "%s/vendor", g.gl_pathv[i]);
		if (!read_line(path, val, sizeof(val)) || strtoul(val, NULL, 16) != EDU_VENDOR)
			continue;
		snprintf(path, sizeof(path), "%s/device", g.gl_pathv[i]);
		if (!read_line(path, val, sizeof(val)) || strtoul(val, NULL, 16) != EDU_DEVICE)
			continue;
		snprintf(vfio.bdf, sizeof(vfio.bdf), "%s", strrchr(g.gl_pathv[i], '/') + 1);
		found = true;
	}
	globfree(&g);
	return found;
}

/* Bind the edu to vfio-pci (unless it is), wait for its group's node. */
static bool bind_edu(char *group_path, size_t len)
{
	char path[PATH_MAX], name[64];
	int i;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", vfio.bdf);
	if (!link_name(path, name, sizeof(name))) {
		ktap_print_msg("%s has no IOMMU group (no vIOMMU?)", vfio.bdf);
		return false;
	}
	vfio.group_id = atoi(name);
	snprintf(group_path, len, "/dev/vfio/%d", vfio.group_id);

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", vfio.bdf);
	if (link_name(path, name, sizeof(name))) {
		if (strcmp(name, "vfio-pci")) {
			ktap_print_msg("%s is bound to %s, not vfio-pci: left alone",
				       vfio.bdf, name);
			return false;
		}
	} else {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", vfio.bdf);
		if (!write_str(path, "vfio-pci")) {
			ktap_print_msg("write %s: %s", path, strerror(errno));
			return false;
		}
		vfio.bound_here = true;
		if (!write_str("/sys/bus/pci/drivers_probe", vfio.bdf)) {
			ktap_print_msg("drivers_probe %s: %s", vfio.bdf, strerror(errno));
			return false;
		}
	}
	for (i = 0; i < 100 && access(group_path, F_OK); i++)
		usleep(50 * 1000);
	if (access(group_path, F_OK)) {
		ktap_print_msg("%s did not appear", group_path);
		return false;
	}
	return true;
}

/* Undo bind_edu() when it bound the edu. */
static void unbind_edu(void)
{
	char path[PATH_MAX];

	if (!vfio.bound_here)
		return;
	write_str("/sys/bus/pci/drivers/vfio-pci/unbind", vfio.bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver_override", vfio.bdf);
	write_str(path, "\n");
}

static void vfio_close(void)
{
	if (vfio.bar0)
		munmap((void *)vfio.bar0, vfio.bar0_size);
	vfio.bar0 = NULL;
	if (vfio.device >= 0)
		close(vfio.device);
	if (vfio.group >= 0)
		close(vfio.group);
	if (vfio.container >= 0)
		close(vfio.container);
	vfio.device = vfio.group = vfio.container = -1;
}

/* Container, group, device, BAR0, bus mastering; diagnostics on failure. */
static bool vfio_open(const char *group_path)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct vfio_region_info reg = { .argsz = sizeof(reg) };
	uint16_t cmd;
	void *p;

	vfio.container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (vfio.container < 0) {
		ktap_print_msg("open /dev/vfio/vfio: %s", strerror(errno));
		return false;
	}
	if (ioctl(vfio.container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(vfio.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		ktap_print_msg("no VFIO API %d with type1v2", VFIO_API_VERSION);
		return false;
	}
	vfio.group = open(group_path, O_RDWR | O_CLOEXEC);
	if (vfio.group < 0) {
		ktap_print_msg("open %s: %s", group_path, strerror(errno));
		return false;
	}
	if (ioctl(vfio.group, VFIO_GROUP_GET_STATUS, &status) ||
	    !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ktap_print_msg("group %d not viable (every device in it must be bound to vfio-pci)",
			       vfio.group_id);
		return false;
	}
	if (ioctl(vfio.group, VFIO_GROUP_SET_CONTAINER, &vfio.container) ||
	    ioctl(vfio.container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		ktap_print_msg("VFIO_GROUP_SET_CONTAINER/VFIO_SET_IOMMU: %s", strerror(errno));
		return false;
	}
	vfio.device = ioctl(vfio.group, VFIO_GROUP_GET_DEVICE_FD, vfio.bdf);
	if (vfio.device < 0) {
		ktap_print_msg("VFIO_GROUP_GET_DEVICE_FD %s: %s", vfio.bdf, strerror(errno));
		return false;
	}

	reg.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(vfio.device, VFIO_DEVICE_GET_REGION_INFO, &reg) ||
	    !(reg.flags & VFIO_REGION_INFO_FLAG_MMAP)) {
		ktap_print_msg("BAR0 region info: %s, flags 0x%x", strerror(errno), reg.flags);
		return false;
	}
	p = mmap(NULL, reg.size, PROT_READ | PROT_WRITE, MAP_SHARED, vfio.device,
		 reg.offset);
	if (p == MAP_FAILED) {
		ktap_print_msg("mmap BAR0: %s", strerror(errno));
		return false;
	}
	vfio.bar0 = p;
	vfio.bar0_size = reg.size;

	/* Bus mastering, through the config space region. */
	reg.index = VFIO_PCI_CONFIG_REGION_INDEX;
	reg.argsz = sizeof(reg);
	if (ioctl(vfio.device, VFIO_DEVICE_GET_REGION_INFO, &reg) ||
	    pread(vfio.device, &cmd, 2, reg.offset + PCI_COMMAND) != 2) {
		ktap_print_msg("config space: %s", strerror(errno));
		return false;
	}
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(vfio.device, &cmd, 2, reg.offset + PCI_COMMAND) != 2) {
		ktap_print_msg("PCI_COMMAND: %s", strerror(errno));
		return false;
	}
	ktap_print_msg("edu %s, IOMMU group %d, BAR0 %zu KiB, PCI_COMMAND 0x%x",
		       vfio.bdf, vfio.group_id, vfio.bar0_size >> 10, cmd);
	print_iova_ranges();
	return true;
}

/* The edu answers: its ID, and the liveness register inverts. */
static bool edu_alive(void)
{
	uint32_t id = edu_rd32(EDU_ID), live;

	edu_wr32(EDU_LIVENESS, 0x12345678);
	live = edu_rd32(EDU_LIVENESS);
	if (id != EDU_ID_VALUE || live != ~0x12345678u) {
		ktap_print_msg("edu: id 0x%08x (expected 0x%08x), liveness 0x%08x",
			       id, EDU_ID_VALUE, live);
		return false;
	}
	return true;
}

/* --- The P2PDMA provider. */

static bool find_p2pmem(void)
{
	char path[PATH_MAX];
	glob_t g;
	bool ok;

	if (glob(P2PMEM_GLOB, 0, NULL, &g))
		return false;
	ok = sscanf(g.gl_pathv[0], "/sys/bus/pci/devices/%31[^/]", prov.bdf) == 1;
	globfree(&g);
	if (!ok)
		return false;
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", prov.bdf);
	return link_name(path, prov.drv, sizeof(prov.drv));
}

/* Map P2P_SIZE bytes of the provider's p2pmem into prov.mem. */
static bool map_p2pmem(void)
{
	char path[PATH_MAX];
	void *p;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/allocate", prov.bdf);
	p = p2pmem_map(path, P2P_SIZE);
	if (!p)
		return false;
	prov.mem = p;
	memset(prov.mem, 0x5a, P2P_SIZE);
	return true;
}

static void unmap_p2pmem(void)
{
	if (prov.mem)
		munmap(prov.mem, P2P_SIZE);
	prov.mem = NULL;
}

/*
 * The provider's BAR that holds its p2pmem: the one of exactly the size of
 * the p2pmem (QEMU's NVMe CMB is a whole BAR); -1 if there is none.
 */
static int p2pmem_bar(size_t *bar_size)
{
	unsigned long long start, end, flags;
	char path[PATH_MAX], line[128];
	int bar = -1, i;
	size_t size;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/size", prov.bdf);
	if (!read_line(path, line, sizeof(line)))
		return -1;
	size = strtoull(line, NULL, 0);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource", prov.bdf);
	f = fopen(path, "r");
	if (!f)
		return -1;
	for (i = 0; i < 6 && fgets(line, sizeof(line), f); i++) {
		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) == 3 &&
		    end > start && end - start + 1 == size && bar < 0)
			bar = i;
	}
	fclose(f);
	*bar_size = size;
	return bar;
}

/* Bind the provider's driver again; async-signal-safe. */
static bool rebind_provider(void)
{
	char path[PATH_MAX];

	if (!prov.unbound)
		return true;
	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/bind", prov.drv);
	if (!write_str(path, prov.bdf) &&
	    !write_str("/sys/bus/pci/drivers_probe", prov.bdf))
		return false;
	prov.unbound = 0;
	return true;
}

static void on_signal(int sig)
{
	rebind_provider();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit(void)
{
	rebind_provider();
}

struct unbind {
	double start, end;
	bool ok, done;			/* done: __atomic */
};

static void *unbind_thread(void *arg)
{
	struct unbind *u = arg;
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "/sys/bus/pci/drivers/%s/unbind", prov.drv);
	u->start = now();
	u->ok = write_str(path, prov.bdf);
	u->end = now();
	__atomic_store_n(&u->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static bool unbind_wait(struct unbind *u, int secs)
{
	double end = now() + secs;

	while (!__atomic_load_n(&u->done, __ATOMIC_ACQUIRE)) {
		if (now() > end)
			return false;
		usleep(10 * 1000);
	}
	return true;
}

/* --- The cases. */

/* Also maps buf_a and buf_b, for the whole run: two pins, 8 kB VmLck. */
static bool case_setup(void)
{
	char group_path[64];
	struct pin_stat base;
	long lck = vmlck_kb();
	int err;

	if (!bind_edu(group_path, sizeof(group_path)) || !vfio_open(group_path) ||
	    !edu_alive() || pin_stat_read(&base))
		return false;
	err = dma_map(buf_a, IOVA_A, PAGE, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	if (!err)
		err = dma_map(buf_b, IOVA_B, PAGE, VFIO_DMA_MAP_FLAG_READ |
			      VFIO_DMA_MAP_FLAG_WRITE);
	if (err) {
		ktap_print_msg("MAP_DMA of anon pages: %s", strerror(err));
		return false;
	}
	ktap_print_msg("MAP_DMA of 2 anon pages at IOVA 0x%lx, 0x%lx: VmLck %ld -> %ld kB",
		       IOVA_A, IOVA_B, lck, vmlck_kb());
	return pin_stat_expect(&base, 2, 0, "after MAP_DMA of 2 anon pages");
}

static bool case_ram(void)
{
	fill(buf_a, 1);
	memset(buf_b, 0, PAGE);
	if (!edu_copy(IOVA_A, IOVA_B))
		return false;
	return check(buf_b, 1, "anon page B");
}

/* DMA from the edu to @iova must be refused by the vIOMMU, and logged. */
static bool dma_faults(unsigned long iova)
{
	int kfd = kmsg_open();
	bool ok;

	if (kfd < 0)
		return false;
	ok = edu_dma(iova, true) && kmsg_wait_fault(kfd, iova, 3000);
	if (!ok)
		ktap_print_msg("no \"fault addr 0x%lx\" record from the vIOMMU within 3 s",
			       iova);
	close(kfd);
	return ok;
}

/* Print the pin counter movement since @base. */
static void pin_stat_print(const struct pin_stat *base, const char *what)
{
	struct pin_stat now;

	if (!pin_stat_read(&now))
		ktap_print_msg("%s: pins acquired %+ld, released %+ld", what,
			       now.acquired - base->acquired,
			       now.released - base->released);
}

/*
 * The last MiB of the CMB BAR, mmap()ed from sysfs: a VM_PFNMAP mapping,
 * whose PFNs type1 maps without pinning them as long as it takes them for
 * MMIO without a struct page.  Then it is the data path of the P2P cases
 * without the new uAPI: a page from RAM to the CMB and one back, through
 * the edu (its last two pages are out of the way of the NVMe driver's
 * queues in the CMB).  The series keeps this as on the base kernel: the
 * PFNs are P2PDMA pages, but only revocable mappings pin those.  A kernel
 * with VFIO_TYPE1_REVOCABLE (@revocable) refuses a revocable MAP_DMA of the
 * same range with EFAULT (a VM_PFNMAP mapping cannot be pinned), and
 * nothing is pinned.
 */
static int case_bar(bool revocable)
{
	char path[PATH_MAX];
	struct pin_stat base;
	volatile uint8_t *bar;
	size_t size;
	bool ok;
	int fd, i, err;

	i = p2pmem_bar(&size);
	if (i < 0) {
		ktap_print_msg("no BAR of %s matches its p2pmem", prov.bdf);
		return -1;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d", prov.bdf, i);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ktap_print_msg("open %s: %s", path, strerror(errno));
		return -1;
	}
	bar = mmap(NULL, P2P_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   size - P2P_SIZE);
	close(fd);
	if (bar == MAP_FAILED) {
		ktap_print_msg("mmap %s: %s", path, strerror(errno));
		return -1;
	}
	if (pin_stat_read(&base)) {
		munmap((void *)bar, P2P_SIZE);
		return 0;
	}
	ok = true;
	if (revocable) {
		err = dma_map((void *)bar, IOVA_BAR, P2P_SIZE,
			      VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE |
			      VFIO_DMA_MAP_FLAG_REVOCABLE);
		ktap_print_msg("MAP_DMA REVOCABLE of the BAR mmap: %s (expected: %s)",
			       err ? strerror(err) : "mapped", strerror(EFAULT));
		if (!err)
			dma_unmap(IOVA_BAR, P2P_SIZE, NULL);
		ok = err == EFAULT &&
		     pin_stat_expect(&base, 0, 0, "after MAP_DMA REVOCABLE of the BAR");
	}
	err = dma_map((void *)bar, IOVA_BAR, P2P_SIZE, VFIO_DMA_MAP_FLAG_READ |
		      VFIO_DMA_MAP_FLAG_WRITE);
	ktap_print_msg("MAP_DMA of the last MiB of BAR %d (%zu MiB) at IOVA 0x%lx: %s (expected: mapped)",
		       i, size >> 20, IOVA_BAR, err ? strerror(err) : "mapped");
	ok = ok && !err && pin_stat_expect(&base, 0, 0, "after MAP_DMA of the BAR");
	if (ok && !err) {
		memset((void *)(bar + P2P_SIZE - PAGE), 0, PAGE);
		fill(buf_a, 5);
		ok = edu_copy(IOVA_A, IOVA_BAR + P2P_SIZE - PAGE) &&
		     check(bar + P2P_SIZE - PAGE, 5, "CMB BAR last page");
		fill((uint8_t *)bar + P2P_SIZE - 2 * PAGE, 6);
		memset(buf_b, 0, PAGE);
		ok &= edu_copy(IOVA_BAR + P2P_SIZE - 2 * PAGE, IOVA_B) &&
		      check(buf_b, 6, "anon page B");
	}
	if (!err && dma_unmap(IOVA_BAR, P2P_SIZE, NULL))
		ok = false;
	munmap((void *)bar, P2P_SIZE);
	return ok && pin_stat_expect(&base, 0, 0, "after UNMAP_DMA of the BAR");
}

/*
 * MAP_DMA of the p2pmem without REVOCABLE: refused as pin_user_pages_remote(
 * FOLL_LONGTERM) refuses P2PDMA pages, EREMOTEIO, and nothing left pinned.
 * (Before the series' kernfs change, a writable pin of the kernfs mapping
 * failed earlier, with EFAULT: it needed dirty tracking.)
 */
static bool case_v1(__u32 flags)
{
	struct pin_stat base;
	int err;

	if (pin_stat_read(&base))
		return false;
	err = dma_map(prov.mem, IOVA_P2P, P2P_SIZE, flags);
	if (!err)
		dma_unmap(IOVA_P2P, P2P_SIZE, NULL);
	ktap_print_msg("MAP_DMA %s of 1 MiB p2pmem: %s",
		       flags & VFIO_DMA_MAP_FLAG_WRITE ? "READ|WRITE" : "READ",
		       err ? strerror(err) : "mapped");
	pin_stat_print(&base, "after the refused MAP_DMA");
	return pin_stat_balanced(&base, "after the refused MAP_DMA") && err == EREMOTEIO;
}

static bool case_vaddr(void)
{
	int err = dma_map(prov.mem, IOVA_P2P, P2P_SIZE, VFIO_DMA_MAP_FLAG_READ |
			  VFIO_DMA_MAP_FLAG_REVOCABLE | VFIO_DMA_MAP_FLAG_VADDR);

	ktap_print_msg("MAP_DMA REVOCABLE|VADDR: %s", err ? strerror(err) : "accepted");
	if (!err)
		dma_unmap(IOVA_P2P, P2P_SIZE, NULL);
	return err == EINVAL;
}

static bool case_anon(void)
{
	struct pin_stat base;
	int err;

	if (pin_stat_read(&base))
		return false;
	err = dma_map(buf_c, IOVA_P2P, PAGE, VFIO_DMA_MAP_FLAG_READ |
		      VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_REVOCABLE);
	ktap_print_msg("MAP_DMA REVOCABLE of an anon page: %s", err ? strerror(err) : "mapped");
	if (!err)
		dma_unmap(IOVA_P2P, PAGE, NULL);
	return pin_stat_balanced(&base, "after MAP_DMA REVOCABLE of anon") && err == EINVAL;
}

/* A line "@name N" of debugfs pin_revoke/stats, or -1. */
static long pin_revoke_stat(const char *name)
{
	FILE *f = fopen("/sys/kernel/debug/pin_revoke/stats", "r");
	char key[64];
	long val, ret = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &val) == 2)
		if (!strcmp(key, name))
			ret = val;
	fclose(f);
	return ret;
}

/*
 * Page cache is not P2PDMA memory: refused with EINVAL, as anonymous
 * memory, and the container's subscription is not left attached to the
 * file (pin_revoke/stats counts file domains: none more while the memfd
 * is still open).
 */
static bool case_shmem(void)
{
	long files = pin_revoke_stat("files"), after;
	struct pin_stat base;
	char *map;
	int fd, err;

	fd = memfd_create("vfio_p2p", 0);
	if (fd < 0 || ftruncate(fd, PAGE) || pin_stat_read(&base)) {
		ktap_print_msg("memfd: %s", strerror(errno));
		return false;
	}
	map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return false;
	}
	map[0] = 1;
	err = dma_map(map, IOVA_P2P, PAGE, VFIO_DMA_MAP_FLAG_READ |
		      VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_REVOCABLE);
	ktap_print_msg("MAP_DMA REVOCABLE of a memfd page: %s", err ? strerror(err) : "mapped");
	if (!err)
		dma_unmap(IOVA_P2P, PAGE, NULL);
	after = pin_revoke_stat("files");
	ktap_print_msg("pin_revoke file domains: %ld before, %ld after", files, after);
	munmap(map, PAGE);
	close(fd);
	return pin_stat_balanced(&base, "after MAP_DMA REVOCABLE of a memfd page") &&
	       err == EINVAL && files >= 0 && after == files;
}

/*
 * Revocable MAP_DMA of the whole p2pmem mapping at IOVA_P2P; true if
 * mapped.  *@ok: 256 pins taken since @base, no locked_vm charged.
 */
static bool map_revocable(struct pin_stat *base, bool *ok)
{
	long lck = vmlck_kb(), lck2;
	int err;

	*ok = false;
	if (pin_stat_read(base))
		return false;
	err = dma_map(prov.mem, IOVA_P2P, P2P_SIZE, VFIO_DMA_MAP_FLAG_READ |
		      VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_REVOCABLE);
	lck2 = vmlck_kb();
	ktap_print_msg("revocable MAP_DMA of 1 MiB p2pmem at IOVA 0x%lx: %s; VmLck %ld -> %ld kB",
		       IOVA_P2P, err ? strerror(err) : "mapped", lck, lck2);
	if (err)
		return false;
	pin_stat_print(base, "after the revocable MAP_DMA");
	*ok = pin_stat_expect(base, P2P_PAGES, 0, "after the revocable MAP_DMA") &&
	      lck == lck2 && lck >= 0;
	return true;
}

static bool case_to_cmb(void)
{
	bool ok;

	memset(prov.mem, 0, P2P_SIZE);
	fill(buf_a, 2);
	ok = edu_copy(IOVA_A, IOVA_P2P);
	fill(buf_a, 3);
	ok &= edu_copy(IOVA_A, IOVA_P2P + P2P_SIZE - PAGE);
	if (!ok)
		return false;
	ok = check((uint8_t *)prov.mem, 2, "CMB first page");
	ok &= check((uint8_t *)prov.mem + P2P_SIZE - PAGE, 3, "CMB last page");
	if (ok)
		ktap_print_msg("2 x 4096 bytes read back from the CMB through the p2pmem mmap");
	return ok;
}

static bool case_from_cmb(void)
{
	const size_t off = P2P_SIZE / 2;

	fill((uint8_t *)prov.mem + off, 4);
	memset(buf_b, 0, PAGE);
	return edu_copy(IOVA_P2P + off, IOVA_B) && check(buf_b, 4, "anon page B");
}

/* UNMAP_DMA of the revocable mapping: whole size, every pin released. */
static bool case_unmap(const struct pin_stat *base)
{
	__u64 size = 0;
	int err = dma_unmap(IOVA_P2P, P2P_SIZE, &size);

	ktap_print_msg("UNMAP_DMA: %s, %llu bytes", err ? strerror(err) : "ok",
		       (unsigned long long)size);
	pin_stat_print(base, "since the revocable MAP_DMA");
	return pin_stat_expect(base, P2P_PAGES, P2P_PAGES, "after UNMAP_DMA") &&
	       !err && size == P2P_SIZE;
}

/*
 * Unbind the provider under a revocable mapping, then look at what is
 * left of the mapping.  Reports C_EVENTFD to C_REBIND; false if it gave
 * up early (and skipped up to C_BALANCE).
 */
static bool cases_revoke(void)
{
	struct vfio_iommu_type1_revoke_eventfd rev = { .argsz = sizeof(rev) };
	struct pollfd pfd = { .events = POLLIN };
	bool mapped, done, fired, once, ok;
	struct unbind u = {};
	struct pin_stat base;
	uint64_t count = 0;
	double t_ev = 0, end;
	char path[PATH_MAX];
	pthread_t th;
	__u64 size = 0;
	int err, i;
	long nr;

	mapped = map_revocable(&base, &ok);
	pfd.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rev.fd = pfd.fd;
	if (!mapped || pfd.fd < 0 ||
	    ioctl(vfio.container, VFIO_IOMMU_TYPE1_SET_REVOKE_EVENTFD, &rev)) {
		ktap_print_msg("revocable mapping %s; eventfd/SET_REVOKE_EVENTFD: %s",
			       mapped ? "made" : "not made", strerror(errno));
		dma_unmap(IOVA_P2P, P2P_SIZE, NULL);
		skip_range(C_EVENTFD, C_BALANCE, "no revocable mapping with an eventfd");
		return false;
	}
	if (pin_stat_read(&base) || pthread_create(&th, NULL, unbind_thread, &u)) {
		dma_unmap(IOVA_P2P, P2P_SIZE, NULL);
		skip_range(C_EVENTFD, C_BALANCE, "cannot start the unbind");
		return false;
	}
	prov.unbound = 1;
	/* The eventfd, until 2 s after the unbind returned at the latest. */
	for (end = now() + UNBIND_TIMEOUT_S; !t_ev && now() < end;) {
		if (poll(&pfd, 1, 20) == 1)
			t_ev = now();
		else if (__atomic_load_n(&u.done, __ATOMIC_ACQUIRE) && u.end + 2 < end)
			end = u.end + 2;
	}
	done = unbind_wait(&u, UNBIND_TIMEOUT_S);
	if (!done) {
		/* Maybe it waits for our pins: drop them all, and wait again. */
		ktap_print_msg("unbind of %s still blocked after %d s: closing the container",
			       prov.bdf, UNBIND_TIMEOUT_S);
		vfio_close();
		done = unbind_wait(&u, 10);
	}
	if (!done) {
		ktap_print_msg("unbind of %s never returned", prov.bdf);
		skip_range(C_EVENTFD, C_BALANCE, "the unbind hangs");
		return false;	/* the thread is stuck in the kernel */
	}
	pthread_join(th, NULL);
	fired = read(pfd.fd, &count, sizeof(count)) == sizeof(count);
	/* Nothing more once read: signalled once. */
	once = fired && count == 1 &&
	       read(pfd.fd, &size, sizeof(size)) < 0 && errno == EAGAIN;
	if (t_ev)
		ktap_print_msg("unbind %s in %.1f ms; eventfd readable %.1f ms after the unbind began (%s it returned)",
			       u.ok ? "completed" : "failed", (u.end - u.start) * 1e3,
			       (t_ev - u.start) * 1e3, t_ev <= u.end ? "before" : "after");
	else
		ktap_print_msg("unbind %s in %.1f ms; eventfd not readable (waited until %.1f s after the unbind began)",
			       u.ok ? "completed" : "failed", (u.end - u.start) * 1e3,
			       end - u.start);
	ktap_print_msg("eventfd count %llu", fired ? (unsigned long long)count : 0ULL);
	report(C_EVENTFD, u.ok && t_ev && once);

	if (vfio.container < 0) {
		close(pfd.fd);
		skip_range(C_REVOKED, C_REBIND, "the container was closed to unblock the unbind");
		goto rebind;
	}
	nr = info_nr_revoked();
	ktap_print_msg("GET_INFO REVOKE capability: nr_revoked %ld", nr);
	pin_stat_print(&base, "across the unbind");
	ok = pin_stat_expect(&base, 0, P2P_PAGES, "after the unbind");
	report(C_REVOKED, ok && nr == 1);

	report(C_REVOKED_FAULT, dma_faults(IOVA_P2P));

	err = dma_map(buf_c, IOVA_P2P, PAGE, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	ktap_print_msg("MAP_DMA of an anon page over the revoked mapping: %s",
		       err ? strerror(err) : "mapped");
	if (!err)
		dma_unmap(IOVA_P2P, PAGE, NULL);
	report(C_EEXIST, err == EEXIST);

	err = dma_unmap(IOVA_P2P, P2P_SIZE, &size);
	ktap_print_msg("UNMAP_DMA of the revoked mapping: %s, %llu bytes",
		       err ? strerror(err) : "ok", (unsigned long long)size);
	ok = !err && size == P2P_SIZE;
	err = dma_map(buf_c, IOVA_P2P, PAGE, VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
	ktap_print_msg("MAP_DMA of an anon page at IOVA 0x%lx then: %s", IOVA_P2P,
		       err ? strerror(err) : "mapped");
	if (!err)
		ok &= !dma_unmap(IOVA_P2P, PAGE, NULL);
	report(C_TOMBSTONE, ok && !err);

	rev.fd = -1;
	if (ioctl(vfio.container, VFIO_IOMMU_TYPE1_SET_REVOKE_EVENTFD, &rev))
		ktap_print_msg("SET_REVOKE_EVENTFD -1: %s", strerror(errno));
	close(pfd.fd);

rebind:
	/* The provider again, for whatever runs next. */
	unmap_p2pmem();
	ok = rebind_provider();
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/allocate", prov.bdf);
	for (i = 0; ok && i < REBIND_TIMEOUT_S * 10 && access(path, F_OK); i++)
		usleep(100 * 1000);
	ok = ok && !access(path, F_OK);
	ktap_print_msg("%s bound to %s again: %s", prov.bdf, prov.drv,
		       ok ? "p2pmem published" : "no p2pmem");
	report(C_REBIND, ok);
	return true;
}


/* --- Hot-unplug, through the host's QMP agent (scripts/vm --p2pdma). */

static char qmp_dir[PATH_MAX];

/* Whether the host serves QMP requests (scripts/qmp-agent). */
static bool qmp_available(void)
{
	const char *share = getenv("VM_SHARE");

	snprintf(qmp_dir, sizeof(qmp_dir), "%s/qmp", share ? share : "/run/vmio");
	return !access(qmp_dir, W_OK);
}

/*
 * Have the host send QMP command @cmd to QEMU; QEMU's answer into @ans.
 * True if QEMU answered without an error.
 */
static bool qmp(const char *cmd, char *ans, size_t len)
{
	char req[PATH_MAX + 16], tmp[PATH_MAX + 16], rep[PATH_MAX + 16];
	FILE *f;
	int i;

	snprintf(req, sizeof(req), "%s/request", qmp_dir);
	snprintf(tmp, sizeof(tmp), "%s/request.tmp", qmp_dir);
	snprintf(rep, sizeof(rep), "%s/reply", qmp_dir);
	unlink(rep);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s\n", cmd) < 0 || fclose(f) || rename(tmp, req)) {
		ktap_print_msg("QMP request %s: %s", req, strerror(errno));
		return false;
	}
	for (i = 0; i < 3500 && access(rep, F_OK); i++)
		usleep(10 * 1000);
	if (!read_line(rep, ans, len)) {
		ktap_print_msg("QMP %s: no answer", cmd);
		return false;
	}
	unlink(rep);
	return !strstr(ans, "\"error\"");
}

/* The state file of the NVMe controller of the provider into @path. */
static bool ctrl_state_path(char *path, size_t len)
{
	char pattern[PATH_MAX];
	glob_t g;

	snprintf(pattern, sizeof(pattern), "/sys/bus/pci/devices/%s/nvme/nvme*/state", prov.bdf);
	if (glob(pattern, 0, NULL, &g))
		return false;
	snprintf(path, len, "%s", g.gl_pathv[0]);
	globfree(&g);
	return true;
}

/*
 * device_del of the provider; the seconds its removal took in the guest:
 * from nvme_remove() (the controller's state leaves "live") until the PCI
 * device is gone from sysfs.  -1 if it was not removed.
 */
static double hot_unplug(void)
{
	char ans[512], dev[PATH_MAX], ctrl[PATH_MAX], state[32];
	double t_req, t_del = 0, t_gone = 0, end;

	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", prov.bdf);
	if (!ctrl_state_path(ctrl, sizeof(ctrl))) {
		ktap_print_msg("%s has no NVMe controller", prov.bdf);
		return -1;
	}
	t_req = now();
	if (!qmp(QMP_DEVICE_DEL, ans, sizeof(ans))) {
		ktap_print_msg("device_del: %s", ans);
		return -1;
	}
	for (end = t_req + UNPLUG_TIMEOUT_S; now() < end; usleep(1000)) {
		if (!t_del && (!read_line(ctrl, state, sizeof(state)) || strcmp(state, "live")))
			t_del = now();
		if (access(dev, F_OK)) {
			t_gone = now();
			break;
		}
	}
	if (!t_gone) {
		ktap_print_msg("%s still present %d s after device_del", prov.bdf, UNPLUG_TIMEOUT_S);
		return -1;
	}
	if (!t_del)
		t_del = t_gone;
	ktap_print_msg("device_del of %s: removal began %.2f s after the request, took %.1f ms",
		       prov.bdf, t_del - t_req, (t_gone - t_del) * 1e3);
	return t_gone - t_del;
}

/* device_add of the provider again (QEMU frees its id once the guest let go). */
static bool hot_add(void)
{
	char ans[512], path[PATH_MAX];
	bool added = false;
	double end;

	for (end = now() + UNPLUG_TIMEOUT_S; !added && now() < end;) {
		added = qmp(QMP_DEVICE_ADD, ans, sizeof(ans));
		if (!added)
			usleep(200 * 1000);
	}
	if (!added) {
		ktap_print_msg("device_add: %s", ans);
		return false;
	}
	/* p2pmem/ appears before the memory is added and published. */
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/p2pmem/published", prov.bdf);
	for (end = now() + REBIND_TIMEOUT_S; now() < end; usleep(100 * 1000)) {
		if (read_line(path, ans, sizeof(ans)) && !strcmp(ans, "1"))
			break;
	}
	added = read_line(path, ans, sizeof(ans)) && !strcmp(ans, "1");
	ktap_print_msg("device_add: %s %s", prov.bdf,
		       added ? "publishes p2pmem again" : "publishes no p2pmem");
	return added;
}

/*
 * The hot-unplug cases: once with no pin, for the time the removal takes,
 * once under a revocable VFIO mapping of the whole p2pmem mapping (with its
 * eventfd) and a revocable gup_test pin of UNPLUG_PIN_PAGES of it.
 */
static void cases_unplug(void)
{
	struct vfio_iommu_type1_revoke_eventfd rev = { .argsz = sizeof(rev) };
	struct pin_longterm_test_status st = { .argsz = sizeof(st) };
	struct pin_longterm_test pin = {};
	struct pin_stat base, after;
	double t_first, t_none, t_pinned = 0;
	bool ok, mapped, unplugged = false;
	char dev[PATH_MAX];
	long nr0, nr1, net;
	uint64_t count = 0;
	__u64 size = 0;
	int gfd, efd;

	snprintf(dev, sizeof(dev), "/sys/bus/pci/devices/%s", prov.bdf);
	if (!qmp_available()) {
		skip_range(C_UNPLUG_BASE, C_BALANCE, "no QMP agent (scripts/vm --p2pdma)");
		return;
	}
	if (access("/sys/bus/pci/slots", F_OK))
		ktap_print_msg("no /sys/bus/pci/slots: a kernel without PCI hotplug?");
	unmap_p2pmem();
	/*
	 * The controller as booted has a namespace; as added back, none
	 * (device_add without a drive).  The no-pin time compared with is
	 * that of the second removal, like the one under pins.
	 */
	t_first = hot_unplug();
	ok = t_first >= 0 && hot_add();
	t_none = ok ? hot_unplug() : -1;
	ok = ok && t_none >= 0 && hot_add();
	report(C_UNPLUG_BASE, ok);
	if (!ok) {
		skip_range(C_UNPLUG, C_BALANCE, "no hot-unplug of the provider");
		return;
	}

	gfd = open("/sys/kernel/debug/gup_test", O_RDWR);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rev.fd = efd;
	nr0 = info_nr_revoked();
	mapped = gfd >= 0 && efd >= 0 && map_p2pmem() && !pin_stat_read(&base) &&
		 !dma_map(prov.mem, IOVA_P2P, P2P_SIZE, VFIO_DMA_MAP_FLAG_READ |
			  VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_REVOCABLE) &&
		 !ioctl(vfio.container, VFIO_IOMMU_TYPE1_SET_REVOKE_EVENTFD, &rev);
	pin.addr = (unsigned long)prov.mem;
	pin.size = UNPLUG_PIN_PAGES * PAGE;
	pin.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_P2PDMA |
		    PIN_LONGTERM_TEST_FLAG_REVOCABLE;
	if (!mapped || ioctl(gfd, PIN_LONGTERM_TEST_START, &pin)) {
		ktap_print_msg("revocable mapping, eventfd and gup_test pin: %s", strerror(errno));
		skip_range(C_UNPLUG, C_BALANCE, "cannot pin the provider's p2pmem");
		goto out;
	}
	pin_stat_print(&base, "after the revocable MAP_DMA and gup_test pin");
	t_pinned = hot_unplug();
	unplugged = t_pinned >= 0;
	ok = unplugged;
	if (ok)
		ktap_print_msg("removal with no pin %.1f ms, under pins %.1f ms (extra %.1f ms, at most %.0f)",
			       t_none * 1e3, t_pinned * 1e3, (t_pinned - t_none) * 1e3,
			       UNPLUG_EXTRA_S * 1e3);
	ok = ok && t_pinned <= t_none + UNPLUG_EXTRA_S;
	/* The revocations, as an unbind reports them. */
	ok &= read(efd, &count, sizeof(count)) == sizeof(count) && count == 1;
	nr1 = info_nr_revoked();
	ok &= !ioctl(gfd, PIN_LONGTERM_TEST_STATUS, &st);
	ktap_print_msg("eventfd count %llu; nr_revoked %ld -> %ld; gup_test: revoked %u, %llu pinned, %u call(s)",
		       (unsigned long long)count, nr0, nr1, st.revoked,
		       (unsigned long long)st.nr_pinned, st.calls);
	ok &= nr1 == nr0 + 1 && st.revoked && !st.nr_pinned && st.calls == 1;
	/* Every pin of both released: net pins back where they were. */
	if (pin_stat_read(&after))
		ok = false;
	net = (after.acquired - after.released) - (base.acquired - base.released);
	ktap_print_msg("pins held since before the mapping: %ld", net);
	report(C_UNPLUG, ok && net == 0);
out:
	unmap_p2pmem();
	dma_unmap(IOVA_P2P, P2P_SIZE, &size);
	if (gfd >= 0)
		close(gfd);
	if (efd >= 0) {
		rev.fd = -1;
		ioctl(vfio.container, VFIO_IOMMU_TYPE1_SET_REVOKE_EVENTFD, &rev);
		close(efd);
	}
	if (unplugged)
		report(C_UNPLUG_BACK, hot_add());
	else if (t_pinned < 0 && access(dev, F_OK))
		hot_add();	/* removed after all, too late */
}

int main(void)
{
	struct pin_stat run, base;
	long lck0 = vmlck_kb();
	bool ok, good;
	int ext, ret;

	ktap_plan(NR_CASES);
	if (geteuid()) {
		skip_range(0, NR_CASES, "needs root");
		exit(4);
	}
	if (!find_edu()) {
		skip_range(0, NR_CASES, "no edu device (scripts/vm --vfio)");
		exit(4);
	}
	if (!find_p2pmem()) {
		skip_range(0, NR_CASES, "no published p2pmem (scripts/vm --p2pdma)");
		exit(4);
	}
	ktap_print_msg("edu %s; p2pmem provider %s (%s)", vfio.bdf, prov.bdf, prov.drv);
	atexit(at_exit);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	buf_a = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf_a == MAP_FAILED || pin_stat_read(&run) || !map_p2pmem()) {
		ktap_print_msg("anon buffers, /proc/vmstat or p2pmem: %s", strerror(errno));
		skip_range(0, NR_CASES, "cannot set up");
		ktap_finished();
	}
	/* Populated (pins of the zero page are not counted), 4K pages. */
	madvise(buf_a, 3 * PAGE, MADV_NOHUGEPAGE);
	memset(buf_a, 1, 3 * PAGE);
	buf_b = buf_a + PAGE;
	buf_c = buf_a + 2 * PAGE;

	ok = case_setup();
	report(C_SETUP, ok);
	if (!ok) {
		skip_range(C_RAM, C_BALANCE, "no working VFIO container");
		goto out;
	}
	report(C_RAM, case_ram());
	report(C_FAULT, dma_faults(IOVA_UNMAPPED));

	ext = ioctl(vfio.container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_REVOCABLE);
	ktap_print_msg("VFIO_CHECK_EXTENSION(VFIO_TYPE1_REVOCABLE): %d", ext);
	ret = case_bar(ext == 1);
	if (ret < 0)
		ktap_skip(cases[C_BAR], "cannot map the p2pmem provider's BAR");
	else
		report(C_BAR, ret);
	report(C_V1_RW, case_v1(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE));
	report(C_V1_RO, case_v1(VFIO_DMA_MAP_FLAG_READ));
	if (ext != 1) {
		skip_range(C_VADDR, C_BALANCE, "kernel without VFIO_TYPE1_REVOCABLE");
		goto out;
	}
	report(C_VADDR, case_vaddr());
	report(C_ANON, case_anon());
	report(C_SHMEM, case_shmem());
	ok = map_revocable(&base, &good);
	report(C_MAP, good);
	if (ok) {
		report(C_TO_CMB, case_to_cmb());
		report(C_FROM_CMB, case_from_cmb());
		report(C_UNMAP, case_unmap(&base));
	} else {
		dma_unmap(IOVA_P2P, P2P_SIZE, NULL);
		skip_range(C_TO_CMB, C_EVENTFD, "no revocable mapping");
	}
	if (!cases_revoke())
		goto out;
	if (vfio.container >= 0 && !prov.unbound && prov.drv[0])
		cases_unplug();
	else
		skip_range(C_UNPLUG_BASE, C_BALANCE, "no container or no provider after the unbind");
out:
	if (vfio.container >= 0) {
		dma_unmap(IOVA_A, PAGE, NULL);
		dma_unmap(IOVA_B, PAGE, NULL);
	}
	vfio_close();
	unmap_p2pmem();
	rebind_provider();
	unbind_edu();
	ok = pin_stat_balanced(&run, "over the run");
	ktap_print_msg("VmLck %ld kB at the start, %ld kB at the end", lck0, vmlck_kb());
	report(C_BALANCE, ok && vmlck_kb() == lck0);
	ktap_finished();
}
