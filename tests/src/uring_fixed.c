// SPDX-License-Identifier: GPL-2.0
/*
 * Scenario client: io_uring registered (fixed) buffers.
 *
 * io_uring_register_buffers() pins the buffer pages long-term
 * (io_uring/memmap.c: io_pin_pages() -> pin_user_pages_fast(FOLL_WRITE |
 * FOLL_LONGTERM)); io_uring_unregister_buffers() unpins them.  The buffers
 * here are kept in 4K folios (MADV_NOHUGEPAGE) because io_uring coalesces
 * large folios into one bvec and unpins all but one pin per folio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <liburing.h>

#include "ktap.h"
#include "vmstat.h"

#define PAGE		4096UL
#define NR_PAGES	32
#define NR_SHM_PAGES	16
#define TMPFS_MAGIC	0x01021994

static const char * const cases[] = {
	"register_buffers over anon pages pins each page",
	"READ_FIXED from a tmpfs file into the fixed buffer",
	"unregister_buffers releases each page",
	"register_buffers over MAP_SHARED tmpfs file, READ_FIXED into it",
	"pin counters balanced over the whole run",
};

#define NR_CASES	ARRAY_SIZE(cases)

static struct io_uring ring;
static char tmpdir[64];

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / PAGE);
}

/* A directory on tmpfs for the test files, or "" (then use memfd). */
static void pick_tmpdir(void)
{
	static const char * const dirs[] = { "/tmp", "/dev/shm" };
	struct statfs sfs;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		if (!statfs(dirs[i], &sfs) && sfs.f_type == TMPFS_MAGIC) {
			snprintf(tmpdir, sizeof(tmpdir), "%s", dirs[i]);
			return;
		}
	}
	ktap_print_msg("neither /tmp nor /dev/shm is tmpfs; using memfd");
}

/* Unlinked tmpfs file of @len bytes filled with pattern(). */
static int tmp_file(size_t len)
{
	unsigned char *buf;
	char path[96];
	size_t i;
	int fd;

	if (tmpdir[0]) {
		snprintf(path, sizeof(path), "%s/uring_fixed.XXXXXX", tmpdir);
		fd = mkstemp(path);
		if (fd >= 0)
			unlink(path);
		else
			ktap_print_msg("mkstemp %s: %s", path, strerror(errno));
	} else {
		fd = memfd_create("uring_fixed", MFD_CLOEXEC);
		if (fd < 0)
			ktap_print_msg("memfd_create: %s", strerror(errno));
	}
	if (fd < 0)
		return -1;

	buf = malloc(len);
	if (!buf) {
		close(fd);
		return -1;
	}
	for (i = 0; i < len; i++)
		buf[i] = pattern(i);
	if (pwrite(fd, buf, len, 0) != (ssize_t)len) {
		ktap_print_msg("pwrite test file: %s", strerror(errno));
		free(buf);
		close(fd);
		return -1;
	}
	free(buf);
	return fd;
}

/*
 * IORING_OP_READ_FIXED of @len bytes at file offset @off into
 * @dst (inside fixed buffer @idx); check result and content.
 */
static bool read_fixed(int fd, char *dst, size_t len, off_t off, int idx)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	bool ok = true;
	size_t i;
	int ret;

	memset(dst, 0, len);
	sqe = io_uring_get_sqe(&ring);
	if (!sqe) {
		ktap_print_msg("io_uring_get_sqe: ring full");
		return false;
	}
	io_uring_prep_read_fixed(sqe, fd, dst, len, off, idx);
	ret = io_uring_submit(&ring);
	if (ret != 1) {
		ktap_print_msg("io_uring_submit: %s",
			       ret < 0 ? strerror(-ret) : "not submitted");
		return false;
	}
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret) {
		ktap_print_msg("io_uring_wait_cqe: %s", strerror(-ret));
		return false;
	}
	if (cqe->res != (int)len) {
		ktap_print_msg("READ_FIXED returned %d (%s), expected %zu",
			       cqe->res,
			       cqe->res < 0 ? strerror(-cqe->res) : "short read",
			       len);
		ok = false;
	}
	io_uring_cqe_seen(&ring, cqe);
	if (!ok)
		return false;

	for (i = 0; i < len; i++) {
		if ((unsigned char)dst[i] != pattern(off + i)) {
			ktap_print_msg("READ_FIXED data mismatch at byte %zu: 0x%02x, expected 0x%02x",
				       i, (unsigned char)dst[i],
				       pattern(off + i));
			return false;
		}
	}
	return true;
}

/* Cases 1-3: anonymous fixed buffer. */
static void cases_anon(void)
{
	size_t len = NR_PAGES * PAGE;
	struct pin_stat base;
	struct iovec iov;
	bool ok;
	char *p;
	int fd, ret;

	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ktap_print_msg("mmap anon %zu bytes: %s", len, strerror(errno));
		goto fail3;
	}
	if (madvise(p, len, MADV_NOHUGEPAGE))
		ktap_print_msg("madvise MADV_NOHUGEPAGE: %s", strerror(errno));
	memset(p, 0xee, len);	/* zero-page pins are not counted */

	if (pin_stat_read(&base))
		goto fail3_unmap;
	iov.iov_base = p;
	iov.iov_len = len;
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (ret) {
		ktap_print_msg("io_uring_register_buffers: %s", strerror(-ret));
		goto fail3_unmap;
	}
	ktap_result(pin_stat_expect(&base, NR_PAGES, 0,
				    "after io_uring_register_buffers"),
		    cases[0]);

	/* Unaligned destination spanning pages, unaligned file offset. */
	fd = tmp_file(len);
	ok = fd >= 0 && read_fixed(fd, p + PAGE + 100, 3 * PAGE, 1234, 0);
	if (fd >= 0)
		close(fd);
	/* The read itself must not take or drop long-lived pins. */
	if (!pin_stat_expect(&base, NR_PAGES, 0, "after READ_FIXED"))
		ok = false;
	ktap_result(ok, cases[1]);

	ret = io_uring_unregister_buffers(&ring);
	if (ret) {
		ktap_print_msg("io_uring_unregister_buffers: %s",
			       strerror(-ret));
		ktap_fail("%s", cases[2]);
	} else {
		ktap_result(pin_stat_expect(&base, NR_PAGES, NR_PAGES,
					    "after io_uring_unregister_buffers"),
			    cases[2]);
	}
	munmap(p, len);
	return;

fail3_unmap:
	munmap(p, len);
fail3:
	ktap_fail("%s", cases[0]);
	ktap_fail("%s", cases[1]);
	ktap_fail("%s", cases[2]);
}

/* Case 4: MAP_SHARED tmpfs (shmem) file is allowed for long-term pins. */
static bool case_shmem(void)
{
	size_t len = NR_SHM_PAGES * PAGE;
	struct pin_stat base;
	struct iovec iov;
	int bfd, sfd, ret;
	bool ok = false;
	char *p, *chk;

	bfd = tmp_file(len);
	if (bfd < 0)
		return false;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, bfd, 0);
	if (p == MAP_FAILED) {
		ktap_print_msg("mmap tmpfs file MAP_SHARED: %s", strerror(errno));
		close(bfd);
		return false;
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	memset(p, 0, len);	/* fault in writable shmem pages */

	if (pin_stat_read(&base))
		goto out;
	iov.iov_base = p;
	iov.iov_len = len;
	ret = io_uring_register_buffers(&ring, &iov, 1);
	if (ret) {
		ktap_print_msg("io_uring_register_buffers(MAP_SHARED tmpfs): %s",
			       strerror(-ret));
		goto out;
	}
	ok = pin_stat_expect(&base, NR_SHM_PAGES, 0,
			     "after io_uring_register_buffers");

	/* DMA-style write into the pinned page cache, seen through the file. */
	sfd = tmp_file(2 * PAGE);
	if (sfd < 0 || !read_fixed(sfd, p + PAGE, 2 * PAGE, 0, 0))
		ok = false;
	if (sfd >= 0)
		close(sfd);
	chk = malloc(2 * PAGE);
	if (!chk || pread(bfd, chk, 2 * PAGE, PAGE) != (ssize_t)(2 * PAGE)) {
		ktap_print_msg("pread buffer file: %s", strerror(errno));
		ok = false;
	} else if (memcmp(chk, p + PAGE, 2 * PAGE)) {
		ktap_print_msg("file contents differ from the fixed buffer");
		ok = false;
	}
	free(chk);

	ret = io_uring_unregister_buffers(&ring);
	if (ret) {
		ktap_print_msg("io_uring_unregister_buffers: %s",
			       strerror(-ret));
		ok = false;
	} else if (!pin_stat_expect(&base, NR_SHM_PAGES, NR_SHM_PAGES,
				    "after io_uring_unregister_buffers")) {
		ok = false;
	}
out:
	munmap(p, len);
	close(bfd);
	return ok;
}

int main(void)
{
	struct pin_stat start;
	unsigned int i;
	int ret;

	ktap_plan(NR_CASES);

	ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS || ret == -EPERM) {
		for (i = 0; i < NR_CASES; i++)
			ktap_skip(cases[i], "io_uring_queue_init: %s%s",
				  strerror(-ret),
				  ret == -EPERM ? " (kernel.io_uring_disabled?)" : "");
		ktap_finished();
	}
	if (ret) {
		ktap_print_msg("io_uring_queue_init: %s", strerror(-ret));
		for (i = 0; i < NR_CASES; i++)
			ktap_fail("%s", cases[i]);
		ktap_finished();
	}
	pick_tmpdir();

	if (pin_stat_read(&start)) {
		for (i = 0; i < NR_CASES; i++)
			ktap_fail("%s", cases[i]);
		ktap_finished();
	}

	cases_anon();
	ktap_result(case_shmem(), cases[3]);

	io_uring_queue_exit(&ring);
	ktap_result(pin_stat_balanced(&start, "whole run"), cases[4]);

	ktap_finished();
}
