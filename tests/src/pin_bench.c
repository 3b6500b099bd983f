// SPDX-License-Identifier: GPL-2.0
/*
 * pin_bench: time pin_user_pages*() and unpin_user_pages() through the
 * gup_test debugfs interface (the kernel times its own loop, so only the
 * pin and unpin calls are measured), on one kind of memory, for make bench.
 *
 *   pin_bench -b BACKING -m MODE -s SIZE_MB [-w] [-t THREADS] [-r REPS]
 *             [-n PAGES_PER_CALL] [-I]
 *
 * BACKING: anon4k (THP off for the range), thp (PMD-mapped THP),
 *   mthp16k, mthp64k (anonymous mTHP of that size, PTE-mapped; set with the
 *   per-size sysfs knobs, restored on exit), pte2m (2M THPs remapped by PTEs:
 *   mprotect() of one page splits the PMD, the folio stays whole), hugetlb
 *   (2M, MAP_HUGETLB), shmem (MAP_SHARED | MAP_ANONYMOUS).
 * MODE: fast (pin_user_pages_fast), fast-longterm (the same, FOLL_LONGTERM),
 *   slow (pin_user_pages), slow-longterm (pin_user_pages with FOLL_LONGTERM);
 *   these pin and then unpin the range in one ioctl.  hold-fast, hold-slow
 *   (with -I only): pin the range with FOLL_LONGTERM in one ioctl
 *   (PIN_LONGTERM_TEST_START, pin_user_pages_fast or pin_user_pages) and
 *   unpin it in another (PIN_LONGTERM_TEST_STOP), so that the two are
 *   counted apart.
 * -w pins with FOLL_WRITE.  THREADS split the range and pin their slices at
 *   the same time.
 *
 * -I: instruction counts instead of times, for the insn_marks TCG plugin
 *   (tests/plugin/insn_marks.c): each ioctl is bracketed by its start and
 *   stop marker instructions, and one line per bracket, warm-up included,
 *   says what the plugin's matching "insns" line counts:
 *   mark KIND R pages N       (KIND: all = pin + unpin, pin, unpin)
 *   Needs one thread, and a guest with one vCPU.
 *
 * Output, one line per repetition and thread (after one unreported
 * warm-up repetition):
 *   rep R thread T pages N pin_us P unpin_us U
 * and before them a line "# backing ...: folio check ..." telling whether
 * the memory has the folio size asked for (from /proc/self/smaps).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/types.h>

#include "sysfs.h"

/* The gup_test debugfs ABI (mm/gup_test.h), benchmark part. */
#define GUP_TEST_MAX_PAGES_TO_DUMP	8
struct gup_test {
	__u64 get_delta_usec;
	__u64 put_delta_usec;
	__u64 addr;
	__u64 size;
	__u32 nr_pages_per_call;
	__u32 gup_flags;
	__u32 test_flags;
	__u32 which_pages[GUP_TEST_MAX_PAGES_TO_DUMP];
};
#define PIN_FAST_BENCHMARK	_IOWR('g', 2, struct gup_test)
#define PIN_LONGTERM_BENCHMARK	_IOWR('g', 3, struct gup_test)
#define PIN_BASIC_TEST		_IOWR('g', 5, struct gup_test)
struct pin_longterm_test {
	__u64 addr;
	__u64 size;
	__u32 flags;
};
#define PIN_LONGTERM_TEST_START	_IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP	_IO('g', 8)
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	1
#define PIN_LONGTERM_TEST_FLAG_USE_FAST		2
#define FOLL_WRITE		0x01
#define FOLL_LONGTERM		0x100

#define SZ_2M			(2UL << 20)
#define THP_DIR			"/sys/kernel/mm/transparent_hugepage/"

static const char *backing = "anon4k", *mode = "fast";
static size_t size_mb = 64, page_size;
static int threads = 1, reps = 5, per_call = 512;
static bool write_pin, insn_mode;
static int gup_fd;
static char *mem;

/* Per-size mTHP knobs changed by this run, restored at exit. */
struct knob {
	char path[128];
	char old[32];
};
static struct knob knobs[16];
static int nr_knobs;

static void die(const char *what)
{
	fprintf(stderr, "pin_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static bool read_str(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, len, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = 0;
	return ok;
}

/* The selected value of a sysfs choice like "always [inherit] never". */
static void selected(char *buf)
{
	char *l = strchr(buf, '['), *r = l ? strchr(l, ']') : NULL;

	if (l && r) {
		memmove(buf, l + 1, r - l - 1);
		buf[r - l - 1] = 0;
	}
}

static void set_knob(const char *path, const char *val)
{
	struct knob *k = &knobs[nr_knobs];

	if (nr_knobs >= (int)(sizeof(knobs) / sizeof(knobs[0])))
		return;
	if (!read_str(path, k->old, sizeof(k->old)))
		return;
	selected(k->old);
	snprintf(k->path, sizeof(k->path), "%s", path);
	if (write_str(path, val))
		nr_knobs++;
}

static void restore_knobs(void)
{
	while (nr_knobs--)
		write_str(knobs[nr_knobs].path, knobs[nr_knobs].old);
}

/* Only the anonymous mTHP size @kb (0: none) is enabled. */
static void only_mthp(int kb)
{
	static const int sizes[] = { 16, 32, 64, 128, 256, 512, 1024, 2048 };
	char path[128];
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(path, sizeof(path), THP_DIR "hugepages-%dkB/enabled",
			 sizes[i]);
		if (access(path, W_OK))
			continue;
		set_knob(path, sizes[i] == kb ? "always" : "never");
	}
}

static char *map_aligned(size_t len, int flags)
{
	char *p = mmap(NULL, len + SZ_2M, PROT_READ | PROT_WRITE, flags, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		die("mmap");
	a = (char *)(((uintptr_t)p + SZ_2M - 1) & ~(SZ_2M - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + len, p + SZ_2M - a);
	return a;
}

static void setup(size_t len)
{
	size_t off;

	if (!strcmp(backing, "hugetlb")) {
		mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
		if (mem == MAP_FAILED)
			die("mmap(MAP_HUGETLB) (reserve 2M huge pages)");
	} else if (!strcmp(backing, "shmem")) {
		mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			die("mmap(shmem)");
	} else {
		if (!strcmp(backing, "anon4k"))
			only_mthp(0);
		else if (!strcmp(backing, "mthp16k"))
			only_mthp(16);
		else if (!strcmp(backing, "mthp64k"))
			only_mthp(64);
		else if (!strcmp(backing, "thp") || !strcmp(backing, "pte2m"))
			only_mthp(2048);
		else {
			fprintf(stderr, "pin_bench: unknown backing %s\n", backing);
			exit(2);
		}
		mem = map_aligned(len, MAP_PRIVATE | MAP_ANONYMOUS);
		madvise(mem, len, !strcmp(backing, "anon4k") ?
			MADV_NOHUGEPAGE : MADV_HUGEPAGE);
	}
	for (off = 0; off < len; off += page_size)
		mem[off] = 1;
	if (!strcmp(backing, "pte2m")) {
		/* Split each PMD mapping; the 2M folios stay whole. */
		for (off = 0; off < len; off += SZ_2M) {
			if (mprotect(mem + off, page_size, PROT_READ) ||
			    mprotect(mem + off, page_size, PROT_READ | PROT_WRITE))
				die("mprotect");
		}
	}
}

/* Report what the memory is made of, from smaps, so a bad set-up shows. */
static void check(size_t len)
{
	char line[256], key[64];
	unsigned long kb, anon = 0, thp = 0, huge = 0;
	uintptr_t start, end;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 &&
		    strchr(line, '-') < strchr(line, ' ')) {
			in = start < (uintptr_t)mem + len && end > (uintptr_t)mem;
			continue;
		}
		if (!in || sscanf(line, "%63[^:]: %lu kB", key, &kb) != 2)
			continue;
		if (!strcmp(key, "Anonymous") || !strcmp(key, "Rss"))
			anon = kb > anon ? kb : anon;
		else if (!strcmp(key, "AnonHugePages"))
			thp += kb;
		else if (!strcmp(key, "Private_Hugetlb"))
			huge += kb;
	}
	fclose(f);
	printf("# backing %s: %zu MiB mapped, rss %lu kB, PMD-mapped THP %lu kB, hugetlb %lu kB\n",
	       backing, len >> 20, anon, thp, huge);
}

struct job {
	int id;
	char *addr;
	size_t len;
	int rep;
	struct gup_test gup;
	int err;
};

static pthread_barrier_t barrier;

/* The insn_marks plugin's markers: long NOPs with a tag as displacement. */
static inline void mark_start(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x84, 0x00, 0x31, 0x4e, 0x49, 0x50" ::: "memory");
}

static inline void mark_stop(void)
{
	asm volatile(".byte 0x0f, 0x1f, 0x84, 0x00, 0x30, 0x4e, 0x49, 0x50" ::: "memory");
}

/* One bracketed ioctl of the instruction mode; 0 or an errno. */
static int marked(const char *kind, int rep, size_t pages, unsigned long cmd,
		  void *arg)
{
	int ret;

	mark_start();
	ret = ioctl(gup_fd, cmd, arg);
	mark_stop();
	printf("mark %s %d pages %zu\n", kind, rep, pages);
	return ret ? errno : 0;
}

/* hold-fast, hold-slow: pin in one ioctl, unpin in another. */
static int hold(struct job *j)
{
	struct pin_longterm_test args = {
		.addr = (uintptr_t)j->addr,
		.size = j->len,
		.flags = (write_pin ? PIN_LONGTERM_TEST_FLAG_USE_WRITE : 0) |
			 (!strcmp(mode, "hold-fast") ?
			  PIN_LONGTERM_TEST_FLAG_USE_FAST : 0),
	};
	size_t pages = j->len / page_size;
	int err;

	err = marked("pin", j->rep, pages, PIN_LONGTERM_TEST_START, &args);
	if (err)
		return err;
	return marked("unpin", j->rep, pages, PIN_LONGTERM_TEST_STOP, NULL);
}

static void *run(void *arg)
{
	struct job *j = arg;
	unsigned long cmd = PIN_FAST_BENCHMARK;

	memset(&j->gup, 0, sizeof(j->gup));
	j->gup.addr = (uintptr_t)j->addr;
	j->gup.size = j->len;
	j->gup.nr_pages_per_call = per_call;
	j->gup.gup_flags = write_pin ? FOLL_WRITE : 0;
	if (!strcmp(mode, "fast-longterm"))
		j->gup.gup_flags |= FOLL_LONGTERM;
	else if (!strcmp(mode, "slow"))
		cmd = PIN_BASIC_TEST;
	else if (!strcmp(mode, "slow-longterm"))
		cmd = PIN_LONGTERM_BENCHMARK;
	pthread_barrier_wait(&barrier);
	if (!strncmp(mode, "hold-", 5))
		j->err = hold(j);
	else if (insn_mode)
		j->err = marked("all", j->rep, j->len / page_size, cmd, &j->gup);
	else
		j->err = ioctl(gup_fd, cmd, &j->gup) ? errno : 0;
	return NULL;
}

int main(int argc, char **argv)
{
	struct job *jobs;
	pthread_t *tids;
	size_t len, slice;
	int opt, r, t;

	page_size = getpagesize();
	while ((opt = getopt(argc, argv, "b:m:s:wt:r:n:I")) != -1) {
		switch (opt) {
		case 'b': backing = optarg; break;
		case 'm': mode = optarg; break;
		case 's': size_mb = strtoul(optarg, NULL, 0); break;
		case 'w': write_pin = true; break;
		case 't': threads = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		case 'n': per_call = atoi(optarg); break;
		case 'I': insn_mode = true; break;
		default:
			fprintf(stderr, "usage: see the comment at the top of pin_bench.c\n");
			return 2;
		}
	}
	if (strcmp(mode, "fast") && strcmp(mode, "fast-longterm") &&
	    strcmp(mode, "slow") && strcmp(mode, "slow-longterm") &&
	    (!insn_mode || (strcmp(mode, "hold-fast") && strcmp(mode, "hold-slow")))) {
		fprintf(stderr, "pin_bench: unknown mode %s%s\n", mode,
			insn_mode ? "" : " (hold-* need -I)");
		return 2;
	}
	if (insn_mode && threads != 1) {
		fprintf(stderr, "pin_bench: -I counts one thread only\n");
		return 2;
	}
	if (threads < 1 || reps < 1 || per_call < 1 || !size_mb) {
		fprintf(stderr, "pin_bench: bad -t, -r, -n or -s\n");
		return 2;
	}
	gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
	if (gup_fd < 0)
		die("open /sys/kernel/debug/gup_test");
	atexit(restore_knobs);

	len = size_mb << 20;
	slice = len / threads;
	setup(len);
	check(len);

	jobs = calloc(threads, sizeof(*jobs));
	tids = calloc(threads, sizeof(*tids));
	if (!jobs || !tids)
		die("calloc");
	/* Repetition -1 warms up (TLB, QEMU's translation cache) unreported. */
	for (r = -1; r < reps; r++) {
		pthread_barrier_init(&barrier, NULL, threads);
		for (t = 0; t < threads; t++) {
			jobs[t].id = t;
			jobs[t].rep = r;
			jobs[t].addr = mem + t * slice;
			jobs[t].len = slice;
			if (pthread_create(&tids[t], NULL, run, &jobs[t]))
				die("pthread_create");
		}
		for (t = 0; t < threads; t++)
			pthread_join(tids[t], NULL);
		pthread_barrier_destroy(&barrier);
		for (t = 0; t < threads && r >= 0 && !insn_mode; t++) {
			if (jobs[t].err) {
				errno = jobs[t].err;
				die("gup_test ioctl");
			}
			printf("rep %d thread %d pages %zu pin_us %llu unpin_us %llu\n",
			       r, t, slice / page_size,
			       (unsigned long long)jobs[t].gup.get_delta_usec,
			       (unsigned long long)jobs[t].gup.put_delta_usec);
		}
	}
	return 0;
}
