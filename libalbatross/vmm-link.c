/* SPDX-License-Identifier: ISC */
/*
 * albatrossd's link to its helper daemons: log events to albatross-log, running
 * unikernels to albatross-stats, console output (drained from the supervisor's
 * console relay) to albatross-console. Each is a peer (peer-private.h) that
 * reconnects by itself; the supervisor reports through struct vmm_hooks.
 */
#include <stdio.h>

#include "console-relay-private.h"
#include "ctx-private.h"
#include "log-private.h"
#include "peer-private.h"
#include "vmm-private.h"
#include "wire-private.h"

struct link {
	alb_vmm *vmm;
	struct alb_peer *console, *log, *stats;
	struct alb_console_relay *relay; /* the supervisor's */
};

/* A command about name to peer, if it is connected (nothing is kept for later). */
static void send_named(struct alb_peer *peer, const alb_name *name, int command, uint32_t pid,
		       char *const *taps, uint32_t n_taps)
{
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if (!alb_peer_connected(peer) || alb_msg_new(&m, ALB_MSG_COMMAND, 0, name) < 0)
		return;
	m->cmd.kind = command;
	if (command == ALB_CMD_STATS_ADD) {
		m->cmd.pid = pid;
		m->cmd.taps = alb_strv_dup(taps, n_taps);
		m->cmd.n_taps = m->cmd.taps ? n_taps : 0;
	}
	alb_peer_send(peer, m);
}

/* The first command on each connection to a helper daemon: it is albatrossd's feed, never
 * closed by the bounds of its socket (docs/protocol.md, "Fair share"). */
static void send_feed(struct alb_peer *peer)
{
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if (alb_name_new_root(&root) < 0 || alb_msg_new(&m, ALB_MSG_COMMAND, 0, root) < 0)
		return;
	m->cmd.kind = ALB_CMD_FEED;
	alb_peer_send(peer, m);
}

static void log_connected(struct alb_peer *peer, void *userdata)
{
	send_feed(peer);
}

/* ---- hooks of the supervisor ---- */

static void log_event(alb_vmm *vmm, struct alb_log_event *event, void *userdata)
{
	struct link *l = userdata;
	_cleanup_(alb_name_freep) alb_name *root = NULL;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if (alb_name_new_root(&root) < 0 ||
	    alb_msg_new(&m, ALB_MSG_COMMAND, 0, event->name ? event->name : root) < 0) {
		alb_log_event_free(event);
		return;
	}
	m->cmd.kind = ALB_CMD_LOG_EVENT;
	m->cmd.event = event;
	alb_peer_send(l->log, m);
}

static void running(alb_vmm *vmm, const alb_name *name, uint32_t pid, char *const *taps,
		    uint32_t n_taps, void *userdata)
{
	struct link *l = userdata;
	send_named(l->stats, name, ALB_CMD_STATS_ADD, pid, taps, n_taps);
}

static void stopped(alb_vmm *vmm, const alb_name *name, void *userdata)
{
	struct link *l = userdata;
	send_named(l->stats, name, ALB_CMD_STATS_REMOVE, 0, NULL, 0);
}

static void flush(alb_vmm *vmm, void *userdata)
{
	struct link *l = userdata;
	alb_peer_flush(l->log, 1000);
	/* Console output still kept goes out whole, as far as albatross-console takes it. */
	alb_console_relay_pump(l->relay, true);
	alb_peer_flush(l->console, 1000);
}

/* ---- albatross-console ---- */

static int relay_send(void *userdata, const struct alb_console_relay_segment *seg, uint64_t *ret_id)
{
	struct link *l = userdata;
	_cleanup_(alb_msg_freep) alb_msg *m = NULL;
	if (!alb_peer_connected(l->console))
		return -ENOTCONN;
	int r = alb_msg_new(&m, ALB_MSG_COMMAND, 0, seg->name);
	if (r < 0)
		return r;
	m->cmd.kind = seg->kind == ALB_CONSOLE_RELAY_BEGIN  ? ALB_CMD_CONSOLE_ADD
		      : seg->kind == ALB_CONSOLE_RELAY_DATA ? ALB_CMD_CONSOLE_DATA
							    : ALB_CMD_CONSOLE_END;
	m->cmd.time_us = seg->time_us;
	m->cmd.output = (uint8_t *)seg->data; /* borrowed: taken back below */
	m->cmd.output_len = seg->len;
	m->cmd.dropped = seg->dropped;
	r = alb_peer_send(l->console, m);
	m->cmd.output = NULL;
	if (r < 0)
		return r;
	*ret_id = m->seq;
	return 0;
}

static void console_connected(struct alb_peer *peer, void *userdata)
{
	struct link *l = userdata;
	send_feed(peer);
	alb_console_relay_connected(l->relay);
}

static void console_disconnected(struct alb_peer *peer, void *userdata)
{
	struct link *l = userdata;
	alb_console_relay_disconnected(l->relay);
}

static void console_reply(struct alb_peer *peer, const alb_msg *reply, void *userdata)
{
	struct link *l = userdata;
	alb_console_relay_ack(l->relay, reply->seq, reply->kind == ALB_MSG_SUCCESS);
}

/* ---- albatross-stats ---- */

static int register_running(alb_vmm *vmm, const alb_vmm_unikernel *uk, void *userdata)
{
	struct link *l = userdata;
	uint32_t pid = alb_vmm_unikernel_get_pid(uk);
	if (pid == 0)
		return 0;
	_cleanup_free_ struct alb_unikernel_info *info = NULL;
	uint32_t n = 0;
	/* Its taps, as info shows them. */
	if (vmm_unikernel_infos(vmm, alb_vmm_unikernel_get_name(uk), 1, &info, &n) < 0 || n != 1)
		return 0;
	send_named(l->stats, info->name, ALB_CMD_STATS_ADD, pid, info->taps, info->n_taps);
	alb_unikernel_info_clear(info);
	return 0;
}

static void stats_connected(struct alb_peer *peer, void *userdata)
{
	struct link *l = userdata;
	send_feed(peer);
	(void)alb_vmm_foreach_unikernel(l->vmm, NULL, register_running, l);
}

static void link_free(void *userdata)
{
	struct link *l = userdata;
	if (!l)
		return;
	alb_peer_free(l->console);
	alb_peer_free(l->stats);
	alb_peer_free(l->log);
	free(l);
}

ALB_EXPORT int alb_vmm_connect_helpers(alb_vmm *vmm)
{
	if (!vmm)
		return -EINVAL;
	static const struct alb_peer_ops console_ops = {
	    .on_connect = console_connected,
	    .on_disconnect = console_disconnected,
	    .on_reply = console_reply,
	};
	static const struct alb_peer_ops stats_ops = {.on_connect = stats_connected};
	static const struct alb_peer_ops log_ops = {.on_connect = log_connected};
	static const struct vmm_hooks hooks = {
	    .log_event = log_event,
	    .running = running,
	    .stopped = stopped,
	    .flush = flush,
	};
	if (vmm_link(vmm))
		return 0;
	alb_ctx *ctx = vmm_ctx(vmm);
	alb_loop *loop = vmm_loop(vmm);
	struct link *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->vmm = vmm;
	char path[PATH_MAX];
	int r = 0;
	snprintf(path, sizeof(path), "%s/console.sock", vmm_rundir(vmm));
	if (r >= 0)
		r = alb_peer_new(ctx, loop, "albatross-console", path, &console_ops, l, false,
				 16 << 20, &l->console);
	snprintf(path, sizeof(path), "%s/stats.sock", vmm_rundir(vmm));
	if (r >= 0)
		r = alb_peer_new(ctx, loop, "albatross-stats", path, &stats_ops, l, false, 16 << 20,
				 &l->stats);
	/* Events wait (bounded) for albatross-log to come back. */
	snprintf(path, sizeof(path), "%s/log.sock", vmm_rundir(vmm));
	if (r >= 0)
		r = alb_peer_new(ctx, loop, "albatross-log", path, &log_ops, l, true, 16 << 20,
				 &l->log);
	/* The relay last: it never points at a link that failed to be made. */
	if (r >= 0 && (r = vmm_console_relay(vmm, relay_send, l, &l->relay)) >= 0 &&
	    alb_peer_connected(l->console))
		alb_console_relay_connected(l->relay);
	if (r < 0) {
		link_free(l);
		return r;
	}
	vmm_set_link(vmm, l, link_free);
	vmm_set_hooks(vmm, &hooks, l);
	return 0;
}
