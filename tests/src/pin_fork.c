// SPDX-License-Identifier: GPL-2.0
/*
 * Scenario client: fork() with a pinned anonymous page.
 *
 * copy_present_pte() (mm/memory.c) cannot share a possibly DMA-pinned
 * anonymous page with the child (folio_try_dup_anon_rmap_pte() fails), so
 * the child gets its own copy at fork time and the pinned page stays
 * mapped in the parent.  Without a pin the page is shared (COW) and the
 * child sees the parent's PFN until it writes.
 *
 * The pin is taken with the gup_test debugfs interface (CONFIG_GUP_TEST):
 * PIN_LONGTERM_TEST_START pins with pin_user_pages{,_fast}(FOLL_LONGTERM).
 * PFNs are read from /proc/<pid>/pagemap, which needs CAP_SYS_ADMIN.
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
#include <sys/wait.h>
#include <unistd.h>

#include <linux/types.h>

#include "ktap.h"
#include "vmstat.h"

/*
 * From mm/gup_test.h of the kernel tree (not an installed uapi header);
 * keep in sync with it.
 */
#define PIN_LONGTERM_TEST_START		_IOW('g', 7, struct pin_longterm_test)
#define PIN_LONGTERM_TEST_STOP		_IO('g', 8)
#define PIN_LONGTERM_TEST_FLAG_USE_WRITE	1
#define PIN_LONGTERM_TEST_FLAG_USE_FAST		2

struct pin_longterm_test {
	__u64 addr;
	__u64 size;
	__u32 flags;
};

#define GUP_TEST_PATH	"/sys/kernel/debug/gup_test"

#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

static const char * const cases[] = {
	"fork copies a read-pinned (pin_user_pages) anon page for the child",
	"fork copies a write-pinned (pin_user_pages_fast) anon page for the child",
	"fork shares an unpinned anon page with the child until it writes",
};

#define NR_CASES	ARRAY_SIZE(cases)

static size_t page_size;

/* What the child saw, sent back over a pipe. */
struct child_report {
	uint64_t pfn_after_fork;	/* before touching the page */
	uint64_t pfn_after_write;
	int content_ok;			/* page still held the pattern */
	int err;			/* errno of a failed step, or 0 */
	char what[48];			/* the failed step */
};

static void fill(unsigned char *p, unsigned char seed)
{
	size_t i;

	for (i = 0; i < page_size; i++)
		p[i] = (unsigned char)(seed + i * 13);
}

static bool check(const unsigned char *p, unsigned char seed)
{
	size_t i;

	for (i = 0; i < page_size; i++)
		if (p[i] != (unsigned char)(seed + i * 13))
			return false;
	return true;
}

/* PFN backing @addr in the calling process; 0 with errno on error. */
static uint64_t virt_to_pfn(const void *addr)
{
	uint64_t ent;
	ssize_t ret;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0)
		return 0;
	ret = pread(fd, &ent, sizeof(ent),
		    (uintptr_t)addr / page_size * sizeof(ent));
	close(fd);
	if (ret != sizeof(ent)) {
		if (ret >= 0)
			errno = EIO;
		return 0;
	}
	if (!(ent & PM_PRESENT)) {
		errno = ENOENT;
		return 0;
	}
	if (!(ent & PM_PFN_MASK)) {
		errno = EPERM;	/* PFNs hidden without CAP_SYS_ADMIN */
		return 0;
	}
	return ent & PM_PFN_MASK;
}

static void __noreturn child(int wfd, unsigned char *p, unsigned char seed)
{
	struct child_report r = { 0 };

	/* Only look at the PTE before any access to the page. */
	r.pfn_after_fork = virt_to_pfn(p);
	if (!r.pfn_after_fork) {
		r.err = errno;
		snprintf(r.what, sizeof(r.what), "child pagemap read");
		goto out;
	}
	r.content_ok = check(p, seed);
	fill(p, seed + 1);
	r.pfn_after_write = virt_to_pfn(p);
	if (!r.pfn_after_write) {
		r.err = errno;
		snprintf(r.what, sizeof(r.what), "child pagemap read after write");
	}
out:
	if (write(wfd, &r, sizeof(r)) != sizeof(r))
		_exit(2);
	_exit(0);
}

/* fork(), collect the child's report; false on infrastructure errors. */
static bool run_child(unsigned char *p, unsigned char seed,
		      struct child_report *r)
{
	int pfd[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe(pfd)) {
		ktap_print_msg("pipe: %s", strerror(errno));
		return false;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		ktap_print_msg("fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return false;
	}
	if (!pid) {
		close(pfd[0]);
		child(pfd[1], p, seed);
	}
	close(pfd[1]);
	n = read(pfd[0], r, sizeof(*r));
	close(pfd[0]);
	if (waitpid(pid, &status, 0) != pid) {
		ktap_print_msg("waitpid: %s", strerror(errno));
		return false;
	}
	if (n != sizeof(*r) || !WIFEXITED(status) || WEXITSTATUS(status)) {
		ktap_print_msg("child failed (read %zd bytes, status 0x%x)",
			       n, status);
		return false;
	}
	if (r->err) {
		ktap_print_msg("%s: %s", r->what, strerror(r->err));
		return false;
	}
	return true;
}

/*
 * @gup_fd < 0: no pin.  Otherwise pin the page with gup_test @flags,
 * fork, and expect the child to get a copy.
 */
static bool fork_case(int gup_fd, unsigned int flags)
{
	const unsigned char seed = 0x40 + flags;
	struct pin_longterm_test pin;
	struct child_report r;
	uint64_t pfn, pfn_end;
	bool pinned = gup_fd >= 0;
	struct pin_stat base;
	bool ok = true;
	unsigned char *p;

	p = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		ktap_print_msg("mmap: %s", strerror(errno));
		return false;
	}
	madvise(p, page_size, MADV_NOHUGEPAGE);
	fill(p, seed);	/* a real anon page, not the (unpinned) zero page */

	if (pin_stat_read(&base)) {
		munmap(p, page_size);
		return false;
	}
	if (pinned) {
		memset(&pin, 0, sizeof(pin));
		pin.addr = (uintptr_t)p;
		pin.size = page_size;
		pin.flags = flags;
		if (ioctl(gup_fd, PIN_LONGTERM_TEST_START, &pin)) {
			ktap_print_msg("ioctl PIN_LONGTERM_TEST_START (flags %u): %s",
				       flags, strerror(errno));
			munmap(p, page_size);
			return false;
		}
		if (!pin_stat_expect(&base, 1, 0, "after PIN_LONGTERM_TEST_START"))
			ok = false;
	}

	/* After pinning: a long-term pin may have migrated the page. */
	pfn = virt_to_pfn(p);
	if (!pfn) {
		ktap_print_msg("parent pagemap read: %s", strerror(errno));
		ok = false;
		goto unpin;
	}
	ktap_print_msg("parent PFN 0x%llx", (unsigned long long)pfn);

	if (!run_child(p, seed, &r)) {
		ok = false;
		goto unpin;
	}
	ktap_print_msg("child PFN after fork 0x%llx, after its write 0x%llx",
		       (unsigned long long)r.pfn_after_fork,
		       (unsigned long long)r.pfn_after_write);

	if (pinned && r.pfn_after_fork == pfn) {
		ktap_print_msg("child maps the pinned page itself, expected a copy");
		ok = false;
	}
	if (!pinned && r.pfn_after_fork != pfn) {
		ktap_print_msg("child does not share the parent's page after fork");
		ok = false;
	}
	if (!pinned && r.pfn_after_write == pfn) {
		ktap_print_msg("child write did not break COW");
		ok = false;
	}
	if (!r.content_ok) {
		ktap_print_msg("child's page does not hold the parent's data");
		ok = false;
	}

	pfn_end = virt_to_pfn(p);
	if (pfn_end != pfn) {
		ktap_print_msg("parent PFN changed to 0x%llx after the child ran",
			       (unsigned long long)pfn_end);
		ok = false;
	}
	if (!check(p, seed)) {
		ktap_print_msg("parent's page content changed by the child");
		ok = false;
	}

unpin:
	if (pinned) {
		if (ioctl(gup_fd, PIN_LONGTERM_TEST_STOP)) {
			ktap_print_msg("ioctl PIN_LONGTERM_TEST_STOP: %s",
				       strerror(errno));
			ok = false;
		} else if (!pin_stat_expect(&base, 1, 1,
					    "after PIN_LONGTERM_TEST_STOP")) {
			ok = false;
		}
	} else if (!pin_stat_expect(&base, 0, 0, "unpinned fork")) {
		ok = false;
	}
	munmap(p, page_size);
	return ok;
}

int main(void)
{
	int gup_fd, gup_err;

	unsigned char *probe;
	unsigned int i;

	page_size = sysconf(_SC_PAGESIZE);
	ktap_plan(NR_CASES);

	/* PFNs in pagemap are only visible with CAP_SYS_ADMIN. */
	probe = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe != MAP_FAILED) {
		probe[0] = 1;
		if (!virt_to_pfn(probe) && errno == EPERM) {
			for (i = 0; i < NR_CASES; i++)
				ktap_skip(cases[i], "/proc/self/pagemap hides PFNs (needs CAP_SYS_ADMIN)");
			ktap_finished();
		}
		munmap(probe, page_size);
	}

	gup_fd = open(GUP_TEST_PATH, O_RDWR | O_CLOEXEC);
	gup_err = errno;
	if (gup_fd < 0) {
		ktap_print_msg("open %s: %s", GUP_TEST_PATH, strerror(gup_err));
		ktap_skip(cases[0], "%s unavailable (CONFIG_GUP_TEST, debugfs mounted?)",
			  GUP_TEST_PATH);
		ktap_skip(cases[1], "%s unavailable (CONFIG_GUP_TEST, debugfs mounted?)",
			  GUP_TEST_PATH);
	} else {
		ktap_result(fork_case(gup_fd, 0), cases[0]);
		ktap_result(fork_case(gup_fd, PIN_LONGTERM_TEST_FLAG_USE_WRITE |
					      PIN_LONGTERM_TEST_FLAG_USE_FAST),
			    cases[1]);
		close(gup_fd);
	}
	ktap_result(fork_case(-1, 0), cases[2]);

	ktap_finished();
}
