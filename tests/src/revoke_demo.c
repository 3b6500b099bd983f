// SPDX-License-Identifier: GPL-2.0
/*
 * revoke_demo: revocable long-term pins at work, in plain words, for the
 * report of make run (tests/guest/demo).  Not a test: it prints what
 * happens, and exits 1 only if something did not happen as the series says.
 *
 *   revoke_demo p2pmem          pin 1 MiB of P2PDMA memory (an NVMe CMB)
 *                               revocably, unbind the NVMe, bind it again
 *   revoke_demo truncate DIR    pin 8 pages of a file in DIR (tmpfs)
 *                               revocably, truncate the file
 *
 * The pins are gup_test's revocable mode (PIN_LONGTERM_TEST_START with
 * PIN_LONGTERM_TEST_FLAG_REVOCABLE): pin_user_pages_remote_revocable()
 * with the gup_test file as the subscription, whose callback drops the
 * pins; _STATUS and _LAST_EVENT say what the callback saw.  Needs root.
 * Run it from tmpfs with its output on tmpfs: a write to a 9p share pins
 * the buffer, and would show in the pin counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gup_test.h"	/* mm/gup_test.h of the kernel tree (-iquote) */
#include "p2p_provider.h"	/* tools/testing/selftests/mm of the kernel tree */
#include "vmstat.h"

static int gup_fd;
static int unexpected;

#define expect(cond, ...) do {						\
	if (!(cond)) {							\
		printf("UNEXPECTED: " __VA_ARGS__);			\
		unexpected = 1;						\
	}								\
} while (0)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* PIN_LONGTERM_TEST_START of @len bytes at @addr: 0 or the errno. */
static int pin(void *addr, size_t len, unsigned int flags)
{
	struct pin_longterm_test args = {
		.addr = (uintptr_t)addr, .size = len, .flags = flags,
	};

	return ioctl(gup_fd, PIN_LONGTERM_TEST_START, &args) ? errno : 0;
}

static struct pin_longterm_test_status status(void)
{
	struct pin_longterm_test_status st = { .argsz = sizeof(st) };

	ioctl(gup_fd, PIN_LONGTERM_TEST_STATUS, &st);
	return st;
}

static struct pin_longterm_test_event last_event(void)
{
	struct pin_longterm_test_event ev = { .argsz = sizeof(ev) };

	ioctl(gup_fd, PIN_LONGTERM_TEST_LAST_EVENT, &ev);
	return ev;
}

static void print_pins(const struct pin_stat *base, const char *why)
{
	struct pin_stat ps;

	pin_stat_read(&ps);
	printf("pins acquired +%ld, released +%ld (%s)\n",
	       ps.acquired - base->acquired, ps.released - base->released, why);
	expect(ps.acquired - base->acquired == ps.released - base->released,
	       "pins left held\n");
}

static int demo_p2pmem(void)
{
	const size_t len = 1 << 20, pages = len / getpagesize();
	struct pin_longterm_test_status st;
	struct pin_longterm_test_event ev;
	static struct p2p_provider prov;
	struct p2p_unbind u;
	struct pin_stat base;
	double t;
	char *mem;
	int err;

	err = -p2p_provider_find(&prov, NULL);
	if (err == ENODEV) {
		printf("no published p2pmem: needs scripts/vm --p2pdma\n");
		return 4;
	}
	mem = err ? NULL : p2p_provider_map(&prov, len);
	if (!mem) {
		printf("p2pmem of %s (%s): %s\n", prov.bdf, prov.alloc_path,
		       strerror(err ? err : errno));
		return 1;
	}
	/* Bound again if the demo exits or is killed while it is not. */
	p2p_provider_restore_on_exit(&prov, NULL);
	memset(mem, 0x5a, len);	/* the driver's buffer, in the CMB */
	printf("1 MiB of P2PDMA memory mapped from %s (%s, its controller memory buffer)\n",
	       prov.bdf, prov.drv);

	err = pin(mem, len, PIN_LONGTERM_TEST_FLAG_P2PDMA | PIN_LONGTERM_TEST_FLAG_USE_WRITE);
	printf("long-term pin, not revocable: refused (%s)\n", strerror(err));
	expect(err == EINVAL, "expected EINVAL\n");

	pin_stat_read(&base);
	err = pin(mem, len, PIN_LONGTERM_TEST_FLAG_REVOCABLE | PIN_LONGTERM_TEST_FLAG_P2PDMA |
		  PIN_LONGTERM_TEST_FLAG_USE_WRITE);
	st = status();
	printf("revocable long-term pin (pin_user_pages_remote_revocable): %s, %llu pages held\n",
	       err ? strerror(err) : "pinned", (unsigned long long)st.nr_pinned);
	expect(!err && st.nr_pinned == pages, "expected %zu pages pinned\n", pages);

	/*
	 * The unbind returns once memunmap_pages() has found no page in use;
	 * a child writes it, so that an unbind that waits for a pin cannot
	 * hold the demo (30 s, then it gives up on it).
	 */
	err = -p2p_provider_unbind_start(&prov, &u, NULL);
	if (!err && !p2p_provider_unbind_wait(&prov, &u, 30)) {
		p2p_provider_unbind_abandon(&prov, &u);
		printf("unbind of the NVMe: still waiting after 30 s, given up\n");
		return 1;
	}
	t = err ? 0 : (u.t1 - u.t0) * 1e3;
	if (!err)
		err = u.err;
	st = status();
	ev = last_event();
	printf("unbind of the NVMe: %s in %.0f ms\n", err ? strerror(err) : "completed", t);
	printf("callback: called %u time(s), reason %s, dropped the pins in %llu us; "
	       "%llu pages still held\n", st.calls,
	       ev.reason == PIN_LONGTERM_TEST_EVENT_PROVIDER_REMOVE ? "PROVIDER_REMOVE" : "other",
	       (unsigned long long)st.cb_ns / 1000, (unsigned long long)st.nr_pinned);
	print_pins(&base, "all released by the callback; nothing left for the unbind to wait for");
	expect(!err && st.calls == 1 && st.revoked == 1 && !st.nr_pinned,
	       "expected one call that dropped every pin\n");

	/* Give the memory back to the driver. */
	munmap(mem, len);
	err = -p2p_provider_bind(&prov, 10);
	printf("NVMe bound again: p2pmem %s\n", err ? strerror(err) : "published again");
	expect(!err, "p2pmem not back\n");
	return unexpected;
}

static int demo_truncate(const char *dir)
{
	const size_t pages = 8, len = pages * getpagesize();
	struct pin_longterm_test_status st;
	struct pin_longterm_test_event ev;
	struct pin_stat base;
	char path[512], *mem;
	long trunc0;
	double t;
	int fd, err;

	snprintf(path, sizeof(path), "%s/revoke_demo.tmp", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, len))
		return 1;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return 1;
	memset(mem, 1, len);	/* in the page cache */

	pin_stat_read(&base);
	err = pin(mem, len, PIN_LONGTERM_TEST_FLAG_REVOCABLE | PIN_LONGTERM_TEST_FLAG_USE_WRITE);
	printf("revocable long-term pin of %zu pages of a tmpfs file, writable: %s\n",
	       pages, err ? strerror(err) : "pinned");
	trunc0 = vmstat_read("pgtrunc_pinned");
	t = now_ms();
	if (ftruncate(fd, 0))
		return 1;
	/* The removal only queues the callback; a workqueue worker calls it. */
	while ((st = status()).calls == 0 && now_ms() - t < 5000)
		usleep(200);
	t = now_ms() - t;
	ev = last_event();
	printf("ftruncate(0): pgtrunc_pinned +%ld (pinned pages the truncate took out of the page cache)\n",
	       vmstat_read("pgtrunc_pinned") - trunc0);
	printf("callback: reason %s, file pages %llu-%llu (those removed when it ran), %s\n",
	       ev.reason == PIN_LONGTERM_TEST_EVENT_TRUNCATE ? "TRUNCATE" : "other",
	       (unsigned long long)ev.first_index, (unsigned long long)ev.last_index,
	       ev.context & PIN_LONGTERM_TEST_EVENT_CTX_WORKER ? "in a workqueue worker" : "not in a worker");
	printf("the callback had dropped the pins %.1f ms after the truncate began (%llu us in it)\n",
	       t, (unsigned long long)st.cb_ns / 1000);
	print_pins(&base, "released by the callback");
	expect(!err && st.calls == 1 && st.revoked == 1 && !st.nr_pinned &&
	       ev.reason == PIN_LONGTERM_TEST_EVENT_TRUNCATE,
	       "expected one TRUNCATE call that dropped every pin\n");
	munmap(mem, len);
	close(fd);
	unlink(path);
	return unexpected;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	gup_fd = open("/sys/kernel/debug/gup_test", O_RDWR);
	if (gup_fd < 0) {
		printf("cannot open /sys/kernel/debug/gup_test: %s\n", strerror(errno));
		return 4;
	}
	if (argc == 2 && !strcmp(argv[1], "p2pmem"))
		return demo_p2pmem();
	if (argc == 3 && !strcmp(argv[1], "truncate"))
		return demo_truncate(argv[2]);
	fprintf(stderr, "usage: revoke_demo p2pmem | revoke_demo truncate DIR\n");
	return 2;
}
