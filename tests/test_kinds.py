"""The kind vocabulary's service tiers and the 社区卫生服务站 kind (siting/data/kinds.yaml)."""

from __future__ import annotations

import copy

import pytest

from siting import kinds
from siting._errors import DataError


def test_tiers_are_the_contract() -> None:
    assert kinds.TIERS == {
        "village": ("village_clinic", "community_health_station"),
        "township": ("health_center", "community_health_center"),
        "hospital": ("hospital",),
    }
    assert kinds.TIER_ZH == {
        "village": "村级（村卫生室/社区卫生服务站）",
        "township": "乡镇级（卫生院/社区卫生服务中心）",
        "hospital": "医院",
    }
    assert list(kinds.TIERS) == ["village", "township", "hospital"]  # nearest care first


def test_tier_of_every_kind() -> None:
    for tier, members in kinds.TIERS.items():
        for kind in members:
            assert kinds.tier_of(kind) == tier
    # every medical-only kind has a tier; elderly-care and integrated kinds have none
    assert {k for k in kinds.KINDS if kinds.tier_of(k) is not None} == set(kinds.CLINIC_KINDS)
    assert kinds.tier_of("integrated_care") is None
    assert kinds.tier_of("nursing_home") is None
    with pytest.raises(ValueError, match="unknown kind 'clinic'"):
        kinds.tier_of("clinic")


def test_community_health_station_kind() -> None:
    info = kinds.KINDS["community_health_station"]
    assert (info.zh, info.category, info.id_code) == ("社区卫生服务站", "medical", "CHS")
    assert "community_health_station" in kinds.MEDICAL_KINDS
    assert "community_health_station" in kinds.CLINIC_KINDS
    assert "community_health_station" not in kinds.ELDERLY_CARE_KINDS
    # the aliases of the contract, and the 站 is no longer read as a 中心
    for alias in ("社区卫生服务站", "卫生服务站", "community health station"):
        assert kinds.KIND_LOOKUP[kinds._norm_value(alias)] == "community_health_station"
    assert kinds.KIND_LOOKUP[kinds._norm_value("社区卫生服务中心")] == "community_health_center"
    assert kinds.infer_kind("东城街道西街社区卫生服务站") == ["community_health_station"]
    assert kinds.infer_kind("东城街道社区卫生服务中心") == ["community_health_center"]
    assert kinds.infer_kind("江家坝村卫生室") == ["village_clinic"]
    assert kinds.kind_label("community_health_station", "both") == (
        "社区卫生服务站 community health station"
    )


def _table_with(**tiers: object) -> dict[str, object]:
    table = copy.deepcopy(kinds.KINDS_TABLE)
    table["tiers"] = tiers
    return table


def test_bad_tier_tables_are_refused() -> None:
    load = kinds._load_tiers
    good = kinds.KINDS_TABLE["tiers"]
    assert load(_table_with(**good), kinds.KINDS)["village"][1] == kinds.TIERS["village"]
    with pytest.raises(DataError, match=r"`tiers`.*missing"):
        load({"kinds": {}}, kinds.KINDS)
    with pytest.raises(DataError, match="unknown kind 'clinic'"):
        load(_table_with(village={"zh": "村级", "kinds": ["clinic"]}), kinds.KINDS)
    with pytest.raises(DataError, match="'nursing_home', which is not a medical kind"):
        load(_table_with(village={"zh": "村级", "kinds": ["nursing_home"]}), kinds.KINDS)
    with pytest.raises(DataError, match="in both tiers 'a' and 'b'"):
        load(
            _table_with(a={"zh": "a", "kinds": ["hospital"]}, b={"zh": "b", "kinds": ["hospital"]}),
            kinds.KINDS,
        )
    with pytest.raises(DataError, match="tier 'a' needs `zh`"):
        load(_table_with(a={"kinds": ["hospital"]}), kinds.KINDS)
