"""Planned layouts (一核、两翼、两带、三区、多点) from declarative specs."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

import siting
from siting import layout, modelled, regions, registry, settings

LAYOUTS = Path(layout.__file__).resolve().parents[1] / "layouts"
METRIC = settings.metric_crs


@pytest.fixture(scope="module")
def nanchong() -> regions.Region:
    return regions.load("nanchong")


@pytest.fixture(scope="module")
def plan(nanchong: regions.Region) -> layout.Layout:
    return layout.load("nanchong", nanchong)


@pytest.fixture(scope="module")
def facilities(nanchong: regions.Region) -> gpd.GeoDataFrame:
    return modelled.registry_for(nanchong)


@pytest.fixture(scope="module")
def tags(facilities: gpd.GeoDataFrame, plan: layout.Layout) -> pd.DataFrame:
    return layout.tag(facilities, plan)


def _spec(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((LAYOUTS / f"{name}.yaml").read_text("utf-8"))
    return loaded


def _element(spec: dict[str, Any], element_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in spec["elements"] if e["id"] == element_id)
    return found


def _metric(geom: Any) -> Any:
    return gpd.GeoSeries([geom], crs="EPSG:4326").to_crs(METRIC).iloc[0]


def _point_gdf(lon: float, lat: float, fid: str = "X-1") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["nursing_home"], "beds": [10]},
        geometry=gpd.points_from_xy([lon], [lat]),
        crs="EPSG:4326",
        index=pd.Index([fid], name="id"),
    )


# --- shipped specs ---------------------------------------------------------------------------


def test_available_lists_the_shipped_specs() -> None:
    assert layout.available() == ["nanchong", "xuanhan"]
    for name in layout.available():
        assert (LAYOUTS / f"{name}.yaml").is_file()


def test_nanchong_has_one_core_two_wings_two_belts_three_zones_many_points(
    plan: layout.Layout,
) -> None:
    elements = plan.elements
    assert plan.name == "nanchong" and plan.region_code == "511300"
    assert plan.source == (LAYOUTS / "nanchong.yaml").resolve()
    assert elements.crs.to_epsg() == 4326
    counts = elements["element_type"].value_counts().to_dict()
    assert {k: counts[k] for k in ("core", "wing", "belt", "zone")} == {
        "core": 1,
        "wing": 2,
        "belt": 2,
        "zone": 3,
    }
    assert counts["point"] >= 5
    for col in ("element_id", "name", "name_en", "element_type", "rule", "location_quality"):
        assert col in elements.columns
    assert "note" in elements.columns and "modelled" in elements.columns
    assert elements["element_id"].is_unique
    assert (elements.index == elements["element_id"]).all()
    assert set(elements["element_type"]) <= set(layout.ELEMENT_TYPES)
    assert set(elements["rule"]) <= set(layout.RULES)
    assert elements.geometry.is_valid.all() and not elements.geometry.is_empty.any()
    # names are Chinese
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in n) for n in elements["name"])
    assert elements.loc["belt_west", "anchors"] == "xichong_centre;nanbu_seat;langzhong_seat"
    assert elements.loc["belt_east", "anchors"] == "pengan_centre;yingshan_seat;yilong_seat"


def test_elements_lie_inside_the_region(plan: layout.Layout, nanchong: regions.Region) -> None:
    outline = _metric(nanchong.outline)
    for element_id, geom in plan.elements.geometry.to_crs(METRIC).items():
        # up to reprojection noise along the outline
        assert geom.difference(outline).area < 1e-6 * geom.area, element_id


def test_core_is_shunqing_plus_the_streets_of_gaoping_and_jialing(
    plan: layout.Layout, nanchong: regions.Region
) -> None:
    towns = nanchong.townships
    streets = towns.index[
        (towns["town_type"] == "街道") & towns["county_code"].isin(["511303", "511304"])
    ]
    assert len(streets) == 13
    expected = shapely.union_all(
        [
            _metric(nanchong.counties.geometry.loc["511302"]),
            *nanchong.township_areas.geometry.loc[streets].to_crs(METRIC),
        ]
    )
    core = _metric(plan.elements.geometry.loc["core"])
    assert core.symmetric_difference(expected).area / expected.area < 1e-6
    assert plan.elements.loc["core", "location_quality"] == "reference"
    assert bool(plan.elements.loc["core", "modelled"])  # township areas are modelled
    assert "modelled" in plan.elements.loc["core", "location_note"]
    # 高坪's 镇 are not in the core: 长乐镇's seat
    chang_le = towns.loc[towns["name"] == "长乐镇", "geometry"].iloc[0]
    assert not _metric(plan.elements.geometry.loc["core"]).contains(_metric(chang_le))


def test_wings_stay_in_their_districts(plan: layout.Layout, nanchong: regions.Region) -> None:
    for element_id, county in (("wing_east", "511303"), ("wing_west", "511304")):
        wing = _metric(plan.elements.geometry.loc[element_id])
        district = _metric(nanchong.counties.geometry.loc[county])
        assert wing.difference(district).area < 1e-6 * wing.area
        assert wing.area > 0.5 * np.pi * 8000.0**2  # most of the 8 km disc


def test_belts_reach_the_counties_they_drive(plan: layout.Layout, nanchong: regions.Region) -> None:
    counties = nanchong.counties.geometry.to_crs(METRIC)
    for element_id, reached in (
        ("belt_west", ["511325", "511321", "511381"]),
        ("belt_east", ["511323", "511322", "511324"]),
    ):
        belt = _metric(plan.elements.geometry.loc[element_id])
        assert plan.elements.loc[element_id, "width_km"] == 10
        for county in reached:
            assert belt.intersection(counties.loc[county]).area > 10e6, (element_id, county)


# --- location quality ------------------------------------------------------------------------


def test_every_anchor_quality_is_carried_into_the_elements(plan: layout.Layout) -> None:
    order = {q: i for i, q in enumerate(layout.LOCATION_QUALITIES)}
    anchors = plan.anchors
    assert set(anchors["location_quality"]) <= set(layout.LOCATION_QUALITIES)
    used: set[str] = set()
    for element_id, row in plan.elements.iterrows():
        ids = [a for a in row["anchors"].split(";") if a]
        used.update(ids)
        if not ids:
            continue
        worst = max((anchors.loc[a, "location_quality"] for a in ids), key=order.__getitem__)
        assert row["location_quality"] == worst, element_id
        for a in ids:
            if anchors.loc[a, "location_quality"] in ("approximate", "unknown"):
                assert anchors.loc[a, "name"] in row["location_note"], (element_id, a)
                assert f"({a}): {anchors.loc[a, 'location_quality']}" in row["location_note"]
    assert used == set(anchors.index)
    # every approximate or unknown anchor appears so in the elements table
    for a, q in anchors["location_quality"].items():
        if q in ("approximate", "unknown"):
            hits = plan.elements[
                plan.elements["anchors"].str.split(";").apply(lambda s, a=a: a in s)
            ]
            assert (hits["location_quality"].map(order) >= order[q]).all(), a
            assert len(hits) >= 1


def test_nothing_in_nanchong_is_presented_as_surveyed(plan: layout.Layout) -> None:
    anchors = plan.anchors
    assert "surveyed" not in set(anchors["location_quality"])
    assert "surveyed" not in set(plan.elements["location_quality"])
    explicit = anchors[anchors["kind"] == "lonlat"]
    assert len(explicit) >= 8
    assert (explicit["location_quality"] == "approximate").all()
    assert explicit["note"].str.len().gt(20).all()
    # the named places of the plan, approximate
    for name in (
        "凌云山",
        "天乐谷",
        "升钟湖",
        "太蓬山",
        "构溪河",
        "川北医学院附属医院",
        "南充市中心医院",
    ):
        row = anchors[anchors["name"].str.startswith(name)]
        assert len(row) == 1 and row["location_quality"].iloc[0] == "approximate", name
    # what cannot be placed stands at a seat and is marked unknown
    for anchor_id, county in (
        ("baiyang_lake", "511324"),
        ("xichong_centre", "511325"),
        ("pengan_centre", "511323"),
        ("nanchong_health_school", "511302"),
    ):
        row = anchors.loc[anchor_id]
        assert row["location_quality"] == "unknown"
        assert row["kind"] == "county_seat" and row["county_code"] == county
        assert "stands in" in row["note"]
    # the places sit in the county the plan names
    for anchor_id, county in (
        ("shengzhong_lake", "511321"),
        ("taipeng_mountain", "511322"),
        ("gouxi_river", "511381"),
        ("lingyunshan", "511303"),
        ("tianlegu", "511304"),
    ):
        point = anchors.geometry.loc[anchor_id]
        assert siting.regions.load(county).outline.contains(point), anchor_id
    assert plan.elements.loc["zone_leisure", "location_quality"] == "unknown"  # 白杨湖
    assert plan.elements.loc["wing_east", "location_quality"] == "approximate"
    assert plan.elements.loc["point_tiangongyuan", "location_quality"] == "approximate"


def test_county_seat_is_the_first_street_with_a_reference_point(plan: layout.Layout) -> None:
    anchors = plan.anchors
    assert anchors.loc["nanbu_seat", "township_code"] == "511321001"  # 滨江街道
    assert anchors.loc["nanbu_seat", "location_quality"] == "reference"
    assert anchors.loc["yingshan_seat", "township_code"] == "511322002"  # 绥安 is imputed
    assert anchors.loc["point_tiangongyuan", "kind"] == "township_seat"
    assert anchors.loc["point_tiangongyuan", "township_code"] == "511381128"  # 天宫镇


# --- tagging ---------------------------------------------------------------------------------


def test_shunqing_facilities_are_in_the_core(
    facilities: gpd.GeoDataFrame, tags: pd.DataFrame
) -> None:
    in_core = set(tags.loc[tags["element_id"] == "core", "facility_id"])
    shunqing = facilities.index[facilities["county_code"] == "511302"]
    assert len(shunqing) > 100
    assert set(shunqing) <= in_core
    # and nothing of the counties outside the core
    outer = facilities.index[~facilities["county_code"].isin(["511302", "511303", "511304"])]
    assert not set(outer) & in_core


def test_a_facility_at_the_langzhong_seat_is_not_in_the_core(
    plan: layout.Layout, nanchong: regions.Region
) -> None:
    seat = nanchong.townships.loc["511381001"]  # 保宁街道, 阆中
    one = _point_gdf(float(seat["lon"]), float(seat["lat"]))
    long = layout.tag(one, plan)
    assert "core" not in set(long["element_id"])
    assert "belt_west" in set(long["element_id"])  # the western belt reaches 阆中
    joined = layout.tag_joined(one, plan)
    assert joined.loc["X-1"] == "belt_west"
    # a facility in no element gets an empty string, and keeps its id
    far = _point_gdf(106.9, 30.75, fid="X-2")
    assert layout.tag_joined(far, plan).to_dict() == {"X-2": ""}
    assert layout.tag(far, plan).empty


def test_tag_long_and_joined_agree(
    facilities: gpd.GeoDataFrame, plan: layout.Layout, tags: pd.DataFrame
) -> None:
    assert list(tags.columns) == ["facility_id", "element_id"]
    assert set(tags["element_id"]) <= set(plan.elements["element_id"])
    joined = layout.tag_joined(facilities, plan)
    assert joined.name == "layout_elements"
    assert joined.index.equals(facilities.index)
    order = {e: i for i, e in enumerate(plan.elements["element_id"])}
    expected = tags.groupby("facility_id")["element_id"].agg(
        lambda s: ";".join(sorted(s, key=order.__getitem__))
    )
    assert joined[joined != ""].sort_index().equals(expected.sort_index().rename(joined.name))
    # overlaps: a core hospital lies in the core and the service zone
    hospital = facilities.index[facilities["name"] == "川北医学院附属医院"][0]
    assert joined.loc[hospital].split(";")[:2] == ["core", "zone_service"]
    # the CRS of the input does not matter
    again = layout.tag(facilities.to_crs(METRIC), plan)
    pd.testing.assert_frame_equal(again, tags)


def test_tag_equals_a_direct_point_in_polygon_test(
    facilities: gpd.GeoDataFrame, plan: layout.Layout, tags: pd.DataFrame
) -> None:
    points = facilities.geometry.to_crs(METRIC).to_numpy()
    for element_id, geom in plan.elements.geometry.to_crs(METRIC).items():
        inside = shapely.intersects(geom, points)
        expected = set(facilities.index[inside])
        got = set(tags.loc[tags["element_id"] == element_id, "facility_id"])
        assert got == expected, element_id


def test_tag_refuses_bad_input(plan: layout.Layout) -> None:
    with pytest.raises(TypeError, match="GeoDataFrame"):
        layout.tag(pd.DataFrame({"a": [1]}), plan)  # type: ignore[arg-type]
    no_crs = gpd.GeoDataFrame({"kind": ["x"]}, geometry=gpd.points_from_xy([106.0], [30.8]))
    with pytest.raises(ValueError, match="no CRS"):
        layout.tag(no_crs, plan)
    dup = pd.concat([_point_gdf(106.07, 30.8), _point_gdf(106.07, 30.8)])
    with pytest.raises(ValueError, match="not unique"):
        layout.tag(dup, plan)


# --- editing a spec without code -------------------------------------------------------------


def test_moving_an_anchor_moves_the_element(nanchong: regions.Region, plan: layout.Layout) -> None:
    spec = _spec("nanchong")
    spec["anchors"]["lingyunshan"]["lon"] = 106.150  # 3.5 km west
    moved = layout.load_spec(spec, nanchong)
    assert moved.source is None
    before = _metric(plan.elements.geometry.loc["wing_east"]).centroid
    after = _metric(moved.elements.geometry.loc["wing_east"]).centroid
    assert after.x < before.x - 1000.0
    assert moved.anchors.loc["lingyunshan", "lon"] == 106.150
    # the other elements do not change
    for element_id in ("core", "belt_west", "zone_service"):
        assert moved.elements.geometry.loc[element_id].equals(
            plan.elements.geometry.loc[element_id]
        )
    # a point element moves with its anchor, by the same distance
    spec["anchors"]["taipeng_mountain"].update(lon=106.70, lat=31.22)
    shifted = layout.load_spec(spec, nanchong)
    old = _metric(plan.elements.geometry.loc["zone_leisure"])
    new = _metric(shifted.elements.geometry.loc["zone_leisure"])
    new_point = _metric(shapely.Point(106.70, 31.22))
    assert new.contains(new_point.buffer(7_900.0))
    assert not old.contains(new_point.buffer(7_900.0))


def test_adding_a_point_needs_no_code(
    nanchong: regions.Region, facilities: gpd.GeoDataFrame
) -> None:
    spec = _spec("nanchong")
    spec["elements"].append(
        {
            "id": "point_new",
            "name": "新增示范点",
            "name_en": "New demonstration point",
            "type": "point",
            "rule": "buffer",
            "radius_km": 3,
            "anchors": [
                {"lon": 106.40, "lat": 31.03, "location": "surveyed"},  # surveyed needs no note
            ],
        }
    )
    spec["elements"].append(
        {
            "id": "point_in_town",
            "name": "升钟镇示范小镇",
            "type": "point",
            "rule": "buffer",
            "radius_km": 1.5,
            "anchors": [{"township": "升钟"}],  # the 镇 suffix may be left out
        }
    )
    added = layout.load_spec(spec, nanchong)
    row = added.elements.loc["point_new"]
    assert row["element_type"] == "point" and row["location_quality"] == "surveyed"
    area = _metric(row["geometry"]).area
    assert area == pytest.approx(np.pi * 3000.0**2, rel=0.01)
    town = added.elements.loc["point_in_town"]
    assert town["location_quality"] == "reference"
    assert added.anchors.loc["point_in_town", "township_code"] == "511321127"
    long = layout.tag(facilities, added)
    inside = facilities.geometry.to_crs(METRIC).distance(_metric(shapely.Point(106.40, 31.03)))
    expected = set(facilities.index[inside < 2_990.0])
    assert expected <= set(long.loc[long["element_id"] == "point_new", "facility_id"])
    assert len(expected) > 0


def test_polygon_rule(xuanhan: regions.Region) -> None:
    spec = _mini()
    spec["elements"].append(
        {
            "id": "drawn",
            "name": "手绘区",
            "type": "zone",
            "rule": "polygon",
            "coordinates": [[107.70, 31.30], [107.80, 31.30], [107.80, 31.40], [107.70, 31.40]],
            "location": "approximate",
            "note": "sketched",
        }
    )
    out = layout.load_spec(spec, xuanhan)
    row = out.elements.loc["drawn"]
    assert row["location_quality"] == "approximate" and not row["modelled"]
    assert row["area_km2"] == pytest.approx(9.5 * 11.1, rel=0.05)


def test_xuanhan_spec_loads_its_region_and_is_illustrative() -> None:
    text = (LAYOUTS / "xuanhan.yaml").read_text("utf-8")
    assert "ILLUSTRATIVE" in text.splitlines()[0]
    plan = layout.load("xuanhan")
    assert plan.region_code == "511722"
    assert "示意" in plan.title and "illustrative" in plan.elements.loc["core", "note"]
    assert set(plan.elements["element_type"]) == {"core", "belt", "point"}
    # the county town's streets have imputed seats: never better than approximate
    assert plan.anchors.loc["county_town", "location_quality"] == "approximate"
    assert "imputed" in plan.anchors.loc["county_town", "note"]
    assert plan.elements.loc["belt_care", "location_quality"] == "approximate"
    reg = modelled.registry_for("xuanhan")
    tags = layout.tag(reg, plan)
    in_core = set(tags.loc[tags["element_id"] == "core", "facility_id"])
    streets = reg.index[reg["township_code"].isin(["511722001", "511722002"])]
    assert len(streets) > 0 and set(streets) <= in_core


def test_load_by_path_and_a_spec_for_another_region(
    tmp_path: Path, xuanhan: regions.Region
) -> None:
    path = tmp_path / "my_layout.yaml"
    path.write_text(yaml.safe_dump(_mini(), allow_unicode=True), encoding="utf-8")
    out = layout.load(path)
    assert out.source == path.resolve() and out.name == "mini"
    assert layout.load(str(path), xuanhan).region_code == "511722"
    with pytest.raises(layout.LayoutError, match="region") as info:
        layout.load(path, regions.load("nanchong"))
    assert info.value.issues[0].key == "region"


# --- invalid specs ---------------------------------------------------------------------------


def _mini() -> dict[str, Any]:
    return {
        "name": "mini",
        "region": "511722",
        "anchors": {"seat": {"county": "宣汉县"}, "far": {"township": "土黄镇"}},
        "elements": [
            {
                "id": "core",
                "name": "核",
                "type": "core",
                "rule": "admin",
                "members": [{"county": "宣汉县", "town_type": "街道"}],
            },
            {
                "id": "belt",
                "name": "带",
                "type": "belt",
                "rule": "corridor",
                "anchors": ["seat", "far"],
                "width_km": 5,
            },
            {
                "id": "pt",
                "name": "点",
                "type": "point",
                "rule": "buffer",
                "radius_km": 2,
                "anchors": [{"lon": 107.8, "lat": 31.4, "location": "approximate", "note": "t"}],
            },
        ],
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting ``elements[i].key...`` (``value=KeyError`` deletes)."""

    def mutate(spec: dict[str, Any]) -> None:
        target: Any = spec
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        last = parts[-1]
        if value is KeyError:
            del target[last]
        elif last.isdigit():
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


BAD_SPECS = [
    ("unknown rule", _set("elements.1.rule", "ribbon"), "belt", "rule", "unknown rule 'ribbon'"),
    ("unknown type", _set("elements.1.type", "ring"), "belt", "type", "unknown type 'ring'"),
    ("missing rule", _set("elements.1.rule", KeyError), "belt", "rule", "missing rule"),
    (
        "unknown county",
        _set("elements.0.members.0.county", "宜汉县"),
        "core",
        "members[0].county",
        "unknown county '宜汉县'",
    ),
    (
        "unknown township",
        _set("elements.0.members", [{"townships": ["不存在镇"]}]),
        "core",
        "members[0].townships[0]",
        "unknown township '不存在镇'",
    ),
    (
        "unknown town type",
        _set("elements.0.members.0.town_type", "村"),
        "core",
        "members[0].town_type",
        "unknown town_type",
    ),
    (
        "missing coordinates",
        _set("elements.2.anchors.0.lat", KeyError),
        "pt",
        "anchors[0].lat",
        "missing coordinates",
    ),
    (
        "no coordinates at all",
        _set("elements.2.anchors.0", {"location": "approximate", "note": "n"}),
        "pt",
        "anchors[0].lon",
        "missing coordinates",
    ),
    ("negative width", _set("elements.1.width_km", -5), "belt", "width_km", "bad width_km"),
    ("huge width", _set("elements.1.width_km", 5000), "belt", "width_km", "bad width_km"),
    ("text width", _set("elements.1.width_km", "wide"), "belt", "width_km", "not a number"),
    ("missing radius", _set("elements.2.radius_km", KeyError), "pt", "radius_km", "missing"),
    ("duplicate id", _set("elements.2.id", "core"), "core", "id", "duplicate id 'core'"),
    (
        "unknown anchor",
        _set("elements.1.anchors.1", "faar"),
        "belt",
        "anchors[1]",
        "unknown anchor 'faar'; did you mean 'far'",
    ),
    (
        "outside the region",
        _set("elements.2.anchors.0.lon", 116.4),
        "pt",
        "anchors[0].lon",
        "outside 宣汉县",
    ),
    (
        "lon and lat swapped",
        _set("elements.2.anchors.0", {"lon": 31.4, "lat": 107.8, "location": "surveyed"}),
        "pt",
        "anchors[0].lon",
        "out of range",
    ),
    (
        "missing location",
        _set("elements.2.anchors.0.location", KeyError),
        "pt",
        "anchors[0].location",
        "missing location",
    ),
    (
        "approximate without a note",
        _set("elements.2.anchors.0.note", KeyError),
        "pt",
        "anchors[0].note",
        "needs a note",
    ),
    (
        "bad location",
        _set("elements.2.anchors.0.location", "guessed"),
        "pt",
        "anchors[0].location",
        "unknown location 'guessed'",
    ),
    (
        "typo in a key",
        _set("elements.2.radius_kms", 3),
        "pt",
        "radius_kms",
        "did you mean 'radius_km'",
    ),
    (
        "corridor of one place",
        _set("elements.1.anchors", ["seat", "seat"]),
        "belt",
        "anchors",
        "at least two anchors",
    ),
    (
        "empty after within",
        _set("elements.0.within", [{"townships": ["土黄镇"], "county": "宣汉县"}]),
        "core",
        "within",
        "empty",
    ),
    (
        "polygon outside the region",
        _set(
            "elements.2",
            {
                "id": "pt",
                "name": "点",
                "type": "zone",
                "rule": "polygon",
                "coordinates": [[116.0, 39.0], [116.1, 39.0], [116.1, 39.1]],
                "location": "surveyed",
            },
        ),
        "pt",
        "coordinates",
        "outside 宣汉县",
    ),
    (
        "self-crossing polygon",
        _set(
            "elements.2",
            {
                "id": "pt",
                "name": "点",
                "type": "zone",
                "rule": "polygon",
                "coordinates": [[107.7, 31.3], [107.8, 31.4], [107.8, 31.3], [107.7, 31.4]],
                "location": "surveyed",
            },
        ),
        "pt",
        "coordinates",
        "not form a valid polygon",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "element", "key", "reason"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_invalid_specs_name_file_element_key_and_reason(
    tmp_path: Path,
    xuanhan: regions.Region,
    mutate: Callable[[dict[str, Any]], None],
    element: str,
    key: str,
    reason: str,
) -> None:
    spec = _mini()
    mutate(spec)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(layout.LayoutError) as info:
        layout.load(path, xuanhan)
    message = str(info.value)
    assert str(path) in message
    assert f"element {element!r}" in message
    assert f"key {key!r}" in message
    assert reason in message
    issues = [i for i in info.value.issues if isinstance(i, layout.LayoutIssue)]
    assert any(i.element == element and i.key == key and reason in i.reason for i in issues)
    assert isinstance(info.value, siting.ValidationError) and isinstance(info.value, ValueError)


def test_errors_in_top_level_anchors_name_the_anchor(xuanhan: regions.Region) -> None:
    spec = _mini()
    spec["anchors"]["far"] = {"township": "土皇镇"}
    with pytest.raises(layout.LayoutError) as info:
        layout.load_spec(spec, xuanhan, file="edited.yaml")
    message = str(info.value)
    assert "edited.yaml, anchor 'far', key 'township'" in message
    assert "unknown township '土皇镇'" in message and "土黄镇" in message
    assert len(info.value.issues) == 1  # the element using it is not reported again


def test_every_problem_is_listed(xuanhan: regions.Region) -> None:
    spec = _mini()
    spec["elements"][0]["rule"] = "ribbon"
    spec["elements"][1]["width_km"] = 0
    spec["elements"][2]["anchors"][0]["lon"] = "east"
    with pytest.raises(layout.LayoutError) as info:
        layout.load_spec(spec, xuanhan)
    keys = {(i.element, i.key) for i in info.value.issues if isinstance(i, layout.LayoutIssue)}
    assert keys == {("core", "rule"), ("belt", "width_km"), ("pt", "anchors[0].lon")}
    assert "3 problem(s)" in str(info.value)


def test_bad_files_and_names(tmp_path: Path, xuanhan: regions.Region) -> None:
    with pytest.raises(layout.LayoutError, match=r"no layout spec named 'nanchongg'.*nanchong"):
        layout.load("nanchongg")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(layout.LayoutError, match="not valid YAML"):
        layout.load(broken)
    with pytest.raises(layout.LayoutError, match="cannot read"):
        layout.load(tmp_path / "missing.yaml")
    no_region = {k: v for k, v in _mini().items() if k != "region"}
    with pytest.raises(layout.LayoutError, match="key 'region'"):
        layout.load_spec(no_region, xuanhan)
    with pytest.raises(layout.LayoutError, match="key 'elements'"):
        layout.load_spec({"name": "x", "region": "511722", "elements": []}, xuanhan)
    with pytest.raises(layout.LayoutError, match="unknown region"):
        layout.load_spec({**_mini(), "region": "火星"})
    with pytest.raises(layout.LayoutError, match="did you mean 'elements'"):
        layout.load_spec({**_mini(), "elemnts": []}, xuanhan)


def test_shipped_specs_survive_a_round_trip(tmp_path: Path, xuanhan: regions.Region) -> None:
    spec = _spec("xuanhan")
    original = copy.deepcopy(spec)
    layout.load_spec(spec, xuanhan)
    assert spec == original  # load_spec does not edit the caller's mapping


# --- summaries -------------------------------------------------------------------------------


def test_summary_counts_equal_a_direct_computation(
    plan: layout.Layout, facilities: gpd.GeoDataFrame, nanchong: regions.Region
) -> None:
    table = layout.summary(plan, facilities, nanchong)
    assert list(table.index) == list(plan.elements["element_id"])
    points = facilities.geometry.to_crs(METRIC).to_numpy()
    villages = nanchong.villages.geometry.to_crs(METRIC).to_numpy()
    beds = pd.to_numeric(facilities["beds"]).fillna(0).to_numpy(dtype=float)
    care = facilities["kind"].isin(registry.ELDERLY_CARE_KINDS).to_numpy()
    for element_id, geom in plan.elements.geometry.to_crs(METRIC).items():
        inside = shapely.intersects(geom, points)
        row = table.loc[element_id]
        assert row["n_facilities"] == inside.sum(), element_id
        for kind in registry.KINDS:
            expected = int((inside & (facilities["kind"] == kind).to_numpy()).sum())
            assert row[f"n_{kind}"] == expected, (element_id, kind)
        assert row["beds"] == round(beds[inside].sum())
        assert row["care_beds"] == round(beds[inside & care].sum())
        pop = int(
            nanchong.villages["pop_60plus"].to_numpy()[shapely.intersects(geom, villages)].sum()
        )
        assert row["pop_60plus_modelled"] == pop, element_id
        if pop:
            assert row["care_beds_per_1000_60plus_modelled"] == pytest.approx(
                row["care_beds"] * 1000 / pop, abs=0.01
            )
    assert table.loc["core", "n_hospital"] >= 3
    assert table.loc["core", "pop_60plus_modelled"] > 100_000
    assert "pairings" not in "".join(table.columns) and "gaps" not in table.columns


def test_summary_with_pairings_and_gaps(
    plan: layout.Layout, facilities: gpd.GeoDataFrame, nanchong: regions.Region, tags: pd.DataFrame
) -> None:
    care = facilities.index[facilities["kind"].isin(["nursing_home", "day_care"])]
    rng = np.random.default_rng(7)
    within = rng.random(len(care)) < 0.6
    pairings = pd.concat(
        [
            pd.DataFrame({"facility_id": care, "rank": 1, "within_threshold": within}),
            # a rank-2 row within the threshold must not count
            pd.DataFrame({"facility_id": care, "rank": 2, "within_threshold": True}),
        ]
    )
    gaps = pd.DataFrame({"facility_id": care[~within]})
    table = layout.summary(plan, facilities, nanchong, pairings=pairings, gaps=gaps)
    ok = pd.Series(within, index=care)
    for element_id in plan.elements["element_id"]:
        ids = tags.loc[tags["element_id"] == element_id, "facility_id"]
        mine = ids[ids.isin(care)]
        row = table.loc[element_id]
        assert row["n_in_pairings"] == len(mine)
        assert row["gaps"] == int((~ok.loc[mine]).sum())
        if len(mine):
            assert row["share_paired_within_threshold"] == pytest.approx(
                ok.loc[mine].mean(), abs=1e-4
            )
        else:
            assert np.isnan(row["share_paired_within_threshold"])


def test_summary_shares_are_per_rule_never_any_rule(
    plan: layout.Layout, facilities: gpd.GeoDataFrame, nanchong: regions.Region, tags: pd.DataFrame
) -> None:
    care = facilities.index[facilities["kind"].isin(["nursing_home", "day_care"])]
    rng = np.random.default_rng(11)
    near = rng.random(len(care)) < 0.7  # within the threshold of the partner rule
    green = rng.random(len(care)) < 0.3  # within the threshold of the green channel
    half = care[: len(care) // 2]  # only these are under the green channel
    pairings = pd.concat(
        [
            pd.DataFrame(
                {
                    "rule": "health_partner",
                    "facility_id": care,
                    "rank": 1,
                    "within_threshold": near,
                    "assigned": True,
                }
            ),
            # an unassigned rank-1 row within the threshold (its partner full) must not count;
            # the facility's assigned row is rank 2, beyond the threshold
            pd.DataFrame(
                {
                    "rule": "green_channel",
                    "facility_id": half,
                    "rank": 1,
                    "within_threshold": True,
                    "assigned": False,
                }
            ),
            pd.DataFrame(
                {
                    "rule": "green_channel",
                    "facility_id": half,
                    "rank": 2,
                    "within_threshold": green[: len(half)],
                    "assigned": True,
                }
            ),
        ]
    )
    gaps = pd.DataFrame(
        {
            "rule": ["health_partner"] * int((~near).sum()) + ["green_channel"] * 2,
            "facility_id": [*care[~near], half[0], half[0]],  # one facility with two gaps
        }
    )
    table = layout.summary(plan, facilities, nanchong, pairings=pairings, gaps=gaps)
    partner = pd.Series(near, index=care)
    channel = pd.Series(green[: len(half)], index=half)
    every = partner & channel.reindex(care, fill_value=True)
    cols = list(table.columns)
    assert cols[cols.index("share_paired_within_threshold") + 1 :][:4] == [
        "n_in_pairings_health_partner",
        "share_within_threshold_health_partner",
        "n_in_pairings_green_channel",
        "share_within_threshold_green_channel",
    ]
    assert cols[-3:] == ["gaps", "gaps_health_partner", "gaps_green_channel"]
    checked = 0
    for element_id in plan.elements["element_id"]:
        ids = tags.loc[tags["element_id"] == element_id, "facility_id"]
        mine, mine_half = ids[ids.isin(care)], ids[ids.isin(half)]
        row = table.loc[element_id]
        assert row["n_in_pairings"] == len(mine)
        assert row["n_in_pairings_green_channel"] == len(mine_half)
        if len(mine):
            assert row["share_within_threshold_health_partner"] == pytest.approx(
                partner.loc[mine].mean(), abs=1e-4
            )
            # a facility counts in the overall share only when every rule holds
            assert row["share_paired_within_threshold"] == pytest.approx(
                every.loc[mine].mean(), abs=1e-4
            )
            checked += 1
        if len(mine_half):
            assert row["share_within_threshold_green_channel"] == pytest.approx(
                channel.loc[mine_half].mean(), abs=1e-4
            )
        else:
            assert np.isnan(row["share_within_threshold_green_channel"])
        assert row["gaps_health_partner"] == int((~partner.loc[mine]).sum())
        assert row["gaps_green_channel"] == int(half[0] in set(mine))
        gap_ids = set(care[~near]) | {half[0]}
        assert row["gaps"] == sum(1 for i in mine if i in gap_ids)  # each facility once
    assert checked > 3
    core = table.loc["core"]
    assert core["share_paired_within_threshold"] < core["share_within_threshold_health_partner"]


def test_summary_checks_its_inputs(
    plan: layout.Layout, facilities: gpd.GeoDataFrame, xuanhan: regions.Region
) -> None:
    with pytest.raises(ValueError, match=r"pairings lacks column.*'within_threshold'"):
        layout.summary(plan, facilities, pairings=pd.DataFrame({"facility_id": [], "rank": []}))
    with pytest.raises(ValueError, match=r"gaps lacks column.*'facility_id'"):
        layout.summary(plan, facilities, gaps=pd.DataFrame({"id": []}))
    with pytest.raises(ValueError, match=r"facilities lacks column.*'beds'"):
        layout.summary(plan, facilities.drop(columns=["beds"]))
    with pytest.raises(ValueError, match="not the layout's region"):
        layout.summary(plan, facilities, xuanhan)
