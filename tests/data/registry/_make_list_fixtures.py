"""Write the facility-list fixtures of tests/test_registry_lists.py (run once; files committed).

    .venv/bin/python tests/data/registry/_make_list_fixtures.py

The files are shaped like the lists planners get from 民政 and 卫健 offices and web maps: a
Shanghai list of elderly-care institutions whose ``type`` column holds operation modes
(公建公营/公建民营/民建民营) and nine of whose addresses a geocoder put on the city centre, a
list of community health centres without a kind column, hospital levels written in names and
types, a CSV with an unclosed quote, Big5, Shift-JIS and UTF-16 ("Unicode 文本") files, numbers
no facility has, a header without rows, and WGS84 points declared GCJ-02.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: The point a geocoder returns for "上海市" (People's Square), GCJ-02.
SHANGHAI_CENTRE = ("121.473667", "31.230525")

SH_HEADER = ["id", "district", "street", "name", "beds", "since", "address", "phone", "zipcode"]
SH_HEADER += ["type", "legal_person", "lng", "lat"]
#: id, district, street, name, beds, since, address, phone, zipcode, type, legal person and
#: the point (empty: the geocoder's city centre)
SH_TABLE = """
26|宝山区|庙行镇|上海市宝山区庙行镇敬老院|140|2012-12-10|上海市宝山区场北路|56661706|200443|公建公营|冯某|
130|虹口区|凉城新村街道|上海市虹口区彩虹湾老年福利院|860|2019-02-03|上海市虹口区广粤路|31106997|200434|公建民营|徐某|
155|黄浦区|南京东路街道|上海市黄浦区爱以德养老院|412|2020-06-16|上海市广东路495号|63335890|200001|民建民营|李某|121.481664,31.232029
258|闵行区|马桥镇|上海市闵行区马桥镇敬老院|394|1984-05-01|上海市闵行区元松路|54842967|201111|公建公营|叶某|
325|浦东新区|航头镇|上海市浦东新区航头镇鹤祥颐养院|200|2022-11-10|上海市浦东新区南航路|15821233872||公建民营|朱某|
362|浦东新区|康桥镇|上海亲和源颐养院|200|2009-03-10|上海市浦东新区宁怡路|38256162|201319|民建民营|沈某|
459|普陀区|长寿路街道|上海市普陀区望年荟养老院|226|2018-11-19|上海市普陀区镇坪路|67337337|200063|民建民营|朱某|
563|杨浦区|控江路街道|上海市杨浦区快乐靖宇养老院|133|2019-04-11|上海市杨浦区控江路|18917181778|200093|民建民营|王某|
583|杨浦区|延吉新村街道|上海市杨浦区康源养老院|185|2017-07-25|上海市杨浦区控江七村|65507766|200093|民建民营|郑某|
598|杨浦区|长白新村街道|上海市杨浦区沁园春敬老院|50|2005-05-01|上海市杨浦区长白路|55823042|200093|民建民营|丁某|
611|静安区|南京西路街道|上海市静安区南京西路街道长者照护之家|30|2016-08-01|上海市静安区威海路|62171234|200041|公建民营|陈某|121.459213,31.229120
640|长宁区|华阳路街道|上海市长宁区华阳社区养老院|98|2003-10-01|上海市长宁区安西路|62521234|200050|公办民营|吴某|121.428740,31.218650
"""

#: Community health centres of Huangpu and Jing'an (names, addresses, GCJ-02 points).
CHC_ROWS = [
    ["1", "黄浦", "南京东路街道社区卫生服务中心", "上海市成都北路290号", "121.467433", "31.228922"],
    ["2", "黄浦", "外滩街道社区卫生服务中心", "上海市宁波路321号", "121.481065", "31.23835"],
    ["3", "黄浦", "瑞金二路街道社区卫生服务中心", "上海市瑞金二路197号", "121.466915", "31.210236"],
    [
        "38",
        "静安",
        "南京西路街道社区卫生服务中心",
        "上海市成都北路165号",
        "121.466956",
        "31.226462",
    ],
    ["39", "静安", "江宁路街道社区卫生服务中心", "上海市西康路715号", "121.443806", "31.241466"],
]

#: True (WGS84) points in Shunqing district, Nanchong.
SHUNQING = [
    ("106.070247", "30.799903"),
    ("106.090434", "30.802379"),
    ("106.082727", "30.783272"),
    ("106.104331", "30.819356"),
    ("106.068539", "30.796849"),
    ("106.069708", "30.820046"),
]


def text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def write(name: str, rows: list[list[str]], encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(text(rows).encode(encoding))


def shanghai(type_header: str) -> list[list[str]]:
    rows = [[*SH_HEADER[:9], type_header, *SH_HEADER[10:]]]
    for line in SH_TABLE.strip().splitlines():
        *cells, point = line.split("|")
        rows.append([*cells, *(point.split(",") if point else SHANGHAI_CENTRE)])
    return rows


def main() -> None:
    # 民政 list: the operation modes in a `type` column (read as the kind), and with 运营方式
    write("sh_elderly_type.csv", shanghai("type"), encoding="utf-8-sig")
    write("sh_elderly_operation.csv", shanghai("运营方式"), encoding="utf-8-sig")

    # 卫健 list of community health centres: names, separate lng/lat, no kind column
    write("sh_chc_no_kind.csv", [["id", "district", "name", "address", "lng", "lat"], *CHC_ROWS])

    # no kind column: a name matching two kinds and one matching none are listed
    write(
        "no_kind_unmatched.csv",
        [
            ["名称", "经度", "纬度", "坐标系"],
            ["潆溪镇敬老院", *SHUNQING[0], "wgs84"],
            ["龙门镇卫生院敬老院", *SHUNQING[1], "wgs84"],
            ["好又多超市", *SHUNQING[2], "wgs84"],
            ["胜观村卫生室", *SHUNQING[3], "wgs84"],
        ],
    )
    # a kind column left empty
    write(
        "empty_kind_column.csv",
        [
            ["名称", "类型", "经度", "纬度", "坐标系"],
            ["潆溪镇敬老院", "", *SHUNQING[0], "wgs84"],
            ["潆溪镇中心卫生院", "", *SHUNQING[1], "wgs84"],
            ["和平路日间照料中心", " ", *SHUNQING[2], "wgs84"],
        ],
    )

    # ownership column holding operation modes, an operation column, and values neither knows
    write(
        "ownership_operation.csv",
        [
            ["名称", "类型", "经度", "纬度", "坐标系", "性质", "运营方式"],
            ["中城街道敬老院", "敬老院", *SHUNQING[0], "wgs84", "公建民营", ""],
            ["北城街道养老院", "养老院", *SHUNQING[1], "wgs84", "", "民建民营"],
            ["东南街道敬老院", "敬老院", *SHUNQING[2], "wgs84", "公办", "公办民营"],
            ["舞凤街道养老院", "养老院", *SHUNQING[3], "wgs84", "民办", "公建公营"],
            ["新建街道敬老院", "敬老院", *SHUNQING[4], "wgs84", "半公办", ""],
            ["华凤街道养老院", "养老院", *SHUNQING[5], "wgs84", "", "委托管理"],
        ],
    )

    # hospital levels in the level column, in names and in the kind cell
    write(
        "hospital_levels.csv",
        [
            ["名称", "类型", "经度", "纬度", "坐标系", "医院等级"],
            ["南充市中心医院（三级甲等）", "医院", *SHUNQING[0], "wgs84", ""],
            ["南充市第二人民医院", "三级甲等医院", *SHUNQING[1], "wgs84", ""],
            ["顺庆区人民医院", "医院", *SHUNQING[2], "wgs84", "二级乙等"],
            ["顺庆区中医医院", "医院", *SHUNQING[3], "wgs84", "二甲"],
            ["华凤镇中心卫生院（一级甲等）", "卫生院", *SHUNQING[4], "wgs84", ""],
            ["三甲镇卫生院", "卫生院", *SHUNQING[5], "wgs84", ""],
        ],
    )

    # an unclosed quote in the free-text last column of row 6 (the fifth facility)
    rows = [["名称", "类型", "经度", "纬度", "坐标系", "床位数", "备注"]]
    for k in range(20):
        x, y = SHUNQING[k % len(SHUNQING)]
        note = "五保集中供养" if k % 3 == 0 else ""
        rows.append([f"第{k + 1}敬老院", "敬老院", f"{x}{k:02d}", y, "wgs84", str(20 + k), note])
    body = text(rows).split("\r\n")
    body[5] = body[5] + '"集中供养,院长说“床位紧张'  # the quote opened here is never closed
    (HERE / "broken_quote.csv").write_bytes("\r\n".join(body).encode("utf-8"))

    # encodings: Big5 (traditional, Taiwan Excel), Shift-JIS (Japanese Excel), UTF-16 with a
    # BOM and tabs (Excel's "Unicode 文本")
    write(
        "big5.csv",
        [
            ["名稱", "類型", "經度", "緯度", "坐標系", "備註"],
            ["臺北市私立松柏敬老院", "敬老院", "121.5173", "25.0478", "wgs84", "長期照顧"],
            ["臺北市立聯合醫院仁愛院區", "醫院", "121.5453", "25.0375", "wgs84", "急診"],
            ["新北市私立康寧養老院", "養老院", "121.4657", "25.0120", "wgs84", ""],
        ],
        encoding="cp950",
    )
    write(
        "shift_jis.csv",
        [
            ["name", "kind", "lon", "lat", "crs", "note"],
            [
                "特別養護老人ホーム青葉苑",
                "nursing_home",
                "139.6917",
                "35.6895",
                "wgs84",
                "定員八十名",
            ],
            ["東京都立広尾病院", "hospital", "139.7170", "35.6490", "wgs84", "救急指定"],
        ],
        encoding="cp932",
    )
    utf16 = text(
        [
            ["名称", "类型", "经度", "纬度", "坐标系", "床位数"],
            ["潆溪镇敬老院", "敬老院", *SHUNQING[0], "wgs84", "45"],
            ["潆溪镇中心卫生院", "卫生院", *SHUNQING[1], "wgs84", "30"],
        ],
        delimiter="\t",
    )
    (HERE / "unicode_text.txt").write_bytes(b"\xff\xfe" + utf16.encode("utf-16-le"))
    (HERE / "latin1.csv").write_bytes(
        "name,kind,lon,lat,crs\nMaison de retraite Café,nursing_home,2.35,48.85,wgs84\n".encode(
            "latin-1"
        )
    )

    # numbers: beds no facility has, integers beyond 64 bits, a longitude of 1e30
    write(
        "huge_numbers.csv",
        [
            ["名称", "类型", "经度", "纬度", "坐标系", "床位数", "容量", "电话"],
            ["甲敬老院", "敬老院", *SHUNQING[0], "wgs84", "1e30", "", "08172222001"],
            ["乙敬老院", "敬老院", *SHUNQING[1], "wgs84", "9223372036854775808", "", ""],
            ["丙敬老院", "敬老院", *SHUNQING[2], "wgs84", "1000000000000000", "", ""],
            ["丁敬老院", "敬老院", *SHUNQING[3], "wgs84", "60", "18446744073709551616", ""],
            ["戊敬老院", "敬老院", "1e30", SHUNQING[4][1], "wgs84", "60", "", ""],
            ["己敬老院", "敬老院", *SHUNQING[5], "wgs84", "60", "120", ""],
        ],
    )

    # a header and nothing else
    write("header_only.csv", [["名称", "类型", "经度", "纬度", "坐标系"]])

    # WGS84 points (GPS, ~50-150 m from the WGS84 positions of rural township seats of 南部县)
    # declared GCJ-02
    seats_wgs = [
        (106.012639, 31.394321),
        (106.129321, 31.389165),
        (106.171102, 31.383359),
        (106.131358, 31.339709),
        (106.104672, 31.292545),
    ]
    shifts = [
        (0.0005, 0.0003),
        (-0.0008, 0.0004),
        (0.0006, -0.0009),
        (-0.0004, -0.0005),
        (0.001, 0),
    ]
    names = ["老鸦镇敬老院", "永定镇敬老院", "碑院镇卫生院", "谢河镇卫生院", "盘龙镇敬老院"]
    kinds = ["敬老院", "敬老院", "卫生院", "卫生院", "敬老院"]
    rows = [["名称", "类型", "经度", "纬度", "坐标系"]]
    for (x, y), (dx, dy), name, kind in zip(seats_wgs, shifts, names, kinds, strict=True):
        rows.append([name, kind, f"{x + dx:.6f}", f"{y + dy:.6f}", "gcj02"])
    write("wgs_declared_gcj.csv", rows)


if __name__ == "__main__":
    main()
