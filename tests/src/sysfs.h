/* SPDX-License-Identifier: GPL-2.0 */
/* Writing sysfs and procfs files from the scenario clients. */
#ifndef TESTS_SYSFS_H
#define TESTS_SYSFS_H

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* Write @val to @path in one write(); true if all of it was accepted. */
static inline bool write_str(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok;
}

#endif
