/* SPDX-License-Identifier: GPL-2.0 */
/* Mapping P2PDMA memory (sysfs p2pmem/allocate) in the scenario clients. */
#ifndef TESTS_P2PMEM_H
#define TESTS_P2PMEM_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ktap.h"

/* mmap() @len bytes of p2pmem from @alloc_path; NULL, with a message, if not. */
static inline void *p2pmem_map(const char *alloc_path, size_t len)
{
	void *p;
	int fd;

	fd = open(alloc_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		ktap_print_msg("open %s: %s", alloc_path, strerror(errno));
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	/* Not in a child's copy: an unbind would unmap it too (p2p_unbind.h). */
	if (p != MAP_FAILED)
		madvise(p, len, MADV_DONTFORK);
	if (p == MAP_FAILED) {
		ktap_print_msg("mmap %zu bytes of %s: %s", len, alloc_path,
			       strerror(errno));
		return NULL;
	}
	return p;
}

#endif
