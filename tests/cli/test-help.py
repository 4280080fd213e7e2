#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The help of every albatross-client command against its man page (TAP).

usage: test-help.py CLIENT albatross-client.1.scd

The commands are the client's own (albatross-client help --commands). For each:
  - CMD --help, CMD -h and help CMD print the same on stdout and exit 0;
  - its usage line and its text are the man page's block for it, word for word,
    once the scdoc markup is off (read here from the .scd, not from the generator);
  - every option the help names is one the command's parser takes (run with no
    daemon: any error but "unknown option");
  - each missing required argument is named ("create: missing IMAGE").
And: help alone is --help, help of an unknown command is a usage error naming it.
"""
import os
import re
import subprocess
import sys
import tempfile

client, scd = os.path.abspath(sys.argv[1]), sys.argv[2]
results = []


def check(ok, what, detail=''):
    results.append((bool(ok), what, detail))


def run(*args, cwd):
    return subprocess.run([client, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd, stdin=subprocess.DEVNULL)


# ---- the man page, read independently of cli/gen-help.py ----------------------------

def plain(s):
    """scdoc markup off: escapes kept aside, '*' gone, '_' gone where it starts or ends
    a word (it is a letter inside one: last_exit)."""
    esc = []

    def keep(m):
        esc.append(m.group(1))
        return f'\ue000{len(esc) - 1}\ue001'
    s = re.sub(r'\\(.)', keep, s)
    s = s.replace('*', '')
    s = re.sub(r'(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])', '', s)
    return re.sub('\ue000([0-9]+)\ue001', lambda m: esc[int(m.group(1))], s)


def man_blocks(path):
    """{command: (synopsis, body text, the block with its markup)} of the
    "... COMMANDS" sections."""
    blocks = {}
    section = False
    cur = None
    with open(path, encoding='utf-8') as f:
        for line in f.read().split('\n'):
            if line.startswith('# '):
                section = line.rstrip().endswith('COMMANDS')
                cur = None
            elif not section:
                continue
            elif line.startswith('\t'):
                if cur:
                    blocks[cur][1].append(line.strip())
            elif line.strip():
                m = re.match(r'((?:\*[a-z][a-z-]*\*(?: |$))+)(.*)', line)
                cur = None
                if m:
                    cur = ' '.join(re.findall(r'\*([a-z-]+)\*', m.group(1)))
                    blocks[cur] = (plain(m.group(2)).strip(), [], line)
    return {k: (syn, plain(' '.join(body)), head + '\n' + '\n'.join(body))
            for k, (syn, body, head) in blocks.items()}


def required(synopsis):
    """The arguments a synopsis requires: the upper-case words before the first
    option, outside brackets."""
    out, depth = [], 0
    for w in synopsis.split():
        if depth == 0 and w.startswith('-'):
            break
        if depth == 0 and w[0].isupper():
            out.append(w.rstrip('.'))
        depth += w.count('[') - w.count(']')
    return out


OPT = re.compile(r'(?<![\w-])(--[a-z][a-z0-9-]*)(?![a-z0-9=-])')

man = man_blocks(scd)
with tempfile.TemporaryDirectory() as cwd:
    r = run('help', '--commands', cwd=cwd)
    check(r.returncode == 0, 'help --commands', r.stderr)
    commands = r.stdout.split('\n')[:-1]
    top = [c for c in commands if ' ' not in c]
    check(len(top) >= 20, f'help --commands lists {len(top)} commands', r.stdout)
    described = set(man) | {k.split()[0] for k in man}
    check(set(commands) == described, 'the commands are those of the man page',
          f'client only: {sorted(set(commands) - described)}, '
          f'page only: {sorted(described - set(commands))}')

    general = run('--help', cwd=cwd)
    r = run('help', cwd=cwd)
    check(r.returncode == 0 and r.stdout == general.stdout and 'help [COMMAND]' in r.stdout,
          'help alone prints the general usage', r.stderr)
    r = run('help', 'nosuch', cwd=cwd)
    check(r.returncode == 2 and "unknown command 'nosuch'" in r.stderr and not r.stdout,
          'help nosuch: a usage error naming it', f'{r.returncode} {r.stderr}')
    r = run('help', 'service', 'nosuch', cwd=cwd)
    check(r.returncode == 2 and "'service nosuch'" in r.stderr, 'help service nosuch',
          f'{r.returncode} {r.stderr}')

    commands_of = {c: [s for s in commands if s.startswith(c + ' ')] for c in top}
    for cmd in commands:
        words = cmd.split()
        outs = [run(*words, '--help', cwd=cwd), run(*words, '-h', cwd=cwd),
                run('help', *words, cwd=cwd)]
        h = outs[0].stdout
        check(all(o.returncode == 0 and o.stdout == h and not o.stderr for o in outs) and h,
              f'{cmd}: --help, -h and help {cmd} agree',
              ' | '.join(f'{o.returncode} {o.stderr.strip()}' for o in outs))
        lines = h.split('\n')
        subs = commands_of.get(cmd, [])
        if subs:
            # A command of subcommands: the usage of each, each with its own help.
            for i, s in enumerate(subs):
                want = f'albatross-client {s} {man[s][0]}'.rstrip()
                got = lines[i] if i < len(lines) else ''
                check(got == 'Usage: ' + want if i == 0 else got.strip() == want,
                      f'{cmd}: usage of {s}', got)
            continue
        if cmd not in man:
            check(False, f'{cmd}: no block in the man page')
            continue
        synopsis, body, markup = man[cmd]
        want_usage = f'Usage: albatross-client {cmd} {synopsis}'.rstrip()
        check(lines[0] == want_usage, f'{cmd}: usage line is the man page\'s',
              f'{lines[0]!r} != {want_usage!r}')
        # The text: after the usage, up to the last paragraph (the pointer to --help).
        paras = h.rstrip('\n').split('\n\n')
        text = '\n\n'.join(paras[1:-1])
        check(text.split() == body.split(), f'{cmd}: text is the man page\'s block',
              f'help: {text.split()[:40]} ... man: {body.split()[:40]} ...')
        check(re.search(r'^  Example: albatross-client ' + re.escape(cmd) + r'\b', h, re.M),
              f'{cmd}: has an example')
        hopts = set(OPT.findall(lines[0] + '\n' + text))
        mopts = set(OPT.findall(synopsis + '\n' + body))
        check(hopts == mopts, f'{cmd}: the options of help and man page',
              f'help only {sorted(hopts - mopts)}, man only {sorted(mopts - hopts)}')

        # Every option it names is one its parser knows: those that begin a bold run
        # of the man page ("*--mem* _MB_", "*--bridge*s"; not "*add-policy --ports*",
        # another command's, nor "*--ipv4=*", the unikernel's).
        mentioned = set(re.findall(r'\*(--[a-z][a-z0-9-]*)(?=[*\s])', markup))
        check(mentioned <= hopts, f'{cmd}: the options of the man page are in the help',
              f'{sorted(mentioned - hopts)}')
        bad = []
        for opt in sorted(mentioned):
            base = [*words, opt]
            tail = ['--socket', os.path.join(cwd, 'no.sock'), '--rundir',
                    os.path.join(cwd, 'none')]
            r = run(*base, *tail, cwd=cwd)
            if 'needs an argument' in r.stderr:
                r = run(*base, '1', *tail, cwd=cwd)
            if 'unknown option' in r.stderr or r.returncode not in range(0, 7):
                bad.append(f'{opt}: {r.returncode} {r.stderr.strip()}')
        check(not bad, f'{cmd}: its {len(mentioned)} options are taken', '; '.join(bad))

        # Missing arguments are named, whichever are missing.
        req = required(synopsis)
        for have in range(len(req)):
            miss = req[have:]
            names = miss[0] if len(miss) == 1 else ', '.join(miss[:-1]) + ' and ' + miss[-1]
            r = run(*words, *(['x'] * have), cwd=cwd)
            want = f'albatross-client: {cmd}: missing {names}\n'
            check(r.returncode == 2 and r.stderr.startswith(want) and want_usage in r.stderr,
                  f'{cmd} with {have} argument(s): "{want.strip()}"',
                  f'{r.returncode} {r.stderr.strip()}')

print(f'1..{len(results)}')
failed = 0
for i, (ok, what, detail) in enumerate(results, 1):
    print(f'{"ok" if ok else "not ok"} {i} - {what}')
    if not ok:
        failed = 1
        print(f'# {detail}')
        # meson shows a TAP test's stderr only: say why there too
        print(f'not ok {i} - {what}: {detail}', file=sys.stderr)
sys.exit(failed)
