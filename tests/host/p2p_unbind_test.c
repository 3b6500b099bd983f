// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of the selftests' unbind helper (p2p_unbind.h), on the host: a
 * regular file stands for "unbind" that returns, a path that does not
 * exist for one that fails, and a FIFO without a reader for an unbind
 * that never returns.  One KTAP result line per case, no plan (the caller,
 * tests/host/ktap-selftest, numbers them).
 *
 *   p2p_unbind_test DIR
 */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2p_unbind.h"

static void result(int ok, const char *name, const char *why)
{
	printf("%sok %s%s%s\n", ok ? "" : "not ", name, ok ? "" : " # ", ok ? "" : why);
	fflush(stdout);
}

/* Has @pid exited (and been reaped here) within @secs? */
static int exits_within(pid_t pid, double secs)
{
	double end = p2p_unbind_clock() + secs;

	while (p2p_unbind_clock() < end) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return 1;
		usleep(10000);
	}
	return 0;
}

/* Does a read of @fd see the end of file within 2 s? */
static int eof_within(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&pfd, 1, 2000) == 1 && read(fd, &c, 1) == 0;
}

static void on_usr1(int sig __attribute__((unused)))
{
	_exit(42);
}

int main(int argc, char **argv)
{
	char file[512], fifo[512], buf[64] = "";
	struct p2p_unbind u;
	int p[2], q[2], saved, fd, ok, n;
	double t;
	pid_t pid;

	if (argc != 2)
		return 2;
	snprintf(file, sizeof(file), "%s/unbind", argv[1]);
	snprintf(fifo, sizeof(fifo), "%s/stuck", argv[1]);
	close(open(file, O_CREAT | O_WRONLY | O_TRUNC, 0600));
	if (mkfifo(fifo, 0600))
		return 2;

	/* An unbind that returns: its times, no error, the name written. */
	ok = !p2p_unbind_start(&u, file, "0000:03:00.0", NULL) &&
	     p2p_unbind_wait(&u, 5) && !u.err && u.t1 >= u.t0 && u.pid < 0;
	fd = open(file, O_RDONLY);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	buf[n > 0 ? n : 0] = 0;
	close(fd);
	ok &= !strcmp(buf, "0000:03:00.0");
	result(ok, "p2p_unbind: a write that returns reports no error and its times; the child is reaped", buf);

	/* An unbind that fails: its errno. */
	ok = !p2p_unbind_start(&u, "/nonexistent/unbind", "x", NULL) &&
	     p2p_unbind_wait(&u, 5) && u.err == ENOENT;
	result(ok, "p2p_unbind: a write that fails reports its errno (ENOENT)", strerror(u.err));

	/*
	 * An unbind that never returns (open() of a FIFO without a reader):
	 * the wait times out, the caller's signal handler does not run in the
	 * child, abandon returns at once and the child exits when its write
	 * returns.
	 */
	signal(SIGUSR1, on_usr1);
	ok = !p2p_unbind_start(&u, fifo, "x", NULL) && !p2p_unbind_wait(&u, 0.3);
	pid = u.pid;
	kill(pid, SIGUSR1);
	ok &= !exits_within(pid, 0.3);
	result(ok, "p2p_unbind: a write that never returns times out; the caller's SIGUSR1 handler does not run in the child",
	       "the wait returned, or the child ran the handler");
	t = p2p_unbind_clock();
	p2p_unbind_abandon(&u);
	ok = p2p_unbind_clock() - t < 1 && u.pid < 0 && u.sock < 0;
	/*
	 * It exits once its write returns: open the FIFO's read end (without
	 * blocking: a writer that never comes is a failure, not a hang).
	 */
	fd = open(fifo, O_RDONLY | O_NONBLOCK);
	ok &= fd >= 0 && poll(&(struct pollfd){ .fd = fd, .events = POLLIN }, 1, 5000) == 1 &&
	      read(fd, buf, sizeof(buf)) > 0 && exits_within(pid, 5);
	if (fd >= 0)
		close(fd);
	result(ok, "p2p_unbind: abandoning a stuck child returns at once; the child exits when its write returns",
	       "abandon waited, or the child lived on");
	signal(SIGUSR1, SIG_DFL);

	/*
	 * The child keeps none of the caller's files, stdio included: the
	 * write ends of two pipes, one as stdout, are closed by the caller
	 * once the child is ready; both readers see the end of file.
	 */
	if (pipe(p) || pipe(q))
		return 2;
	fflush(stdout);
	saved = dup(1);
	dup2(q[1], 1);
	close(q[1]);
	ok = !p2p_unbind_prepare(&u, fifo, "x", NULL);
	dup2(saved, 1);
	close(saved);
	close(p[1]);
	ok &= eof_within(p[0]) && eof_within(q[0]);
	pid = u.pid;
	p2p_unbind_abandon(&u);	/* never told to go: it exits, reaped */
	ok &= kill(pid, 0) && errno == ESRCH;
	result(ok, "p2p_unbind: the child holds none of the caller's files (a pipe, stdout); one never told to go is reaped on abandon",
	       "a read end saw no end of file, or the child was not reaped");
	unlink(fifo);
	unlink(file);
	return 0;
}
