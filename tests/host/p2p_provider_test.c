// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the selftests' P2PDMA provider helper (p2p_provider.h), on the
 * host, in a sysfs of its own: DIR/bus/pci/devices/<bdf>/p2pmem/allocate
 * and p2pmem/published (regular files), the device's "driver" link, and
 * the driver's "bind"
 * (a regular file, so that what was written to it can be read back) and
 * "unbind": a regular file for an unbind that returns, a FIFO without a
 * reader for one that waits (for pins, on a real machine).  A process
 * that plays the test is forked for each case, so that its exit and its
 * death by a signal can be looked at.  One KTAP result line per case, no
 * plan (the caller, tests/host/ktap-selftest, numbers them).
 *
 *   p2p_provider_test DIR
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2p_provider.h"

#define BDF	"0000:01:00.0"

static char root[256], dev[512], drv[512], bind_path[600], unbind_path[600];
static char published[600];

static void result(int ok, const char *name, const char *why)
{
	printf("%sok %s%s%s\n", ok ? "" : "not ", name, ok ? "" : " # ", ok ? "" : why);
	fflush(stdout);
}

/* What was written to the fake "bind" (emptied for the next case). */
static const char *bound(bool empty)
{
	static char buf[64];
	ssize_t n;
	int fd;

	fd = open(bind_path, O_RDWR);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	if (fd >= 0 && empty && ftruncate(fd, 0))
		buf[0] = '?';
	if (fd >= 0)
		close(fd);
	return buf;
}

/* "unbind" as a regular file (@fifo false) or as a FIFO. */
static void make_unbind(bool fifo)
{
	unlink(unbind_path);
	if (fifo)
		mkfifo(unbind_path, 0600);
	else
		close(open(unbind_path, O_CREAT | O_WRONLY | O_TRUNC, 0600));
}

static int mkfile(const char *path, size_t size)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, size))
		return -1;
	return close(fd);
}

/* Write @c to the fake p2pmem/published. */
static int publish(char c)
{
	int fd = open(published, O_CREAT | O_WRONLY | O_TRUNC, 0600);

	if (fd < 0 || write(fd, &c, 1) != 1)
		return -1;
	return close(fd);
}

static int setup(const char *dir)
{
	char path[1200];

	snprintf(root, sizeof(root), "%s", dir);
	snprintf(dev, sizeof(dev), "%s/bus/pci/devices/" BDF, root);
	snprintf(drv, sizeof(drv), "%s/bus/pci/drivers/nvme", root);
	snprintf(bind_path, sizeof(bind_path), "%s/bind", drv);
	snprintf(unbind_path, sizeof(unbind_path), "%s/unbind", drv);
	snprintf(path, sizeof(path), "mkdir -p '%s/p2pmem' '%s'", dev, drv);
	if (system(path))
		return -1;
	snprintf(path, sizeof(path), "%s/p2pmem/allocate", dev);
	snprintf(published, sizeof(published), "%s/p2pmem/published", dev);
	if (mkfile(path, 4096) || mkfile(bind_path, 0) || publish('1'))
		return -1;
	snprintf(path, sizeof(path), "%s/driver", dev);
	unlink(path);
	return symlink("../../../../bus/pci/drivers/nvme", path);
}

/* How a forked test process ended: its exit status, or 128 + its signal. */
static int ended(pid_t pid, double secs)
{
	double end = p2p_unbind_clock() + secs;
	int status;

	while (p2p_unbind_clock() < end) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) :
						     WEXITSTATUS(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/* Wait up to 2 s for the fake "bind" to hold the address. */
static bool bound_within(void)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (!strcmp(bound(false), BDF))
			return true;
		usleep(10000);
	}
	return false;
}

/* Does @fd have data within @secs? */
static bool readable_within(int fd, double secs)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, (int)(secs * 1000)) == 1 && (pfd.revents & POLLIN);
}

/*
 * Let a FIFO "unbind" return (open its read end and read the address),
 * then wait for the bind; true if the child bound.  The bind emptied.
 */
static bool unbind_returns_then_bound(void)
{
	char buf[64];
	bool ok;
	int fd;

	/* Without blocking: a writer that never comes is a failure, not a hang. */
	fd = open(unbind_path, O_RDONLY | O_NONBLOCK);
	ok = fd >= 0 && readable_within(fd, 5) && read(fd, buf, sizeof(buf)) > 0;
	ok = bound_within() && ok;
	if (fd >= 0)
		close(fd);
	bound(true);
	return ok;
}

static int hook_fd = -1;

/* The test's own part of the signal handler: says it ran. */
static void on_signal(int sig)
{
	char c = (char)sig;

	if (write(hook_fd, &c, 1) != 1)
		_exit(3);
}

enum { NO_WAIT, WAIT, RESULT_ONLY };

/*
 * A test process: finds the provider, asks for its restore, and unbinds
 * it; @wait: NO_WAIT, WAIT until the unbind returns, or RESULT_ONLY: get
 * its result but stop short of what p2p_provider_unbind_wait() does next
 * (set the state, acknowledge), as a signal there would.  Tells @ready its
 * state, then pauses.  Never returns.
 */
static void __attribute__((noreturn)) test_process(int ready, int wait)
{
	static struct p2p_provider p;
	struct p2p_unbind u;
	char state;

	if (p2p_provider_find(&p, root))
		_exit(10);
	p2p_provider_restore_on_exit(&p, on_signal);
	if (p2p_provider_unbind_start(&p, &u, NULL))
		_exit(11);
	if (wait == WAIT && !p2p_provider_unbind_wait(&p, &u, 5))
		_exit(12);
	if (wait == RESULT_ONLY && !p2p_unbind_result(&u, 5))
		_exit(12);
	state = (char)atomic_load(&p.state);
	if (write(ready, &state, 1) != 1)
		_exit(13);
	pause();
	_exit(14);
}

/* Fork test_process(); its state once it is ready, or -1. */
static int fork_test(pid_t *pid, int wait)
{
	int p[2];
	char state;

	if (pipe(p))
		return -1;
	*pid = fork();
	if (!*pid) {
		close(p[0]);
		test_process(p[1], wait);
	}
	close(p[1]);
	if (read(p[0], &state, 1) != 1)
		state = -1;
	close(p[0]);
	return state;
}

int main(int argc, char **argv)
{
	struct p2p_provider p;
	struct p2p_unbind u;
	int h[2], ok, st, err;
	char buf[600], c;
	double t;
	pid_t pid;
	void *mem;

	if (argc != 2 || setup(argv[1]) || pipe(h))
		return 2;
	hook_fd = h[1];
	fcntl(h[0], F_SETFL, O_NONBLOCK);

	/* 1. What it finds, and a mapping of its p2pmem. */
	err = p2p_provider_find(&p, root);
	mem = err ? NULL : p2p_provider_map(&p, 4096);
	snprintf(buf, sizeof(buf), "%s/bus/pci/drivers/nvme/unbind", root);
	ok = !err && !strcmp(p.bdf, BDF) && !strcmp(p.drv, "nvme") &&
	     !strcmp(p.unbind_path, buf) && mem &&
	     atomic_load(&p.state) == P2P_PROVIDER_BOUND;
	if (mem)
		munmap(mem, 4096);
	ok &= p2p_provider_find(&p, "/nonexistent") == -ENODEV;
	result(ok, "p2p_provider: finds the provider, its driver and paths, maps its p2pmem; ENODEV without one",
	       err ? strerror(-err) : p.drv);

	/* 2. An unbind that returns: UNBOUND; a bind writes the address. */
	make_unbind(false);
	p2p_provider_find(&p, root);
	ok = !p2p_provider_unbind_start(&p, &u, NULL) &&
	     p2p_provider_unbind_wait(&p, &u, 5) && !u.err &&
	     atomic_load(&p.state) == P2P_PROVIDER_UNBOUND;
	/* The child, which the test acknowledged, binds nothing. */
	usleep(200 * 1000);
	ok &= !*bound(false);
	err = p2p_provider_bind(&p, 1);
	ok &= !err && !strcmp(bound(true), BDF) &&
	      atomic_load(&p.state) == P2P_PROVIDER_BOUND;
	/* Nothing to bind when BOUND. */
	ok &= !p2p_provider_bind(&p, 1) && !*bound(true);
	result(ok, "p2p_provider: after an unbind that returns, its child binds nothing, one bind writes the address; none when bound",
	       "state or bind wrong");

	/*
	 * 3. An unbind that fails leaves it BOUND, and nothing is bound; an
	 * UNBOUND provider is not unbound (ENODEV), nor a STUCK one (EBUSY).
	 */
	unlink(unbind_path);
	ok = !p2p_provider_unbind_start(&p, &u, NULL) &&
	     p2p_provider_unbind_wait(&p, &u, 5) && u.err == ENOENT &&
	     atomic_load(&p.state) == P2P_PROVIDER_BOUND &&
	     !p2p_provider_bind(&p, 1) && !*bound(true);
	atomic_store(&p.state, P2P_PROVIDER_UNBOUND);
	ok &= p2p_provider_unbind_start(&p, &u, NULL) == -ENODEV &&
	      atomic_load(&p.state) == P2P_PROVIDER_UNBOUND;
	atomic_store(&p.state, P2P_PROVIDER_STUCK);
	ok &= p2p_provider_unbind_start(&p, &u, NULL) == -EBUSY &&
	      atomic_load(&p.state) == P2P_PROVIDER_STUCK;
	result(ok, "p2p_provider: an unbind that fails leaves the provider bound, no bind written; no unbind unless bound (ENODEV, EBUSY)",
	       "state, bind or errno wrong");

	/*
	 * 4. An unbind that does not return: abandoned, STUCK; no bind, now
	 * or at exit (a bind would wait for the unbind).  When the unbind
	 * returns at last, its abandoned child binds.
	 */
	make_unbind(true);
	p2p_provider_find(&p, root);
	ok = !p2p_provider_unbind_start(&p, &u, NULL) &&
	     !p2p_provider_unbind_wait(&p, &u, 0.3);
	p2p_provider_unbind_abandon(&p, &u);
	ok &= atomic_load(&p.state) == P2P_PROVIDER_STUCK &&
	      p2p_provider_bind(&p, 1) == -EDEADLK;
	pid = fork();
	if (!pid) {
		p2p_provider_restore_on_exit(&p, NULL);
		exit(0);
	}
	ok &= ended(pid, 2) == 0 && !*bound(false);
	ok &= unbind_returns_then_bound();
	result(ok, "p2p_provider: an abandoned unbind leaves the provider stuck (bind: EDEADLK, exit binds nothing); its child binds when it returns",
	       "state wrong, a bind was written, or the child did not bind");

	/*
	 * 5. A result that came before the abandon is taken: UNBOUND, and the
	 * acknowledged child binds nothing.
	 */
	make_unbind(false);
	p2p_provider_find(&p, root);
	ok = !p2p_provider_unbind_start(&p, &u, NULL) && readable_within(u.sock, 5);
	p2p_provider_unbind_abandon(&p, &u);
	usleep(200 * 1000);	/* time for a wrong bind by the child */
	ok &= u.done && !u.err && atomic_load(&p.state) == P2P_PROVIDER_UNBOUND &&
	      !*bound(false);
	/* Bound, it does not wait for the p2pmem; unbound, it does. */
	publish('0');
	t = p2p_unbind_clock();
	ok &= p2p_provider_bind(&p, 0.3) == -ETIMEDOUT &&
	      p2p_unbind_clock() - t >= 0.3 && !strcmp(bound(true), BDF);
	t = p2p_unbind_clock();
	ok &= !p2p_provider_bind(&p, 5) && p2p_unbind_clock() - t < 0.1;
	publish('1');
	result(ok, "p2p_provider: a result that came before the abandon is taken (unbound, no bind by the child); bind waits for published only when unbound",
	       "state, bind or wait wrong");

	/* 6. A bind that fails: its errno, still UNBOUND. */
	atomic_store(&p.state, P2P_PROVIDER_UNBOUND);
	unlink(bind_path);
	err = p2p_provider_bind(&p, 1);
	ok = err == -ENOENT && atomic_load(&p.state) == P2P_PROVIDER_UNBOUND;
	mkfile(bind_path, 0);
	result(ok, "p2p_provider: a bind that fails returns its errno (ENOENT) and leaves the provider unbound",
	       strerror(-err));

	/*
	 * 7. A go that cannot reach the child (it died): its errno (EPIPE),
	 * still BOUND.
	 */
	make_unbind(false);
	p2p_provider_find(&p, root);
	ok = !p2p_provider_unbind_prepare(&p, &u, NULL);
	kill(u.pid, SIGKILL);
	waitpid(u.pid, NULL, 0);
	u.pid = -1;
	err = p2p_provider_unbind_go(&p, &u);
	ok &= err == -EPIPE && atomic_load(&p.state) == P2P_PROVIDER_BOUND;
	result(ok, "p2p_provider: a go that cannot reach the unbind's child returns its errno (EPIPE); the provider stays bound",
	       strerror(-err));

	/*
	 * 8. The bind falls back to drivers_probe, which counts only if the
	 * device then has a driver.
	 */
	snprintf(buf, sizeof(buf), "%s/bus/pci/drivers_probe", root);
	mkfile(buf, 0);
	unlink(bind_path);
	atomic_store(&p.state, P2P_PROVIDER_UNBOUND);
	ok = !p2p_provider_bind_now(&p) && atomic_load(&p.state) == P2P_PROVIDER_BOUND;
	snprintf(buf, sizeof(buf), "%s/driver", dev);
	unlink(buf);
	atomic_store(&p.state, P2P_PROVIDER_UNBOUND);
	err = p2p_provider_bind_now(&p);
	ok &= err == -ENOENT && atomic_load(&p.state) == P2P_PROVIDER_UNBOUND;
	if (symlink("../../../../bus/pci/drivers/nvme", buf) || mkfile(bind_path, 0))
		ok = 0;
	snprintf(buf, sizeof(buf), "%s/bus/pci/drivers_probe", root);
	unlink(buf);
	result(ok, "p2p_provider: a failed bind falls back to drivers_probe, which counts only if the device then has a driver",
	       "fallback wrong");

	/*
	 * 9. The p2pmem mapping is not in a forked child (MADV_DONTFORK): a
	 * read of it there faults.
	 */
	p2p_provider_find(&p, root);
	mem = p2p_provider_map(&p, 4096);
	pid = mem ? fork() : -1;
	if (!pid) {
		signal(SIGSEGV, SIG_DFL);
		_exit(*(volatile char *)mem);
	}
	ok = pid > 0 && ended(pid, 2) == 128 + SIGSEGV;
	if (mem)
		munmap(mem, 4096);
	result(ok, "p2p_provider: the p2pmem mapping is not in a forked child (MADV_DONTFORK)",
	       "the child could read it");

	/* 10. Exit while UNBOUND: bound again by the exit handler. */
	make_unbind(false);
	pid = fork();
	if (!pid) {
		p2p_provider_find(&p, root);
		p2p_provider_restore_on_exit(&p, NULL);
		if (!p2p_provider_unbind_start(&p, &u, NULL))
			p2p_provider_unbind_wait(&p, &u, 5);
		exit(atomic_load(&p.state));
	}
	ok = ended(pid, 5) == P2P_PROVIDER_UNBOUND && !strcmp(bound(true), BDF);
	result(ok, "p2p_provider: a test that exits with the provider unbound binds it again",
	       "no bind at exit");

	/*
	 * 11. Killed while UNBOUND: the handler binds, the test's hook runs,
	 * and the process dies of the signal.
	 */
	while (read(h[0], &c, 1) == 1)
		;
	st = fork_test(&pid, WAIT);
	kill(pid, SIGTERM);
	ok = st == P2P_PROVIDER_UNBOUND && ended(pid, 2) == 128 + SIGTERM &&
	     !strcmp(bound(true), BDF) && read(h[0], &c, 1) == 1 && c == SIGTERM;
	result(ok, "p2p_provider: SIGTERM while unbound binds the provider, runs the test's hook, and kills the test",
	       "no bind, no hook, or the test lived on");

	/*
	 * 12. Killed while the unbind waits: the handler does not bind (that
	 * would wait for the unbind), the test dies at once; when the unbind
	 * returns, its child, finding the test gone, binds.
	 */
	make_unbind(true);
	st = fork_test(&pid, NO_WAIT);
	usleep(200 * 1000);
	kill(pid, SIGTERM);
	ok = st == P2P_PROVIDER_UNBINDING && ended(pid, 2) == 128 + SIGTERM &&
	     !*bound(false);
	ok &= unbind_returns_then_bound();
	result(ok, "p2p_provider: SIGTERM while the unbind waits kills the test at once; the unbind's child binds once it returns",
	       "the test hung or bound, or the child did not bind");

	/*
	 * 13. Killed after the result came, before the state was set and the
	 * child acknowledged: the handler binds nothing (UNBINDING), the
	 * child, unacknowledged, binds.
	 */
	make_unbind(false);
	st = fork_test(&pid, RESULT_ONLY);
	kill(pid, SIGTERM);
	ok = st == P2P_PROVIDER_UNBINDING && ended(pid, 2) == 128 + SIGTERM &&
	     bound_within();
	bound(true);
	result(ok, "p2p_provider: SIGTERM between the unbind's result and its acknowledgment leaves the bind to the child, which binds",
	       "the test hung, or nobody bound");

	/*
	 * 14. The same after an unbind that failed: nobody binds (it is
	 * still bound).
	 */
	unlink(unbind_path);
	st = fork_test(&pid, RESULT_ONLY);
	kill(pid, SIGTERM);
	ok = st == P2P_PROVIDER_UNBINDING && ended(pid, 2) == 128 + SIGTERM;
	usleep(300 * 1000);	/* time for a wrong bind by the child */
	ok &= !*bound(true);
	result(ok, "p2p_provider: SIGTERM between a failed unbind's result and its acknowledgment: nobody binds",
	       "a bind was written");

	/* 15. A signal the test was started to ignore stays ignored. */
	pid = fork();
	if (!pid) {
		signal(SIGHUP, SIG_IGN);
		p2p_provider_find(&p, root);
		p2p_provider_restore_on_exit(&p, NULL);
		raise(SIGHUP);
		_exit(0);
	}
	ok = ended(pid, 2) == 0;
	result(ok, "p2p_provider: a signal the test was started to ignore (SIGHUP under nohup) stays ignored",
	       "the test died of it");

	unlink(unbind_path);
	return 0;
}
