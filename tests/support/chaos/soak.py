"""A whole soak: register the drawn streams once, run N rounds, sum up. Shared by bench/soak.py and the e2e test."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.chaos.faults import KINDS, SoakEnv, supervised
from tests.support.chaos.plan import SoakPlan, draw_plan, register, wait_until_parsed
from tests.support.chaos.rounds import RoundResult, run_round
from tests.support.registry import Registry, sql_runner


@dataclass
class SoakResult:
    plan: SoakPlan
    processes: int
    rounds: list[RoundResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def violations(self) -> int:
        return sum(len(result.violations) for result in self.rounds)

    def faults(self) -> Counter[str]:
        total: Counter[str] = Counter({kind: 0 for kind in KINDS})
        for result in self.rounds:
            total.update(result.injected())
        return total

    def by_invariant(self) -> Counter[str]:
        return Counter(v.invariant for result in self.rounds for v in result.violations)

    def summary(self) -> str:
        """Rounds, faults injected by kind, violations (by invariant), wall time and the load average."""
        mean = self.seconds / len(self.rounds) if self.rounds else 0.0
        lines = [f"soak: {len(self.rounds)} rounds of {self.plan.describe()}",
                 "faults injected: " + ", ".join(f"{kind} {count}" for kind, count in self.faults().items()),
                 f"violations: {self.violations}" + "".join(f"\n  {count} x {invariant}"
                                                            for invariant, count in self.by_invariant().items()),
                 f"wall time: {self.seconds:.0f} s ({mean:.0f} s a round); {load()}"]
        return "\n".join(lines)

    def reports(self) -> str:
        return "\n".join(r.report(self.plan.seed, self.processes) for r in self.rounds if r.violations)


def load() -> str:
    return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def prepare(env: SoakEnv, notebooks_dir: Path, prefix: str, plan_seed: int, processes: int) -> SoakPlan:
    """Draw the plan, write its notebooks, register it through the control tables, wait for its DAGs."""
    plan = draw_plan(prefix, plan_seed, processes)
    with sql_runner(env.control_url) as sql:
        register(plan, Registry(sql), notebooks_dir, env.markers_dir)
    wait_until_parsed(plan, env.api)
    return plan


def soak(env: SoakEnv, plan: SoakPlan, rounds: int, seed: int, processes: int,
         on_round: Callable[[RoundResult], None] = lambda _result: None) -> SoakResult:
    """Run `rounds` rounds, round i with seed `seed + i` (so `--seed S --rounds 1` replays a round of seed S)."""
    result = SoakResult(plan, processes)
    started = time.monotonic()
    with supervised(env):
        for index in range(rounds):
            result.rounds.append(run_round(env, plan, index, seed + index))
            on_round(result.rounds[-1])
    result.seconds = time.monotonic() - started
    return result


def round_line(result: RoundResult) -> str:
    injected = sum(result.injected().values())
    return (f"round {result.index} (seed {result.seed}, {result.business_date}): {result.seconds:.0f} s, "
            f"{injected}/{len(KINDS)} faults injected, {len(result.violations)} violation(s); {load()}")
