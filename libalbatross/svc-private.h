/* SPDX-License-Identifier: ISC */
/*
 * Services (docs/services.md): albatrossd's layer above the supervisor that keeps
 * named services, each with instances (unikernels "PATH:LABEL.GENERATION") that get
 * an address from the service's prefix, host ports published to the current instance
 * with nftables (nft-private.h), and updates without downtime: a new instance beside
 * the running one, a readiness rule, one nftables transaction for the switch, a drain,
 * then the old instance destroyed. Its state is the file "services" in the dbdir,
 * written atomically at every step, so that albatrossd killed at any point resumes or
 * rolls back at its next start.
 */
#pragma once

#include <albatross/sys/wire.h>
#include <albatross/vmm.h>

#include "vmm-private.h"

struct alb_svcs;

/* Loads the services of vmm's dbdir (none on a first start), rolls back updates that
 * a restart interrupted, resumes drains and publishes the ports. The vmm must be
 * started. -EBADMSG for a file that cannot be used (it is left as it is). */
int alb_svcs_new(alb_vmm *vmm, struct alb_svcs **ret);
struct alb_svcs *alb_svcs_free(struct alb_svcs *m);

/* Whether name may be deployed with config (its arguments templates) and spec, before
 * its image arrives. 0 or -errno with the reason. */
int alb_svcs_deploy_check(struct alb_svcs *m, const alb_name *name,
			  const alb_unikernel_config *config, const struct alb_service_spec *spec);
/* Deploys from an image upload that is done with 0 (taken into the store whatever the
 * outcome). done is called when the new instance is published (0) or the update
 * failed (-errno; the previous instance still published), unless this returns < 0. */
int alb_svcs_deploy(struct alb_svcs *m, const alb_name *name, const alb_unikernel_config *config,
		    const struct alb_service_spec *spec, struct vmm_upload *up,
		    alb_vmm_done_fn done, void *userdata);
/* The services that selector selects (a path: those below it; a name: that one). */
int alb_svcs_infos(struct alb_svcs *m, const alb_name *selector, struct alb_service_info **ret,
		   uint32_t *ret_n);
/* Removes a service: its rules at once, then its instances; done when they are gone. */
int alb_svcs_remove(struct alb_svcs *m, const alb_name *name, alb_vmm_done_fn done, void *userdata);
/* Removes the instances and addresses that no service owns below path; what it removed in
 * *ret; done when every such unikernel is gone. */
int alb_svcs_collect(struct alb_svcs *m, const alb_name *path, struct alb_collected **ret,
		     uint32_t *ret_n, alb_vmm_done_fn done, void *userdata);
