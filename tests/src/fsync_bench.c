// SPDX-License-Identifier: GPL-2.0
/*
 * fsync_bench: time fsync() of a MAP_SHARED file part of which a "device"
 * holds DMA-pinned, for make bench-writeback.
 *
 *   fsync_bench -d DIR -s SIZE_MB -p PINNED_PERCENT -r REPS
 *
 * Creates DIR/fsync_bench.tmp of SIZE_MB MiB (pwrite + fsync, so that its
 * blocks are allocated and on disk) and maps it MAP_SHARED.  With
 * PINNED_PERCENT > 0, the first ceil(PINNED_PERCENT * pages / 100) pages are
 * pinned through the gup_test debugfs interface (PIN_LONGTERM_TEST_START)
 * and held until the end.  Then one unreported warm-up and REPS measured
 * iterations of:
 *   - memset() of the whole mapping with a byte of the iteration (every
 *     page dirty, on any kernel);
 *   - the device writes the same byte into the pinned pages
 *     (PIN_LONGTERM_TEST_WRITE: through the pin, nothing marked dirty);
 *   - fsync(), timed alone (CLOCK_MONOTONIC), and the vm events
 *     pgwb_pinned_redirty (pages that writeback kept dirty because they may
 *     be pinned, on kernels of an earlier version of the series; -1 now)
 *     and pgwb_pinned_snapshot (pages of maybe-pinned folios that
 *     writeback wrote a copy of, on a device that needs stable pages) read
 *     before and after it.
 * At the end an O_DIRECT read of the whole file must find the last byte
 * everywhere: fsync wrote what the CPU and the device wrote.
 *
 * The pin: a writable short-term pin (PIN_LONGTERM_TEST_FLAG_USE_WRITE |
 * _SHORT_TERM, an O_DIRECT read in flight as far as the kernel can tell;
 * ext4 and xfs refuse writable long-term pins of MAP_SHARED files).  The
 * base kernel's gup_test has neither short-term pins nor device writes
 * (told by PIN_LONGTERM_TEST_QUERY, which it lacks too): there the pages
 * are pinned read-only long-term instead (which makes them maybe-pinned
 * just the same) and the device does not write; the header says which.
 *
 * Output: a header line
 *   # fsync_bench: size_mb S pages N pinned_pct P pinned_pages K pin KIND reps R redirty_counter yes|no snapshot_counter yes|no
 * (KIND: none, short-term-write or long-term-read), then one line per
 * measured iteration:
 *   rep R fsync_ns NS redirty D snapshot C
 * (D, C: the pgwb_pinned_redirty and pgwb_pinned_snapshot deltas over the
 * fsync, -1 if the kernel has no such counter).
 *
 *
 *   fsync_bench -b -d DIR -s SIZE_MB -p PINNED_PERCENT -r REPS
 *
 * Background mode: the throughput of background writeback of an unpinned
 * file while another file holds long-lived read-only pins.  Creates
 * DIR/fsync_bench.tmp of SIZE_MB MiB, pins PINNED_PERCENT of it read-only
 * long-term (as a remote-read RDMA MR would; none with 0) and dirties it
 * once through the mapping, then, after one unreported warm-up, REPS times:
 * write SIZE_MB MiB to a second file DIR/fsync_bench.b.tmp with pwrite()
 * and wait, without fsync or sync, until Dirty: + Writeback: in
 * /proc/meminfo are back to what they were before the writes (+ 256 kB),
 * polled every 10 ms.  The caller sets the background writeback knobs.
 * Output: a header "# fsync_bench: mode background size_mb S pinned_pct P
 * pinned_pages K reps R", then per measured repetition
 *   bg R ns NS
 * (NS: from the first write to the clean state).
 *
 * Exit status: 0, 1 on an error (the failing call and errno on stderr) or a
 * file that does not hold what was written, 2 on a usage error, 4 (skip)
 * when pages are to be pinned and gup_test cannot be opened.  Needs root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gup_test.h"	/* mm/gup_test.h of the kernel tree (-iquote) */
#include "vmstat.h"

#define TEST_FILE	"fsync_bench.tmp"
#define TEST_FILE_B	"fsync_bench.b.tmp"
#define GUP_TEST_PATH	"/sys/kernel/debug/gup_test"
#define REDIRTY		"pgwb_pinned_redirty"
#define SNAPSHOT	"pgwb_pinned_snapshot"

static int gup_fd = -1;
static bool have_redirty, have_snapshot;

/* Print "fsync_bench: WHAT: strerror(errno)" and exit 1. */
__printf(1, 2)
static void __noreturn die(const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	fputs("fsync_bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(err));
	exit(1);
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The vm event @name if the kernel @has it, else -1. */
static long event_count(bool has, const char *name)
{
	return has ? vmstat_parse(name) : -1;
}

/* The growth of an event from @before to @after, -1 if either is missing. */
static long delta(long before, long after)
{
	return before >= 0 && after >= 0 ? after - before : -1;
}

/* Create the file, @len bytes of 0xff, on disk; return its fd. */
static int create_file(const char *path, size_t len)
{
	size_t chunk = 1 << 20, off;
	char *buf = malloc(chunk);
	int fd;

	if (!buf)
		die("malloc");
	memset(buf, 0xff, chunk);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open %s", path);
	for (off = 0; off < len; off += chunk)
		if (pwrite(fd, buf, chunk, off) != (ssize_t)chunk)
			die("pwrite %s", path);
	if (fsync(fd))
		die("fsync (set-up)");
	free(buf);
	return fd;
}

/* Open gup_test, or exit 4 (skip) if it is not there. */
static void open_gup_test(void)
{
	gup_fd = open(GUP_TEST_PATH, O_RDWR);
	if (gup_fd < 0) {
		printf("# SKIP: open %s: %s (needs root, debugfs, CONFIG_GUP_TEST)\n",
		       GUP_TEST_PATH, strerror(errno));
		exit(4);
	}
}

/* Pin the first @pages pages of @map; returns the pin kind. */
static const char *pin(char *map, size_t pages, size_t page_size)
{
	struct pin_longterm_test_query probe = { .argsz = sizeof(probe) };
	struct pin_longterm_test args = {
		.addr = (uintptr_t)map,
		.size = pages * page_size,
		.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE |
			 PIN_LONGTERM_TEST_FLAG_SHORT_TERM,
	};
	const char *kind = "short-term-write";

	if (ioctl(gup_fd, PIN_LONGTERM_TEST_QUERY, &probe)) {
		/* The base kernel's gup_test: read-only long-term pins. */
		args.flags = 0;
		kind = "long-term-read";
	}
	if (ioctl(gup_fd, PIN_LONGTERM_TEST_START, &args))
		die("ioctl(PIN_LONGTERM_TEST_START, %zu pages, flags 0x%x)",
		    pages, args.flags);
	return kind;
}

/* The device writes @pattern into the @pages pinned pages. */
static void dev_write(size_t pages, unsigned char pattern)
{
	struct pin_longterm_test_write args = {
		.argsz = sizeof(args),
		.first_page = 0,
		.nr_pages = pages,
		.pattern = pattern,
	};

	if (ioctl(gup_fd, PIN_LONGTERM_TEST_WRITE, &args))
		die("ioctl(PIN_LONGTERM_TEST_WRITE)");
}

/* Does the file hold @len bytes of @c on disk?  Read with O_DIRECT. */
static bool disk_holds(const char *path, size_t len, unsigned char c)
{
	size_t chunk = 1 << 20, off, i;
	char *buf;
	ssize_t ret;
	int fd;

	if (posix_memalign((void **)&buf, 4096, chunk))
		die("posix_memalign");
	fd = open(path, O_RDONLY | O_DIRECT);
	if (fd < 0)
		die("open %s (O_DIRECT)", path);
	for (off = 0; off < len; off += chunk) {
		ret = pread(fd, buf, chunk, off);
		if (ret != (ssize_t)chunk) {
			if (ret >= 0)
				errno = EIO;
			die("pread(O_DIRECT)");
		}
		for (i = 0; i < chunk; i++) {
			if ((unsigned char)buf[i] != c) {
				printf("# mismatch: on disk, byte %zu is 0x%02x, expected 0x%02x\n",
				       off + i, (unsigned char)buf[i], c);
				fprintf(stderr, "fsync_bench: the file does not hold the last write at byte %zu\n",
					off + i);
				close(fd);
				free(buf);
				return false;
			}
		}
	}
	close(fd);
	free(buf);
	return true;
}

/* Dirty: + Writeback: of /proc/meminfo, in kB. */
static long dirty_kb(void)
{
	char line[128];
	long kb = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		die("open /proc/meminfo");
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Dirty:", 6) || !strncmp(line, "Writeback:", 10))
			kb += atol(strchr(line, ':') + 1);
	fclose(f);
	return kb;
}

/* Background mode (-b): see the header comment. */
static int background(const char *dir, size_t len, size_t pages,
		      size_t pinned, int pct, int reps, size_t page_size)
{
	size_t chunk = 1 << 20, off;
	char path[4096], path_b[4096];
	struct pin_longterm_test args = { .flags = 0 };
	char *map, *buf;
	int fd, fdb, r;

	snprintf(path, sizeof(path), "%s/%s", dir, TEST_FILE);
	snprintf(path_b, sizeof(path_b), "%s/%s", dir, TEST_FILE_B);
	buf = malloc(chunk);
	if (!buf)
		die("malloc");
	fd = create_file(path, len);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	if (pinned) {
		args.addr = (uintptr_t)map;
		args.size = pinned * page_size;
		if (ioctl(gup_fd, PIN_LONGTERM_TEST_START, &args))
			die("ioctl(PIN_LONGTERM_TEST_START, %zu pages, read-only long-term)",
			    pinned);
	}
	/* The pinned file is dirtied once and left to writeback. */
	memset(map, 'P', len);
	fdb = open(path_b, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fdb < 0)
		die("open %s", path_b);
	printf("# fsync_bench: mode background size_mb %zu pages %zu pinned_pct %d pinned_pages %zu reps %d\n",
	       len >> 20, pages, pct, pinned, reps);
	for (r = -1; r < reps; r++) {
		long long t0, t1;
		long base;

		/* Start from a clean state: what the last round left is written. */
		if (fdatasync(fdb))
			die("fdatasync (set-up)");
		base = dirty_kb();
		memset(buf, 'a' + (r + 1) % 26, chunk);
		t0 = now_ns();
		for (off = 0; off < len; off += chunk)
			if (pwrite(fdb, buf, chunk, off) != (ssize_t)chunk)
				die("pwrite %s", path_b);
		while (dirty_kb() > base + 256) {
			if (now_ns() - t0 > 300 * 1000000000LL) {
				errno = ETIMEDOUT;
				die("background writeback of %zu MiB (Dirty + Writeback %ld kB, was %ld kB)",
				    len >> 20, dirty_kb(), base);
			}
			usleep(10000);
		}
		t1 = now_ns();
		if (r >= 0)
			printf("bg %d ns %lld\n", r, t1 - t0);
	}
	if (pinned && ioctl(gup_fd, PIN_LONGTERM_TEST_STOP))
		die("ioctl(PIN_LONGTERM_TEST_STOP)");
	munmap(map, len);
	close(fd);
	close(fdb);
	unlink(path);
	unlink(path_b);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	size_t size_mb = 0, page_size = getpagesize(), len, pages, pinned = 0;
	const char *dir = NULL, *kind = "none";
	int opt, pct = -1, reps = 0, r, fd;
	bool bg = false;
	unsigned char c = 0;
	char path[4096];
	char *map;

	while ((opt = getopt(argc, argv, "bd:s:p:r:")) != -1) {
		switch (opt) {
		case 'b': bg = true; break;
		case 'd': dir = optarg; break;
		case 's': size_mb = strtoul(optarg, NULL, 0); break;
		case 'p': pct = atoi(optarg); break;
		case 'r': reps = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: fsync_bench [-b] -d DIR -s SIZE_MB -p PINNED_PERCENT -r REPS\n");
			return 2;
		}
	}
	if (!dir || !size_mb || pct < 0 || pct > 100 || reps < 1) {
		fprintf(stderr, "usage: fsync_bench -d DIR -s SIZE_MB -p PINNED_PERCENT(0-100) -r REPS(>0)\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	len = size_mb << 20;
	pages = len / page_size;
	pinned = (pct * pages + 99) / 100;
	snprintf(path, sizeof(path), "%s/%s", dir, TEST_FILE);

	if (pinned)
		open_gup_test();
	if (bg)
		return background(dir, len, pages, pinned, pct, reps, page_size);
	have_redirty = vmstat_parse(REDIRTY) >= 0;
	have_snapshot = vmstat_parse(SNAPSHOT) >= 0;
	fd = create_file(path, len);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	if (pinned)
		kind = pin(map, pinned, page_size);
	printf("# fsync_bench: size_mb %zu pages %zu pinned_pct %d pinned_pages %zu pin %s reps %d redirty_counter %s snapshot_counter %s\n",
	       size_mb, pages, pct, pinned, kind, reps,
	       have_redirty ? "yes" : "no", have_snapshot ? "yes" : "no");

	/* Repetition -1 warms up unreported. */
	for (r = -1; r < reps; r++) {
		long long t0, t1;
		long d0, d1, s0, s1;

		c = 'A' + (r + 1) % 26;
		memset(map, c, len);
		if (pinned && strcmp(kind, "long-term-read"))
			dev_write(pinned, c);
		d0 = event_count(have_redirty, REDIRTY);
		s0 = event_count(have_snapshot, SNAPSHOT);
		t0 = now_ns();
		if (fsync(fd))
			die("fsync");
		t1 = now_ns();
		d1 = event_count(have_redirty, REDIRTY);
		s1 = event_count(have_snapshot, SNAPSHOT);
		if (r >= 0)
			printf("rep %d fsync_ns %lld redirty %ld snapshot %ld\n",
			       r, t1 - t0, delta(d0, d1), delta(s0, s1));
	}

	if (!disk_holds(path, len, c))
		return 1;
	if (pinned && ioctl(gup_fd, PIN_LONGTERM_TEST_STOP))
		die("ioctl(PIN_LONGTERM_TEST_STOP)");
	if (munmap(map, len))
		die("munmap");
	close(fd);
	if (unlink(path))
		die("unlink");
	return 0;
}
