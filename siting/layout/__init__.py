"""Planned spatial structures (一核、两翼、两带、三区、多点) as geometry, from a declarative spec.

A plan such as 南府办发〔2020〕20号 (section 四、空间布局) describes its layout in words: a
core made of the urban districts, wings around named scenic areas, belts radiating from two
care centres, zones around hospitals and lakes, and many points. This module turns a YAML (or
dict) *spec* of such a layout into a GeoDataFrame of elements, so that facilities can be tagged
with the elements they lie in and every element summarised. The rules are data: a planner moves an
anchor, adds a point or writes a spec for another place without touching code.

Specs
-----
A spec names its region (``region: "511300"``), a mapping of named ``anchors`` (places) and a
list of ``elements``. The full schema, with examples, is in ``siting/layouts/README.md``; the
shipped specs are listed by :func:`available`.

*Anchors* are points, given either by explicit ``lon``/``lat`` (WGS84) or as an admin seat:
``county: 西充县`` (the county seat: its first 街道 with a reference point, else its first
township seat) or ``township: 天宫镇`` (with ``county`` when the name is not unique). Every
anchor carries a ``location_quality``, from best to worst:

``surveyed``
    measured on the ground (GPS) or taken from a surveyed plan;
``reference``
    a township seat point from the reference tables (``townships_2023.csv``);
``approximate``
    roughly known (a named place placed from general knowledge, a facility stood in for by its
    township seat, or an imputed township seat); the spec must say where it comes from
    (``note``);
``unknown``
    the place is named by the plan but cannot be placed: the anchor stands at a county or
    township seat as a placeholder, and the spec says so (``note``).

An explicit ``lon``/``lat`` must declare its ``location``; a seat anchor gets the quality of the
seat (``reference``, or ``approximate`` when the seat is imputed) unless the spec declares a worse
one (a facility whose only known location is its county is ``unknown``).

*Elements* have an ``id``, a Chinese ``name``, an optional ``name_en``, a ``type`` (``core``,
``wing``, ``belt``, ``zone`` or ``point``) and a ``rule``:

``admin``
    union of administrative units (``members``): whole counties (real polygons), or townships by
    name or by type (``town_type: 街道``) as their modelled areas (Voronoi cells of the seats);
``corridor``
    a LineString through ``anchors`` in order (or several, ``paths``), buffered to a total width
    of ``width_km`` (half each side);
``buffer``
    discs of ``radius_km`` around each of the ``anchors``;
``polygon``
    explicit ``coordinates`` (a ring of ``[lon, lat]``, WGS84), with their ``location`` quality.

Any element may be restricted to admin units (``within``), and is clipped to the region outline
(``clip: false`` to keep what lies outside). Elements may overlap. Buffers are computed in the
metric CRS (:data:`siting.settings.metric_crs`).

Every element carries ``location_quality`` (the worst of its anchors'; ``reference`` for admin
and ``polygon`` elements unless declared), ``modelled`` (``True`` when the geometry is drawn by a
rule here, not taken from a boundary or an outline: buffers, corridors and modelled township
areas) and a ``location_note`` listing the approximate and unknown anchors with their notes, so
maps and reports can show it.

Examples
--------
>>> from siting import layout
>>> plan = layout.load("nanchong")
>>> sorted(plan.elements["element_type"].unique())
['belt', 'core', 'point', 'wing', 'zone']
>>> plan.elements.loc["core", "location_quality"]
'reference'

Modules
-------
:mod:`~siting.layout.base`
    the vocabulary of a spec, its issues, :class:`Layout` and the building context.
:mod:`~siting.layout.spec`
    finding, reading and validating specs; :func:`load`, :func:`load_spec`.
:mod:`~siting.layout.admin`
    counties, townships and ``members`` (the ``admin`` rule, and ``within``).
:mod:`~siting.layout.anchors`
    anchors by ``lon``/``lat`` or as a county or township seat.
:mod:`~siting.layout.rules`
    one geometry builder per rule, ``within`` and clipping; one element row.
:mod:`~siting.layout.summary`
    :func:`tag`, :func:`tag_joined` and :func:`summary`.

The modules of this room import each other (``base`` first, which imports none of them) and the
lower rooms of siting (``regions``, ``registry``, ``settings``, ``_errors``); never ``pipeline``,
``maps`` or ``cli``.
"""

from __future__ import annotations

from siting._errors import LayoutError
from siting.layout.base import (
    ELEMENT_TYPES,
    LOCATION_QUALITIES,
    RULES,
    Layout,
    LayoutIssue,
)
from siting.layout.base import (
    MAX_KM as MAX_KM,
)
from siting.layout.base import (
    TOWN_TYPES as TOWN_TYPES,
)
from siting.layout.base import (
    WGS84_CRS as WGS84_CRS,
)
from siting.layout.spec import available, load, load_spec, spec_path
from siting.layout.summary import summary, tag, tag_joined

__all__ = [
    "ELEMENT_TYPES",
    "LOCATION_QUALITIES",
    "RULES",
    "Layout",
    "LayoutError",
    "LayoutIssue",
    "available",
    "load",
    "load_spec",
    "spec_path",
    "summary",
    "tag",
    "tag_joined",
]
