"""Many regions in one batch, on Dask: a local cluster or an existing one, with border buffers.

:func:`run_batch` runs :func:`siting.pipeline.run` for every region of a list on a
:mod:`dask.distributed` cluster and writes

* one folder per region, ``out/<code>_<slug>/`` (``_s<seed>`` appended for a seed other than
  the batch's), holding what ``siting run`` writes for it, plus a hidden ``.batch.json`` (the
  region's input hash and border facts);
* merged tables in ``out/``: ``pairings.csv``, ``gaps.csv``, ``indicators.csv`` (each with
  ``region_code`` and ``region_folder`` first; pairings and gaps with ``border_exact`` and
  ``border_reason``), ``summary_by_region.csv`` (one row per region, failed ones too) and
  ``batch_manifest.json`` (per region: status ``ok``/``failed``/``skipped``, input hash,
  error, timings, attempts).

**Workers need no shared filesystem.** A task loads its region from the reference data shipped
with siting on the worker, runs the pipeline into a temporary folder there, reads the files back
as bytes and returns them; the driver writes them into ``out/<region>/`` atomically (a temporary
folder renamed into place, the run's ``manifest.json`` last). Each worker checks that its siting
version and data are those the batch hashed (else the region fails, saying so).

**Border buffers** (:func:`partition`). A facility near a county line may be nearest to a partner
across it. For a county whose parent city is loadable (the nine counties of 南充市), the task cuts
its partition from the parent's data: the parent's modelled network restricted to the nodes within
``buffer_m`` (crow-flies, metric CRS) of the county outline, and the parent's facilities within the
same distance whose nearest parent node is kept; the county's own facilities are the run's
``home`` (paired and reported), the others serve as partners only. ``buffer_m = buffer_min * 60 *
vmax``, where ``vmax`` is the parent network's top crow-flies speed (``max`` of edge crow-flies
metres over edge seconds, and of the access speed), so that any trip of ``t <= buffer_min``
minutes from a point of the county stays inside the buffer: its nodes, its partner and the
partner's nearest node. A pairing or gap row whose travel time is at most ``buffer_min`` is
therefore exactly the row of a run of the whole parent (same partner, time, distance and rank):
it gets ``border_exact=True``. Rows beyond ``buffer_min`` or unreachable inside the partition get
``False``: the buffer cannot be known to suffice. Whether a facility or village *has* a gap at a
threshold at most ``buffer_min`` is always exact (no partner within the threshold inside the
buffer means none outside either); only the nearest partner reported beyond the buffer may not be.

A region without a loadable parent (宣汉县: 达州市 is only partly in the reference tables) has no
neighbours' data: it runs alone and its rows are ``border_exact=False`` ("no data beyond the
region's border"), except rows whose travel time is at most the facility's (or village's)
distance to the region's border divided by the region's ``vmax``: such a search cannot leave the
region, assuming the roads beyond the border are no faster than the region's fastest.

With ``capacity=True`` the capacity-aware rules assign partners within each partition, so their
rows are ``border_exact=False`` (capacities are shared across the border in a whole run).

The E2SFCA access scores of a partition count only the region's own villages as demand on the
partners in its buffer, so they differ from a whole-city run near the border.

**A planner's own list** (``run_batch(None, out, facilities=..., network=..., group_by=...)``,
``siting batch --facilities``): the list is cut into groups by :func:`partition_list` — the
county code attached from the reference data, else the list's district column, or a column
given — each group's area being its reference county polygon or the hull of its facilities
plus 1 km; partitions are cut from the whole list and roads with the same border buffer, so
``border_exact`` keeps its meaning (equal to one run of the whole list). The driver reads the
list and roads once and ships each partition to its worker.

**Reruns.** Each region's input hash covers its code, seed, partition (parent and buffer), the
run options, the siting version, the rules file and the reference and packaged data files. A
region whose folder has a ``manifest.json`` made by the batch with the same hash is skipped
(status ``skipped``): rerunning a batch recomputes only what failed or changed. A failing region
is retried ``retries`` times, then reported with its error; the others are not lost.

The room (``siting.batch``): ``base`` (constants), ``specs`` (which regions: specs, files, all),
``partitions`` (built-in counties cut from their city with a border buffer), ``own`` (a planner's
own list in groups), ``tasks`` (worker tasks, input hashes, writing a region on the driver),
``results`` (outcomes), ``merge`` (merged tables), ``run`` (:func:`run_batch`, Dask). It may import
``pipeline``, ``costs``, ``graph``, ``registry``, ``regions``, ``pairing`` and the leaves.
"""

from __future__ import annotations

from siting._errors import BatchError
from siting.batch.base import BATCH_RECORD as BATCH_RECORD
from siting.batch.base import BORDER_REASONS as BORDER_REASONS
from siting.batch.base import MANIFEST as MANIFEST
from siting.batch.base import RUN_OPTIONS as RUN_OPTIONS
from siting.batch.merge import _flags as _flags
from siting.batch.merge import _merge as _merge
from siting.batch.own import UNASSIGNED as UNASSIGNED
from siting.batch.own import OwnPartition as OwnPartition
from siting.batch.own import partition_list as partition_list
from siting.batch.own import similar_groups as similar_groups
from siting.batch.partitions import Partition as Partition
from siting.batch.partitions import _inside_limits as _inside_limits
from siting.batch.partitions import _top_speed as _top_speed
from siting.batch.partitions import partition as partition
from siting.batch.results import BatchResult as BatchResult
from siting.batch.results import RegionOutcome as RegionOutcome
from siting.batch.results import _read_merged as _read_merged
from siting.batch.run import run_batch as run_batch
from siting.batch.specs import _MAX_SEED as _MAX_SEED
from siting.batch.specs import MAX_SEED as MAX_SEED
from siting.batch.specs import _available as _available
from siting.batch.specs import _parent_of as _parent_of
from siting.batch.specs import _parse_item as _parse_item
from siting.batch.specs import _seed_of as _seed_of
from siting.batch.specs import all_regions as all_regions
from siting.batch.specs import parse_item as parse_item
from siting.batch.specs import read_regions_file as read_regions_file
from siting.batch.specs import seed_of as seed_of
from siting.batch.tasks import _data_fingerprint as _data_fingerprint
from siting.batch.tasks import _hash as _hash
from siting.batch.tasks import _run_task as _run_task
from siting.batch.tasks import _Task as _Task

__all__ = [
    "BORDER_REASONS",
    "MAX_SEED",
    "UNASSIGNED",
    "BatchError",
    "BatchResult",
    "OwnPartition",
    "Partition",
    "RegionOutcome",
    "all_regions",
    "parse_item",
    "partition",
    "partition_list",
    "read_regions_file",
    "run_batch",
    "seed_of",
    "similar_groups",
]
