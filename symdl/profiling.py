"""Profile reports: per-node time, call count and share of the total, printable as a table."""

from __future__ import annotations

from collections.abc import Sequence


class ProfileReport:
    """Rows of (op, backend, seconds, calls); ``str()`` prints them sorted by time."""

    def __init__(self, rows: Sequence[tuple[str, str, float, int]], calls: int):
        self.rows = list(rows)
        self.calls = calls

    @property
    def total_seconds(self) -> float:
        return sum(r[2] for r in self.rows)

    def by_op(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for op, _, seconds, _ in self.rows:
            out[op] = out.get(op, 0.0) + seconds
        return out

    def __str__(self) -> str:
        total = self.total_seconds or 1e-30
        lines = [
            f"{self.calls} calls, {self.total_seconds * 1e3:.3f} ms in nodes",
            f"{'share':>6} {'ms':>10} {'backend':>8}  op",
        ]
        for op, backend, seconds, _ in sorted(self.rows, key=lambda r: -r[2]):
            lines.append(f"{100 * seconds / total:5.1f}% {seconds * 1e3:10.3f} {backend:>8}  {op}")
        return "\n".join(lines)

    __repr__ = __str__
