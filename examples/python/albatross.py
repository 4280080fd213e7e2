# SPDX-License-Identifier: ISC
"""A small Python binding of libalbatross over its stable C ABI (ctypes).

Names, policies and the client of albatrossd (connect, info, create, destroy).
Every failure raises AlbatrossError with the library's message and the errno.

    import albatross
    with albatross.Client('/run/albatross/albatrossd.sock') as c:
        c.create('hello', 'hello.spt', memory=32, cpus=[0], nets=[('service', 'br0')])
        print(c.info())
        c.destroy('hello')

The library it loads, the first that exists of:
  - $ALBATROSS_LIBRARY, a path (no search: an error if it does not load);
  - the build trees of the checkout this file is in: build-release/ (scripts/run's)
    and build/ (scripts/test's), their libalbatross/libalbatross.so.0;
  - libalbatross.so.0 where the dynamic linker finds it (installed, LD_LIBRARY_PATH).
albatross.library is what it loaded: the path, or the soname the dynamic linker found.
"""
import ctypes
import errno
import os

__all__ = ['AlbatrossError', 'Name', 'Policy', 'Client', 'version', 'library']

SONAME = 'libalbatross.so.0'
# The build directories of a checkout, in the order they are tried.
BUILD_DIRS = ('build-release', 'build')


def _candidates():
    """The libraries to try, in order: ALBATROSS_LIBRARY alone when it is set."""
    env = os.environ.get('ALBATROSS_LIBRARY')
    if env:
        return [env]
    out = []
    # examples/python/albatross.py in a checkout: its top has meson.build.
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if os.path.isfile(os.path.join(top, 'meson.build')):
        for d in BUILD_DIRS:
            path = os.path.join(top, d, 'libalbatross', SONAME)
            if os.path.exists(path):
                out.append(path)
    out.append(SONAME)
    return out


def _load():
    errors = []
    for c in _candidates():
        try:
            return c, ctypes.CDLL(c, use_errno=True)
        except OSError as e:
            errors.append(str(e))
    raise ImportError('albatross: cannot load libalbatross (' + '; '.join(errors) +
                      '): set ALBATROSS_LIBRARY to the path of libalbatross.so.0, '
                      'e.g. build-release/libalbatross/libalbatross.so.0 of a checkout')


library, _lib = _load()
_p = ctypes.c_void_p


def _fn(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_ctx_new = _fn('alb_ctx_new', ctypes.c_int, ctypes.POINTER(_p))
_ctx_unref = _fn('alb_ctx_unref', _p, _p)
_ctx_last_error = _fn('alb_ctx_last_error', ctypes.c_char_p, _p)
_version = _fn('alb_version', ctypes.c_char_p)
_free = _fn('alb_free', None, _p)

_name_parse = _fn('alb_name_parse', ctypes.c_int, _p, ctypes.c_char_p, ctypes.POINTER(_p))
_name_free = _fn('alb_name_free', _p, _p)
_name_to_string = _fn('alb_name_to_string', _p, _p)
_name_is_path = _fn('alb_name_is_path', ctypes.c_int, _p)

_policy_new = _fn('alb_policy_new', ctypes.c_int, ctypes.POINTER(_p))
_policy_free = _fn('alb_policy_free', _p, _p)
_policy_set_unikernels = _fn('alb_policy_set_unikernels', ctypes.c_int, _p, ctypes.c_uint32)
_policy_set_memory = _fn('alb_policy_set_memory', ctypes.c_int, _p, ctypes.c_uint64)
_policy_set_block = _fn('alb_policy_set_block', ctypes.c_int, _p, ctypes.c_uint64)
_policy_add_cpuid = _fn('alb_policy_add_cpuid', ctypes.c_int, _p, ctypes.c_uint32)
_policy_add_bridge = _fn('alb_policy_add_bridge', ctypes.c_int, _p, ctypes.c_char_p)
_policy_is_smaller = _fn('alb_policy_is_smaller', ctypes.c_int, _p, _p, _p)
_policy_to_string = _fn('alb_policy_to_string', _p, _p)

_config_new = _fn('alb_unikernel_config_new', ctypes.c_int, _p, ctypes.POINTER(_p))
_config_free = _fn('alb_unikernel_config_free', _p, _p)
_config_set_tender = _fn('alb_unikernel_config_set_tender', ctypes.c_int, _p, ctypes.c_int)
_config_set_memory = _fn('alb_unikernel_config_set_memory', ctypes.c_int, _p, ctypes.c_uint64)
_config_get_memory = _fn('alb_unikernel_config_get_memory', ctypes.c_uint64, _p)
_config_add_cpuid = _fn('alb_unikernel_config_add_cpuid', ctypes.c_int, _p, ctypes.c_uint32)
_config_add_net = _fn('alb_unikernel_config_add_net', ctypes.c_int, _p, ctypes.c_char_p,
                      ctypes.c_char_p, _p)
_config_add_argument = _fn('alb_unikernel_config_add_argument', ctypes.c_int, _p,
                           ctypes.c_char_p)
_config_set_fail = _fn('alb_unikernel_config_set_fail_behaviour', ctypes.c_int, _p,
                       ctypes.c_int)

_manifest_read = _fn('alb_manifest_read', ctypes.c_int, _p, ctypes.c_char_p, ctypes.c_uint64,
                     ctypes.POINTER(_p))
_manifest_free = _fn('alb_manifest_free', _p, _p)
_manifest_target = _fn('alb_manifest_get_target', ctypes.c_int, _p)

_client_connect = _fn('alb_client_connect', ctypes.c_int, _p, ctypes.c_char_p,
                      ctypes.POINTER(_p))
_client_free = _fn('alb_client_free', _p, _p)
_client_info = _fn('alb_client_info', ctypes.c_int, _p, _p, ctypes.POINTER(_p))
_client_create = _fn('alb_client_create', ctypes.c_int, _p, _p, _p, ctypes.c_char_p,
                     ctypes.c_int)
_client_destroy = _fn('alb_client_destroy', ctypes.c_int, _p, _p)
_msg_free = _fn('alb_msg_free', _p, _p)
_msg_count = _fn('alb_msg_get_unikernel_count', ctypes.c_uint32, _p)
_msg_name = _fn('alb_msg_get_unikernel_name', _p, _p, ctypes.c_uint32)
_msg_state = _fn('alb_msg_get_unikernel_state', ctypes.c_char_p, _p, ctypes.c_uint32)
_msg_pid = _fn('alb_msg_get_unikernel_pid', ctypes.c_uint32, _p, ctypes.c_uint32)
_msg_restarts = _fn('alb_msg_get_unikernel_restarts', ctypes.c_uint32, _p, ctypes.c_uint32)
_msg_config = _fn('alb_msg_get_unikernel_config', _p, _p, ctypes.c_uint32)

# enum values of unikernel.h and manifest.h
TENDER_HVT, TENDER_SPT = 1, 2
SOLO5_HVT, SOLO5_SPT = 1, 2
FAIL_QUIT, FAIL_RESTART = 0, 1


class AlbatrossError(OSError):
    """A failure of libalbatross: errno and the library's message."""


def version():
    return _version().decode()


class _Ctx:
    def __init__(self):
        ctx = _p()
        r = _ctx_new(ctypes.byref(ctx))
        if r < 0:
            raise AlbatrossError(-r, os.strerror(-r))
        self.ptr = ctx

    def check(self, r, what='', said=True):
        """Raises AlbatrossError if r < 0. said: the call takes the context and leaves
        its reason there (the setters of policies and configurations take none: their
        reason is the errno's, not the context's last, older message)."""
        if r < 0:
            msg = (_ctx_last_error(self.ptr) or b'').decode(errors='replace') if said else ''
            msg = msg or os.strerror(-r)
            # The library's message names what failed, mostly: said once, not twice.
            if what and what.lower() not in msg.lower():
                msg = f'{what}: {msg}'
            raise AlbatrossError(-r, msg)
        return r

    def __del__(self):
        if getattr(self, 'ptr', None):
            _ctx_unref(self.ptr)
            self.ptr = None


def _take_string(ptr):
    if not ptr:
        raise MemoryError()
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        _free(ptr)


class Name:
    """A name such as 'alice:web' (a unikernel) or 'alice:' (a path); ':' is the root."""

    def __init__(self, text, _ctx=None):
        self._ctx = _ctx or _Ctx()
        ptr = _p()
        # The library's message names it: "invalid name 'bad name': ...".
        self._ctx.check(_name_parse(self._ctx.ptr, text.encode(), ctypes.byref(ptr)))
        self.ptr = ptr

    @property
    def is_path(self):
        return bool(_name_is_path(self.ptr))

    def __str__(self):
        return _take_string(_name_to_string(self.ptr))

    def __repr__(self):
        return f'Name({str(self)!r})'

    def __del__(self):
        if getattr(self, 'ptr', None):
            _name_free(self.ptr)
            self.ptr = None


class Policy:
    """Resources of a domain: unikernels, memory (MB), block storage (MB or None),
    CPU ids and bridges."""

    def __init__(self, unikernels=0, memory=0, block=None, cpus=(), bridges=()):
        self._ctx = _Ctx()
        ptr = _p()
        self._ctx.check(_policy_new(ctypes.byref(ptr)), said=False)
        self.ptr = ptr
        self._ctx.check(_policy_set_unikernels(ptr, unikernels), 'unikernels', said=False)
        self._ctx.check(_policy_set_memory(ptr, memory), 'memory', said=False)
        if block is not None:
            self._ctx.check(_policy_set_block(ptr, block), 'block', said=False)
        for c in cpus:
            self._ctx.check(_policy_add_cpuid(ptr, c), f'CPU {c}', said=False)
        for b in bridges:
            self._ctx.check(_policy_add_bridge(ptr, b.encode()), f'bridge {b!r}', said=False)

    def fits_in(self, outer):
        """True if this policy fits inside outer (the static check); else False, with
        the reason in self.why."""
        r = _policy_is_smaller(self._ctx.ptr, self.ptr, outer.ptr)
        self.why = (_ctx_last_error(self._ctx.ptr) or b'').decode() if r < 0 else ''
        return r == 0

    def __str__(self):
        return _take_string(_policy_to_string(self.ptr))

    def __del__(self):
        if getattr(self, 'ptr', None):
            _policy_free(self.ptr)
            self.ptr = None


class Client:
    """A connection to albatrossd's Unix socket."""

    def __init__(self, socket_path=None):
        self._ctx = _Ctx()
        ptr = _p()
        self._ctx.check(_client_connect(self._ctx.ptr,
                                        socket_path.encode() if socket_path else None,
                                        ctypes.byref(ptr)))
        self.ptr = ptr

    def close(self):
        if getattr(self, 'ptr', None):
            _client_free(self.ptr)
            self.ptr = None

    __del__ = close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _name(self, text):
        return Name(text, self._ctx)

    def info(self, name=':'):
        """A list of dicts: name, state, pid, restarts, memory."""
        n = self._name(name)
        reply = _p()
        self._ctx.check(_client_info(self.ptr, n.ptr, ctypes.byref(reply)), 'info')
        try:
            out = []
            for i in range(_msg_count(reply)):
                out.append({
                    'name': _take_string(_name_to_string(_msg_name(reply, i))),
                    'state': _msg_state(reply, i).decode(),
                    'pid': _msg_pid(reply, i),
                    'restarts': _msg_restarts(reply, i),
                    'memory': _config_get_memory(_msg_config(reply, i)),
                })
            return out
        finally:
            _msg_free(reply)

    def _image_tender(self, image):
        with open(image, 'rb') as f:
            data = f.read()
        m = _p()
        self._ctx.check(_manifest_read(self._ctx.ptr, data, len(data), ctypes.byref(m)),
                        os.fsdecode(image))
        try:
            target = _manifest_target(m)
        finally:
            _manifest_free(m)
        tender = {SOLO5_HVT: 'hvt', SOLO5_SPT: 'spt'}.get(target)
        if tender is None:
            raise AlbatrossError(errno.EINVAL, f'{os.fsdecode(image)}: not built for hvt or spt')
        return tender

    def create(self, name, image, memory=32, cpus=(0,), nets=(), arguments=(),
               tender=None, restart=False, force=False):
        """Uploads image and starts it as name. nets: (device, bridge) pairs. tender:
        'hvt' or 'spt'; None takes the one the image is built for (its Solo5 ABI note)."""
        n = self._name(name)
        if tender is None:
            tender = self._image_tender(image)
        cfg = _p()
        self._ctx.check(_config_new(self._ctx.ptr, ctypes.byref(cfg)))
        try:
            tenders = {'hvt': TENDER_HVT, 'spt': TENDER_SPT}
            if tender not in tenders:
                raise AlbatrossError(errno.EINVAL, f'unknown tender {tender!r}')
            self._ctx.check(_config_set_tender(cfg, tenders[tender]), 'tender', said=False)
            self._ctx.check(_config_set_memory(cfg, memory), 'memory', said=False)
            for c in cpus:
                self._ctx.check(_config_add_cpuid(cfg, c), f'CPU {c}', said=False)
            for dev, bridge in nets:
                self._ctx.check(_config_add_net(cfg, dev.encode(), bridge.encode(), None),
                                f'network device {dev!r}', said=False)
            for a in arguments:
                self._ctx.check(_config_add_argument(cfg, a.encode()), 'argument', said=False)
            self._ctx.check(_config_set_fail(cfg, FAIL_RESTART if restart else FAIL_QUIT),
                            said=False)
            self._ctx.check(_client_create(self.ptr, n.ptr, cfg, os.fsencode(image),
                                           1 if force else 0), f'create {name}')
        finally:
            _config_free(cfg)

    def destroy(self, name):
        n = self._name(name)
        self._ctx.check(_client_destroy(self.ptr, n.ptr), f'destroy {name}')
