/* SPDX-License-Identifier: GPL-2.0 */
/* Opening the RDMA device of the scenario clients (rxe0 over a dummy netdev). */
#ifndef TESTS_RDMA_H
#define TESTS_RDMA_H

#include <errno.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "ktap.h"

/* Open rxe0, else the first RDMA device; NULL (errno set) if there is none. */
static inline struct ibv_context *rdma_open_device(void)
{
	struct ibv_device **list, *dev = NULL;
	struct ibv_context *ctx;
	int i, n = 0;

	list = ibv_get_device_list(&n);
	if (!list) {
		ktap_print_msg("ibv_get_device_list: %s", strerror(errno));
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (!strcmp(ibv_get_device_name(list[i]), "rxe0")) {
			dev = list[i];
			break;
		}
	}
	if (!dev && n > 0)
		dev = list[0];
	if (!dev) {
		ibv_free_device_list(list);
		errno = ENODEV;
		return NULL;
	}
	ktap_print_msg("using RDMA device %s", ibv_get_device_name(dev));
	ctx = ibv_open_device(dev);
	if (!ctx)
		ktap_print_msg("ibv_open_device(%s): %s",
			       ibv_get_device_name(dev), strerror(errno));
	ibv_free_device_list(list);
	return ctx;
}

#endif
