"""Write the registry test files of this folder (run once; the files are committed).

    .venv/bin/python tests/data/registry/_make_fixtures.py

The files are what planners send: CSV in UTF-8 and in GBK (Chinese Excel), an Excel workbook
with a title row, GeoJSON, GeoPackage and web-map POI exports (Amap, Baidu), plus one bad file
per validation rule. Coordinates are real places in Nanchong; GCJ-02/BD-09 values are made
from WGS84 with siting.crs so that the tests can check the conversion back.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import geopandas as gpd
import openpyxl
import pyogrio
from shapely.geometry import Point

from siting import crs

HERE = Path(__file__).resolve().parent

#: True (WGS84) points in Shunqing district, Nanchong.
WGS = [
    (106.070247, 30.799903),
    (106.090434, 30.802379),
    (106.082727, 30.783272),
    (106.104331, 30.819356),
    (106.068539, 30.796849),
    (106.069708, 30.820046),
]


def gcj(lon: float, lat: float) -> tuple[float, float]:
    x, y = crs.wgs84_to_gcj02(lon, lat)
    return round(float(x), 6), round(float(y), 6)


def bd(lon: float, lat: float) -> tuple[float, float]:
    x, y = crs.wgs84_to_bd09(lon, lat)
    return round(float(x), 6), round(float(y), 6)


def write_csv(name: str, rows: list[list[object]], *, encoding: str = "utf-8") -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    (HERE / name).write_bytes(buffer.getvalue().encode(encoding))


def main() -> None:
    # --- good files ------------------------------------------------------------------------------
    header = ["序号", "机构编号", "机构名称", "机构类型", "经度", "纬度", "坐标系", "床位数（张）"]
    header += ["性质", "医院等级", "地址", "区县代码", "乡镇街道代码", "备注", "联系电话"]
    g = [gcj(*p) for p in WGS]
    write_csv(
        "good_utf8.csv",
        [
            header,
            [
                "1",
                "SQ-001",
                "中城街道敬老院",
                "敬老院",
                *g[0],
                "高德",
                "60",
                "公办",
                "",
                "中城街道",
                "511302",
                "511302001",
                "",
                "0817-2222001",
            ],
            [
                "2",
                "",
                "北城街道社区养老服务综合体",
                "社区养老服务综合体",
                *g[1],
                "gcj02",
                "",
                "公办",
                "",
                "",
                "511302",
                "",
                "新建",
                "0817-2222002",
            ],
            [],
            [
                "3",
                "",
                "东南街道日间照料中心",
                "日间照料中心",
                *g[2],
                "GCJ-02",
                "",
                "民办",
                "",
                "",
                "511302",
                "",
                "",
                "",
            ],
            [
                "4",
                "SQ-004",
                "南充市顺庆区人民医院",
                "医院",
                *g[3],
                "gcj02",
                "500",
                "公立",
                "三级甲等",
                "",
                "511302",
                "",
                "医养结合签约",
                "0817-2222004",
            ],
            [
                "5",
                "",
                "新建街道社区卫生服务中心",
                "社区卫生服务中心",
                *g[4],
                "gcj02",
                "20",
                "",
                "一级",
                "",
                "511302",
                "511302006",
                "",
                "",
            ],
            ["6", "", "华凤村卫生室", "村卫生室", *g[5], "gcj02", "", "", "", "", "", "", "", ""],
        ],
    )
    write_csv(
        "good_gbk.csv",
        [
            ["序号", "名称", "类型", "经度", "纬度", "床位数", "公办/民办", "地址", "备注"],
            ["1", "潆溪镇敬老院", "敬老院", *g[0], "45", "公办", "潆溪镇正街12号", "五保集中供养"],
            ["2", "潆溪镇中心卫生院", "中心卫生院", *g[1], "30", "公办", "潆溪镇新街", ""],
            ["3", "胜观村卫生室", "村卫生室", *g[2], "", "", "", "乡村医生2名"],
        ],
        encoding="gbk",
    )
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "养老机构"
    ws.append(["顺庆区养老机构名单（2024年）"])
    ws.merge_cells("A1:H1")
    ws.append(
        [
            "名称",
            "类型",
            "经度",
            "纬度",
            "床位数",
            "公办民办",
            "区县代码",
            "开业年份",
            "评分",
            "医养结合",
            "登记日期",
        ]
    )
    ws.append(
        [
            "舞凤街道敬老院",
            "养老院",
            *WGS[0],
            80,
            "公办",
            511302,
            2012,
            4.5,
            True,
            dt.datetime(2012, 5, 1),
        ]
    )
    ws.append(
        [
            "和平路日间照料中心",
            "日照中心",
            *WGS[1],
            None,
            "民办",
            511302,
            2019,
            4.0,
            False,
            dt.datetime(2019, 9, 12),
        ]
    )
    ws.append(["搬罾农村幸福院", "农村幸福院", *WGS[2], 12, None, 511302, None, None, None, None])
    other = book.create_sheet("说明")
    other.append(["本表由民政局提供"])
    book.save(HERE / "good.xlsx")

    features = [
        {
            "type": "Feature",
            "properties": {
                "name": "嘉陵区医养结合中心",
                "kind": "医养结合机构",
                "beds": 120,
                "ownership": "private",
                "联系人": "王主任",
            },
            "geometry": {"type": "Point", "coordinates": list(WGS[0])},
        },
        {
            "type": "Feature",
            "properties": {
                "name": "李渡镇卫生院",
                "kind": "health_center",
                "beds": None,
                "ownership": "public",
                "联系人": None,
            },
            "geometry": {"type": "Point", "coordinates": list(WGS[1])},
        },
    ]
    (HERE / "good.geojson").write_text(
        json.dumps(
            {"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1
        ),
        encoding="utf-8",
    )
    gpkg = gpd.GeoDataFrame(
        {
            "名称": ["河西乡敬老院", "河西乡卫生院", "大林村卫生室"],
            "类型": ["敬老院", "乡镇卫生院", "村卫生室"],
            "床位数": [40, 25, 0],
            "管理员": ["张三", "李四", None],
        },
        geometry=[Point(*WGS[3]), Point(*WGS[4]), Point(*WGS[5])],
        crs="EPSG:4326",
    )
    (HERE / "good.gpkg").unlink(missing_ok=True)
    pyogrio.write_dataframe(gpkg, HERE / "good.gpkg", layer="points", driver="GPKG")

    true = WGS[0]
    write_csv(
        "mixed_crs.csv",
        [
            ["name", "kind", "lon", "lat", "crs"],
            ["甲敬老院", "nursing_home", *true, "wgs84"],
            ["乙敬老院", "nursing_home", *gcj(*true), "gcj02"],
            ["丙敬老院", "nursing_home", *bd(*true), "bd09"],
            ["丁敬老院", "nursing_home", *bd(*WGS[1]), "百度"],
            ["戊敬老院", "nursing_home", *gcj(*WGS[2]), ""],
        ],
    )

    amap_header = [
        "id",
        "name",
        "type",
        "typecode",
        "address",
        "location",
        "tel",
        "pname",
        "cityname",
        "adname",
        "adcode",
    ]
    amap = [
        [
            "B0FFG00001",
            "南充市顺庆区人民医院",
            "医疗保健服务;综合医院;三级甲等医院",
            "090101",
            "人民中路",
            g[0],
            "0817-2222004",
            "四川省",
            "南充市",
            "顺庆区",
            "511302",
        ],
        [
            "B0FFG00002",
            "搬罾街道社区卫生服务中心",
            "医疗保健服务;综合医院;综合医院",
            "090100",
            "搬罾街",
            g[1],
            "",
            "四川省",
            "南充市",
            "顺庆区",
            "511302",
        ],
        [
            "B0FFG00003",
            "潆溪镇卫生院",
            "医疗保健服务;综合医院;卫生院",
            "090102",
            "潆溪镇",
            g[2],
            "",
            "四川省",
            "南充市",
            "顺庆区",
            "511302",
        ],
        [
            "B0FFG00004",
            "顺庆区阳光敬老院",
            "生活服务;生活服务场所;生活服务场所",
            "070000",
            "",
            g[3],
            "",
            "四川省",
            "南充市",
            "顺庆区",
            "511302",
        ],
        [
            "B0FFG00005",
            "共兴镇白马村卫生室",
            "医疗保健服务;诊所;诊所",
            "090600",
            "",
            g[4],
            "",
            "四川省",
            "南充市",
            "顺庆区",
            "511302",
        ],
        [
            "B0FFG00006",
            "康乐老年服务站",
            "生活服务;养老院;养老院",
            "071500",
            "",
            g[5],
            "",
            "四川省",
            "南充市",
            "顺庆区",
            "511302",
        ],
    ]
    write_csv(
        "poi_amap.csv", [amap_header] + [[*r[:5], f"{r[5][0]},{r[5][1]}", *r[6:]] for r in amap]
    )

    b = [bd(*p) for p in WGS[:3]]
    write_csv(
        "poi_baidu.csv",
        [
            ["name", "address", "uid", "location", "tag"],
            [
                "嘉陵区人民医院",
                "嘉陵大道",
                "a1b2c3d4e5f6a7b8c9d0e1f2",
                f"{b[0][0]},{b[0][1]}",
                "医疗;综合医院",
            ],
            [
                "火花街道社区养老服务综合体",
                "火花街道",
                "b1b2c3d4e5f6a7b8c9d0e1f2",
                f"{b[1][0]},{b[1][1]}",
                "生活服务;养老",
            ],
            [
                "龙蟠镇中心卫生院",
                "龙蟠镇",
                "c1b2c3d4e5f6a7b8c9d0e1f2",
                f"{b[2][0]},{b[2][1]}",
                "医疗;其他",
            ],
        ],
    )
    write_csv(
        "poi_ambiguous.csv",
        [
            amap_header,
            [
                "B0FFH00001",
                "某镇卫生院敬老院",
                "",
                "",
                "",
                f"{g[0][0]},{g[0][1]}",
                "",
                "四川省",
                "南充市",
                "顺庆区",
                "511302",
            ],
            [
                "B0FFH00002",
                "好又多超市(顺庆店)",
                "购物服务;超级市场;超市",
                "060400",
                "",
                f"{g[1][0]},{g[1][1]}",
                "",
                "四川省",
                "南充市",
                "顺庆区",
                "511302",
            ],
            [
                "B0FFH00003",
                "芦溪镇卫生院",
                "医疗保健服务;综合医院;卫生院",
                "090102",
                "",
                f"{g[2][0]},{g[2][1]}",
                "",
                "四川省",
                "南充市",
                "顺庆区",
                "511302",
            ],
        ],
    )
    write_csv(
        "bad_poi_undeclared.csv",
        [
            ["名称", "地址", "location", "电话"],
            ["龙门镇卫生院", "龙门镇", f"{g[0][0]},{g[0][1]}", ""],
            ["龙门镇敬老院", "龙门镇", f"{g[1][0]},{g[1][1]}", ""],
        ],
    )

    # Points ~50-150 m from the GCJ-02 positions of rural township seats of 南部县.
    seats_gcj = [
        (106.016508, 31.392167),
        (106.13336, 31.387139),
        (106.175068, 31.381263),
        (106.135391, 31.337665),
        (106.108722, 31.290506),
    ]
    shifts = [
        (0.0005, 0.0003),
        (-0.0008, 0.0004),
        (0.0006, -0.0009),
        (-0.0004, -0.0005),
        (0.001, 0.0),
    ]
    near = [
        (round(x + dx, 6), round(y + dy, 6))
        for (x, y), (dx, dy) in zip(seats_gcj, shifts, strict=True)
    ]
    names = ["老鸦镇敬老院", "永定镇敬老院", "碑院镇卫生院", "谢河镇卫生院", "盘龙镇敬老院"]
    kinds = ["nursing_home", "nursing_home", "health_center", "health_center", "nursing_home"]
    write_csv(
        "gcj_undeclared.csv",
        [["name", "kind", "lon", "lat"]]
        + [[n, k, *p] for n, k, p in zip(names, kinds, near, strict=True)],
    )
    feats = [
        {
            "type": "Feature",
            "properties": {"name": n, "kind": k},
            "geometry": {"type": "Point", "coordinates": list(p)},
        }
        for n, k, p in zip(names, kinds, near, strict=True)
    ]
    (HERE / "gcj_points.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )

    # --- bad files: one rule each ---------------------------------------------------------------
    write_csv(
        "bad_missing_columns.csv",
        [["名称", "地址", "电话"], ["中城街道敬老院", "中城街道", "0817-1"]],
    )
    write_csv(
        "bad_unknown_kind.csv",
        [
            ["name", "kind", "lon", "lat", "crs"],
            ["甲敬老院", "敬老院", *WGS[0], "wgs84"],
            ["乙养殖场", "养鸡场", *WGS[1], "wgs84"],
        ],
    )
    write_csv(
        "bad_duplicate_id.csv",
        [
            ["id", "name", "kind", "lon", "lat", "crs"],
            ["NH-1", "甲敬老院", "nursing_home", *WGS[0], "wgs84"],
            ["NH-2", "乙敬老院", "nursing_home", *WGS[1], "wgs84"],
            ["NH-1", "丙敬老院", "nursing_home", *WGS[2], "wgs84"],
        ],
    )
    write_csv(
        "bad_coords.csv",
        [
            ["name", "kind", "lon", "lat", "crs"],
            ["甲敬老院", "nursing_home", "106,08", WGS[0][1], "wgs84"],
            ["乙敬老院", "nursing_home", WGS[1][0], "abc", "wgs84"],
            ["丙敬老院", "nursing_home", "", WGS[2][1], "wgs84"],
            ["丁敬老院", "nursing_home", *WGS[3], "wgs84"],
        ],
    )
    write_csv(
        "bad_swapped.csv",
        [
            ["name", "kind", "lon", "lat", "crs"],
            ["甲敬老院", "nursing_home", *WGS[0], "wgs84"],
            ["乙敬老院", "nursing_home", WGS[1][1], WGS[1][0], "wgs84"],
            ["丙敬老院", "nursing_home", 45.0, 80.0, "wgs84"],
        ],
    )
    write_csv(
        "bad_outside.csv",
        [
            ["name", "kind", "lon", "lat", "crs"],
            ["甲敬老院", "nursing_home", *WGS[0], "wgs84"],
            ["成都某敬老院", "nursing_home", 104.06, 30.67, "wgs84"],
            ["边界外两公里敬老院", "nursing_home", 106.2207, 30.85, "wgs84"],
        ],
    )
    write_csv(
        "bad_beds.csv",
        [
            ["name", "kind", "lon", "lat", "crs", "beds", "capacity"],
            ["甲敬老院", "nursing_home", *WGS[0], "wgs84", "-5", "10"],
            ["乙敬老院", "nursing_home", *WGS[1], "wgs84", "12.5", ""],
            ["丙敬老院", "nursing_home", *WGS[2], "wgs84", "三十", "-1"],
            ["丁敬老院", "nursing_home", *WGS[3], "wgs84", "30.0", "40"],
        ],
    )
    write_csv(
        "bad_undeclared.csv",
        [
            ["名称", "类型", "经度", "纬度"],
            ["甲敬老院", "敬老院", *g[0]],
            ["乙卫生院", "卫生院", *g[1]],
        ],
    )
    write_csv(
        "bad_crs_value.csv",
        [
            ["name", "kind", "lon", "lat", "坐标系"],
            ["甲敬老院", "nursing_home", *WGS[0], "utm50"],
            ["乙敬老院", "nursing_home", *g[1], "gcj02"],
        ],
    )
    write_csv(
        "bad_ownership_level.csv",
        [
            ["name", "kind", "lon", "lat", "crs", "ownership", "level"],
            ["甲敬老院", "nursing_home", *WGS[0], "wgs84", "半公办", ""],
            ["乙医院", "hospital", *WGS[1], "wgs84", "公办", "四级"],
        ],
    )
    write_csv(
        "bad_empty_name.csv",
        [
            ["name", "kind", "lon", "lat", "crs"],
            ["甲敬老院", "nursing_home", *WGS[0], "wgs84"],
            ["  ", "nursing_home", *WGS[1], "wgs84"],
        ],
    )
    write_csv(
        "bad_many.csv",
        [
            ["编号", "名称", "类型", "经度", "纬度", "坐标系", "床位数"],
            ["A1", "甲养殖场", "养鸡场", *WGS[0], "wgs84", "10"],
            ["A2", "乙敬老院", "敬老院", WGS[1][0], "30.8x", "wgs84", "10"],
            [],
            ["A3", "丙敬老院", "敬老院", *WGS[2], "wgs84", "10"],
            ["A3", "丁敬老院", "敬老院", *WGS[3], "wgs84", "-3"],
            ["A5", "", "敬老院", *WGS[4], "wgs84", ""],
        ],
    )


if __name__ == "__main__":
    main()
