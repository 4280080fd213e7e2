#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""The benchmark of issue 15 (a program, not a test): every figure of
docs/performance.md in one run, against the tender started directly.

usage: albatross-bench.py BUILDDIR [--quick] [--json FILE] [--workdir DIR]   (as root)

It starts the real albatrossd, albatross-console and albatross-stats of BUILDDIR in a
temporary directory (below --workdir, default $TMPDIR or /tmp) and drives them with
the real albatross-client. The tender is the real Solo5 solo5-spt when ALB_SOLO5_DIR
is set (a prefix with bin/solo5-spt and the Solo5 toolchain: the unikernel is our
tests/solo5/ticker, built into the temporary directory), else the test tender of
BUILDDIR/tests/tender (its `--run` guest). Every wait is for an event (a line on a
pipe, a socket that answers, a state in `info`, a line in a log), with a cap.

Figures (the keys of "figures" in the JSON; every one is a positive number):

  direct_cycle_ms            the tender spawned, its first console line read, SIGTERM, reaped
  direct_first_line_ms       the tender spawned -> its first console line read (its own start)
  cli_cycle_ms               albatross-client create, then albatross-client destroy (processes)
  cli_cycle_ratio            cli_cycle_ms / direct_cycle_ms                    goal <= 2
  create_first_line_ms       client started -> albatrossd read the unikernel's first console
                             line (the time albatross-console stores with it)
  create_first_line_ratio    create_first_line_ms / direct_first_line_ms       goal <= 1.5
  create_return_ms           client started -> the create client exited (acknowledged)
  parallel_creates_per_s     8 clients creating at once, each its own unikernels: creates / wall
  parallel_creates_per_s_per_core   the same per core                          goal >= 50
  rss_idle_kb                albatrossd's RSS, started, nothing created
  rss_many_kb                albatrossd's RSS with MANY unikernels running    goal <= 8 MB + 16 KB each
  info_many_ms               `albatross-client info` of the MANY                goal < 50 ms
  stats_tick_cpu_ms          albatross-stats CPU per tick, MANY registered (its own measure)  goal < 20
  stats_tick_cpu_proc_ms     the same from /proc/PID/stat (utime+stime) over the ticks
  restore_s                  host reboot (albatrossd, console, stats, monitors and tenders killed
                             with SIGKILL, the rundir emptied): albatrossd started -> `info`
                             shows the MANY running                            goal <= 10 s
  true_ms                    /bin/true, spawned and reaped
  client_version_ms          albatross-client --version
  client_info_ms             albatross-client info, empty daemon
  client_version_diff_ms     client_version_ms - true_ms                       goal <= 2
  client_info_diff_ms        client_info_ms - true_ms                          goal <= 2
  upload_mb_per_s            a create with an image of UPLOAD MB (10^6 bytes), whole client
                             process, through the local socket                 goal >= 500

Full mode: 200 cycles, 8 x 50 parallel creates, 1000 unikernels, a 64 MiB image.
--quick: 20 cycles, 8 x 5, 50 unikernels, a 4 MiB image (well under a minute)."""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
CAP = 120.0  # the cap of every wait for an event (seconds): never reached normally
HERE = os.path.dirname(os.path.abspath(__file__))
STATS_INTERVAL_MS = 250

GOALS = {  # key: (comparison, bound) -- a bound of None is computed (rss_many_kb)
    'cli_cycle_ratio': ('<=', 2.0),
    'create_first_line_ratio': ('<=', 1.5),
    'parallel_creates_per_s_per_core': ('>=', 50.0),
    'rss_many_kb': ('<=', None),
    'info_many_ms': ('<', 50.0),
    'stats_tick_cpu_ms': ('<', 20.0),
    'restore_s': ('<=', 10.0),
    'client_version_diff_ms': ('<=', 2.0),
    'client_info_diff_ms': ('<=', 2.0),
    'upload_mb_per_s': ('>=', 500.0),
}


def parse_args():
    ap = argparse.ArgumentParser(description='the benchmark of issue 15 (docs/performance.md)')
    ap.add_argument('builddir')
    ap.add_argument('--quick', action='store_true', help='small sizes, well under a minute')
    ap.add_argument('--json', metavar='FILE', help='write the figures as JSON to FILE')
    ap.add_argument('--workdir', metavar='DIR',
                    help='where the temporary directory goes (default $TMPDIR or /tmp)')
    return ap.parse_args()


def wait_for(pred, what, cap=CAP, interval=0.005):
    end = time.monotonic() + cap
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            raise SystemExit(f'albatross-bench: timed out after {cap} s waiting for {what}')
        time.sleep(interval)


def ms(seconds):
    return seconds * 1000.0


def rss_kb(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def cpu_us(pid):
    with open(f'/proc/{pid}/stat') as f:
        v = f.read().rsplit(')', 1)[1].split()
    return (int(v[11]) + int(v[12])) * 1000000 // os.sysconf('SC_CLK_TCK')


def procs_mentioning(text):
    """Pids of the processes with an argument that contains text (not this one)."""
    out = []
    needle = text.encode()
    for p in os.listdir('/proc'):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        try:
            with open(f'/proc/{p}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(needle in a for a in argv):
            out.append(int(p))
    return out


def monitors(rundir):
    """Pids of the albatross-monitor processes of the unikernels of rundir."""
    prefix = os.path.join(rundir, 'u').encode() + b'/'
    out = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open(f'/proc/{p}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if len(argv) > 1 and argv[0].endswith(b'albatross-monitor') and argv[1].startswith(prefix):
            out.append(int(p))
    return out


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.build = b = os.path.abspath(args.builddir)
        self.albatrossd = os.path.join(b, 'daemon', 'albatrossd')
        self.monitor = os.path.join(b, 'daemon', 'albatross-monitor')
        self.console_bin = os.path.join(b, 'daemon', 'albatross-console')
        self.stats_bin = os.path.join(b, 'daemon', 'albatross-stats')
        self.client = os.path.join(b, 'cli', 'albatross-client')
        for p in (self.albatrossd, self.monitor, self.console_bin, self.stats_bin, self.client):
            if not os.access(p, os.X_OK):
                raise SystemExit(f'albatross-bench: no {p} (build first: meson compile -C BUILDDIR)')
        self.cycles = 20 if self.quick else 200
        self.clients = 8
        self.per_client = 5 if self.quick else 50
        self.many = 50 if self.quick else 1000
        self.info_runs = 5 if self.quick else 20
        self.ticks = 6 if self.quick else 20
        self.upload_mib = 4 if self.quick else 64
        self.uploads = 3
        self.cores = os.cpu_count() or 1
        self.work = tempfile.mkdtemp(prefix='alb-bench-',
                                     dir=args.workdir or os.environ.get('TMPDIR'))
        os.chmod(self.work, 0o711)
        self.rundir = os.path.join(self.work, 'run')
        self.dbdir = os.path.join(self.work, 'db')
        self.sock = os.path.join(self.rundir, 'albatrossd.sock')
        self.procs = {}  # name -> Popen of the daemons
        self.logs = {}
        self.figures = {}
        self.info = {}

    def setup(self):
        b = self.build
        solo5 = os.environ.get('ALB_SOLO5_DIR')
        if solo5:
            self.tender_dir = os.path.join(os.path.abspath(solo5), 'bin')
            if not os.access(os.path.join(self.tender_dir, 'solo5-spt'), os.X_OK):
                raise SystemExit(f'albatross-bench: ALB_SOLO5_DIR={solo5} has no bin/solo5-spt')
            out = os.path.join(self.work, 'unikernels')
            subprocess.run(['sh', os.path.join(HERE, '..', 'tests', 'solo5', 'build.sh'),
                            os.path.abspath(solo5), out, 'spt'], check=True,
                           stdout=subprocess.DEVNULL, timeout=600)
            self.base_image = os.path.join(out, 'ticker.spt')
            self.guest_args = ['--interval=3600000']  # a line at start, then idle
            self.tender_name = 'solo5-spt (real Solo5, tests/solo5/ticker)'
        else:
            self.tender_dir = os.path.join(b, 'tests', 'tender')
            self.base_image = os.path.join(self.work, 'img.spt')
            subprocess.run([os.path.join(self.tender_dir, 'mkimage'), self.base_image],
                           check=True, timeout=60)
            self.guest_args = ['--run']
            self.tender_name = 'test tender (tests/tender, --run)'
        self.spt = os.path.join(self.tender_dir, 'solo5-spt')

    # ---- the daemons ----

    def _start(self, name, argv, sock):
        log = open(os.path.join(self.work, f'{name}.log'), 'a')
        self.logs[name] = log.name
        p = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.procs[name] = p

        def serving():
            if p.poll() is not None:
                raise SystemExit(f'albatross-bench: {name} exited ({p.returncode}): see '
                                 f'{self.logs[name]}:\n{open(self.logs[name]).read()[-2000:]}')
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sock)
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_for(serving, f'{name} to serve {sock}')
        return p

    def start_helpers(self):
        os.makedirs(self.rundir, exist_ok=True)
        self._start('console', [self.console_bin, '--rundir', self.rundir],
                    os.path.join(self.rundir, 'console.sock'))
        self._start('stats', [self.stats_bin, '--rundir', self.rundir, '--interval-ms',
                              str(STATS_INTERVAL_MS), '-vv'],
                    os.path.join(self.rundir, 'stats.sock'))

    def start_albatrossd(self):
        return self._start('albatrossd', [self.albatrossd, '--rundir', self.rundir, '--dbdir',
                                          self.dbdir, '--tender-dir', self.tender_dir,
                                          '--monitor', self.monitor], self.sock)

    def cli(self, *args, stdout=subprocess.DEVNULL):
        r = subprocess.run([self.client, '--socket', self.sock] + list(args), stdout=stdout,
                           stderr=subprocess.PIPE, timeout=CAP)
        if r.returncode != 0:
            raise SystemExit(f'albatross-bench: albatross-client {" ".join(args)}: exit '
                             f'{r.returncode}: {r.stderr.decode(errors="replace")}')
        return r

    def create(self, name, image=None, mem=32):
        self.cli('create', name, image or self.base_image, '--mem', str(mem),
                 *[a for g in self.guest_args for a in ('--arg', g)])

    def info_json(self):
        r = self.cli('info', '--json', stdout=subprocess.PIPE)
        return json.loads(r.stdout)

    def running(self):
        return sum(1 for u in self.info_json() if u.get('state') == 'running')

    def first_console_time_us(self, name):
        r = subprocess.run([self.client, '--rundir', self.rundir, 'console', name, '--json'],
                           capture_output=True, timeout=CAP)
        if r.returncode != 0:
            return None
        v = json.loads(r.stdout or b'[]')
        lines = v if isinstance(v, list) else [v]
        lines = [x for x in lines if not x.get('dropped')]
        return lines[0]['time'] if lines else None

    # ---- the measures ----

    def client_start(self):
        """6: /bin/true, albatross-client --version, a local info of an empty daemon."""
        true = shutil.which('true') or '/bin/true'
        cmds = {'true_ms': [true], 'client_version_ms': [self.client, '--version'],
                'client_info_ms': [self.client, '--socket', self.sock, 'info']}
        got = {k: [] for k in cmds}
        for _ in range(self.cycles):
            for k, argv in cmds.items():  # interleaved: the same machine load for each
                t0 = time.perf_counter()
                r = subprocess.run(argv, stdout=subprocess.DEVNULL, timeout=CAP)
                got[k].append(time.perf_counter() - t0)
                if r.returncode != 0:
                    raise SystemExit(f'albatross-bench: {argv}: exit {r.returncode}')
        for k, v in got.items():
            self.figures[k] = ms(statistics.median(v))
        self.figures['client_version_diff_ms'] = (self.figures['client_version_ms']
                                                  - self.figures['true_ms'])
        self.figures['client_info_diff_ms'] = (self.figures['client_info_ms']
                                               - self.figures['true_ms'])

    def direct(self):
        """1: the tender spawned directly, its first console line, SIGTERM, reaped."""
        cycle, first = [], []
        for _ in range(self.cycles):
            t0 = time.perf_counter()
            p = subprocess.Popen([self.spt, '--mem=32', '--', self.base_image] + self.guest_args,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 stdin=subprocess.DEVNULL)
            line = p.stdout.readline()
            t1 = time.perf_counter()
            p.send_signal(signal.SIGTERM)  # as a destroy stops it
            p.wait(CAP)
            t2 = time.perf_counter()
            p.stdout.close()
            if not line:
                raise SystemExit(f'albatross-bench: {self.spt} printed nothing (exit '
                                 f'{p.returncode})')
            first.append(t1 - t0)
            cycle.append(t2 - t0)
        self.figures['direct_cycle_ms'] = ms(statistics.median(cycle))
        self.figures['direct_first_line_ms'] = ms(statistics.median(first))

    def cli_cycle(self):
        """2: albatross-client create, then destroy (whole processes)."""
        v = []
        for _ in range(self.cycles):
            t0 = time.perf_counter()
            self.create('cycle')
            self.cli('destroy', 'cycle')
            v.append(time.perf_counter() - t0)
        self.figures['cli_cycle_ms'] = ms(statistics.median(v))
        self.figures['cli_cycle_ratio'] = (self.figures['cli_cycle_ms']
                                           / self.figures['direct_cycle_ms'])

    def create_first_line(self):
        """3: client started -> albatrossd read the unikernel's first console line."""
        first, ret = [], []
        for i in range(self.cycles):
            name = f'first{i}'
            t0_us = time.time() * 1e6
            t0 = time.perf_counter()
            self.create(name)
            ret.append(time.perf_counter() - t0)
            # albatross-console stores each line with the time albatrossd read it
            t = wait_for(lambda: self.first_console_time_us(name),
                         f'the first console line of {name}', interval=0.002)
            first.append((t - t0_us) / 1e6)
            self.cli('destroy', name)
        self.figures['create_first_line_ms'] = ms(statistics.median(first))
        self.figures['create_first_line_ratio'] = (self.figures['create_first_line_ms']
                                                   / self.figures['direct_first_line_ms'])
        self.figures['create_return_ms'] = ms(statistics.median(ret))

    def upload(self):
        """7: a create with a large image (zero padding after the ELF: a tender loads
        only the segments), through the local socket."""
        size = self.upload_mib << 20
        rates = []
        for i in range(self.uploads):
            img = os.path.join(self.work, f'big{i}.spt')
            shutil.copyfile(self.base_image, img)
            with open(img, 'r+b') as f:  # each image distinct: each is hashed and stored
                f.truncate(size)
                f.seek(size - 16)
                f.write(f'{i:016d}'.encode())
            t0 = time.perf_counter()
            self.create(f'big{i}', image=img, mem=2 * self.upload_mib + 32)
            rates.append(size / 1e6 / (time.perf_counter() - t0))
            self.cli('destroy', f'big{i}')
            os.unlink(img)
        self.figures['upload_mb_per_s'] = statistics.median(rates)

    def parallel_creates(self, names_of_client):
        """Each client (a thread running albatross-client processes one after the
        other) creates its own unikernels; returns the wall time."""
        errors = []

        def run(names):
            try:
                for n in names:
                    self.create(n, mem=8)
            except BaseException as e:  # noqa: B902 -- reported below
                errors.append(e)
        threads = [threading.Thread(target=run, args=(n,)) for n in names_of_client]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        if errors:
            raise errors[0]
        return wall

    def creates_per_second(self):
        """4: 8 clients creating at once."""
        names = [[f'c{k}n{i}' for i in range(self.per_client)] for k in range(self.clients)]
        wall = self.parallel_creates(names)
        total = self.clients * self.per_client
        self.figures['parallel_creates_per_s'] = total / wall
        self.figures['parallel_creates_per_s_per_core'] = total / wall / self.cores
        return total

    def stats_ticks(self, n):
        """Tick lines of albatross-stats with n unikernels: [(tick, µs CPU)]."""
        with open(self.logs['stats'], errors='replace') as f:
            text = f.read()
        return [(int(a), int(b)) for a, b in
                re.findall(rf'tick (\d+): {n} unikernels, (\d+) µs CPU', text)]

    def many_unikernels(self, have):
        """5: RSS, info and the stats tick with MANY, then a host reboot."""
        rest = list(range(have, self.many))
        names = [[f'm{i}' for i in rest[k::self.clients]] for k in range(self.clients)]
        self.parallel_creates(names)
        n = self.many
        wait_for(lambda: self.running() == n, f'{n} unikernels running', interval=0.1)
        self.figures['rss_many_kb'] = rss_kb(self.procs['albatrossd'].pid)
        v = []
        for _ in range(self.info_runs):
            t0 = time.perf_counter()
            self.cli('info')
            v.append(time.perf_counter() - t0)
        self.figures['info_many_ms'] = ms(statistics.median(v))

        # albatross-stats: every tender registered, then TICKS rounds
        stats = self.procs['stats']
        wait_for(lambda: self.stats_ticks(n), f'albatross-stats with {n} unikernels',
                 interval=0.05)
        before = len(self.stats_ticks(n))
        c0 = cpu_us(stats.pid)
        wait_for(lambda: len(self.stats_ticks(n)) >= before + self.ticks,
                 f'{self.ticks} ticks of albatross-stats', interval=0.05)
        c1 = cpu_us(stats.pid)
        ticks = self.stats_ticks(n)
        done = len(ticks) - before
        self.figures['stats_tick_cpu_ms'] = statistics.median(c for _, c in ticks[before:]) / 1000
        self.figures['stats_tick_cpu_proc_ms'] = max(c1 - c0, 1) / done / 1000
        self.info['stats_ticks_measured'] = done

        # the host reboots: everything killed at once, /run emptied
        for name in ('albatrossd', 'console', 'stats'):
            kill(self.procs[name].pid)
            self.procs[name].wait(CAP)
        for p in monitors(self.rundir):
            kill(p)  # the tenders die with their monitor (PR_SET_PDEATHSIG)
        wait_for(lambda: not procs_mentioning(self.work), 'the monitors and tenders to die',
                 interval=0.02)
        shutil.rmtree(self.rundir)
        self.start_helpers()
        t0 = time.perf_counter()
        try:
            self.start_albatrossd()
            wait_for(lambda: self.running() == n, f'{n} unikernels restored', interval=0.05)
        except SystemExit as e:  # reported (no restore_s), the other figures kept
            self.info['restore_error'] = str(e)
            print(f'albatross-bench: the restore of {n} failed: {e}', file=sys.stderr)
            return
        self.figures['restore_s'] = time.perf_counter() - t0

    def run(self):
        self.start_helpers()
        self.start_albatrossd()
        self.figures['rss_idle_kb'] = rss_kb(self.procs['albatrossd'].pid)
        self.client_start()
        self.direct()
        self.cli_cycle()
        self.create_first_line()
        self.upload()
        have = self.creates_per_second()
        self.many_unikernels(have)

    def cleanup(self):
        d = self.procs.get('albatrossd')
        if d and d.poll() is None:
            d.send_signal(signal.SIGUSR2)  # stops every unikernel, then exits
            try:
                d.wait(300)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        for p in monitors(self.rundir):
            kill(p)
        for name in ('console', 'stats'):
            p = self.procs.get(name)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(CAP)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        try:
            wait_for(lambda: not procs_mentioning(self.work), 'every process to end', cap=30)
        except SystemExit:
            for p in procs_mentioning(self.work):
                kill(p)
        shutil.rmtree(self.work, ignore_errors=True)

    # ---- the report ----

    def goal(self, key):
        if key not in GOALS:
            return None
        op, bound = GOALS[key]
        if key == 'rss_many_kb':
            bound = 8 * 1024 + 16 * self.many
        v = self.figures[key]
        met = v <= bound if op == '<=' else v >= bound if op == '>=' else v < bound
        return op, bound, met

    def table(self):
        rows = [
            ('tender spawned directly: cycle (first line, SIGTERM)', 'direct_cycle_ms', 'ms'),
            ('tender spawned directly: its own start (first line)', 'direct_first_line_ms', 'ms'),
            ('create + destroy through the CLI', 'cli_cycle_ms', 'ms'),
            ('  ratio to the direct cycle', 'cli_cycle_ratio', ''),
            ('create -> first console line', 'create_first_line_ms', 'ms'),
            ('  ratio to the tender\'s own start', 'create_first_line_ratio', ''),
            ('create -> client exits (acknowledged)', 'create_return_ms', 'ms'),
            (f'{self.clients} clients x {self.per_client} creates at once', 'parallel_creates_per_s',
             '/s'),
            (f'  per core ({self.cores} cores)', 'parallel_creates_per_s_per_core', '/s'),
            ('albatrossd RSS, idle', 'rss_idle_kb', 'kB'),
            (f'albatrossd RSS, {self.many} unikernels', 'rss_many_kb', 'kB'),
            (f'albatross-client info, {self.many} unikernels', 'info_many_ms', 'ms'),
            (f'albatross-stats CPU per tick, {self.many} (own)', 'stats_tick_cpu_ms', 'ms'),
            (f'albatross-stats CPU per tick, {self.many} (/proc)', 'stats_tick_cpu_proc_ms', 'ms'),
            (f'restore {self.many} after a host reboot', 'restore_s', 's'),
            ('/bin/true', 'true_ms', 'ms'),
            ('albatross-client --version', 'client_version_ms', 'ms'),
            ('albatross-client info, empty daemon', 'client_info_ms', 'ms'),
            ('  --version - /bin/true', 'client_version_diff_ms', 'ms'),
            ('  info - /bin/true', 'client_info_diff_ms', 'ms'),
            (f'upload of {self.upload_mib} MiB (create)', 'upload_mb_per_s', 'MB/s'),
        ]
        out = [f'tender: {self.tender_name}; {"quick" if self.quick else "full"} mode, '
               f'{self.cycles} cycles, {self.cores} cores', '',
               f'| {"figure":<52} | {"value":>12} | goal |', f'|{"-" * 54}|{"-" * 14}|------|']
        for label, key, unit in rows:
            if key not in self.figures:
                out.append(f'| {label:<52} | {"FAILED":>12} | see above |')
                continue
            v = self.figures[key]
            g = self.goal(key)
            gs = '' if g is None else f'{g[0]} {g[1]:g}: {"met" if g[2] else "NOT met"}'
            out.append(f'| {label:<52} | {v:>9.2f} {unit:<2} | {gs} |')
        return '\n'.join(out)

    def document(self):
        goals = {}
        for k in GOALS:
            if k not in self.figures:
                continue
            op, bound, met = self.goal(k)
            goals[k] = {'op': op, 'bound': bound, 'met': met}
        return {'tender': self.tender_name, 'quick': self.quick, 'cores': self.cores,
                'cycles': self.cycles, 'clients': self.clients, 'per_client': self.per_client,
                'many': self.many, 'upload_mib': self.upload_mib, 'figures': self.figures,
                'goals': goals, 'info': self.info}


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print('albatross-bench: needs root (the tenders, the monitors): skipped', file=sys.stderr)
        sys.exit(SKIP)
    # meson's timeout (SIGTERM) and ^C still clean up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit('albatross-bench: terminated'))
    b = Bench(args)
    try:
        b.setup()
        b.run()
    finally:
        b.cleanup()
    print(b.table())
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(b.document(), f, indent=1)
            f.write('\n')


if __name__ == '__main__':
    main()
