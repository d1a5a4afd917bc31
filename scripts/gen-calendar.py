#!/usr/bin/env python3
"""Writes crates/domain/data/calendar.csv: official holidays and make-up workdays (调休) of China.

Official years come from the npm package chinese-days (MIT), which copies the State Council's yearly
notices; they were checked against PyPI chinese-calendar. A year the State Council has not yet
published is written as provisional: the statutory holidays of the holiday law as computed by PyPI
`holidays` (MIT), without make-up workdays. Replace it when the notice appears (November/December).

    scripts/gen-calendar.py CHINESE_DAYS_JSON HOLIDAYS_SITE_DIR FIRST_YEAR LAST_YEAR
"""
import json
import sys

days_json, holidays_dir, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
official = json.load(open(days_json, encoding="utf-8"))
sys.path.insert(0, holidays_dir)
import holidays  # noqa: E402

rows = []
for year in range(first, last + 1):
    hol = sorted(d for d in official["holidays"] if d.startswith(str(year)))
    work = sorted(d for d in official["workdays"] if d.startswith(str(year)))
    if hol:
        rows += [(d, "holiday", "official") for d in hol] + [(d, "workday", "official") for d in work]
    else:
        cn = holidays.country_holidays("CN", years=[year])
        rows += [(d.isoformat(), "holiday", "provisional") for d in sorted(cn)]
rows.sort()
with open("crates/domain/data/calendar.csv", "w", encoding="utf-8") as f:
    f.write("date,kind,status\n")
    for r in rows:
        f.write(",".join(r) + "\n")
print(f"{len(rows)} days written")
