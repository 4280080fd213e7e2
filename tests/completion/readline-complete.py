#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
# Types a command line and one TAB into a real interactive bash on a
# pseudo-terminal (readline completes it as for a user) and prints the line
# readline then holds (READLINE_LINE, written by a key bound with bind -x).
# usage: readline-complete.py SETUP-COMMANDS LINE SCRATCH-FILE
import os
import pty
import select
import sys
import time

WAIT = 30  # a cap, not a delay: each step ends as soon as its event comes


def main():
    setup, typed, out = sys.argv[1:4]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp('bash', ['bash', '--norc', '--noprofile', '-i'])

    def drain(t):
        r, _, _ = select.select([fd], [], [], t)
        if r:
            try:
                os.read(fd, 65536)
            except OSError:
                pass

    bind = "bind -x '\"\\C-t\": printf \"%%s\\n\" \"$READLINE_LINE\" >%s'" % out
    os.write(fd, ("bind 'set bell-style none'; %s; %s\n" % (bind, setup)).encode())
    os.write(fd, (typed + '\t\x14').encode())
    end = time.time() + WAIT
    while not os.path.exists(out) and time.time() < end:
        drain(0.2)
    os.write(fd, b'\x15exit\n')
    end = time.time() + WAIT
    while time.time() < end:
        if os.waitpid(pid, os.WNOHANG)[0]:
            break
        drain(0.2)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    if not os.path.exists(out):
        sys.exit('no line came back within %d s' % WAIT)
    sys.stdout.write(open(out).read())


main()
