// SPDX-License-Identifier: GPL-2.0
/*
 * pin_holder: another user of the machine that holds more and more pins.
 *
 *   pin_holder [STEP_MS [MAX]]
 *
 * Every STEP_MS (default 100) it pins PAGES_PER_STEP (3) more pages of its
 * own anonymous memory, through a new open of /sys/kernel/debug/gup_test
 * (PIN_LONGTERM_TEST_START, a short-term pin held until the file is
 * closed), and holds them, for up to MAX steps (default 4000).  It never
 * unpins before it ends: nr_foll_pin_acquired - nr_foll_pin_released only
 * grows while it grows, by 3 a step (a count no check of a single pin
 * expects), so a test that expects the global counters to balance between
 * two reads made a step or more apart cannot see them balance.  When it
 * stops growing (MAX reached, or a pin failed) it prints "pin_holder:
 * stopped growing" and holds what it has.  SIGTERM or SIGINT end it;
 * closing the files drops the pins.  It prints how many pins it held when
 * it ends.  Exit 0; 4 if it cannot pin at all (no CONFIG_GUP_TEST, debugfs
 * or root); 1 on bad arguments or if it cannot have a file per step.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gup_test.h"	/* mm/gup_test.h of the kernel tree (-iquote) */

#define GUP_TEST_PATH	"/sys/kernel/debug/gup_test"
#define PAGES_PER_STEP	3

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/*
 * Pin PAGES_PER_STEP pages at @addr through a new gup_test file: its fd, or
 * -errno.
 */
static int hold_one(char *addr, long pagesize)
{
	struct pin_longterm_test args = {
		.addr = (uintptr_t)addr,
		.size = PAGES_PER_STEP * pagesize,
		.flags = PIN_LONGTERM_TEST_FLAG_SHORT_TERM,
	};
	int fd, err;

	fd = open(GUP_TEST_PATH, O_RDWR);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, PIN_LONGTERM_TEST_START, &args)) {
		err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	long step_ms = argc > 1 ? atol(argv[1]) : 100;
	long max = argc > 2 ? atol(argv[2]) : 4000;
	long pagesize = sysconf(_SC_PAGESIZE), held = 0;
	long step = PAGES_PER_STEP * pagesize;
	struct sigaction sa = { .sa_handler = on_signal };
	struct timespec ts;
	struct rlimit rl;
	char *mem;
	int fd;

	if (argc > 3 || step_ms <= 0 || max <= 0) {
		fprintf(stderr, "usage: pin_holder [STEP_MS [MAX]]\n");
		return 1;
	}
	/* One file per pin, and a few more. */
	rl.rlim_cur = max + 16;
	rl.rlim_max = max + 16;
	if (setrlimit(RLIMIT_NOFILE, &rl) && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)max + 16) {
		fprintf(stderr, "pin_holder: %ld files allowed, %ld needed: %s\n",
			(long)rl.rlim_cur, max + 16, strerror(errno));
		return 1;
	}
	mem = mmap(NULL, max * step, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "pin_holder: mmap: %s\n", strerror(errno));
		return 1;
	}
	memset(mem, 1, max * step);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	ts.tv_sec = step_ms / 1000;
	ts.tv_nsec = step_ms % 1000 * 1000000L;
	while (!stop) {
		if (held < max) {
			fd = hold_one(mem + held * step, pagesize);
			if (fd < 0) {
				fprintf(stderr, "pin_holder: step %ld: %s\n",
					held + 1, strerror(-fd));
				if (!held)
					return 4;
				/* Hold what was pinned until told to stop. */
				max = held;
			} else {
				held++;
			}
			if (held == max) {
				printf("pin_holder: stopped growing at %ld pins\n",
				       held * PAGES_PER_STEP);
				fflush(stdout);
			}
		}
		nanosleep(&ts, NULL);
	}
	printf("pin_holder: held %ld pins (%d every %ld ms)\n",
	       held * PAGES_PER_STEP, PAGES_PER_STEP, step_ms);
	return 0;
}
