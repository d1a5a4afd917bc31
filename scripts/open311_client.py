"""Open311 GeoReport v2 through a registry client (`georeport`): see scripts/open311-client."""
import sys

import requests
from georeport import GeoReport

base = sys.argv[1].rstrip("/")
admin = requests.post(f"{base}/api/v1/auth/login", json={"username": "county_admin", "password": "huanxin-demo"}).json()["token"]
auth = {"Authorization": f"Bearer {admin}"}
client = requests.post(f"{base}/api/v1/open311/clients", json={"name": "georeport test app"}, headers=auth)
assert client.status_code == 201, client.text
key = client.json()["api_key"]
county = client.json()["region_code"][:6]
estates = requests.get(f"{base}/api/v1/estates", params={"per_page": 50}, headers=auth).json()["items"]
estate = next(e for e in estates if e.get("lon") is not None and e["community_code"].startswith(county))

checked = 0
for fmt in ("json", "xml"):
    gr = GeoReport(f"{base}/open311/v2", jurisdiction=county, api_key=key, output_format=fmt)
    services = gr.get_service_list()
    codes = [s["service_code"] for s in services]
    assert "safety.gas_smell" in codes and "repair.water" in codes and len(codes) == 20, codes
    definition = gr.get_service_definition("repair.water")
    attributes = definition["attributes"] if fmt == "json" else definition["attributes"]["attribute"]
    assert [a["code"] for a in attributes] == ["building", "reach"], definition
    checked += 2

# Filing, as a client app does (georeport has no call for it): form-encoded with the api_key.
form = {
    "api_key": key,
    "jurisdiction_id": county,
    "service_code": "repair.water",
    "lat": str(estate["lat"]),
    "long": str(estate["lon"]),
    "description": "georeport: 整栋楼停水一天了",
    "attribute[reach]": "building",
    "first_name": "测试",
}
filed = requests.post(f"{base}/open311/v2/requests.json", data=form)
assert filed.status_code == 201, filed.text
rid, token = filed.json()[0]["service_request_id"], filed.json()[0]["token"]
refused = requests.post(f"{base}/open311/v2/requests.json", data={**form, "api_key": "wrong"})
assert refused.status_code == 403 and refused.json()[0]["description"].startswith("api_key: "), refused.text
by_token = requests.get(f"{base}/open311/v2/tokens/{token}.json", params={"jurisdiction_id": county}).json()
assert by_token[0]["service_request_id"] == rid, by_token

for fmt in ("json", "xml"):
    gr = GeoReport(f"{base}/open311/v2", jurisdiction=county, output_format=fmt)
    one = gr.get_service_request(rid)
    assert one["service_request_id"] == rid and one["status"] == "open" and one["service_code"] == "repair.water", one
    assert "整栋楼停水" in one["description"] and "测试" not in str(one), one
    listed = gr.get_service_requests(service_code="repair.water", status="open")
    listed = listed if isinstance(listed, list) else [listed]
    assert any(r["service_request_id"] == rid for r in listed), listed
    assert all(r["status"] == "open" and r["service_code"] == "repair.water" for r in listed), listed
    by_id = gr.get_service_requests(service_request_id=rid)
    by_id = by_id if isinstance(by_id, list) else [by_id]
    assert [r["service_request_id"] for r in by_id] == [rid], by_id
    if fmt == "json":  # georeport reads an empty XML list as no element at all
        closed = gr.get_service_requests(status="closed", start_date="2000-01-01T00:00:00+08:00", end_date="2000-02-01T00:00:00+08:00")
        assert closed == [], closed
        checked += 1
    checked += 3
    try:
        gr.get_service_requests(status="pending")
        raise AssertionError("status=pending was accepted")
    except requests.HTTPError as e:
        assert e.response.status_code == 400, e.response.text
        checked += 1

print(f"open311-client: {checked} checks through georeport passed; request {rid} filed and read back")
