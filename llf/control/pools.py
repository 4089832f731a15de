"""The Airflow pools llf owns: registered in cntl_cfg_pool (the single source), compared with Airflow's.

Why a table and not pools made by hand in Airflow's UI: one row says how much LLM work all streams together
may run at once (the LLM server's parallelism), it is versioned with the registrations, and every stack
(compose, local mode, the tests) gets the same pools from `llf pools sync`. The comparison is pure, so what
`--dry-run` announces is exactly what a real sync does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llf.db import transaction

DEFAULT_POOL = "default_pool"  # Airflow's own: never registered (0026's CHECK), never reported as not owned

REGISTERED_POOLS_SQL = "SELECT pool_nm, slots, pool_desc FROM cntl_af.cntl_cfg_pool ORDER BY pool_nm"


@dataclass(frozen=True)
class Pool:
    """A pool as llf compares it: Airflow's extra fields (occupied slots, include_deferred) play no part."""

    name: str
    slots: int
    description: str = ""

    def shown(self) -> str:
        return f"{self.name} ({self.slots} slot{'s' if self.slots != 1 else ''})"


@dataclass(frozen=True)
class PoolPlan:
    """What a sync does: pools to create, pools to update (Airflow's, then the registered one), the ones
    already right, and Airflow's pools llf does not own (left alone: someone made them by hand)."""

    create: tuple[Pool, ...]
    update: tuple[tuple[Pool, Pool], ...]
    unchanged: tuple[Pool, ...]
    not_owned: tuple[Pool, ...]

    def lines(self, dry_run: bool) -> list[str]:
        """One sentence per pool, in the conditional for --dry-run, then a one-line count."""
        create, update = ("would create", "would update") if dry_run else ("created", "updated")
        lines = [f"{create}: {pool.shown()}" for pool in self.create]
        lines += [f"{update}: {_change(old, new)}" for old, new in self.update]
        lines += [f"unchanged: {pool.shown()}" for pool in self.unchanged]
        lines += [f"not owned by llf (not in cntl_af.cntl_cfg_pool; left as it is): {pool.shown()}"
                  for pool in self.not_owned]
        counts = (f"{len(self.create)} {'to create' if dry_run else 'created'}, "
                  f"{len(self.update)} {'to update' if dry_run else 'updated'}, {len(self.unchanged)} unchanged, "
                  f"{len(self.not_owned)} not owned by llf")
        lines.append(f"Pools: {counts}" + (" (dry run: nothing changed in Airflow)." if dry_run else "."))
        return lines


def _change(old: Pool, new: Pool) -> str:
    changes = []
    if old.slots != new.slots:
        changes.append(f"slots {old.slots} -> {new.slots}")
    if old.description != new.description:
        changes.append(f"description {old.description!r} -> {new.description!r}")
    return f"{new.name} ({', '.join(changes)})"


def registered_pools(url: str) -> list[Pool]:
    """The pools of cntl_cfg_pool, by name."""
    with transaction(url) as cursor:
        cursor.execute(REGISTERED_POOLS_SQL)
        return [Pool(name, slots, description) for name, slots, description in cursor.fetchall()]


def plan_pools(registered: Iterable[Pool], in_airflow: Sequence[Pool]) -> PoolPlan:
    """Compare the registered pools with Airflow's. Nothing is ever planned for deletion: a pool that is
    not registered may be someone's (made by hand, by a provider), and deleting a pool tasks still name
    would leave them unschedulable."""
    existing = {pool.name: pool for pool in in_airflow}
    wanted = {pool.name: pool for pool in registered}
    create, update, unchanged = [], [], []
    for name, pool in sorted(wanted.items()):
        current = existing.get(name)
        if current is None:
            create.append(pool)
        elif (current.slots, current.description) != (pool.slots, pool.description):
            update.append((current, pool))
        else:
            unchanged.append(pool)
    not_owned = [pool for name, pool in sorted(existing.items()) if name not in wanted and name != DEFAULT_POOL]
    return PoolPlan(tuple(create), tuple(update), tuple(unchanged), tuple(not_owned))
