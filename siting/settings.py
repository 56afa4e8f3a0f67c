"""Global settings of siting: typed module variables, each documented.

Change them for a whole session (``siting.settings.metric_crs = "EPSG:32649"``); every function
that uses one also takes a keyword-only override.
"""

from __future__ import annotations

from pathlib import Path

#: Folder of the reference data (boundaries, township seats, villages, census). ``None`` means:
#: the environment variable ``SITING_REFERENCE_DIR`` if set, else the repository's
#: ``data/geo/reference/`` when running from a checkout, else the copy inside the installed package.
reference_dir: Path | None = None

#: Folder where generated data (modelled registries, networks, caches) is written. ``None`` means:
#: ``SITING_DATA_DIR`` if set, else ``data/geo/`` beside the repository's reference folder, else
#: ``./data/geo`` under the current working directory (an installed package never writes into
#: site-packages).
data_dir: Path | None = None

#: Metric CRS for analysis in Sichuan (UTM zone 48N). See :func:`siting.crs.metric_crs`.
metric_crs: str = "EPSG:32648"

#: Seed of every modelled dataset (village points, population splits, modelled registries).
default_seed: int = 20201124

#: A facility farther than this outside its region's boundary is an error on validation (metres).
outside_region_margin_m: float = 5_000.0

#: GCJ-02 offset heuristic: an undeclared-CRS file is flagged when its points, read as GCJ-02,
#: land closer to known township seats than when read as WGS84 by at least this share.
gcj_detect_min_gain: float = 0.25

#: A facility farther than this from its nearest road node is flagged (``snap_flag``) in every
#: result that uses it (metres).
max_snap_m: float = 2_000.0

#: Speed of the leg between a facility and its nearest road node, added as access time (km/h):
#: a slow drive on an unmapped lane.
access_speed_kph: float = 20.0

#: Straight-line fallback when there is no network: distance x detour factor at this speed.
detour_factor: float = 1.3

#: Speed of the straight-line fallback (km/h), a typical county road average.
straight_line_speed_kph: float = 35.0


#: Largest seed of the modelled parts (numpy's seed sequences take 0..2**32-1 per entry).
MAX_SEED: int = 2**32 - 1


def seed_or_default(seed: object) -> int:
    """``seed`` as an int in 0..:data:`MAX_SEED` (``None``: :data:`default_seed`).

    Raises
    ------
    siting.SitingError
        For anything else (a negative, too large, fractional or non-numeric seed), naming it.
    """
    from siting._errors import SitingError

    if seed is None:
        return default_seed
    value: int | None = None
    if isinstance(seed, int) and not isinstance(seed, bool):
        value = seed
    elif isinstance(seed, str) and seed.strip().lstrip("+").isdigit():
        value = int(seed.strip())
    elif isinstance(seed, float) and seed.is_integer():
        value = int(seed)
    else:
        try:
            import operator

            value = None if isinstance(seed, bool) else operator.index(seed)  # type: ignore[arg-type]
        except TypeError:
            value = None
    if value is None or not 0 <= value <= MAX_SEED:
        msg = (
            f"种子须为 0 到 {MAX_SEED} 的整数 the seed must be an integer from 0 to {MAX_SEED}, "
            f"got {seed!r}"
        )
        raise SitingError(msg)
    return value
