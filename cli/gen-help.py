#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The help of every albatross-client command, generated from its man page.

usage: gen-help.py albatross-client.1.scd cli-help.h cli-help.c

Reads the command blocks of the man page's "... COMMANDS" sections (a line
"*create* _NAME_ _IMAGE_ [_OPTIONS_]" at the start, then the lines indented
with tabs) and writes:
  cli-help.h  CLI_SYNOPSIS_<name> for each command ("service deploy" is
              CLI_SYNOPSIS_service_deploy, "create-block" CLI_SYNOPSIS_create_block;
              CLI_SYNOPSIS_service joins the subcommands' with " | "), and the
              declaration of the table below;
  cli-help.c  cli_help[]: each command's name, synopsis and help text, which is
              "Usage: albatross-client NAME SYNOPSIS", the block as plain text
              (the scdoc markup taken off, wrapped for a terminal of 80
              columns) and a last line pointing to the general --help. A command
              with subcommands ("service") gets an entry of its own with the
              subcommands' usages and its section's introduction.
The man page is the only source: help and man page cannot disagree. Needs only
python3 (not scdoc).
"""
import re
import sys
import textwrap

WIDTH = 80
INDENT_TEXT = 2  # a block's paragraphs
INDENT_TERM = 4  # an option's term ("--mem MB")
INDENT_DESC = 8  # its description
FOOTER = "Every command also takes the options of 'albatross-client --help'."


def strip_markup(s):
    """Plain text of an scdoc line: *bold* and _underline_ marks removed, \\x escapes
    resolved. An underscore toggles underlining as scdoc decides: after a character
    that is not alphanumeric, or to end an underline before one that is not."""
    out = []
    last = ' '
    underline = False
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == '\\' and i + 1 < len(s):
            out.append(s[i + 1])
            last = s[i + 1]
            i += 2
            continue
        if ch == '*':
            last = ch
            i += 1
            continue
        if ch == '_':
            nxt = s[i + 1] if i + 1 < len(s) else ' '
            if not last.isalnum() or (underline and not nxt.isalnum()):
                underline = not underline
                last = ch
                i += 1
                continue
        out.append(ch)
        last = ch
        i += 1
    return ''.join(out)


def parse(path):
    """The command blocks: a list of (name, synopsis, paragraphs), each paragraph a
    (level, [lines]) with the markup still in; and each section's introduction
    (the paragraphs before its first command) by section title."""
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    commands = []
    intros = {}
    section = None
    cur = None  # the command being read
    para = None
    for line in lines:
        if line.startswith('# '):
            section = line[2:].strip() if line.rstrip().endswith('COMMANDS') else None
            cur = para = None
            continue
        if section is None:
            continue
        if not line.strip():
            para = None
            continue
        level = len(line) - len(line.lstrip('\t'))
        text = line.strip()
        if level == 0:
            m = re.match(r'((?:\*[a-z][a-z-]*\*(?: |$))+)(.*)$', text)
            if m:
                name = ' '.join(re.findall(r'\*([a-z][a-z-]*)\*', m.group(1)))
                cur = (name, strip_markup(m.group(2)).strip(), [], section)
                commands.append(cur)
                para = None
                continue
            # a paragraph of the section's own, outside any command
            cur = None
            if para is None or para[0] != 0:
                para = (0, [])
                intros.setdefault(section, []).append(para)
            para[1].append(text)
            continue
        if cur is None:
            raise SystemExit(f'{path}: indented line outside a command: {line!r}')
        if para is None or para[0] != level:
            para = (level, [])
            cur[2].append(para)
        para[1].append(text)
    return commands, intros


def wrap(text, indent):
    return textwrap.fill(text, WIDTH - 1, initial_indent=' ' * indent,
                         subsequent_indent=' ' * indent, break_long_words=False,
                         break_on_hyphens=False)


def render(paragraphs):
    """The paragraphs of a block as text. A one-line paragraph followed by a deeper
    one is an option's term (not wrapped); an "Example:" paragraph is kept on one
    line, to be copied."""
    out = ''
    term = False  # the last paragraph was a term: its description follows at once
    for i, (level, lines) in enumerate(paragraphs):
        text = strip_markup(' '.join(lines))
        nxt = paragraphs[i + 1][0] if i + 1 < len(paragraphs) else 0
        if out:
            out += '\n' if term else '\n\n'
        term = level == 1 and len(lines) == 1 and nxt > level
        if term or text.startswith('Example:'):
            out += ' ' * (INDENT_TERM if term else INDENT_TEXT) + text
        else:
            out += wrap(text, INDENT_TEXT if level == 1 else INDENT_DESC)
    return out


def c_string(s):
    """s as C string literals, one per line of s."""
    parts = []
    for line in s.splitlines(keepends=True):
        b = []
        for ch in line.encode('utf-8'):
            c = chr(ch)
            if c == '\\' or c == '"':
                b.append('\\' + c)
            elif c == '\n':
                b.append('\\n')
            elif 32 <= ch < 127:
                b.append(c)
            else:
                b.append('\\%03o' % ch)
        parts.append('"' + ''.join(b) + '"')
    return '\n\t'.join(parts) if parts else '""'


def ident(name):
    return 'CLI_SYNOPSIS_' + re.sub(r'[^a-z0-9]', '_', name)


def main():
    scd, out_h, out_c = sys.argv[1:4]
    commands, intros = parse(scd)
    if not commands:
        raise SystemExit(f'{scd}: no command found')
    entries = []  # (name, synopsis, text)
    names = [c[0] for c in commands]
    if len(set(names)) != len(names):
        raise SystemExit(f'{scd}: a command is described twice')
    for name, synopsis, paragraphs, _ in commands:
        usage = f'Usage: albatross-client {name}' + (f' {synopsis}' if synopsis else '')
        body = render(paragraphs)
        if not any(p[1][0].startswith('Example:') for p in paragraphs):
            raise SystemExit(f'{scd}: the command {name} has no "Example:" paragraph')
        entries.append((name, synopsis, f'{usage}\n\n{body}\n\n{FOOTER}\n'))
    # A command whose subcommands are described ("service deploy", ...) but not itself.
    parents = {}
    for name, synopsis, _, section in commands:
        if ' ' in name:
            parent, sub = name.split(' ', 1)
            parents.setdefault(parent, []).append((sub, synopsis, section))
    for parent, subs in parents.items():
        if parent in names:
            raise SystemExit(f'{scd}: {parent} is described both whole and by subcommand')
        synopsis = ' | '.join(f'{sub} {syn}'.strip() for sub, syn, _ in subs)
        usage = '\n'.join(('Usage: ' if i == 0 else '       ') +
                          f'albatross-client {parent} {sub} {syn}'.rstrip()
                          for i, (sub, syn, _) in enumerate(subs))
        intro = '\n\n'.join(wrap(strip_markup(' '.join(p[1])), INDENT_TEXT)
                            for p in intros.get(subs[0][2], []))
        each = ', '.join(f"'albatross-client help {parent} {sub}'" for sub, _, _ in subs)
        text = f'{usage}\n\n{intro}\n\n' if intro else f'{usage}\n\n'
        text += wrap(f'The help of each: {each}.', INDENT_TEXT) + f'\n\n{FOOTER}\n'
        entries.append((parent, synopsis, text))

    gen = f'/* Generated by cli/gen-help.py from {scd.split("/")[-1]}: do not edit. */\n'
    with open(out_h, 'w', encoding='utf-8') as f:
        f.write(gen)
        f.write('#pragma once\n\n#include <stddef.h>\n\n')
        f.write('/* The synopsis of each command, after its name, as the man page gives it. */\n')
        for name, synopsis, _ in entries:
            f.write(f'#define {ident(name)} {c_string(synopsis)}\n')
        f.write('\n/* The help of each command (and of each subcommand: "service deploy"). */\n'
                'struct cli_help {\n'
                '\tconst char *name;\n'
                '\tconst char *synopsis;\n'
                '\tconst char *text; /* the whole help, ending in a newline */\n'
                '};\n'
                'extern const struct cli_help cli_help[];\n'
                'extern const size_t cli_n_help;\n')
    with open(out_c, 'w', encoding='utf-8') as f:
        f.write(gen)
        f.write('#include "cli-help.h"\n\n')
        f.write('const struct cli_help cli_help[] = {\n')
        for name, _, text in entries:
            f.write(f'    {{"{name}", {ident(name)},\n\t{c_string(text)}}},\n')
        f.write('};\n')
        f.write('const size_t cli_n_help = sizeof(cli_help) / sizeof(cli_help[0]);\n')


if __name__ == '__main__':
    main()
