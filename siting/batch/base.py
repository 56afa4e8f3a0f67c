"""Constants shared by the batch modules: run options, border reasons, file names."""

from __future__ import annotations

from typing import Final

#: Options of :func:`siting.pipeline.run` a batch passes on to every region.
RUN_OPTIONS: Final = (
    "rules",
    "capacity",
    "thresholds_min",
    "service_area_kinds",
    "layout",
    "seed",
)

#: Why a row is or is not ``border_exact``.
BORDER_REASONS: Final = {
    "buffer": "within the buffer: any faster partner would lie inside it",
    "beyond_buffer": "beyond the buffer: the buffer cannot be known to suffice",
    "unreachable": "unreachable inside the partition: the buffer cannot be known to suffice",
    "no_data": "no data beyond the region's border",
    "inside": "the search cannot leave the region (time <= distance to its border / top speed)",
    "capacity": "capacity-aware assignment: capacities are shared across the border",
}

#: Travel times in the tables are rounded to 0.001 min: a row counts as within a limit when its
#: rounded time is at most the limit less this margin.
_ROUNDING_MIN: Final = 0.001

BATCH_RECORD: Final = ".batch.json"
MANIFEST: Final = "batch_manifest.json"
