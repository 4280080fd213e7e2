/* SPDX-License-Identifier: ISC */
/*
 * libnl (libnl-3.so.200, libnl-route-3.so.200, libnl-nf-3.so.200), loaded on demand
 * together (dl-private.h explains the pattern). Include this header instead of the library's own,
 * before any other that includes them. To use another symbol, add it to the list of its library and
 * to the #defines below (the build fails until both are there).
 */
#pragma once

#include <netlink/netlink.h>
#include <netlink/netfilter/ct.h>
#include <netlink/netfilter/nfnl.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include <albatross/ctx.h>

#include "dl-private.h"

/* libnl-3.so.200 */
#define ALB_DL_NL_SYMBOLS(X)                                                                       \
	X(nl_addr_get_binary_addr)                                                                 \
	X(nl_addr_get_family)                                                                      \
	X(nl_addr_get_len)                                                                         \
	X(nl_cache_free)                                                                           \
	X(nl_cache_get_first)                                                                      \
	X(nl_cache_get_next)                                                                       \
	X(nl_cache_nitems)                                                                         \
	X(nl_connect)                                                                              \
	X(nl_geterror)                                                                             \
	X(nl_object_get)                                                                           \
	X(nl_recvmsgs_default)                                                                     \
	X(nl_socket_alloc)                                                                         \
	X(nl_socket_free)                                                                          \
	X(nl_socket_modify_cb)                                                                     \
	X(nlmsg_hdr)

/* libnl-route-3.so.200 */
#define ALB_DL_NL_ROUTE_SYMBOLS(X)                                                                 \
	X(rtnl_link_alloc)                                                                         \
	X(rtnl_link_alloc_cache)                                                                   \
	X(rtnl_link_change)                                                                        \
	X(rtnl_link_enslave)                                                                       \
	X(rtnl_link_get_by_name)                                                                   \
	X(rtnl_link_get_kernel)                                                                    \
	X(rtnl_link_get_name)                                                                      \
	X(rtnl_link_get_stat)                                                                      \
	X(rtnl_link_is_bridge)                                                                     \
	X(rtnl_link_put)                                                                           \
	X(rtnl_link_set_flags)

/* libnl-nf-3.so.200 */
#define ALB_DL_NL_NF_SYMBOLS(X)                                                                    \
	X(nfnl_connect)                                                                            \
	X(nfnl_ct_del)                                                                             \
	X(nfnl_ct_dump_request)                                                                    \
	X(nfnl_ct_get_family)                                                                      \
	X(nfnl_ct_get_proto)                                                                       \
	X(nfnl_ct_get_src)                                                                         \
	X(nfnl_ct_put)                                                                             \
	X(nfnlmsg_ct_parse)

struct alb_dl_nl {
	ALB_DL_NL_SYMBOLS(ALB_DL_MEMBER)
	ALB_DL_NL_ROUTE_SYMBOLS(ALB_DL_MEMBER)
	ALB_DL_NL_NF_SYMBOLS(ALB_DL_MEMBER)
};

/* The loaded symbols; aborts with a message if the library cannot be loaded. */
const struct alb_dl_nl *alb_dl_nl(void);

/* Loads the library if it is not: 0, or -ELIBACC / -ELIBBAD with the reason in ctx. */
int alb_dl_nl_load(alb_ctx *ctx);

#ifndef ALB_DL_NL_NO_REDIRECT
#define nl_addr_get_binary_addr (alb_dl_nl()->nl_addr_get_binary_addr)
#define nl_addr_get_family	(alb_dl_nl()->nl_addr_get_family)
#define nl_addr_get_len		(alb_dl_nl()->nl_addr_get_len)
#define nl_cache_free		(alb_dl_nl()->nl_cache_free)
#define nl_cache_get_first	(alb_dl_nl()->nl_cache_get_first)
#define nl_cache_get_next	(alb_dl_nl()->nl_cache_get_next)
#define nl_cache_nitems		(alb_dl_nl()->nl_cache_nitems)
#define nl_connect		(alb_dl_nl()->nl_connect)
#define nl_geterror		(alb_dl_nl()->nl_geterror)
#define nl_object_get		(alb_dl_nl()->nl_object_get)
#define nl_recvmsgs_default	(alb_dl_nl()->nl_recvmsgs_default)
#define nl_socket_alloc		(alb_dl_nl()->nl_socket_alloc)
#define nl_socket_free		(alb_dl_nl()->nl_socket_free)
#define nl_socket_modify_cb	(alb_dl_nl()->nl_socket_modify_cb)
#define nlmsg_hdr		(alb_dl_nl()->nlmsg_hdr)
#define rtnl_link_alloc		(alb_dl_nl()->rtnl_link_alloc)
#define rtnl_link_alloc_cache	(alb_dl_nl()->rtnl_link_alloc_cache)
#define rtnl_link_change	(alb_dl_nl()->rtnl_link_change)
#define rtnl_link_enslave	(alb_dl_nl()->rtnl_link_enslave)
#define rtnl_link_get_by_name	(alb_dl_nl()->rtnl_link_get_by_name)
#define rtnl_link_get_kernel	(alb_dl_nl()->rtnl_link_get_kernel)
#define rtnl_link_get_name	(alb_dl_nl()->rtnl_link_get_name)
#define rtnl_link_get_stat	(alb_dl_nl()->rtnl_link_get_stat)
#define rtnl_link_is_bridge	(alb_dl_nl()->rtnl_link_is_bridge)
#define rtnl_link_put		(alb_dl_nl()->rtnl_link_put)
#define rtnl_link_set_flags	(alb_dl_nl()->rtnl_link_set_flags)
#define nfnl_connect		(alb_dl_nl()->nfnl_connect)
#define nfnl_ct_del		(alb_dl_nl()->nfnl_ct_del)
#define nfnl_ct_dump_request	(alb_dl_nl()->nfnl_ct_dump_request)
#define nfnl_ct_get_family	(alb_dl_nl()->nfnl_ct_get_family)
#define nfnl_ct_get_proto	(alb_dl_nl()->nfnl_ct_get_proto)
#define nfnl_ct_get_src		(alb_dl_nl()->nfnl_ct_get_src)
#define nfnl_ct_put		(alb_dl_nl()->nfnl_ct_put)
#define nfnlmsg_ct_parse	(alb_dl_nl()->nfnlmsg_ct_parse)

#endif
