#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The include graph follows the layers of docs/architecture.md: every file of
libalbatross/ includes only headers of its own layer or of the layers below it;
the programs (daemon/, cli/) include only the public headers, the extension tier
(include/albatross/sys/) and their own; nothing below the services includes a
service. Every source and private header must have a layer here: a new module
is placed when it is added.  usage: check-layers.py SOURCE_ROOT  (TAP)"""
import os
import re
import sys

VALUES, ENGINES, PROTOCOL, SERVICES, PROGRAMS = range(5)
NAMES = ['values', 'engines', 'protocol', 'services', 'programs']

# module (file name without -private.h / .c) -> layer
LAYER = {
    # values: small types and helpers with no I/O of their own beyond files
    'util': VALUES, 'ipam': VALUES, 'inet': VALUES, 'ctx': VALUES, 'name': VALUES, 'policy': VALUES, 'unikernel': VALUES,
    'manifest': VALUES, 'exit': VALUES, 'parse': VALUES,
    'hostport': VALUES, 'inet': VALUES, 'fileio': VALUES, 'zstream': VALUES, 'cbor': VALUES, 'codec': VALUES,
    'loop': VALUES, 'supervise': VALUES, 'share': VALUES, 'config': VALUES, 'bounds': VALUES,
    'sha256': VALUES, 'dl': VALUES, 'dl-hwloc': VALUES, 'dl-gnutls': VALUES, 'dl-nft': VALUES, 'dl-nl': VALUES,
    'albatross': PROGRAMS,  # the umbrella header: everything
    # engines: no sockets
    'tree': ENGINES, 'nft': ENGINES, 'monitor': ENGINES, 'vmm': ENGINES, 'vmm-internal': ENGINES, 'vmm-ops': ENGINES,
    'image': ENGINES, 'ingest': ENGINES, 'net': ENGINES, 'tender': ENGINES, 'state': ENGINES, 'journal': ENGINES, 'console': ENGINES,
    'console-relay': ENGINES, 'log': ENGINES, 'stats': ENGINES, 'tls-pool': ENGINES,
    # protocol: the wire and what carries it
    'wire': PROTOCOL, 'svcwire': PROTOCOL, 'frame': PROTOCOL, 'server': PROTOCOL, 'peer': PROTOCOL,
    'client': PROTOCOL, 'sub': PROTOCOL, 'tls': PROTOCOL, 'x509': PROTOCOL,
    # services: one per daemon
    'vmm-service': SERVICES, 'svc': SERVICES, 'vmm-link': SERVICES, 'console-service': SERVICES,
    'log-service': SERVICES, 'stats-service': SERVICES, 'tls-endpoint': SERVICES,
    'console-service': SERVICES,
}

# Headers of include/albatross/ and include/albatross/sys/: the module they belong to.
PUBLIC = {
    'ctx.h': 'ctx', 'name.h': 'name', 'policy.h': 'policy', 'unikernel.h': 'unikernel',
    'manifest.h': 'manifest', 'loop.h': 'loop', 'tree.h': 'tree', 'vmm.h': 'vmm',
    'console.h': 'console', 'log.h': 'log', 'stats.h': 'stats', 'wire.h': 'wire',
    'client.h': 'client', 'tls.h': 'tls', 'x509.h': 'x509', 'albatross.h': 'albatross',
    'sys/cleanup.h': 'util', 'sys/util.h': 'util', 'sys/vmm.h': 'vmm', 'sys/log.h': 'log',
    'sys/stats.h': 'stats', 'sys/wire.h': 'wire', 'sys/client.h': 'client',
    'sys/x509.h': 'x509', 'sys/services.h': 'console-service',
}


def module(path):
    base = os.path.basename(path)
    for suffix in ('-private.h', '.c', '.h'):
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return base


def includes(path, public=False):
    """(line, header) of the quoted includes; with public those of <albatross/...>
    too, as the header of the module they belong to ("sys/vmm.h": "vmm.h")."""
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if m:
                yield n, m.group(1)
            m = re.match(r'\s*#\s*include\s+<albatross/([^>]+)>', line)
            if m and public:
                yield n, PUBLIC.get(m.group(1), m.group(1)[:-2]) + '.h'


def main():
    root = sys.argv[1]
    results = []
    lib = os.path.join(root, 'libalbatross')
    for f in sorted(os.listdir(lib)):
        if not (f.endswith('.c') or f.endswith('.h')):
            continue
        path = os.path.join(lib, f)
        mod = module(f)
        if mod not in LAYER:
            results.append((False, f'libalbatross/{f} has a layer', 'add it to LAYER'))
            continue
        bad = []
        for n, inc in includes(path, public=True):
            target = module(inc)
            if target not in LAYER:
                bad.append(f'{f}:{n}: "{inc}" has no layer')
            elif LAYER[target] > LAYER[mod]:
                bad.append(f'{f}:{n}: {NAMES[LAYER[mod]]} includes "{inc}" '
                           f'({NAMES[LAYER[target]]})')
        results.append((not bad, f'libalbatross/{f} ({NAMES[LAYER[mod]]}) includes only '
                        'its layer and those below', '; '.join(bad)))
    for d in ('daemon', 'cli'):
        for f in sorted(os.listdir(os.path.join(root, d))):
            if not (f.endswith('.c') or f.endswith('.h')):
                continue
            # its own: its files, and the headers the build generates (config.h;
            # cli-help.h, from albatross-client(1) by cli/gen-help.py)
            own = set(x for x in os.listdir(os.path.join(root, d)))
            if d == 'cli':
                own.add('cli-help.h')
            bad = [f'{f}:{n}: "{inc}"' for n, inc in includes(os.path.join(root, d, f))
                   if inc not in own and inc != 'config.h']
            results.append((not bad, f'{d}/{f} includes only public headers, the sys/ tier '
                            'and its own', '; '.join(bad)))
    print(f'1..{len(results)}')
    failed = 0
    for i, (ok, what, why) in enumerate(results, 1):
        if ok:
            print(f'ok {i} - {what}')
        else:
            failed += 1
            print(f'not ok {i} - {what}: {why}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
