"""Merging the per-segment results of one job into the report a single run would give (pure).

Every result must belong to the same job (command, job identity, segment count). Segments
with no result file are *missing*, segments whose file records a failure are *failed*; either
makes the merged job a failure (exit 3), as a failed segment is in a single run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..diff import DiffResult, DiffStats
from ..errors import ConfigError
from .files import SegmentResult, diff_stats

__all__ = ["MergedResults", "merge_results"]


@dataclass(frozen=True)
class MergedResults:
    """One job's results put together: what was found, and which segments are not in it."""

    command: str
    job: str
    total_segments: int
    results: Mapping[int, SegmentResult]
    missing: tuple[int, ...]
    failed: tuple[int, ...]

    @property
    def complete(self) -> bool:
        """True when every segment has a result and none failed."""
        return not self.missing and not self.failed

    def finished(self) -> list[SegmentResult]:
        """The results of segments that finished, in segment order."""
        return [self.results[s] for s in sorted(self.results) if self.results[s].ok]

    def counts(self) -> dict[str, float]:
        """Numeric counts added up over the finished segments."""
        total: dict[str, float] = {}
        for result in self.finished():
            for name, value in result.counts.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    total[name] = total.get(name, 0) + value
        return total

    def detail(self, name: str, default: object = None) -> object:
        """A detail recorded by the segments (the first finished segment's)."""
        for result in self.finished():
            if name in result.details:
                return result.details[name]
        return default

    def diff_result(self) -> DiffResult:
        """The merged diff: discrepancies in segment order, counts added up."""
        finished = self.finished()
        stats = sum((diff_stats(r.counts) for r in finished), DiffStats())
        names = self.detail("key_names", [])
        return DiffResult(
            tuple(d for r in finished for d in r.discrepancies),
            stats,
            max((r.duration for r in finished), default=0.0),
            tuple(str(n) for n in names) if isinstance(names, list) else (),
        )

    def problems(self) -> list[str]:
        """One line per missing or failed segment."""
        lines = [f"segment {s}: no result" for s in self.missing]
        for segment in self.failed:
            lines.append(f"segment {segment} failed: {'; '.join(self.results[segment].failures)}")
        return lines


def _one(values: set[str] | set[int], what: str) -> None:
    if len(values) > 1:
        shown = ", ".join(sorted(str(v) for v in values))
        raise ConfigError(
            f"the results belong to different jobs ({what}: {shown})",
            hint="give each job its own --results-dir",
        )


def merge_results(
    results: Mapping[int, SegmentResult], *, expected_total: int | None = None
) -> MergedResults:
    """Check that ``results`` form one job and find its missing and failed segments.

    ``expected_total`` (the job's ``--segments``) names every segment missing even when no
    file arrived; without it an empty set of results is a :class:`ConfigError`.
    """
    if not results:
        if expected_total is None:
            raise ConfigError(
                "no segment results to merge",
                hint="check the results folder, or pass --segments M to name the missing ones",
            )
        return MergedResults("", "", expected_total, {}, tuple(range(expected_total)), ())
    _one({r.command for r in results.values()}, "commands")
    _one({r.job for r in results.values()}, "jobs")
    _one({r.total_segments for r in results.values()}, "segment counts")
    total = next(iter(results.values())).total_segments
    if expected_total is not None and expected_total != total:
        raise ConfigError(
            f"the results are for {total} segment(s), not --segments {expected_total}",
            hint="drop --segments or point at the right results folder",
        )
    outside = sorted(s for s in results if not 0 <= s < total)
    if outside:
        raise ConfigError(f"results for segments {outside} outside 0..{total - 1}")
    first = next(iter(results.values()))
    return MergedResults(
        command=first.command,
        job=first.job,
        total_segments=total,
        results=dict(results),
        missing=tuple(s for s in range(total) if s not in results),
        failed=tuple(s for s in sorted(results) if not results[s].ok),
    )
