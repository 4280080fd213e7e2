/* SPDX-License-Identifier: ISC */
#include <fcntl.h>
#include <net/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <sys/ioctl.h>

#include "dl-nl-private.h" /* before any header that includes libnl's */

#include "ctx-private.h"
#include "net-private.h"

struct alb_net {
	alb_ctx *ctx;
	struct nl_sock *sock;
};

int alb_net_new(alb_ctx *ctx, struct alb_net **ret)
{
	int r = alb_dl_nl_load(ctx);
	if (r < 0)
		return r;
	_cleanup_free_ struct alb_net *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->sock = nl_socket_alloc();
	if (!n->sock)
		return -ENOMEM;
	r = nl_connect(n->sock, NETLINK_ROUTE);
	if (r < 0) {
		nl_socket_free(n->sock);
		return alb_error(ctx, EIO, "Failed to open a route netlink socket: %s",
				 nl_geterror(r));
	}
	n->ctx = ctx;
	*ret = TAKE_PTR(n);
	return 0;
}

struct alb_net *alb_net_free(struct alb_net *net)
{
	if (!net)
		return NULL;
	nl_socket_free(net->sock);
	free(net);
	return NULL;
}

int alb_net_link_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static int get_link(struct alb_net *net, const char *name, struct rtnl_link **ret)
{
	int r = rtnl_link_get_kernel(net->sock, 0, name, ret);
	if (r == -NLE_OBJ_NOTFOUND || r == -NLE_NODEV)
		return alb_error(net->ctx, ENOENT, "there is no interface '%s'", name);
	if (r < 0)
		return alb_error(net->ctx, EIO, "Failed to look up interface '%s': %s", name,
				 nl_geterror(r));
	return 0;
}

int alb_net_bridge_exists(struct alb_net *net, const char *bridge)
{
	struct rtnl_link *link = NULL;
	int r = get_link(net, bridge, &link);
	if (r == -ENOENT)
		return alb_error(net->ctx, ENOENT, "there is no bridge '%s' on this host", bridge),
		       0;
	if (r < 0)
		return r;
	r = rtnl_link_is_bridge(link);
	rtnl_link_put(link);
	if (!r)
		alb_error(net->ctx, EINVAL, "interface '%s' is not a bridge", bridge);
	return r ? 1 : 0;
}

int alb_net_list_bridges(struct alb_net *net, char ***ret, uint32_t *ret_n)
{
	struct nl_cache *cache = NULL;
	int r = rtnl_link_alloc_cache(net->sock, AF_UNSPEC, &cache);
	if (r < 0)
		return alb_error(net->ctx, EIO, "Failed to list the interfaces: %s",
				 nl_geterror(r));
	char **v = calloc(1, sizeof(char *));
	uint32_t n = 0;
	r = v ? 0 : -ENOMEM;
	for (struct nl_object *o = nl_cache_get_first(cache); o && r >= 0;
	     o = nl_cache_get_next(o)) {
		struct rtnl_link *link = (struct rtnl_link *)o;
		if (rtnl_link_is_bridge(link))
			r = alb_strset_add(&v, &n, rtnl_link_get_name(link), UINT32_MAX);
	}
	nl_cache_free(cache);
	if (r < 0) {
		alb_strv_free(v);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Opens /dev/net/tun attached to the tap name: made if it does not exist;
 * with exclusive, -EBUSY if it does. */
static int tun_open(alb_ctx *ctx, const char *name, bool exclusive)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return alb_error(ctx, errno, "Failed to open /dev/net/tun: %s", strerror(errno));
	struct ifreq ifr = {0};
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (exclusive ? IFF_TUN_EXCL : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		if (exclusive && errno == EBUSY) {
			close(fd);
			return -EBUSY;
		}
		int r =
		    alb_error(ctx, errno, "Failed to create tap '%s': %s", name, strerror(errno));
		close(fd);
		return r;
	}
	return fd;
}

int alb_net_tap_remove(struct alb_net *net, const char *name)
{
	if (!alb_net_link_exists(name))
		return -ENOENT;
	_cleanup_close_ int fd = tun_open(net->ctx, name, false);
	if (fd < 0)
		return fd;
	if (ioctl(fd, TUNSETPERSIST, 0) < 0)
		return alb_error(net->ctx, errno, "Failed to remove tap '%s': %s", name,
				 strerror(errno));
	return 0;
}

static int tap_setup(struct alb_net *net, const char *name, const char *bridge)
{
	struct rtnl_link *tap = NULL, *br = NULL, *change = NULL;
	int r = get_link(net, name, &tap);
	if (r < 0)
		return r;
	if ((r = get_link(net, bridge, &br)) < 0)
		goto out;
	if (!rtnl_link_is_bridge(br)) {
		r = alb_error(net->ctx, EINVAL, "interface '%s' is not a bridge", bridge);
		goto out;
	}
	change = rtnl_link_alloc();
	if (!change) {
		r = -ENOMEM;
		goto out;
	}
	rtnl_link_set_flags(change, IFF_UP);
	if ((r = rtnl_link_change(net->sock, tap, change, 0)) < 0) {
		r = alb_error(net->ctx, EIO, "Failed to bring tap '%s' up: %s", name,
			      nl_geterror(r));
		goto out;
	}
	if ((r = rtnl_link_enslave(net->sock, br, tap)) < 0) {
		r = alb_error(net->ctx, EIO, "Failed to attach tap '%s' to bridge '%s': %s", name,
			      bridge, nl_geterror(r));
		goto out;
	}
	r = 0;
out:
	if (change)
		rtnl_link_put(change);
	if (br)
		rtnl_link_put(br);
	rtnl_link_put(tap);
	return r;
}

int alb_net_tap_create(struct alb_net *net, const char *prefix, const char *bridge, uid_t uid,
		       gid_t gid, int (*reserve)(void *userdata, const char *name), void *userdata,
		       char ret_name[16])
{
	char name[IFNAMSIZ];
	int r = -EEXIST;
	/* The smallest free name; another process may take it first, so retry. */
	for (unsigned i = 0; i < 100000 && r == -EEXIST; i++) {
		if (snprintf(name, sizeof(name), "%s%u", prefix, i) >= (int)sizeof(name))
			return alb_error(net->ctx, ENAMETOOLONG, "no free tap name for prefix '%s'",
					 prefix);
		if (alb_net_link_exists(name))
			continue;
		_cleanup_close_ int fd = tun_open(net->ctx, name, true);
		if (fd == -EBUSY)
			continue; /* another process took the name meanwhile: the next one */
		if (fd < 0)
			return fd;
		int persist = 1;
		if (reserve && (r = reserve(userdata, name)) < 0)
			return r; /* not persistent yet: it goes with fd */
		if ((uid != (uid_t)-1 && ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0) ||
		    (gid != (gid_t)-1 && ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0) ||
		    ioctl(fd, TUNSETPERSIST, persist) < 0) {
			r = alb_error(net->ctx, errno, "Failed to set up tap '%s': %s", name,
				      strerror(errno));
			ioctl(fd, TUNSETPERSIST, 0);
			return r;
		}
		r = 0;
	}
	if (r < 0)
		return alb_error(net->ctx, EEXIST, "no free tap name for prefix '%s'", prefix);
	if ((r = tap_setup(net, name, bridge)) < 0) {
		alb_net_tap_remove(net, name);
		return r;
	}
	memcpy(ret_name, name, IFNAMSIZ);
	return 0;
}
