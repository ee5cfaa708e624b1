"""Soak: one server, thousands of jobs from careless and hostile clients; what it holds as a curve.

Run: python benchmarks/soak.py [--jobs 20000] [--clients 8] [--every 500]

The mix is the CI soak test's (``framebridge.server.soak``): streamed echo jobs checked by
digest, cancels, disconnects with reconnects, sockets that never read a reply, submits no
frame follows, malformed messages. Every ``--every`` jobs it prints the server's open file
descriptors, threads and resident memory, each also as a ratio to the settled level after
the first ``--every`` jobs (the baseline, measured in the same run), and the round trip
(submit to done) of the streamed jobs since the last line: p50, p90, p99. A leak shows as a
ratio that keeps climbing; a wedge as a p99 that does.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from framebridge.server.soak import Checkpoint, percentile, soak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=int, default=500)
    args = parser.parse_args()
    baseline: list[Checkpoint] = []
    print(f"{'jobs':>6} {'s':>6} {'fds':>4} {'x':>5} {'threads':>7} {'x':>5} {'rss MB':>7} {'x':>5} "
          f"{'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}")

    def show(checkpoint: Checkpoint) -> None:
        if not baseline:
            baseline.append(checkpoint)
        base, now = baseline[0].resources, checkpoint.resources
        trips = [trip * 1000 for trip in checkpoint.round_trips]
        print(f"{checkpoint.jobs:>6} {checkpoint.seconds:>6.0f} {now.fds:>4} {now.fds / base.fds:>5.2f} "
              f"{now.threads:>7} {now.threads / base.threads:>5.2f} {now.rss_mb:>7.1f} {now.rss_mb / base.rss_mb:>5.2f} "
              f"{percentile(trips, 0.5):>7.1f} {percentile(trips, 0.9):>7.1f} {percentile(trips, 0.99):>7.1f}", flush=True)

    with tempfile.TemporaryDirectory(prefix="framebridge-soak-") as directory:
        report = soak(Path(directory), jobs=args.jobs, clients=args.clients, warm_up=args.every,
                      report_every=args.every, on_checkpoint=show)
    warm, final = report.warm, report.final
    print(f"settled after warm-up: {warm.fds} fds, {warm.threads} threads, {warm.rss_mb:.1f} MB; "
          f"at the end: {final.fds} fds, {final.threads} threads, {final.rss_mb:.1f} MB "
          f"(peak {final.peak_rss_mb:.1f} MB)")
    print(f"jobs by kind: {dict(sorted(report.counts.items()))}; fresh client served in "
          f"{report.fresh_client_seconds * 1000:.0f} ms; failures: {len(report.failures)}")
    for failure in report.failures[:20]:
        print(f"  {failure}")


if __name__ == "__main__":
    main()
