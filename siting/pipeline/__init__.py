"""One run for a region or a planner's own data: pairing, coverage gaps, access, a manifest.

:func:`run` is what ``siting run`` calls:

1. **Inputs.** A built-in region (its modelled registry, villages and modelled roads unless
   files are given) and/or the planner's files: a facility list in any form
   :func:`siting.registry.read` takes (WGS84, GCJ-02 or BD-09), a road network in any form
   :func:`siting.network.load` takes, a boundary. Bad input stops here, with the registry's
   errors (file, row, column, reason), before anything is written.
2. **Pairing** (:mod:`siting.pairing`): every rule, nearest or capacity-aware.
3. **Gaps**: facilities whose partner is beyond the rule's threshold or out of reach, and villages
   beyond each coverage threshold (default 15 and 30 minutes) of any medical facility.
4. **Coverage** of the region: elderly population within each threshold by county and township,
   service areas of the medical facilities, E2SFCA access to nursing-home and hospital beds
   per village.
5. **Outputs**, written atomically into ``out``: every file goes to a temporary folder first and
   then replaces its namesake; ``manifest.json`` is removed first and written last, so a folder
   whose manifest is missing is not a finished run. A rerun with the same inputs gives the same
   bytes in every file but the manifest (which records timings and the time of the run).

Every table says what is modelled: ``data_source`` of the facilities, the network, the villages
and their population are recorded in ``summary.json`` and the manifest.

The room
--------
A run from inputs to its files. Modules:

- :mod:`siting.pipeline.result`: output columns and files, :class:`RunResult`, the step clock.
- :mod:`siting.pipeline.inputs`: reading the region, facilities, roads, boundary and layout.
- :mod:`siting.pipeline.gaps`: facility and village coverage gaps.
- :mod:`siting.pipeline.summary`: ``summary.json`` and the JSON writing.
- :mod:`siting.pipeline.outputs`: the writers of every file.
- :mod:`siting.pipeline.context`: the context a run's steps read and fill.
- :mod:`siting.pipeline.steps`: :func:`run`, a short sequence of named steps over the context.
- :mod:`siting.pipeline.update`: :func:`update`, incremental and all or nothing.

It may import every computing module (pairing, coverage, costs, patrol, locate, indicators,
layout, report, maps ...); none of them imports it back (only siting.cli and siting.batch
use it).
"""

from __future__ import annotations

from siting._io import write_csv as write_csv
from siting.pipeline.gaps import _all_village_gaps as _all_village_gaps
from siting.pipeline.gaps import _facility_gaps as _facility_gaps
from siting.pipeline.gaps import _village_gaps as _village_gaps
from siting.pipeline.gaps import _village_nearest as _village_nearest
from siting.pipeline.inputs import _data_source as _data_source
from siting.pipeline.inputs import _hash_frame as _hash_frame
from siting.pipeline.inputs import _layout as _layout
from siting.pipeline.inputs import _load_inputs as _load_inputs
from siting.pipeline.inputs import _versions as _versions
from siting.pipeline.inputs import reader_warnings as reader_warnings
from siting.pipeline.result import ACCESS_SCORES as ACCESS_SCORES
from siting.pipeline.result import (
    GAP_COLUMNS,
    OUTPUT_FILES,
    PAIRING_OUTPUT_COLUMNS,
    STATE_DIR,
    RunResult,
)
from siting.pipeline.result import MEDICAL_KINDS as MEDICAL_KINDS
from siting.pipeline.result import _Clock as _Clock
from siting.pipeline.result import _distinct_routes as _distinct_routes
from siting.pipeline.result import _Prepared as _Prepared
from siting.pipeline.result import _State as _State
from siting.pipeline.steps import _commit as _commit
from siting.pipeline.steps import _prepare as _prepare
from siting.pipeline.steps import run
from siting.pipeline.summary import _clean as _clean
from siting.pipeline.summary import _json as _json
from siting.pipeline.summary import _summary as _summary
from siting.pipeline.summary import _travel_note as _travel_note
from siting.pipeline.update import UpdateResult, update

__all__ = [
    "GAP_COLUMNS",
    "OUTPUT_FILES",
    "PAIRING_OUTPUT_COLUMNS",
    "STATE_DIR",
    "RunResult",
    "UpdateResult",
    "run",
    "update",
]
