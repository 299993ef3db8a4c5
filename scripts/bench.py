"""Scrape benchmark: what one scrape of a busy LiteLLM proxy costs the Agent's Python.

Grows the newest real capture (tests/fixtures/real/<NEWEST>/metrics.txt) for N callers, serves it on
127.0.0.1 and, in a fresh process per (configuration, N) so peak RSS does not mix, times K scrapes after one
warm-up:

  a  our check (LitellmCheck) with its defaults
  b  a plain OpenMetrics V2 check whose only knowledge is a rename table of the seed's 97 names
  a0 our check with `raw_line_filters: []` (the line filter cut undone; opt-in with --configs)
  c  the parse alone: the base library's parser over the whole payload (no line filter), every sample read

Submissions go to a counting sink (calls, distinct contexts), not the test aggregator, whose bookkeeping costs
more than the Agent's submission. Then a long run of (a) reports memory growth, and cProfile shows where (a)
spends its time.

    make bench                                        # N = 10, 50, 300; memory run; profile
    make bench BENCH_ARGS=--quick                     # N = 10, 50, fewer scrapes, short memory run
    make bench BENCH_ARGS='--n 50 --configs a,a0 --no-memory --no-profile'
    make bench BENCH_ARGS='--full-only'                  # the full-size table alone

Then the full-size table: the last scrape of the newest callers capture (1,000 keys) grown to `--full-keys` keys
(3,000: the size of a real 3,000-key proxy's scrape), our check with its default budget (which folds there) and
with none (a1), against the plain check, each in fresh processes taking turns (`--full-rounds`).
"""

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'litellm'))

from tests.common import NEWEST, NEWEST_CALLERS, REAL_FIXTURES, final_scrape  # noqa: E402
from tests.http_server import LocalServer, Response  # noqa: E402
from tools.grow import grow, grow_keys  # noqa: E402

CONFIGS = {
    'a': 'our check, defaults',
    'a0': 'our check, raw_line_filters: []',
    'a1': 'our check, max_tag_sets_per_metric: 0',
    'b': 'plain V2, seed rename table',
    'c': 'parse alone',
}


# ---------------------------------------------------------------------------------------------- child side
class CountingSink:
    """Stands in for the Agent's `aggregator` module: counts calls and distinct contexts (name, host, tags).

    Contexts are kept as hashes so the sink's memory does not inflate the check's peak RSS."""

    GAUGE, RATE, COUNT, MONOTONIC_COUNT, COUNTER, HISTOGRAM, HISTORATE = range(7)

    def __init__(self):
        self.reset()

    def reset(self):
        self.calls = 0
        self.contexts = set()

    def submit_metric(self, check, check_id, mtype, name, value, tags, hostname, flush_first_value=False):
        self.calls += 1
        self.contexts.add(hash((name, hostname, *tags)))

    def submit_histogram_bucket(self, check, check_id, name, value, lower, upper, monotonic, hostname, tags, *a):
        self.calls += 1
        self.contexts.add(hash((name, hostname, lower, upper, *tags)))

    submit_histogram_bucket_multi = submit_histogram_bucket

    def submit_service_check(self, check, check_id, name, status, tags, hostname, message):
        self.calls += 1
        self.contexts.add(hash(('service_check', name, hostname, *tags)))

    def submit_event(self, *args):
        self.calls += 1

    def submit_event_platform_event(self, *args):
        self.calls += 1


class RecordingSink(CountingSink):
    """Keeps every call's arguments, to time the counting sink alone on one scrape's submissions."""

    def reset(self):
        super().reset()
        self.recorded = []

    def submit_metric(self, *args):
        self.recorded.append(('submit_metric', args))

    def submit_histogram_bucket(self, *args):
        self.recorded.append(('submit_histogram_bucket', args))

    submit_histogram_bucket_multi = submit_histogram_bucket

    def submit_service_check(self, *args):
        self.recorded.append(('submit_service_check', args))


def install_sink(sink):
    """Every AgentCheck submission ends in `checks.base`'s module-level `aggregator`: swap it for the sink."""
    from datadog_checks.base.checks import base

    base.aggregator = sink


def make_check(config, url):
    from datadog_checks.base import OpenMetricsBaseCheckV2
    from datadog_checks.litellm import LitellmCheck
    from datadog_checks.litellm.metrics import SEED_METRICS

    class PlainCheck(OpenMetricsBaseCheckV2):
        """The published check's design: a rename table and nothing else (and no context limit, like it)."""

        __NAMESPACE__ = 'litellm'
        DEFAULT_METRIC_LIMIT = 0

        def get_default_config(self):
            return {'metrics': [dict(SEED_METRICS)]}

    # The check's `timeout` bounds the whole scrape (parse included): the bench measures whole scrapes, so it is
    # raised for every configuration (a 300-caller payload can take longer than the default 10 s on a busy host).
    instance = {'openmetrics_endpoint': url, 'timeout': 120}
    if config == 'a0':
        instance['raw_line_filters'] = []
    if config == 'a1':
        instance['max_tag_sets_per_metric'] = 0
    cls = PlainCheck if config == 'b' else LitellmCheck
    return cls('litellm', {}, [instance])


def use_parser(patched):
    """The base (>= 38.x) swaps prometheus_client's slow sample parser for a faster one unless the Agent sets
    `patch_prometheus_client: false`; older bases parse with prometheus_client's own."""
    from datadog_checks.base.checks.openmetrics import parser_optimizations
    from datadog_checks.base.stubs import datadog_agent

    datadog_agent._config['patch_prometheus_client'] = patched
    parser_optimizations.init_from_agent_config()


def parse_alone(text):
    """The base library's parsing path: prometheus_client's text parser, as patched by `use_parser`."""
    from prometheus_client.parser import text_fd_to_metric_families

    families = samples = 0
    for family in text_fd_to_metric_families(io.StringIO(text)):
        families += 1
        for _ in family.samples:
            samples += 1
    return families, samples


def rss_mb(field='VmRSS'):
    """Current (VmRSS) or peak (VmHWM) resident set of this process, in MB.

    Linux keeps `ru_maxrss` across exec, so a child's would include the parent's peak (the payloads it holds);
    VmHWM starts afresh with the child's own memory map. Other systems fall back to `ru_maxrss`."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / (1024 if sys.platform == 'darwin' else 1)


def sink_cost(check):
    """CPU seconds the counting sink itself spends on one scrape's submissions."""
    recorder = RecordingSink()
    install_sink(recorder)
    run_check(check)
    counter = CountingSink()
    start = time.process_time()
    for method, args in recorder.recorded:
        getattr(counter, method)(*args)
    return time.process_time() - start


def run_check(check):
    error = check.run()
    if error:
        raise SystemExit(f'check failed: {error}')


def child(args):
    use_parser(not args.unpatched_parser)
    sink = CountingSink()
    install_sink(sink)
    text = None
    if args.child == 'c':
        with urllib.request.urlopen(args.url) as response:
            text = response.read().decode()
    else:
        check = make_check(args.child, args.url)

    scrapes, memory = [], []
    baseline = rss_mb()  # before the first scrape: what a run adds (the check's cache included) is the growth
    for i in range(args.scrapes + args.warmups):
        sink.reset()
        cpu, wall = time.process_time(), time.perf_counter()
        if text is not None:
            families, samples = parse_alone(text)
        else:
            run_check(check)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if i >= args.warmups:
            scrapes.append({'cpu': cpu, 'wall': wall, 'calls': sink.calls, 'contexts': len(sink.contexts)})
        elif not i:
            first = {'cpu': cpu, 'wall': wall}
        if args.memory and i + 1 in (2, args.scrapes + 1):
            memory.append({'scrape': i + 1, 'rss_mb': rss_mb(), 'gc_objects': len(gc.get_objects())})

    result = {
        'first': first,
        'scrapes': scrapes,
        'peak_rss_mb': rss_mb('VmHWM'),
        'growth_mb': rss_mb('VmHWM') - baseline,
        'memory': memory,
    }
    if text is not None:
        result['families'], result['samples'] = families, samples
    elif not args.memory:
        result['sink_cpu'] = sink_cost(check)
    print(json.dumps(result))


def profile(args):
    """cProfile of one scrape of (a) after a warm-up."""
    use_parser(not args.unpatched_parser)
    install_sink(CountingSink())
    check = make_check('a', args.url)
    run_check(check)
    profiler = cProfile.Profile()
    profiler.enable()
    run_check(check)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(entry[2] for entry in stats.stats.values())

    print(f'\n== where one scrape of (a) spends its time (cProfile, N={args.profile_n}; profiled total {total:.2f} s)')
    print('-- by stage (self time of the code in each part, with the builtins it calls)')
    stages = {}
    for (filename, _, _), (_, _, tottime, _, callers) in stats.stats.items():
        if filename != '~':
            stages[stage_of(filename)] = stages.get(stage_of(filename), 0) + tottime
            continue
        # A builtin's time (str methods, dict lookups, regex, list appends) goes to the code that called it.
        for (caller, _, _), (_, _, caller_tottime, _) in callers.items():
            stages[stage_of(caller)] = stages.get(stage_of(caller), 0) + caller_tottime
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        print(f'   {seconds:6.2f} s  {100 * seconds / total:5.1f} %  {stage}')
    for key, title in (('tottime', 'self'), ('cumulative', 'cumulative')):
        print(f'-- top functions by {title} time')
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(key).print_stats(14)
        lines = out.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith('ncalls'))
        print('\n'.join(lines[start : start + 15]))


STAGES = (
    ('prometheus_client', 'parse (prometheus_client text parser)'),
    ('parser_optimizations', 'parse (prometheus_client text parser)'),
    ('/requests/', 'transport (requests, urllib3, socket)'),
    ('/urllib3/', 'transport (requests, urllib3, socket)'),
    ('socket', 'transport (requests, urllib3, socket)'),
    ('/http/', 'transport (requests, urllib3, socket)'),
    ('ssl', 'transport (requests, urllib3, socket)'),
    ('/transformers/', 'transformers (counter, gauge, histogram)'),
    ('/openmetrics/v2/', 'sample loop (scraper, label handling)'),
    ('/litellm/tags.py', 'tag policy (tags.py: labels kept, keys hashed, series combined)'),
    ('/litellm/', 'LiteLLM scraper and check'),
    ('datadog_checks/base/checks/base.py', 'submission (AgentCheck._submit_metric, tag normalisation)'),
    ('datadog_checks/base/utils/', 'submission (AgentCheck._submit_metric, tag normalisation)'),
    ('bench.py', 'counting sink'),
)


def stage_of(filename):
    for marker, stage in STAGES:
        if marker in filename:
            return stage
    return 'other'


# ------------------------------------------------------------------------------------------ parent side
def spawn(*extra):
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *extra], check=True, capture_output=True, text=True
    ).stdout
    return out


def run_child(args, config, url, scrapes, memory=False, warmups=1):
    extra = ['--child', config, '--url', url, '--scrapes', str(scrapes), '--warmups', str(warmups)]
    extra += ['--memory'] if memory else []
    extra += ['--unpatched-parser'] if args.unpatched_parser else []
    return json.loads(spawn(*extra).strip().splitlines()[-1])


def seed_text():
    with open(os.path.join(REAL_FIXTURES, NEWEST, 'metrics.txt')) as f:
        return f.read()


def serve(payload):
    """The grown payload at /metrics/, and the capture's readiness answers, which (a) asks for on every run."""
    body = payload.encode()
    routes = {'/metrics/': Response(body)}
    for path, name in (
        ('/health/readiness', 'readiness.json'),
        ('/health/readiness/details', 'readiness_details.json'),
    ):
        with open(os.path.join(REAL_FIXTURES, NEWEST, name), 'rb') as f:
            routes[path] = Response(f.read(), content_type='application/json')
    server = LocalServer(routes).__enter__()
    return server, f'{server.base_url}/metrics/', body


def table(args, seed):
    header = f'{"N":>4} {"MB":>6} {"lines":>7} {"config":<34} {"K":>2} {"CPU s":>6} {"wall s":>6} {"RSS MB":>7}'
    header += f' {"grew MB":>7}'
    print(header + f' {"contexts":>8} {"calls":>7} {"sink s":>6}')
    for n in args.n:
        payload = grow(seed, n)
        server, url, body = serve(payload)
        scrapes = args.scrapes if args.scrapes else (3 if n >= 300 else 5)
        rows = {}
        rounds = args.rounds if args.rounds else (1 if n >= 300 else 3)
        try:
            # The configurations take turns, a fresh process each, `rounds` times: a host whose speed drifts
            # (frequency, neighbours) shifts both sides alike. Each figure is the median over every round's scrapes.
            results = {config: [] for config in args.configs}
            for _ in range(rounds):
                for config in args.configs:
                    results[config].append(run_child(args, config, url, scrapes))
            for config in args.configs:
                rounds_run = results[config]
                result = dict(rounds_run[-1])
                runs = [run for one in rounds_run for run in one['scrapes']]
                result['peak_rss_mb'] = statistics.median(one['peak_rss_mb'] for one in rounds_run)
                result['growth_mb'] = statistics.median(one['growth_mb'] for one in rounds_run)
                rows[config] = result
                cpu = statistics.median(r['cpu'] for r in runs)
                wall = statistics.median(r['wall'] for r in runs)
                if config == 'c':
                    counted, calls, sink = f'{result["samples"]} samples', '', ''
                else:
                    counted, calls = runs[-1]['contexts'], runs[-1]['calls']
                    sink = f'{result["sink_cpu"]:.2f}'
                result['cpu'] = cpu
                print(
                    f'{n:>4} {len(body) / 1e6:>6.1f} {payload.count(chr(10)):>7} {config + " " + CONFIGS[config]:<34}'
                    f' {len(runs):>2} {cpu:>6.2f} {wall:>6.2f} {result["peak_rss_mb"]:>7.0f}'
                    f' {result["growth_mb"]:>7.1f} {counted:>8} {calls:>7}'
                    f' {sink:>6}'
                )
        finally:
            server.__exit__(None, None, None)
        if 'a' in rows and 'b' in rows:
            growth = rows['a']['growth_mb'] / max(rows['b']['growth_mb'], 0.1)
            print(f'{"":>4} a/b CPU = {rows["a"]["cpu"] / rows["b"]["cpu"]:.2f}, peak growth = {growth:.2f}', end='')
            if 'c' in rows:
                print(f'; parse alone = {rows["c"]["cpu"] / rows["a"]["cpu"]:.0%} of a', end='')
            print()
        sys.stdout.flush()


def memory_run(args, seed):
    server, url, _ = serve(grow(seed, args.memory_n))
    try:
        result = run_child(args, 'a', url, args.memory_scrapes - 1, memory=True)
    finally:
        server.__exit__(None, None, None)
    first, last = result['memory'][0], result['memory'][-1]
    print(
        f'\n== memory: (a), N={args.memory_n}, {last["scrape"]} scrapes in one process, sink reset each scrape\n'
        f'   RSS after scrape {first["scrape"]}: {first["rss_mb"]:.1f} MB, after scrape {last["scrape"]}: '
        f'{last["rss_mb"]:.1f} MB ({last["rss_mb"] - first["rss_mb"]:+.1f} MB); '
        f'gc objects {first["gc_objects"]} -> {last["gc_objects"]} ({last["gc_objects"] - first["gc_objects"]:+d});'
        f' peak RSS {result["peak_rss_mb"]:.0f} MB'
    )


def header(args, seed):
    from importlib.metadata import version

    memory = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
    parser = 'prometheus_client' if args.unpatched_parser else 'the base library'
    return (
        f'# {time.strftime("%Y-%m-%d")}, {os.cpu_count()} CPUs, {memory:.0f} GiB, load average '
        f'{os.getloadavg()[0]:.1f}; Python {sys.version.split()[0]}, datadog-checks-base '
        f'{version("datadog-checks-base")}, prometheus_client {version("prometheus_client")} ({parser}\'s sample '
        f'parser)\n# payload: the {NEWEST} capture ({len(seed.encode()) / 1e6:.2f} MB) grown for N callers. Medians '
        f'of K scrapes after one warm-up; CPU = process_time; RSS = peak of a fresh process per row;\n# contexts = '
        f'distinct (name, tags) submitted per scrape; sink s = CPU of the counting sink itself, included in CPU s'
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--n', type=lambda s: [int(x) for x in s.split(',')], help='callers, e.g. 10,50,300')
    parser.add_argument('--warmups', type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument('--scrapes', type=int, help='measured scrapes after the warm-up (default 5; 3 at N>=300)')
    parser.add_argument('--rounds', type=int, help='fresh processes per configuration, taking turns (3; 1 at N>=300)')
    parser.add_argument('--configs', type=lambda s: s.split(','), default=['a', 'b', 'c'], help='a,a0,b,c')
    parser.add_argument('--quick', action='store_true', help='N = 10,50, 3 scrapes, 20-scrape memory run')
    parser.add_argument('--memory-n', type=int, default=10)
    parser.add_argument('--memory-scrapes', type=int, default=100)
    parser.add_argument('--profile-n', type=int, default=50)
    parser.add_argument('--full-keys', type=int, default=3000, help='keys of the full-size table (0: none)')
    parser.add_argument('--full-rounds', type=int, default=2)
    parser.add_argument('--full-only', action='store_true', help='only the full-size table')
    parser.add_argument('--no-memory', action='store_true')
    parser.add_argument('--no-profile', action='store_true')
    parser.add_argument('--unpatched-parser', action='store_true', help="prometheus_client's own sample parser")
    parser.add_argument('--child', choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    parser.add_argument('--profile-child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--url', help=argparse.SUPPRESS)
    parser.add_argument('--memory', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        return child(args)
    if args.profile_child:
        return profile(args)

    if args.quick:
        args.n = args.n or [10, 50]
        args.scrapes = args.scrapes or 3
        args.rounds = args.rounds or 1
        args.memory_scrapes = min(args.memory_scrapes, 20)
    args.n = args.n or [10, 50, 300]
    seed = seed_text()
    print(header(args, seed))
    if args.full_only:
        return full_size(args)
    table(args, seed)
    if not args.no_memory:
        memory_run(args, seed)
    if not args.no_profile:
        server, url, _ = serve(grow(seed, args.profile_n))
        try:
            extra = ['--unpatched-parser'] if args.unpatched_parser else []
            print(spawn('--profile-child', '--url', url, '--profile-n', str(args.profile_n), *extra).rstrip())
        finally:
            server.__exit__(None, None, None)
    if args.full_keys:
        full_size(args)


def full_size(args):
    """A scrape the size of a real 3,000-key proxy's: CPU of each run relative to the plain check, and the memory
    each check holds (peak RSS growth over the process's start, the series cache included)."""
    payload = grow_keys(final_scrape(NEWEST_CALLERS).decode(), args.full_keys)
    server, url, body = serve(payload)
    configs = ('a', 'a1', 'b')
    results = {config: [] for config in configs}
    try:
        for _ in range(args.full_rounds):
            for config in configs:
                # Two warm-ups: without a tag budget, the first run's 128 MiB leaves the cache to fill in the second.
                results[config].append(run_child(args, config, url, 2, warmups=2))
    finally:
        server.__exit__(None, None, None)
    print(
        f'\n== full size: {NEWEST_CALLERS} grown to {args.full_keys} keys, {len(body) / 1e6:.0f} MB, '
        f'{payload.count(chr(10))} lines; '
        f'{args.full_rounds} rounds of 2 warm-ups and 2 scrapes per process; medians'
    )
    plain = statistics.median(run['cpu'] for one in results['b'] for run in one['scrapes'])
    for config in configs:
        runs = [run for one in results[config] for run in one['scrapes']]
        cpu = statistics.median(run['cpu'] for run in runs)
        growth = statistics.median(one['growth_mb'] for one in results[config])
        first = statistics.median(one['first']['cpu'] for one in results[config])
        print(
            f'   {config:<2} {CONFIGS[config]:<38} CPU {cpu:6.2f} s = {cpu / plain:.2f} x plain (first run {first:5.1f} s);'
            f' holds {growth:5.0f} MB; {runs[-1]["contexts"]} contexts'
        )


if __name__ == '__main__':
    sys.exit(main())
