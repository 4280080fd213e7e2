/* SPDX-License-Identifier: ISC */
/*
 * hwloc (libhwloc.so.15), loaded on demand (dl-private.h explains the pattern) like
 * GnuTLS, libnftables and libnl, but without redirecting #defines: vmm.c calls hwloc
 * directly and through the inline helpers of hwloc.h (hwloc_get_next_obj_by_type()...),
 * which a #define cannot reach. So the functions that libalbatross references are
 * defined here, with hwloc's names and hidden like everything internal, and call the
 * loaded library. The library is not linked: a new hwloc function used in
 * libalbatross is an undefined reference until it is added here.
 *
 * hwloc_topology_init() is the entry point: it loads the library and fails with -1
 * and errno ELIBACC if it cannot (vmm.c reports "Failed to discover the CPUs"); the
 * others only run on a topology it made.
 */
#include <errno.h>
#include <hwloc.h>
#include <pthread.h>

#include "dl-private.h"

#define ALB_DL_HWLOC_SYMBOLS(X)                                                                    \
	X(hwloc_topology_init)                                                                     \
	X(hwloc_topology_load)                                                                     \
	X(hwloc_topology_destroy)                                                                  \
	X(hwloc_get_type_depth)                                                                    \
	X(hwloc_get_obj_by_depth)

static struct {
	ALB_DL_HWLOC_SYMBOLS(ALB_DL_MEMBER)
} dl;
static struct alb_dl_state dl_state;
static pthread_once_t dl_once = PTHREAD_ONCE_INIT;

#define ENTRY(sym) ALB_DL_SYM_ENTRY(&dl, sym)

static void dl_open(void)
{
	static const struct alb_dl_sym syms[] = {ALB_DL_HWLOC_SYMBOLS(ENTRY)};
	const struct alb_dl_lib lib = {"libhwloc.so.15", syms, sizeof(syms) / sizeof(syms[0])};
	alb_dl_open(&dl_state, &lib, 1);
}

int hwloc_topology_init(hwloc_topology_t *topologyp)
{
	pthread_once(&dl_once, dl_open);
	if (dl_state.r < 0) {
		errno = -dl_state.r;
		return -1;
	}
	return dl.hwloc_topology_init(topologyp);
}

/* Only after hwloc_topology_init() succeeded: loaded. */
int hwloc_topology_load(hwloc_topology_t topology)
{
	return dl.hwloc_topology_load(topology);
}

void hwloc_topology_destroy(hwloc_topology_t topology)
{
	if (dl.hwloc_topology_destroy) /* else no topology was made */
		dl.hwloc_topology_destroy(topology);
}

int hwloc_get_type_depth(hwloc_topology_t topology, hwloc_obj_type_t type)
{
	return dl.hwloc_get_type_depth(topology, type);
}

hwloc_obj_t hwloc_get_obj_by_depth(hwloc_topology_t topology, int depth, unsigned idx)
{
	return dl.hwloc_get_obj_by_depth(topology, depth, idx);
}
