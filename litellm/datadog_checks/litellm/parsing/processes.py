"""Which LiteLLM process answered a scrape, and what each one counted: the value side of counters and histograms.

A `/metrics` answer describes one process. Behind a load balancer in front of replicas, or from uvicorn workers
without a shared multiprocess directory, successive scrapes reach different processes, and their counters seem to
fall and rise; the Agent's monotonic count takes each fall for a reset and each rise for traffic. So the reader
hands the base transformers, for each counter and histogram tag set, not the value read but a total kept here,
which grows only by what the process that answered counted since it last answered: the Agent's monotonic count
turns it into exact deltas, with one context per tag set whatever the number of processes.

What tells processes apart (measured on LiteLLM 1.80 to 1.110): `process_start_time_seconds` (replicas, restarts)
and the `_created` values of its series (workers forked together share a start time, not their series' creation
times). Payloads of a shared multiprocess directory carry neither, and need nothing: they are already one count.
A process met for the first time counts from that scrape on, unless it started after the previous scrape (a
restart, a new replica): then all it counted is new. When processes sharing one identity are scraped in turn,
counters fall and come back within a few runs: the check says so (`mixed`) and submits no counts while it lasts.
"""

START_TIME = 'process_start_time_seconds'
FINGERPRINT_SIZE = 64  # `_created` values kept per process to recognise it
PROCESS_EXPIRY = 240  # runs a process may go unanswered before it is forgotten (an hour at 15 s)
MAX_PROCESSES = 32
RECOVERY_RUNS = 3  # a fall made up within this many runs of the same identity: two processes, not a reset
MIXED_WINDOW = 20  # runs over which two such recoveries mean processes the check cannot tell apart
FALLS_KEPT = 16


class Process:
    """One process as its scrapes identify it, with the last value of each counter and histogram tag set."""

    __slots__ = ('start', 'created', 'values', 'last_run', 'fresh', 'whole', 'fallen', 'fallen_run', 'recoveries')

    def __init__(self, start, created, whole):
        self.start = start
        self.created = dict(created)
        self.values = {}  # tag set key -> the value this process gave it when it last answered
        self.last_run = 0
        self.fresh = True  # answering for the first time
        self.whole = whole  # started after the previous scrape: all it counted is new
        self.fallen = {}  # tag set key -> its value before it fell, in the last run with falls
        self.fallen_run = 0
        self.recoveries = []  # runs in which a fallen value came back: another process with the same identity

    def matches(self, created):
        """(values equal, values different) among the `_created` series both know."""
        equal = different = 0
        known = self.created
        for series, value in created.items():
            seen = known.get(series)
            if seen is not None:
                if seen == value:
                    equal += 1
                else:
                    different += 1
        return equal, different


class Ledger:
    """The processes one scraper has met and the totals it submits for counters and histograms."""

    def __init__(self):
        self.processes = []
        self.totals = {}  # tag set key -> the total submitted
        self.previous = None  # the Agent's time when the last scrape that was read to its end began
        self.expects_created = True  # the last complete scrape held `_created` values
        self.answering = None
        self.new = {}  # tag set key -> the value read in this scrape
        # Until a second process answers, the totals of an identified process are the values read: exact, and a
        # fall of a combined tag set (a series summed into it dropped) stays what the Agent takes for a reset.
        self.engaged = False
        self.begin(0, None, True)

    def begin(self, tick, now, first_values_dropped):
        """A scrape begins at the Agent's time `now`; `first_values_dropped`: the Agent takes no first value of a
        context this run (the base's first run, or after a failure), so a new total may start at the value read,
        which keeps the totals of one process equal to its own counters."""
        self.first_values_dropped = first_values_dropped
        if self.answering is not None and self.new:
            self.answering.values.update(self.new)  # a scrape that failed midway: what it counted stays counted
        self.tick = tick
        self.now = now
        self.answering = None
        self.start = None
        self.created = {}
        self.new = {}
        self.falls = {}
        self.recovered = False
        self.withholding = False

    def note_start(self, value):
        if self.start is None:
            self.start = value

    def note_created(self, series, value):
        if len(self.created) < FINGERPRINT_SIZE:
            self.created[series] = value

    @property
    def resolved(self):
        return self.answering is not None

    @property
    def mixed(self):
        """The answering process shares its identity with others scraped in turn (their counts cannot be told)."""
        process = self.answering
        if process is None:
            return False
        since = self.tick - MIXED_WINDOW
        return sum(run > since for run in process.recoveries) >= 2

    def resolve(self):
        """Decide which process answered, from the signals read so far."""
        candidates = [process for process in self.processes if process.start == self.start]
        best, best_equal = None, 0
        for process in candidates:
            equal, different = process.matches(self.created)
            if equal > best_equal and equal >= different:
                best, best_equal = process, equal
        if best is None:
            # No `_created` value in common: the same process only if none contradicts it (its series changed).
            quiet = [process for process in candidates if not process.matches(self.created)[1]]
            if quiet:
                best = max(quiet, key=lambda process: process.last_run)
        if best is None:
            whole = self.previous is not None and self.start is not None and self.start > self.previous
            best = Process(self.start, self.created, whole)
            self.engaged = self.engaged or bool(self.processes)
            self.processes.append(best)
        else:
            best.fresh = False
            for series, value in self.created.items():
                if len(best.created) >= FINGERPRINT_SIZE:
                    break
                best.created.setdefault(series, value)
        self.answering = best
        self.withholding = self.mixed  # decided once a run, from the runs before

    def count(self, key, value):
        """The total to submit for a counter or histogram tag set read at `value`; None when it cannot be known."""
        process = self.answering
        previous = process.values.get(key)
        self.new[key] = value
        if previous is not None and value < previous:
            if len(self.falls) < FALLS_KEPT:
                self.falls[key] = previous
        fallen = process.fallen.get(key)
        if fallen is not None and value >= fallen and self.tick - process.fallen_run <= RECOVERY_RUNS:
            self.recovered = True
        if self.withholding:
            return None
        if not self.engaged and process.start is not None:
            self.totals[key] = value
            return value
        if process.fresh:
            increase = value if process.whole else 0.0
        elif previous is None:
            increase = value  # a tag set this process did not have when it last answered: all of it is new
        elif value >= previous:
            increase = value - previous
        elif process.start is None:
            increase = value  # no identity: a fall is a reset (a restart of a multiprocess proxy)
        else:
            increase = 0.0  # the same process, a tag set lower: a series summed into it was dropped (idle)
        total = self.totals.get(key)
        if total is None:
            total = value - increase if self.first_values_dropped else 0.0
        total += increase
        self.totals[key] = total
        return total

    def end(self, complete):
        """The scrape was read; `complete`: every tag set of it was handed over (a cut body keeps the old values
        of those it missed)."""
        process = self.answering
        if process is None:
            return
        if complete:
            process.values = self.new  # a tag set gone from the process was dropped there: if it comes back, it is new
            self.expects_created = bool(self.created)
            self.previous = self.now
        else:
            process.values.update(self.new)
        self.new = {}
        process.fresh = False
        process.last_run = self.tick
        if self.recovered:
            process.recoveries = [run for run in process.recoveries if run > self.tick - MIXED_WINDOW]
            process.recoveries.append(self.tick)
        if self.falls:
            process.fallen, process.fallen_run = self.falls, self.tick
        self._expire()

    def _expire(self):
        keep_from = self.tick - PROCESS_EXPIRY
        kept = [process for process in self.processes if process.last_run >= keep_from or process is self.answering]
        kept.sort(key=lambda process: process.last_run)
        kept = kept[-MAX_PROCESSES:]
        if len(kept) != len(self.processes):
            self.processes = kept
            live = set()
            for process in kept:
                live.update(process.values)
            self.totals = {key: total for key, total in self.totals.items() if key in live}
