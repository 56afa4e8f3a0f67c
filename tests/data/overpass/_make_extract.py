"""Write ``roads.osm.bz2``, the real OpenStreetMap extract the fake Overpass server of
``tests/test_osm_fetch.py`` serves (run once; the file is committed).

    .venv/bin/python tests/data/overpass/_make_extract.py

The source is ``test.osm.pbf``, the extract that pyrosm ships inside its wheel
(``pyrosm.get_data("test_pbf")``, nothing downloaded): about 2 x 2 km of Huruksela, Kouvola,
Finland (26.93-26.97 E, 60.52-60.54 N), with a motorway, its one-way links and village roads.
Every way with a ``highway`` tag is kept with all its tags, and every node it uses with the
node's tags, as Overpass would return them. The pbf was clipped to a box, so 55 ways lose their
end nodes outside it (never an interior node); they are cut at the box, and the 12 left with fewer
than two nodes are dropped, since Overpass never returns a way without its nodes.

Data © OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright).
"""

from __future__ import annotations

import bz2
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pyrosm

HERE = Path(__file__).resolve().parent
OUT = HERE / "roads.osm.bz2"


def main() -> None:
    osm = pyrosm.OSM(pyrosm.get_data("test_pbf"))
    osm._read_pbf()  # pyrosm's reader keeps node ids of ways only internally
    nodes = osm._nodes
    ids = np.asarray(nodes["id"]).tolist()
    row_of = {node_id: i for i, node_id in enumerate(ids)}
    ways = []
    for record in osm._way_records.records():
        if "highway" not in record:
            continue
        refs = [r for r in record["nodes"] if r in row_of]
        if len(refs) < 2:
            continue
        skip = {"id", "version", "timestamp", "visible", "nodes", "changeset"}
        tags = {k: str(v) for k, v in record.items() if k not in skip and v is not None}
        ways.append((int(record["id"]), refs, tags))
    used = sorted({r for _, refs, _ in ways for r in refs})
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="siting">']
    lines.append(
        " <note>Data © OpenStreetMap contributors, ODbL 1.0; from pyrosm test.osm.pbf</note>"
    )
    lon, lat = np.asarray(nodes["lon"]), np.asarray(nodes["lat"])
    for node_id in used:
        row = row_of[node_id]
        tags = nodes["tags"][row] or {}
        head = f' <node id="{node_id}" lat="{lat[row]:.7f}" lon="{lon[row]:.7f}"'
        if not tags:
            lines.append(head + "/>")
            continue
        lines.append(head + ">")
        lines += [f"  <tag k={quoteattr(k)} v={quoteattr(str(v))}/>" for k, v in tags.items()]
        lines.append(" </node>")
    for way_id, refs, tags in sorted(ways):
        lines.append(f' <way id="{way_id}">')
        lines += [f'  <nd ref="{r}"/>' for r in refs]
        lines += [f"  <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        lines.append(" </way>")
    lines.append("</osm>")
    OUT.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode("utf-8"), 9))
    print(f"wrote {OUT}: {len(used)} nodes, {len(ways)} ways, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
