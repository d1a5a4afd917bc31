//! HTTP integration tests: the real server, a fresh database each, on SQLite and on PostgreSQL.

mod common;

use common::{estate_with_dwellings, owners_decided, TestApp, ESTATES};
use serde_json::{json, Value};

both_engines!(
    health_and_sign_in,
    login_is_throttled,
    list_filters_sorts_and_pages,
    estate_create_update_and_audit,
    bad_input_is_named_and_changes_nothing,
    roles_see_and_change_only_their_scope,
    user_administration_is_scoped,
    people_are_named_in_their_line_of_regions,
    import_reports_rows_and_is_all_or_nothing,
    import_csv_gbk_buildings_dwellings_and_geojson,
    export_matches_the_filter,
    map_tiles_follow_scope,
    regions_tree,
    backup_is_a_consistent_copy,
    jobs_are_taken_once_and_taken_over_when_a_lease_runs_out,
    bulk_import_rebuilds_indexes_and_keys,
    assessment_and_guarded_steps,
    working_day_deadlines,
    annual_plans_targets_and_carry_over,
    projects_and_their_companies,
    approvals_in_order_with_working_day_deadlines,
    schemes_from_the_menu_in_versions,
    acceptance_needs_every_party_signed_by_its_own_accounts,
    import_report_is_capped,
    review_and_rectification_to_closure,
    archive_files_checked_documents_and_exports_a_zip,
    construction_schedule_checkpoints_and_design_changes,
    what_is_late_in_my_region,
    site_logs_materials_and_assessment_photos,
    a_county_edits_its_assessment_checklist,
    several_files_import_as_one,
    residents_bind_codes_and_owners_vote,
    ballots_arriving_together_are_each_counted_once,
    codes_sent_twice_at_once_bind_once,
    notices_in_two_rounds_with_objections_and_answers,
    owners_see_the_scheme_they_decide_on,
    needs_survey_answers_results_and_export,
    owners_sign_in_with_a_text_message,
    public_progress_page_where_the_region_publishes,
    a_county_adapts_the_archive_checklist,
    service_requests_filed_handled_and_rated,
    requests_are_routed_handed_over_and_supervised,
    requests_warn_of_dangers_and_pile_ups,
    hotline_work_orders_are_imported_once_and_matched_by_address,
    regions_change_their_category_tree,
    grid_workers_collect_opinions_forms_and_ballots_door_to_door,
    open311_clients_file_and_read_requests,
    grids_patrols_hazards_coverage_and_mediation,
    the_weekly_digest_counts_each_street,
    funds_allocated_paid_within_limits_on_a_verified_ledger,
    funds_planned_contributed_reconciled_reported_and_upkept,
    statistics_count_what_the_records_say,
    hui_an_2024_figures_hold,
    statistical_reports_climb_the_ladder,
    performance_evaluated_reviewed_and_graded,
);

async fn count(c: &common::Client, query: &str) -> i64 {
    let (s, b) = c.get(&format!("/api/v1/estates?{query}")).await;
    assert_eq!(s, 200, "{b}");
    b["total"].as_i64().unwrap()
}

async fn health_and_sign_in(app: &TestApp) {
    let anon = app.anonymous();
    let (s, b) = anon.get("/api/v1/health").await;
    assert_eq!(s, 200);
    assert_eq!(b["status"], "ok");
    let (s, b) = anon.get("/api/v1/estates").await;
    assert_eq!(s, 401);
    assert_eq!(b["status"], 401);
    let (s, _) = anon.post("/api/v1/auth/login", json!({"username": "county_admin", "password": "wrong-password"})).await;
    assert_eq!(s, 401);
    let (s, _) = anon.post("/api/v1/auth/login", json!({"username": "nobody", "password": "x"})).await;
    assert_eq!(s, 401);
    let c = app.client("county_admin").await;
    let (s, me) = c.get("/api/v1/auth/me").await;
    assert_eq!(s, 200);
    assert_eq!(me["role"], "county_admin");
    assert_eq!(me["region_name"], "惠安县");
    let (s, doc) = anon.get("/api/openapi.json").await;
    assert_eq!(s, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/estates"]["get"].is_object());
    // Signing out ends the session for the token too.
    let (s, _) = c.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, 204);
    let (s, _) = c.get("/api/v1/auth/me").await;
    assert_eq!(s, 401);
}

async fn login_is_throttled(app: &TestApp) {
    let anon = app.anonymous();
    for _ in 0..3 {
        let (s, _) = anon.post("/api/v1/auth/login", json!({"username": "street_staff", "password": "bad-guess"})).await;
        assert_eq!(s, 401);
    }
    // Now even the right password is refused from this address for a while (it backs off, doubling).
    let (s, b) = anon.post("/api/v1/auth/login", json!({"username": "street_staff", "password": common::PASSWORD})).await;
    assert_eq!(s, 429, "{b}");
    // Other users are not locked out by it.
    let (s, _) = anon.post("/api/v1/auth/login", json!({"username": "county_staff", "password": common::PASSWORD})).await;
    assert_eq!(s, 200);
}

async fn list_filters_sorts_and_pages(app: &TestApp) {
    let c = app.client("county_admin").await;
    assert_eq!(count(&c, "").await, ESTATES as i64);
    let (_, page) = c.get("/api/v1/estates?per_page=5&page=2&sort=-build_year").await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let years: Vec<i64> = items.iter().map(|e| e["build_year"].as_i64().unwrap()).collect();
    assert!(years.windows(2).all(|w| w[0] >= w[1]), "{years:?}");
    let eligible = count(&c, "eligible=true").await;
    let ineligible = count(&c, "eligible=false").await;
    assert_eq!(eligible + ineligible, ESTATES as i64);
    assert_eq!(page["totals"]["eligible"].as_i64().unwrap(), eligible);
    // Several stages at once; an unknown one, or too long a search, is named, not matched to nothing.
    assert_eq!(count(&c, "status=surveyed,assessed").await, count(&c, "status=surveyed").await + count(&c, "status=assessed").await);
    for bad in ["status=surveyed,x", "status=,", &format!("q={}", "字".repeat(101))] {
        let (s, r) = c.get(&format!("/api/v1/estates?{bad}")).await;
        assert_eq!(s, 422, "{bad}: {r}");
        assert!(["status", "q"].contains(&r["errors"][0]["field"].as_str().unwrap()), "{r}");
    }
    let old = count(&c, "build_year_to=1989").await;
    let (_, all) = c.get("/api/v1/estates?per_page=100").await;
    let expected_old = all["items"].as_array().unwrap().iter().filter(|e| e["build_year"].as_i64().unwrap() <= 1989).count();
    assert_eq!(old, expected_old as i64);
    // Free text matches a name fragment; a region filter narrows to a street.
    let first_name = all["items"][0]["name"].as_str().unwrap().to_string();
    let frag: String = first_name.chars().take(2).collect();
    assert!(count(&c, &format!("q={frag}")).await >= 1);
    let in_street = count(&c, "region=350521100").await;
    let expected_street =
        all["items"].as_array().unwrap().iter().filter(|e| e["community_code"].as_str().unwrap().starts_with("350521100")).count();
    assert_eq!(in_street, expected_street as i64);
    assert_eq!(count(&c, "status=surveyed").await, ESTATES as i64);
    assert_eq!(count(&c, "status=accepted").await, 0);
    // A wildcard in free text is literal, not a pattern.
    assert_eq!(count(&c, "q=%25").await, 0);
    let (s, _) = c.get("/api/v1/estates?region=12x").await;
    assert_eq!(s, 422);
    let (s, b) = c.get("/api/v1/estates?page=abc").await;
    assert_eq!(s, 422);
    assert_eq!(b["errors"][0]["field"], "page");
}

fn estate_body(code: &str, community: &str) -> serde_json::Value {
    json!({"code": code, "name": "测试小区", "community_code": community, "build_year": 1992, "households": 40,
           "floor_area_m2": 3200.5, "lon": 118.8, "lat": 25.03, "ownership_type": "房改房", "phone": "13812345678"})
}

async fn estate_create_update_and_audit(app: &TestApp) {
    let c = app.client("county_staff").await;
    let (s, e) = c.post("/api/v1/estates", estate_body("T-1", "350521100002")).await;
    assert_eq!(s, 201, "{e}");
    assert_eq!(e["ownership_type"], "reformed");
    assert_eq!(e["floor_area_m2"], 3200.5);
    assert_eq!(e["eligible"], true);
    assert_eq!(e["community_name"], "西北社区居委会");
    let id = e["id"].as_i64().unwrap();
    let mut body = estate_body("T-1", "350521100002");
    body["name"] = json!("测试小区（改）");
    body["datum"] = json!("gcj02");
    let (s, u) = c.put(&format!("/api/v1/estates/{id}"), body).await;
    assert_eq!(s, 200, "{u}");
    assert_eq!(u["name"], "测试小区（改）");
    assert!(u["lon"].as_f64().unwrap() < 118.8, "GCJ-02 input is moved back to WGS-84");
    let (s, dup) = c.post("/api/v1/estates", estate_body("T-1", "350521100002")).await;
    assert_eq!(s, 409, "{dup}");
    let (s, log) = c.get(&format!("/api/v1/audit?entity=estate&entity_id={id}")).await;
    assert_eq!(s, 200);
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["action"], "update");
    assert_eq!(items[0]["username"], "county_staff");
    assert!(items[0]["before_json"].as_str().unwrap().contains("测试小区"));
    assert!(items[0]["after_json"].as_str().unwrap().contains("测试小区（改）"));
    // The user filter takes a staff member's name as well as the account; a resident's name finds nothing.
    let admin = app.client("county_admin").await;
    let by_name = format!("/api/v1/audit?entity=estate&entity_id={id}&username=林建国");
    app.db.execute("UPDATE users SET display_name = '林建国' WHERE username = 'county_staff'", vec![]).await.unwrap();
    assert_eq!(admin.get(&by_name).await.1["total"], 2);
    app.db.execute("UPDATE users SET role = 'resident' WHERE username = 'county_staff'", vec![]).await.unwrap();
    assert_eq!(admin.get(&by_name).await.1["total"], 0);
    app.db.execute("UPDATE users SET role = 'county_staff' WHERE username = 'county_staff'", vec![]).await.unwrap();
    // Buildings: add one, refuse a duplicate number.
    let (s, b) = c.post(&format!("/api/v1/estates/{id}/buildings"), json!({"number": "1号楼", "floors": 6, "structure": "砖混"})).await;
    assert_eq!(s, 201, "{b}");
    let (s, _) = c.post(&format!("/api/v1/estates/{id}/buildings"), json!({"number": "1号楼", "floors": 6})).await;
    assert_eq!(s, 409);
    let (s, list) = c.get(&format!("/api/v1/estates/{id}/buildings")).await;
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn bad_input_is_named_and_changes_nothing(app: &TestApp) {
    let c = app.client("county_admin").await;
    let before = count(&c, "").await;
    let (s, b) = c.post_raw("/api/v1/estates", "application/json", b"{not json".to_vec()).await;
    assert!(s == 400 || s == 422, "{s} {b}");
    assert_eq!(b["status"].as_u64().unwrap() as u16, s);
    let (s, b) =
        c.post("/api/v1/estates", json!({"code": "B-1", "name": "x", "community_code": "350521100001", "build_year": "1990"})).await;
    assert_eq!(s, 422);
    assert_eq!(b["errors"][0]["field"], "build_year");
    let mut bad = estate_body("B-2", "350521100001");
    bad["build_year"] = json!(2999);
    bad["floor_area_m2"] = json!(-5);
    bad["households"] = json!(-1);
    let (s, b) = c.post("/api/v1/estates", bad).await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"build_year") && fields.contains(&"floor_area_m2") && fields.contains(&"households"), "{fields:?}");
    let (s, b) = c.post("/api/v1/estates", estate_body("B-3", "350521199999")).await;
    assert_eq!(s, 422, "{b}");
    assert_eq!(b["errors"][0]["field"], "community_code");
    let (s, b) = c.get("/api/v1/estates/abc").await;
    assert_eq!((s, b["code"].as_str()), (400, Some("request.bad_path")), "{b}");
    let (s, b) = c.get("/api/v1/estates/999999").await;
    assert_eq!((s, b["code"].as_str()), (404, Some("request.not_found")), "{b}");
    assert_eq!(count(&c, "").await, before);
}

async fn roles_see_and_change_only_their_scope(app: &TestApp) {
    let other = app.other_county_estate;
    let total_huian = ESTATES as i64;
    // (user, estates visible, may read the other county's estate, may write)
    let table: &[(&str, Option<i64>, bool, bool)] = &[
        ("ministry_admin", Some(total_huian + 1), true, true),
        ("province_admin", Some(total_huian + 1), true, true),
        ("city_admin", Some(total_huian + 1), true, true),
        ("county_admin", Some(total_huian), false, true),
        ("county_staff", Some(total_huian), false, true),
        ("other_county_admin", Some(1), true, true),
        ("street_staff", None, false, true),
        ("community_staff", None, false, true),
        ("grid_worker", None, false, false),
        ("designer", Some(1), false, false),
        ("contractor", Some(1), false, false),
        ("supervisor", Some(1), false, false),
        ("property_company", Some(1), false, false),
        ("resident", Some(1), false, false),
    ];
    for (user, visible, sees_other, _) in table {
        let c = app.client(user).await;
        let n = count(&c, "").await;
        if let Some(v) = visible {
            assert_eq!(n, *v, "{user} sees {n}");
        } else {
            assert!(n > 0 && n < total_huian, "{user} sees part of the county: {n}");
        }
        let (s, _) = c.get(&format!("/api/v1/estates/{other}")).await;
        assert_eq!(s == 200, *sees_other, "{user} reading another county's estate: {s}");
    }
    for (user, _, _, writes) in table.iter().filter(|t| t.0 != "other_county_admin") {
        let c = app.client(user).await;
        let (s, b) = c.post("/api/v1/estates", estate_body(&format!("R-{user}"), "350521100001")).await;
        assert_eq!(s == 201, *writes, "{user} creating: {s} {b}");
        if !writes {
            assert_eq!(s, 403);
        }
    }
    // A resident sees only the estate attached, and phones masked.
    let r = app.client("resident").await;
    let (s, e) = r.get(&format!("/api/v1/estates/{}", app.attached_estate)).await;
    assert_eq!(s, 200);
    assert!(e["phone"].as_str().unwrap().contains("****"));
    let (s, _) = r.get("/api/v1/audit").await;
    assert_eq!(s, 403);
    let (s, _) = r.get("/api/v1/users").await;
    assert_eq!(s, 403);
    // Phones are masked for everyone; revealing one is allowed to the desk and audited.
    let c = app.client("county_staff").await;
    let id = app.attached_estate;
    let (_, e) = c.get(&format!("/api/v1/estates/{id}")).await;
    assert!(e["phone"].as_str().unwrap().contains("****"));
    let (s, shown) = c.post(&format!("/api/v1/estates/{id}/reveal"), json!({})).await;
    assert_eq!(s, 200);
    assert!(!shown["phone"].as_str().unwrap().contains('*'));
    let (_, log) = c.get(&format!("/api/v1/audit?action=read_personal_data&entity_id={id}")).await;
    assert_eq!(log["total"], 1);
    assert_eq!(log["items"][0]["username"], "county_staff");
    let (_, dws) = c.get(&format!("/api/v1/estates/{id}/dwellings")).await;
    if let Some(d) = dws["items"].as_array().and_then(|a| a.first()) {
        let (s, o) = c.post(&format!("/api/v1/estates/{id}/dwellings/{}/reveal", d["id"]), json!({})).await;
        assert_eq!(s, 200, "{o}");
    }
    let (s, _) = app.client("contractor").await.post(&format!("/api/v1/estates/{id}/reveal"), json!({})).await;
    assert_eq!(s, 403);
    let (s, _) = c.post(&format!("/api/v1/estates/{other}/reveal"), json!({})).await;
    assert_eq!(s, 404);
    // Writing into another county's estate by id is refused as not found.
    let c = app.client("county_admin").await;
    let (s, _) = c.put(&format!("/api/v1/estates/{other}"), estate_body("LC-0001", "350521100001")).await;
    assert_eq!(s, 404);
    let (s, _) = c.get(&format!("/api/v1/estates/{other}/buildings")).await;
    assert_eq!(s, 404);
    // Street staff cannot create an estate in another street.
    let s2 = app.client("street_staff").await;
    let (s, _) = s2.post("/api/v1/estates", estate_body("R-x", "350521105001")).await;
    assert_eq!(s, 422);
}

async fn user_administration_is_scoped(app: &TestApp) {
    let admin = app.client("county_admin").await;
    // The form offers only the roles this administrator may create.
    let (_, roles) = admin.get("/api/v1/auth/roles").await;
    let may = |role: &str| roles.as_array().unwrap().iter().find(|r| r["role"] == role).unwrap()["may_create"].as_bool().unwrap();
    assert!(may("street_staff") && may("county_staff") && may("contractor") && may("resident"));
    assert!(!may("city_admin") && !may("province_staff"));
    let (_, roles) = app.client("county_staff").await.get("/api/v1/auth/roles").await;
    assert!(roles.as_array().unwrap().iter().all(|r| r["may_create"] == false), "staff create no accounts");
    let (s, u) = admin
        .post(
            "/api/v1/users",
            json!({"username": "new_street", "password": "long-enough-1", "role": "street_staff", "region_code": "350521105000"}),
        )
        .await;
    assert_eq!(s, 201, "{u}");
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "too_high", "password": "long-enough-1", "role": "city_admin", "region_code": "350500000000"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "elsewhere", "password": "long-enough-1", "role": "street_staff", "region_code": "350502001000"}),
        )
        .await;
    assert_eq!(s, 403);
    let (s, b) = admin.post("/api/v1/users", json!({"username": "x", "password": "short", "role": "boss", "region_code": "35"})).await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = b["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"username") && fields.contains(&"role") && fields.contains(&"password"), "{fields:?}");
    let (s, _) = admin
        .post(
            "/api/v1/users",
            json!({"username": "new_street", "password": "long-enough-1", "role": "street_staff", "region_code": "350521105000"}),
        )
        .await;
    assert_eq!(s, 409);
    let (_, list) = admin.get("/api/v1/users").await;
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
    assert!(names.contains(&"new_street") && !names.contains(&"other_county_admin") && !names.contains(&"city_admin"));
    let staff = app.client("county_staff").await;
    let (s, _) = staff.get("/api/v1/users").await;
    assert_eq!(s, 403);
    // The new user can sign in; a password reset ends their sessions.
    let anon = app.anonymous();
    let (s, _) = anon.post("/api/v1/auth/login", json!({"username": "new_street", "password": "long-enough-1"})).await;
    assert_eq!(s, 200);
    let id = u["id"].as_i64().unwrap();
    let (s, _) = admin.post(&format!("/api/v1/users/{id}/password"), json!({"password": "another-password"})).await;
    assert_eq!(s, 204);
    let (s, _) = anon.post("/api/v1/auth/login", json!({"username": "new_street", "password": "another-password"})).await;
    assert_eq!(s, 200);
}

/// Records carry usernames; pages show the names: accounts of the caller's line of regions (the
/// county's companies, the city above it), not another county's, and residents by name only to
/// the desks that consult them.
async fn people_are_named_in_their_line_of_regions(app: &TestApp) {
    app.db.execute("UPDATE users SET display_name = '闽建集团' WHERE username = 'contractor'", vec![]).await.unwrap();
    let staff = app.client("county_staff").await;
    let (s, people) = staff.get("/api/v1/people?usernames=contractor,city_admin,other_county_admin,resident,nobody,contractor").await;
    assert_eq!(s, 200, "{people}");
    let named: Vec<(&str, &str)> =
        people.as_array().unwrap().iter().map(|p| (p["username"].as_str().unwrap(), p["display_name"].as_str().unwrap())).collect();
    let mut named = named;
    named.sort();
    // The desk that consults residents knows them by name; a company does not.
    assert_eq!(named, [("city_admin", "city_admin"), ("contractor", "闽建集团"), ("resident", "resident")]);
    let (_, seen) = app.client("contractor").await.get("/api/v1/people?usernames=resident").await;
    assert_eq!(seen[0]["display_name"], "居民", "{seen}");
    let many: Vec<String> = (0..201).map(|i| format!("u{i}")).collect();
    let (s, r) = staff.get(&format!("/api/v1/people?usernames={}", many.join(","))).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("usernames")));
    assert_eq!(app.anonymous().get("/api/v1/people?usernames=contractor").await.0, 401);
}

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            ws.write_string(r as u32, c as u16, *v).unwrap();
        }
    }
    wb.save_to_buffer().unwrap()
}

const ESTATE_HEADER: &[&str] = &["小区编码", "小区名称", "社区代码", "建成年份", "户数", "建筑面积(㎡)", "经度", "纬度", "产权类型"];

async fn import_reports_rows_and_is_all_or_nothing(app: &TestApp) {
    let c = app.client("county_staff").await;
    let before = count(&c, "").await;
    let file = xlsx(&[
        ESTATE_HEADER,
        &["IM-1", "导入一号", "350521100001", "1990", "60", "4800", "118.79", "25.03", "房改房"],
        &["IM-2", "", "350521100001", "1880", "x", "4800", "", "", "别墅"],
        &["IM-3", "导入三号", "350502001001", "1990", "60", "4800", "", "", ""],
        &["IM-1", "重复", "350521100001", "1990", "60", "4800", "", "", ""],
    ]);
    let (s, b) = c.upload("/api/v1/imports/estates", "estates.xlsx", file).await;
    assert_eq!(s, 422, "{b}");
    let rows = b["rows"].as_array().unwrap();
    let has = |row: u64, col: &str| rows.iter().any(|e| e["row"].as_u64() == Some(row) && e["column"] == col);
    assert!(has(3, "小区名称") && has(3, "建成年份") && has(3, "户数") && has(3, "产权类型"), "{rows:?}");
    assert!(has(4, "社区代码"), "another county's community: {rows:?}");
    assert!(has(5, "小区编码"), "a repeated code: {rows:?}");
    assert_eq!(count(&c, "").await, before, "nothing was written");
    // A good file creates; the same codes again update instead of duplicating.
    let good = xlsx(&[
        ESTATE_HEADER,
        &["IM-1", "导入一号", "350521100001", "1990", "60", "4800", "118.79", "25.03", "房改房"],
        &[],
        &["IM-2", "导入二号", "350521100003", "1996", "80", "6400.25", "118.80", "25.03", "商品房"],
    ]);
    let (s, b) = c.upload("/api/v1/imports/estates", "estates.xlsx", good.clone()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["created"], 2);
    assert_eq!(b["blank_rows_skipped"], 1);
    let (s, b) = c.upload("/api/v1/imports/estates", "estates.xlsx", good).await;
    assert_eq!(s, 200);
    assert_eq!(b["created"], 0);
    assert_eq!(b["updated"], 2);
    assert_eq!(count(&c, "").await, before + 2);
    // Merged cells are refused by cell.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (i, h) in ESTATE_HEADER.iter().enumerate() {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    ws.merge_range(1, 2, 2, 2, "350521100001", &rust_xlsxwriter::Format::new()).unwrap();
    let (s, b) = c.upload("/api/v1/imports/estates", "merged.xlsx", wb.save_to_buffer().unwrap()).await;
    assert_eq!(s, 422);
    assert!(b["rows"][0]["reason"].as_str().unwrap().contains("merged"));
    // A file that is not what it claims, an empty file, an unknown kind, a missing column.
    let (s, _) = c.upload("/api/v1/imports/estates", "fake.xlsx", b"PK\x03\x04nonsense".to_vec()).await;
    assert_eq!(s, 422);
    let (s, _) = c.upload("/api/v1/imports/estates", "empty.csv", vec![]).await;
    assert_eq!(s, 422);
    let (s, _) = c.upload("/api/v1/imports/parcels", "a.csv", b"a\n1\n".to_vec()).await;
    assert_eq!(s, 422);
    let (s, b) = c.upload("/api/v1/imports/estates", "a.csv", "小区编码,小区名称\nA,B\n".as_bytes().to_vec()).await;
    assert_eq!(s, 422);
    assert!(b["rows"].as_array().unwrap().iter().any(|r| r["column"] == "社区代码"), "{b}");
    // Templates download as real xlsx and csv.
    let (s, t) = c.get_bytes("/api/v1/imports/estates/template.xlsx").await;
    assert_eq!(s, 200);
    assert!(t.starts_with(b"PK"));
    let (s, t) = c.get_bytes("/api/v1/imports/dwellings/template.csv").await;
    assert_eq!(s, 200);
    assert!(String::from_utf8(t).unwrap().contains("专有面积"));
    // A file over the upload limit (20 MiB by default) is refused with 413.
    assert_eq!(c.announce_upload("/api/v1/imports/estates", 21 * 1024 * 1024).await, 413);
    // A contractor may not import.
    let k = app.client("contractor").await;
    let (s, _) = k.upload("/api/v1/imports/estates", "a.csv", b"x".to_vec()).await;
    assert_eq!(s, 403);
}

async fn import_csv_gbk_buildings_dwellings_and_geojson(app: &TestApp) {
    let c = app.client("county_admin").await;
    let csv = "小区编码,小区名称,社区代码,建成年份,坐标系,经度,纬度\nGB-1,国标小区,350521100004,1985,GCJ02,118.805,25.034\n";
    let (gbk, _, _) = encoding_rs::GBK.encode(csv);
    let (s, b) = c.upload("/api/v1/imports/estates", "gbk.csv", gbk.into_owned()).await;
    assert_eq!(s, 200, "{b}");
    let (_, found) = c.get("/api/v1/estates?q=国标").await;
    let e = &found["items"][0];
    assert_eq!(e["name"], "国标小区");
    assert!(e["lon"].as_f64().unwrap() < 118.805);
    let id = e["id"].as_i64().unwrap();
    let b = "小区编码,楼号,层数,单元数,电梯,结构\nGB-1,1号楼,6,2,否,砖混\nGB-1,2号楼,5,1,是,框架\n";
    let (s, r) = c.upload("/api/v1/imports/buildings", "b.csv", b.as_bytes().to_vec()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["created"], 2);
    let d = "小区编码,楼号,单元,楼层,室号,专有面积(㎡),业主,业主电话,份额(%)\n\
             GB-1,1号楼,1,1,101,65.5,张伟、李娜,13800138000、13900139000,60、40\n\
             GB-1,1号楼,1,2,201,70,王芳,,\n\
             GB-1,9号楼,1,2,201,70,王芳,,\n\
             GB-1,1号楼,1,3,301,-2,王芳,,\n\
             GB-1,1号楼,1,4,401,70,张伟、李娜,,60、30\n";
    let (s, r) = c.upload("/api/v1/imports/dwellings", "d.csv", d.as_bytes().to_vec()).await;
    assert_eq!(s, 422, "{r}");
    let rows = r["rows"].as_array().unwrap();
    assert!(rows.iter().any(|e| e["row"] == 5), "bad area on row 5: {rows:?}");
    // Shares not adding up to 100 are named in their own column, as the cell says them.
    let shares = rows.iter().find(|e| e["row"] == 6).unwrap();
    assert_eq!((shares["column"].as_str(), shares["value"].as_str()), (Some("份额(%)"), Some("60、30")), "{shares}");
    let good: String = d.lines().take(3).map(|l| format!("{l}\n")).collect();
    let (s, r) = c.upload("/api/v1/imports/dwellings", "d.csv", good.into_bytes()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["created"], 2);
    let (_, dw) = c.get(&format!("/api/v1/estates/{id}/dwellings")).await;
    assert_eq!(dw["total"], 2);
    let first = &dw["items"][0];
    assert_eq!(first["owners"].as_array().unwrap().len(), 2);
    assert_eq!(first["owners"][0]["share_bp"], 6000);
    assert_eq!(first["exclusive_area_m2"], 65.5);
    // Importing the dwelling again replaces its owners rather than adding to them.
    let again = "小区编码,楼号,单元,楼层,室号,专有面积(㎡),业主\nGB-1,1号楼,1,1,101,66,赵六\n";
    let (s, r) = c.upload("/api/v1/imports/dwellings", "d2.csv", again.as_bytes().to_vec()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["updated"], 1);
    let (_, dw) = c.get(&format!("/api/v1/estates/{id}/dwellings")).await;
    assert_eq!(dw["total"], 2);
    let owners: Vec<&str> = dw["items"][0]["owners"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(owners, ["赵六"]);
    assert_eq!(dw["items"][0]["exclusive_area_m2"], 66.0);
    // GeoJSON: a polygon gives the outline and the point.
    let gj = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "properties": {"code": "GJ-1", "name": "边界小区", "community_code": "350521100005", "build_year": 1993},
        "geometry": {"type": "Polygon", "coordinates": [[[118.80, 25.02], [118.81, 25.02], [118.81, 25.03], [118.80, 25.03], [118.80, 25.02]]]}}]});
    let (s, r) = c.upload("/api/v1/imports/estates", "e.geojson", gj.to_string().into_bytes()).await;
    assert_eq!(s, 200, "{r}");
    let (_, found) = c.get("/api/v1/estates?q=GJ-1").await;
    assert_eq!(found["items"][0]["outline"]["type"], "Polygon");
    assert!((found["items"][0]["lon"].as_f64().unwrap() - 118.805).abs() < 1e-9);
    // A NUL in a property is named (PostgreSQL would refuse it), and nothing is written.
    let nul = json!({"type": "FeatureCollection", "features": [{"type": "Feature",
        "properties": {"code": "GJ-2", "name": "边界\u{0}小区", "community_code": "350521100005", "build_year": 1993},
        "geometry": {"type": "Point", "coordinates": [118.8, 25.02]}}]});
    let (s, r) = c.upload("/api/v1/imports/estates", "nul.geojson", nul.to_string().into_bytes()).await;
    assert_eq!(
        (s, r["rows"][0]["column"].as_str(), r["rows"][0]["code"].as_str()),
        (422, Some("小区名称"), Some("request.control_characters")),
        "{r}"
    );
    assert_eq!(c.get("/api/v1/estates?q=GJ-2").await.1["total"], 0);
}

async fn export_matches_the_filter(app: &TestApp) {
    let c = app.client("county_admin").await;
    let n = count(&c, "eligible=true").await;
    let (s, bytes) = c.get_bytes("/api/v1/estates/export.xlsx?eligible=true").await;
    assert_eq!(s, 200);
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let range = wb.worksheet_range("小区").unwrap();
    assert_eq!(range.height() as i64, n + 1, "header plus one row per estate");
    assert_eq!(range.get_value((0, 0)).unwrap().to_string(), "小区编码");
}

async fn map_tiles_follow_scope(app: &TestApp) {
    let admin = app.client("county_admin").await;
    // A licensed basemap is a setting: the pages learn its layers, and the policy lets them load.
    let (s, config) = admin.get("/api/v1/map/config").await;
    assert_eq!(s, 200, "{config}");
    assert_eq!(config["basemap"].as_array().unwrap().len(), 2, "{config}");
    assert!(config["basemap"][1].as_str().unwrap().contains("cva_w"));
    assert_eq!(config["attribution"], "天地图");
    let page = reqwest::get(format!("{}/login", app.base)).await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("connect-src 'self' https://t0.tianditu.gov.cn https://t1.tianditu.gov.cn;"), "{csp}");
    let (s, t) = admin.get_bytes("/tiles/0/0/0.mvt").await;
    assert_eq!(s, 200);
    assert!(t.windows(8).any(|w| w == b"clusters"));
    let other = app.client("other_county_admin").await;
    let (_, t_other) = other.get_bytes("/tiles/0/0/0.mvt").await;
    assert!(t_other.len() < t.len());
    let (s, _) = app.anonymous().get_bytes("/tiles/0/0/0.mvt").await;
    assert_eq!(s, 401);
    let (s, _) = admin.get_bytes("/tiles/3/99/0.mvt").await;
    assert_eq!(s, 422);
    // At street zoom the attached estate is the resident's only point.
    let r = app.client("resident").await;
    let (_, e) = r.get(&format!("/api/v1/estates/{}", app.attached_estate)).await;
    let (x, y) = huanxin_server::map::mercator(e["lon"].as_f64().unwrap(), e["lat"].as_f64().unwrap());
    let z = 14u32;
    let n = f64::from(1u32 << z);
    let path = format!("/tiles/{z}/{}/{}.mvt", (x * n) as u32, (y * n) as u32);
    let (s, t) = r.get_bytes(&path).await;
    assert_eq!(s, 200);
    assert!(t.windows(7).any(|w| w == b"estates"));
}

async fn regions_tree(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (s, b) = c.get("/api/v1/regions/350521100001").await;
    assert_eq!(s, 200);
    let names: Vec<&str> = b["ancestors"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["中华人民共和国", "福建省", "泉州市", "惠安县", "螺城镇"]);
    let (s, kids) = c.get("/api/v1/regions/350521000000/children").await;
    assert_eq!(s, 200);
    assert!(kids.as_array().unwrap().iter().any(|r| r["name"] == "螺城镇"));
    let (s, _) = c.get("/api/v1/regions/350502000000/children").await;
    assert_eq!(s, 404);
    let (s, _) = c.get("/api/v1/regions/xyz").await;
    assert_eq!(s, 422);
    let (s, sub) = c.get("/api/v1/regions/350521100000/subtree?level=5").await;
    assert_eq!(s, 200);
    let codes: Vec<&str> = sub.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert!(codes.len() >= 11 && codes.iter().all(|c| c.starts_with("350521100")), "{codes:?}");
    let (s, _) = c.get("/api/v1/regions/350000000000/subtree").await;
    assert_eq!(s, 404, "above the caller's region");
}

/// The jobs table as servers use it (the real processes' test is scripts/cluster): one row per key
/// whoever offers it, one holder at a time, a job taken over only when its lease ran out, the
/// outcome written only by the holder, a job given up after its holders died three times.
async fn jobs_are_taken_once_and_taken_over_when_a_lease_runs_out(app: &TestApp) {
    let db = &app.db;
    // A kind the running server does not know, so that its own worker leaves these alone.
    const KIND: &str = "test.kind";
    let (a, new) = db.offer_job(KIND, "slot-1", "{}", 0, None).await.unwrap();
    let (again, new_again) = db.offer_job(KIND, "slot-1", "{}", 0, None).await.unwrap();
    assert_eq!((a, new, new_again), (again, true, false), "offered twice, one job");
    assert!(db.take_job("server-a", &["other.kind"]).await.unwrap().is_none(), "a server takes only kinds it knows");
    assert!(db.take_job("server-a", &["x'; DROP TABLE jobs; --"]).await.is_err(), "kinds are plain names");
    let taken = db.take_job("server-a", &[KIND]).await.unwrap().expect("a queued job is taken");
    assert_eq!((taken.id, taken.state.as_str(), taken.attempts, taken.holder.as_deref()), (a, "running", 1, Some("server-a")));
    assert!(db.take_job("server-b", &[KIND]).await.unwrap().is_none(), "held under a live lease");
    assert!(db.renew_job(a, "server-a", 5, 10).await.unwrap());
    assert!(!db.renew_job(a, "server-b", 5, 10).await.unwrap(), "only the holder renews");
    // server-a stops renewing (it died): its lease runs out.
    db.execute("UPDATE jobs SET lease_until = 0 WHERE id = $1", vec![a.into()]).await.unwrap();
    let over = db.take_job("server-b", &[KIND]).await.unwrap().expect("taken over after the lease ran out");
    assert_eq!((over.id, over.attempts, over.progress, over.holder.as_deref()), (a, 2, 5, Some("server-b")));
    assert!(!db.renew_job(a, "server-a", 6, 10).await.unwrap(), "the old holder learns it lost the job");
    let mut tx = db.begin().await.unwrap();
    assert!(!tx.finish_job(a, "server-a", Ok(("{}".into(), 10))).await.unwrap(), "the old holder cannot finish it");
    assert!(tx.finish_job(a, "server-b", Ok(("{\"n\":1}".into(), 10))).await.unwrap());
    tx.commit().await.unwrap();
    let done = db.job(a).await.unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.result.as_deref(), done.progress), ("done", Some("{\"n\":1}"), 10));
    assert!(db.take_job("server-c", &[KIND]).await.unwrap().is_none(), "a finished job is not taken again");
    // A job whose holders die three times is given up, not run for ever.
    let (b, _) = db.offer_job(KIND, "slot-2", "{}", 0, None).await.unwrap();
    for i in 0..3 {
        assert_eq!(db.take_job(&format!("s{i}"), &[KIND]).await.unwrap().map(|j| j.id), Some(b));
        db.execute("UPDATE jobs SET lease_until = 0 WHERE id = $1", vec![b.into()]).await.unwrap();
    }
    assert!(db.take_job("s3", &[KIND]).await.unwrap().is_none());
    let given_up = db.job(b).await.unwrap().unwrap();
    assert_eq!((given_up.state.as_str(), given_up.error.as_deref(), given_up.attempts), ("failed", Some("abandoned"), 3));
    // The claim in SQL follows the domain's rule (`jobs::take`) for every state, lease and attempts.
    use huanxin_domain::jobs::{take, JobState, Take};
    let now = chrono::Utc::now().timestamp_millis();
    let mut case = 0;
    for state in [JobState::Queued, JobState::Running, JobState::Done, JobState::Failed] {
        for lease_until in [0, now + 600_000] {
            for attempts in 0..=3 {
                case += 1;
                let kind = format!("test.rule_{case}");
                db.execute(
                    "INSERT INTO jobs (kind, run_key, args, state, total, created_at, lease_until, attempts) VALUES ($1, 'k', '{}', $2, 0, $3, $4, $5)",
                    huanxin_store::args![kind.as_str(), state.as_str(), huanxin_store::now(), lease_until, attempts],
                )
                .await
                .unwrap();
                let taken = db.take_job("rule", &[kind.as_str()]).await.unwrap();
                let (after,): (String,) =
                    db.fetch_one("SELECT state FROM jobs WHERE kind = $1", huanxin_store::args![kind.as_str()]).await.unwrap();
                let found = match (taken, after.as_str()) {
                    (Some(j), "running") if j.holder.as_deref() == Some("rule") => Take::Take,
                    (None, "failed") if state != JobState::Failed => Take::GiveUp,
                    (None, s) if s == state.as_str() => Take::Leave,
                    other => panic!("{state:?} {lease_until} {attempts}: {other:?}"),
                };
                assert_eq!(found, take(state, lease_until, attempts, now), "{state:?}, lease {lease_until}, attempts {attempts}");
            }
        }
    }
    // Started jobs: two asking at once make one; the open one is answered until it ends.
    let (one, two) = tokio::join!(db.start_job(KIND, "{}", 3, Some(1)), db.start_job(KIND, "{}", 3, Some(1)));
    assert_eq!(one.unwrap().id, two.unwrap().id);
    // The lead of the ingest: one server at a time, free again when its holder's connection ends.
    let lead = db.try_lead("test-lead").await.unwrap();
    assert!(lead.is_some());
    if app.database_url.starts_with("postgres") {
        let other = huanxin_store::Db::connect(&app.database_url).await.unwrap();
        assert!(other.try_lead("test-lead").await.unwrap().is_none(), "held by the first");
        drop(lead);
        let mut taken = None;
        for _ in 0..50 {
            taken = other.try_lead("test-lead").await.unwrap();
            if taken.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(taken.expect("free once its holder's connection closed").still_held().await);
        other.close().await;
    }
}

async fn backup_is_a_consistent_copy(app: &TestApp) {
    let dir = std::env::temp_dir().join(format!("huanxin-backup-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("backup.bin");
    let estates = app.db.scalar("SELECT COUNT(*) FROM estates", vec![]).await.unwrap();
    let url = app.database_url.clone();
    app.db.backup(&url, &file).await.unwrap();
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    // A second backup to the same file is refused rather than overwriting it.
    assert!(app.db.backup(&url, &file).await.is_err());
    match app.db.engine() {
        huanxin_store::Engine::Sqlite => {
            let copy = huanxin_store::Db::connect(file.to_str().unwrap()).await.unwrap();
            assert_eq!(copy.scalar("SELECT COUNT(*) FROM estates", vec![]).await.unwrap(), estates);
            copy.close().await;
        }
        huanxin_store::Engine::Postgres => {
            let admin = huanxin_store::Db::connect(&common::pg_url()).await.unwrap();
            let name = format!("hx_restore_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
            admin.execute(&format!("CREATE DATABASE {name}"), vec![]).await.unwrap();
            let target = format!("{}/{name}", common::pg_url().rsplit_once('/').unwrap().0);
            huanxin_store::backup::restore(&target, &file).await.unwrap();
            let copy = huanxin_store::Db::connect(&target).await.unwrap();
            assert_eq!(copy.scalar("SELECT COUNT(*) FROM estates", vec![]).await.unwrap(), estates);
            copy.close().await;
            admin.execute(&format!("DROP DATABASE {name} WITH (FORCE)"), vec![]).await.unwrap();
            admin.close().await;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Indexes and foreign keys on the registry tables, as the engine's catalogue lists them.
async fn registry_schema(app: &TestApp) -> Vec<String> {
    let sql = match app.db.engine() {
        huanxin_store::Engine::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('estates', 'buildings') ORDER BY name"
        }
        huanxin_store::Engine::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE tablename IN ('estates', 'buildings') \
             UNION ALL SELECT conname::text FROM pg_constraint WHERE conrelid IN ('estates'::regclass, 'buildings'::regclass) \
             AND contype = 'f' ORDER BY 1"
        }
    };
    app.db.fetch_all::<(String,)>(sql, vec![]).await.unwrap().into_iter().map(|r| r.0).collect()
}

/// Loads larger than the registry take the bulk path (indexes, and on PostgreSQL foreign keys,
/// dropped and rebuilt); afterwards the schema is whole, and a failed load leaves it whole too.
async fn bulk_import_rebuilds_indexes_and_keys(app: &TestApp) {
    const N: usize = 50_001;
    let c = app.client("county_admin").await;
    let schema = registry_schema(app).await;
    let before = count(&c, "").await;
    let mut csv = String::from("小区编码,小区名称,社区代码,建成年份,户数\n");
    for i in 0..N {
        csv.push_str(&format!("BK-{i},批量{i},35052110000{},{},{}\n", 1 + i % 4, 1960 + i % 60, 10 + i % 90));
    }
    let (s, b) = c.upload("/api/v1/imports/estates", "bulk.csv", csv.into_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["created"], N as u64, "{b}");
    assert_eq!(count(&c, "").await, before + N as i64);
    assert_eq!(registry_schema(app).await, schema, "indexes and keys are back after the load");
    // The rebuilt indexes serve the list: sorted by name, filtered by year, within a street.
    let (s, page) = c.get("/api/v1/estates?region=350521100000&build_year_from=1990&sort=name&per_page=5").await;
    assert_eq!(s, 200, "{page}");
    assert!(page["items"].as_array().unwrap().iter().all(|e| e["build_year"].as_i64().unwrap() >= 1990));

    // One building per new estate, but the first and the last row name no estate: the file is
    // read in chunks and written as it goes, yet nothing stays written and both rows are named.
    let mut csv = String::from("小区编码,楼号,层数\n");
    for i in 0..N {
        csv.push_str(&format!("BK-{i},1号楼,6\n"));
    }
    let body = csv.split_once('\n').map(|(_, rest)| rest).unwrap_or_default();
    let bad = format!("小区编码,楼号,层数\nNO-SUCH-FIRST,1号楼,6\n{body}NO-SUCH-ESTATE,1号楼,6\n");
    let (s, b) = c.upload("/api/v1/imports/buildings", "bulk.csv", bad.into_bytes()).await;
    assert_eq!(s, 422, "{b}");
    let rows: Vec<u64> = b["rows"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [2, N as u64 + 3], "{b}");
    let (_, one) = c.get("/api/v1/estates?q=BK-7&sort=code&per_page=1").await;
    let id = one["items"][0]["id"].as_i64().unwrap();
    let (_, none) = c.get(&format!("/api/v1/estates/{id}/buildings")).await;
    assert_eq!(none.as_array().map(Vec::len), Some(0), "no building was written: {none}");
    // The good file goes in by the bulk path; the schema is whole again.
    let (s, b) = c.upload("/api/v1/imports/buildings", "bulk.csv", csv.into_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["created"], N as u64, "{b}");
    let (_, built) = c.get(&format!("/api/v1/estates/{id}/buildings")).await;
    assert_eq!(built.as_array().map(Vec::len), Some(1), "{built}");
    assert_eq!(registry_schema(app).await, schema);

    // One dwelling per building with two co-owners: they find their dwelling inside the engine
    // and keep the order the file gives them.
    let mut csv = String::from("小区编码,楼号,楼层,室号,专有面积(㎡),业主,份额(%)\n");
    for i in 0..N {
        csv.push_str(&format!("BK-{i},1号楼,1,101,70,乙{i}、甲{i},30、70\n"));
    }
    let (s, b) = c.upload("/api/v1/imports/dwellings", "bulk.csv", csv.into_bytes()).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["created"], N as u64, "{b}");
    let (_, dw) = c.get(&format!("/api/v1/estates/{id}/dwellings")).await;
    let owners: Vec<(&str, i64)> = dw["items"][0]["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["share_bp"].as_i64().unwrap()))
        .collect();
    assert_eq!(owners, [("乙7", 3000), ("甲7", 7000)], "{dw}");
    assert_eq!(registry_schema(app).await, schema);
}

/// An estate is assessed (draft, then finished with a score) and only then moves on; every refusal
/// names its reason, roles are held to their part, and the timeline and audit show the step.
async fn assessment_and_guarded_steps(app: &TestApp) {
    let c = app.client("county_staff").await;
    let (s, e) = c.post("/api/v1/estates", estate_body("LC-1", "350521100002")).await;
    assert_eq!(s, 201, "{e}");
    let id = e["id"].as_i64().unwrap();
    let (s, b) = c.post(&format!("/api/v1/estates/{id}/buildings"), json!({"number": "1号楼", "floors": 6})).await;
    assert_eq!(s, 201, "{b}");
    let building = b["id"].as_i64().unwrap();
    let path = format!("/api/v1/estates/{id}/lifecycle");
    let (s, l) = c.get(&path).await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["status"], "surveyed");
    assert_eq!(l["next"], "assessed");
    assert_eq!(l["blocked_by"]["code"], "lifecycle.no_scored_assessment");
    assert_eq!(l["blocked_by"]["reason"], "no finished assessment with a score");
    // Out of order, unknown, and not yet allowed: refused with the reason, nothing changes.
    let (s, r) = c.post(&path, json!({"to": "in_plan"})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("the next step is assessed"), "{r}");
    let (s, r) = c.post(&path, json!({"to": "finished"})).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "to");
    let (s, r) = c.post(&path, json!({"to": "assessed"})).await;
    assert_eq!(s, 409, "{r}");

    let apath = format!("/api/v1/estates/{id}/assessment");
    let (s, page) = c.get(&apath).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["checklist"].as_array().unwrap().len(), 19);
    assert!(page["assessment"].is_null());
    let (s, r) = c
        .put(
            &apath,
            json!({"findings": [
                {"item": "no_such_item", "present": true},
                {"item": "gas_hazard", "present": true},
            ]}),
        )
        .await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["findings[0].item", "findings[1].building_id"]);
    let findings = json!([
        {"item": "gas_hazard", "building_id": building, "present": true, "note": "立管锈蚀"},
        {"item": "parking_shortfall", "present": true},
        {"item": "no_kindergarten", "present": false},
    ]);
    let (s, draft) = c.put(&apath, json!({"findings": findings})).await;
    assert_eq!(s, 200, "{draft}");
    assert_eq!(draft["status"], "draft");
    let (s, _) = c.post(&path, json!({"to": "assessed"})).await;
    assert_eq!(s, 409, "a draft does not count");
    let (s, done) = c.put(&apath, json!({"findings": findings, "finish": true})).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["status"], "finished");
    // Gas in the only building (weight 12) and parking (4) of a total weight of 100.
    assert_eq!(done["score"]["total"], 1600, "{done}");
    assert_eq!(done["findings"].as_array().unwrap().len(), 3);
    assert_eq!(done["version"], 1);

    // A finished assessment is final: a change without a reason is refused and writes nothing;
    // with one it is a new version, and the first keeps its score.
    let fewer = json!([{"item": "parking_shortfall", "present": true}]);
    let (s, r) = c.put(&apath, json!({"findings": fewer, "finish": true})).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "correction_reason");
    let (_, page) = c.get(&apath).await;
    assert_eq!(page["assessment"]["id"], done["id"], "nothing written");
    let (s, v2) = c.put(&apath, json!({"findings": fewer, "finish": true, "correction_reason": "燃气立管已于上月由燃气公司更换"})).await;
    assert_eq!(s, 200, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["correction_reason"], "燃气立管已于上月由燃气公司更换");
    assert_eq!(v2["score"]["total"], 400, "parking only");
    let versions = v2["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[1]["id"], done["id"]);
    assert_eq!(versions[1]["score"], 1600, "the first version keeps its score");
    // A second editor who loaded version 1 is told that someone corrected it since, and nothing is written.
    let (s, r) =
        c.put(&apath, json!({"findings": [], "finish": true, "correction_reason": "另一人的更正", "based_on": done["updated_at"]})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("assessment.changed_meanwhile")), "{r}");
    assert_eq!(c.get(&apath).await.1["assessment"]["version"], 2);
    // Back to the findings the rest of this test expects, as a third version.
    let (s, v3) =
        c.put(&apath, json!({"findings": findings, "finish": true, "correction_reason": "复核后恢复", "based_on": v2["updated_at"]})).await;
    assert_eq!(s, 200, "{v3}");
    assert_eq!(v3["version"], 3);

    // Who may do what: a contractor neither assesses nor steps; community staff assess but do not step;
    // another county does not see the estate at all.
    let k = app.client("contractor").await;
    assert_eq!(k.put(&apath, json!({"findings": []})).await.0, 403);
    assert_eq!(k.post(&path, json!({"to": "assessed"})).await.0, 403);
    let cs = app.client("community_staff").await;
    assert_eq!(cs.post(&path, json!({"to": "assessed"})).await.0, 403);
    let other = app.client("other_county_admin").await;
    assert_eq!(other.get(&path).await.0, 404);
    assert_eq!(other.post(&path, json!({"to": "assessed"})).await.0, 404);

    let (s, ev) = c.post(&path, json!({"to": "assessed", "note": "体检完成"})).await;
    assert_eq!(s, 200, "{ev}");
    assert_eq!(ev["from_status"], "surveyed");
    assert_eq!(ev["to_status"], "assessed");
    let (_, l) = c.get(&path).await;
    assert_eq!(l["status"], "assessed");
    assert_eq!(l["timeline"].as_array().unwrap().len(), 1);
    assert_eq!(l["timeline"][0]["note"], "体检完成");
    assert_eq!(l["blocked_by"]["code"], "lifecycle.not_ranked");
    let (s, r) = c.post(&path, json!({"to": "ranked"})).await;
    assert_eq!(s, 409, "{r}");
    assert_eq!(r["status"], 409);
    let (_, log) = c.get(&format!("/api/v1/audit?entity=estate&entity_id={id}")).await;
    assert_eq!(log["items"][0]["action"], "advance", "{log}");
    let (_, listed) = c.get("/api/v1/estates?status=assessed&q=LC-1").await;
    assert_eq!(listed["total"], 1, "the list sees the new stage at once");

    // Ranking: the county's candidates in order of priority; the assessed estate is among them and may move on.
    let (s, r) = c.post("/api/v1/rankings", json!({"region_code": "350502000000"})).await;
    assert_eq!(s, 422, "another county: {r}");
    assert_eq!(r["errors"][0]["field"], "region_code");
    let (s, r) =
        c.post("/api/v1/rankings", json!({"weights": {"age": 0, "assessment": 0, "households": 0, "elderly": 0, "willingness": 0}})).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(k.post("/api/v1/rankings", json!({})).await.0, 403);
    let (s, page) =
        c.post("/api/v1/rankings", json!({"year": 2027, "weights": {"assessment": 100, "age": 0, "households": 0, "elderly": 0}})).await;
    assert_eq!(s, 201, "{page}");
    let entries = page["entries"].as_array().unwrap();
    assert!(entries.len() > 1, "{page}");
    assert_eq!(entries[0]["estate_id"], id, "the only assessed estate leads when only the assessment counts");
    assert_eq!(entries[0]["position"], 1);
    // Assessed estates first, then those not assessed (marked, not scored 0), each in order of priority.
    let assessed = |e: &Value| serde_json::from_str::<Value>(e["factors"].as_str().unwrap()).unwrap()["assessed"].as_bool().unwrap();
    assert!(assessed(&entries[0]) && !assessed(&entries[1]));
    assert!(entries.windows(2).all(|w| assessed(&w[0]) != assessed(&w[1]) || w[0]["priority"].as_i64() >= w[1]["priority"].as_i64()));
    let ranking = page["ranking"]["id"].as_i64().unwrap();
    let (s, xlsx) = c.get_bytes(&format!("/api/v1/rankings/{ranking}/export.xlsx")).await;
    assert_eq!(s, 200);
    assert!(xlsx.starts_with(b"PK"));
    assert_eq!(other.get(&format!("/api/v1/rankings/{ranking}")).await.0, 404);
    let (_, mine) = c.get("/api/v1/rankings").await;
    assert_eq!(mine[0]["id"], ranking);
    let (s, ev) = c.post(&path, json!({"to": "ranked"})).await;
    assert_eq!(s, 200, "{ev}");
    let (_, l) = c.get(&path).await;
    assert_eq!(l["blocked_by"]["code"], "lifecycle.not_in_plan");

    // Into the plan, then the next stage; the one after waits for a scheme.
    let (s, plan) = c.post("/api/v1/plans", json!({"year": 2027, "targets": {"estates": 2, "households": 100}})).await;
    assert_eq!(s, 201, "{plan}");
    let plan_id = plan["plan"]["id"].as_i64().unwrap();
    let (s, p) = c.post(&format!("/api/v1/plans/{plan_id}/estates"), json!({"estate_ids": [id], "reason": "补录计划"})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["plan"]["progress"]["planned"]["estates"], 1);
    // The plan moves the estate on by itself (列入计划), and the timeline says which plan.
    let (_, l) = c.get(&path).await;
    assert_eq!(l["status"], "in_plan", "{l}");
    assert_eq!(l["blocked_by"]["code"], "lifecycle.scheme_empty");
    let last = l["timeline"].as_array().and_then(|t| t.last()).cloned().unwrap_or_default();
    assert_eq!((last["from_status"].as_str(), last["to_status"].as_str()), (Some("ranked"), Some("in_plan")), "{l}");
    assert_eq!(last["note"], "列入 2027 年度改造计划");
}

/// Plans: one per region and year, targets checked, estates only from the plan's region and only
/// once a year, progress counted by stage, last year's unfinished estates carried over.
async fn annual_plans_targets_and_carry_over(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=3&eligible=true").await;
    let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let (_, late) = c.get("/api/v1/estates?sort=id&per_page=1&eligible=false").await;
    let (s, r) = c.post("/api/v1/plans", json!({"year": 2026, "targets": {"estates": -1}})).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "targets.estates");
    let (s, r) = c.post("/api/v1/plans", json!({"region_code": "350502000000", "year": 2026})).await;
    assert_eq!(s, 422, "{r}");
    let (s, old) = c.post("/api/v1/plans", json!({"year": 2026, "targets": {"estates": 2}})).await;
    assert_eq!(s, 201, "{old}");
    let (s, r) = c.post("/api/v1/plans", json!({"year": 2026})).await;
    assert_eq!(s, 409, "one plan per region and year: {r}");
    let old_id = old["plan"]["id"].as_i64().unwrap();
    let (s, r) = c
        .post(&format!("/api/v1/plans/{old_id}/estates"), json!({"estate_ids": [ids[0], app.other_county_estate], "reason": "补录计划"}))
        .await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "estate_ids[1]");
    // By hand, only candidates, each once: an estate built after the cut-off year is refused, as is a repeat.
    if let Some(late) = late["items"][0]["id"].as_i64() {
        let (s, r) = c.post(&format!("/api/v1/plans/{old_id}/estates"), json!({"estate_ids": [late], "reason": "补录计划"})).await;
        assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("plans.not_eligible")), "{r}");
    }
    let (s, r) = c.post(&format!("/api/v1/plans/{old_id}/estates"), json!({"estate_ids": [ids[0], ids[0]], "reason": "补录计划"})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("estate_ids[1]"), Some("field.listed_twice"))
    );
    let (s, p) = c.post(&format!("/api/v1/plans/{old_id}/estates"), json!({"estate_ids": [ids[0], ids[1]], "reason": "补录计划"})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["plan"]["progress"]["planned"]["estates"], 2);
    assert_eq!(p["plan"]["progress"]["start_rate_estates"], 0);
    // A ranking ranks the estates not yet in a plan.
    let (s, ranked) = c.post("/api/v1/rankings", json!({"year": 2027})).await;
    assert_eq!(s, 201, "{ranked}");
    let in_ranking: Vec<i64> = ranked["entries"].as_array().unwrap().iter().map(|e| e["estate_id"].as_i64().unwrap()).collect();
    assert!(!in_ranking.contains(&ids[0]) && !in_ranking.contains(&ids[1]), "planned estates are not candidates");
    assert!(in_ranking.contains(&ids[2]), "the third, unplanned, is");
    let (s, r) = c.post(&format!("/api/v1/plans/{old_id}/estates"), json!({"estate_ids": [ids[0]], "reason": "补录计划"})).await;
    assert_eq!(s, 422, "already in this year's plan: {r}");
    let (s, new) = c.post("/api/v1/plans", json!({"year": 2027, "targets": {"estates": 5}})).await;
    assert_eq!(s, 201, "{new}");
    let new_id = new["plan"]["id"].as_i64().unwrap();
    // Last year's estate moves on by carry-over, not by hand.
    let (s, r) = c.post(&format!("/api/v1/plans/{new_id}/estates"), json!({"estate_ids": [ids[0]], "reason": "补录计划"})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("plans.planned_in")), "{r}");
    let (s, p) = c.post(&format!("/api/v1/plans/{new_id}/carry-over"), json!({})).await;
    assert_eq!(s, 200, "{p}");
    let carried: Vec<bool> = p["estates"].as_array().unwrap().iter().map(|e| e["carried_over"].as_bool().unwrap()).collect();
    assert_eq!(carried, [true, true], "{p}");
    let (_, plans) = c.get("/api/v1/plans").await;
    assert_eq!(plans.as_array().unwrap().len(), 2);
    assert_eq!(plans[0]["year"], 2027);
    let other = app.client("other_county_admin").await;
    assert_eq!(other.get(&format!("/api/v1/plans/{new_id}")).await.0, 404);
    let k = app.client("contractor").await;
    assert_eq!(k.post("/api/v1/plans", json!({"year": 2028})).await.0, 403);
    // A street's desk makes no plan of its own (it would hold estates back from the county's).
    let (s, r) = app.client("street_staff").await.post("/api/v1/plans", json!({"year": 2028})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("plans.county_or_above")), "{r}");
}

/// Deadlines in working days follow the official calendar, make-up workdays included.
async fn working_day_deadlines(app: &TestApp) {
    let c = app.client("county_staff").await;
    let (s, d) = c.get("/api/v1/calendar/deadline?from=2026-09-30&days=1").await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["due"], "2026-10-08");
    let (_, d) = c.get("/api/v1/calendar/deadline?from=2026-02-13&days=3").await;
    assert_eq!(d["due"], "2026-02-25");
    assert!(d["calendar_years"].as_array().unwrap().iter().any(|y| y["year"] == 2026 && y["provisional"] == false));
    let (s, r) = c.get("/api/v1/calendar/deadline?from=2026-02-30&days=3").await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "from");
    let (s, _) = c.get("/api/v1/calendar/deadline?from=2026-02-01&days=-1").await;
    assert_eq!(s, 422);
}

/// A project groups estates of one county; a contractor named with its account sees exactly the
/// project's estates, other companies and counties see nothing of it.
async fn projects_and_their_companies(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=3").await;
    let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let (s, r) = c.post("/api/v1/projects", json!({"code": "bad code", "name": "", "estate_ids": [ids[0], ids[0]]})).await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["code", "name", "estate_ids[1]"]);
    let (s, r) =
        c.post("/api/v1/projects", json!({"code": "P-1", "name": "螺城片区", "estate_ids": [ids[0], app.other_county_estate]})).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "estate_ids[1]");
    let (s, p) = c.post("/api/v1/projects", json!({"code": "P-1", "name": "螺城片区", "estate_ids": [ids[0], ids[1]]})).await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(p["project"]["region_code"], "350521000000");
    assert_eq!(p["estates"].as_array().unwrap().len(), 2);
    let pid = p["project"]["id"].as_i64().unwrap();
    let (s, _) = c.post("/api/v1/projects", json!({"code": "P-1", "name": "again", "estate_ids": [ids[2]]})).await;
    assert_eq!(s, 409);

    let (_, users) = c.get("/api/v1/users").await;
    let user_id = |name: &str| users.as_array().unwrap().iter().find(|u| u["username"] == name).unwrap()["id"].as_i64().unwrap();
    let contractor = user_id("contractor");
    let party =
        |role: &str, user: i64| json!({"role": role, "company": "惠安建工", "contact": "王工", "phone": "13812345678", "user_id": user});
    let (s, r) = c.post(&format!("/api/v1/projects/{pid}/parties"), party("designer", contractor)).await;
    assert_eq!(s, 422, "a contractor's account cannot act as the designer: {r}");
    let (s, r) = c.post(&format!("/api/v1/projects/{pid}/parties"), json!({"role": "painter", "company": "", "phone": "1"})).await;
    assert_eq!(s, 422, "{r}");
    let (s, p) = c.post(&format!("/api/v1/projects/{pid}/parties"), party("contractor", contractor)).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["parties"][0]["username"], "contractor");
    assert_eq!(p["parties"][0]["phone"], "13812345678", "the county admin may see the phone");

    let k = app.client("contractor").await;
    let (_, mine) = k.get("/api/v1/projects").await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    let (s, seen) = k.get(&format!("/api/v1/projects/{pid}")).await;
    assert_eq!(s, 200, "{seen}");
    assert_eq!(seen["parties"][0]["phone"], "138****5678", "masked for a company");
    for id in &ids[..2] {
        assert_eq!(k.get(&format!("/api/v1/estates/{id}")).await.0, 200, "the contractor sees the project's estates");
    }
    let d = app.client("designer").await;
    assert_eq!(d.get("/api/v1/projects").await.1.as_array().map(Vec::len), Some(0));
    assert_eq!(d.get(&format!("/api/v1/projects/{pid}")).await.0, 404);
    let other = app.client("other_county_admin").await;
    assert_eq!(other.get(&format!("/api/v1/projects/{pid}")).await.0, 404);
    assert_eq!(k.post("/api/v1/projects", json!({"code": "P-2", "name": "x", "estate_ids": [ids[0]]})).await.0, 403);

    // A street's desk reads the county's project that renews an estate in its street, with only
    // that estate, and changes nothing of it.
    let (_, all) = c.get("/api/v1/estates?sort=id&per_page=100").await;
    let outside = all["items"].as_array().unwrap().iter().find(|e| !e["community_code"].as_str().unwrap().starts_with("350521100"));
    let outside = outside.expect("the seed has estates outside 螺城镇")["id"].as_i64().unwrap();
    // An estate already renewed by an active project is not put in a second one (contracted and paid twice).
    let in_p1 = ids[0];
    let (s, r) = c.post("/api/v1/projects", json!({"code": "P-3", "name": "跨街道", "estate_ids": [outside, in_p1]})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str(), r["errors"][0]["params"]["code"].as_str()),
        (422, Some("estate_ids[1]"), Some("projects.estate_in_project"), Some("P-1")),
        "{r}"
    );
    let in_street = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].as_i64().unwrap(), e["community_code"].as_str().unwrap().to_string()))
        .find(|(id, code)| code.starts_with("350521100") && !ids[..2].contains(id))
        .map(|(id, _)| id)
        .expect("the seed has a second estate in 螺城镇");
    let (s, p) = c.post("/api/v1/projects", json!({"code": "P-3", "name": "跨街道", "estate_ids": [in_street, outside]})).await;
    assert_eq!(s, 201, "{p}");
    let p3 = p["project"]["id"].as_i64().unwrap();
    let street = app.client("street_staff").await;
    let listed: Vec<i64> = street.get("/api/v1/projects").await.1.as_array().unwrap().iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert!(listed.contains(&p3), "{listed:?}");
    let (s, seen) = street.get(&format!("/api/v1/projects/{p3}")).await;
    assert_eq!(s, 200, "{seen}");
    let estates: Vec<i64> = seen["estates"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(estates, [in_street], "only the street's own estate");
    assert_eq!(street.get(&format!("/api/v1/projects/{p3}/approval")).await.0, 200);
    let (s, r) = street.post(&format!("/api/v1/projects/{p3}/parties"), party("contractor", contractor)).await;
    assert_eq!(s, 404, "reading is not changing: {r}");
    assert_eq!(app.client("other_county_admin").await.get(&format!("/api/v1/projects/{p3}")).await.0, 404);
}

/// The estate's owners decided its scheme (as the lawful order asks before anything is built), and
/// the bureau lets construction be recorded before the permit, with its reason.
async fn permit_exception(app: &TestApp, estate: i64) {
    const BEFORE_DECIDED: &str = "('surveyed', 'assessed', 'ranked', 'in_plan', 'scheme_drafted', 'notice_1', 'notice_2')";
    let raise = format!("UPDATE estates SET status = 'decided' WHERE id = $1 AND status IN {BEFORE_DECIDED}");
    app.db.execute(&raise, huanxin_store::args![estate]).await.unwrap();
    let (s, r) = app
        .client("county_admin")
        .await
        .post(&format!("/api/v1/estates/{estate}/construction/permit-exception"), json!({"reason": "测试：应急抢修，先行施工"}))
        .await;
    assert_eq!(s, 204, "{r}");
}

/// A project's approval: the design steps merged, deadlines in working days over the National Day
/// week, steps only in order, late steps listed for the region and nowhere else.
async fn approvals_in_order_with_working_day_deadlines(app: &TestApp) {
    let c = app.client("county_staff").await;
    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=1").await;
    let estate = list["items"][0]["id"].as_i64().unwrap();
    let (s, p) = c.post("/api/v1/projects", json!({"code": "AP-1", "name": "审批测试", "estate_ids": [estate]})).await;
    assert_eq!(s, 201, "{p}");
    let pid = p["project"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/projects/{pid}/approval");
    assert_eq!(c.get(&path).await.1.as_array().map(Vec::len), Some(0));
    let (s, r) = c.post(&path, json!({"start": "2026-02-30"})).await;
    assert_eq!(s, 422, "{r}");
    let (s, steps) = c.post(&path, json!({"merge_design": true, "start": "2026-09-28"})).await;
    assert_eq!(s, 201, "{steps}");
    let steps = steps.as_array().unwrap().clone();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0]["code"], "merged_design");
    assert_eq!(steps[0]["due_on"], "2026-10-13", "7 working days over the National Day week");
    assert!(steps[1]["started_on"].is_null());
    assert_eq!(c.post(&path, json!({})).await.0, 409, "started once");
    // The design and what follows wait for the owners' decision on the scheme; each step names its document.
    let (s, r) = c.post(&format!("{path}/merged_design"), json!({"date": "2026-10-12", "document_no": "惠发改〔2026〕12号"})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("waits for the owners' passed decision"), "{r}");
    owners_decided(app, estate).await;
    let (s, r) = c.post(&format!("{path}/merged_design"), json!({"date": "2026-10-12"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("document_no")), "{r}");
    let (s, r) = c.post(&format!("{path}/drawing_review"), json!({"date": "2026-10-14", "document_no": "x"})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("waits for fire_review, planning_review"), "{r}");
    assert_eq!(c.post(&format!("{path}/merged_design"), json!({"date": "2099-01-01", "document_no": "x"})).await.0, 422);
    let (s, steps) = c.post(&format!("{path}/merged_design"), json!({"date": "2026-10-12", "document_no": "惠发改〔2026〕12号"})).await;
    assert_eq!(s, 200, "{steps}");
    assert_eq!(steps[0]["document_no"], "惠发改〔2026〕12号");
    assert_eq!(steps[1]["code"], "fire_review");
    assert_eq!(steps[1]["started_on"], "2026-10-12");
    assert_eq!(steps[1]["due_on"], "2026-10-19");
    assert_eq!(steps[2]["started_on"], "2026-10-12", "the two reviews run in parallel");
    assert_eq!(c.post(&format!("{path}/merged_design"), json!({"date": "2026-10-12", "document_no": "x"})).await.0, 409);
    assert_eq!(c.post(&format!("{path}/no_such_step"), json!({"document_no": "x"})).await.0, 409);
    let (_, late) = c.get("/api/v1/approvals/late").await;
    assert_eq!(late["total"], 2, "{late}");
    let late_codes: Vec<&str> = late["items"].as_array().unwrap().iter().map(|l| l["code"].as_str().unwrap()).collect();
    assert_eq!(late_codes, ["fire_review", "planning_review"], "{late}");
    assert!(late["items"][0]["days_late"].as_i64().unwrap() > 20);
    let other = app.client("other_county_admin").await;
    assert_eq!(other.get(&path).await.0, 404);
    assert_eq!(other.get("/api/v1/approvals/late").await.1["total"], 0);
    let k = app.client("contractor").await;
    assert_eq!(k.post(&format!("{path}/fire_review"), json!({})).await.0, 403);
}

/// A scheme is drawn from the region's menu, line by line for the estate and its buildings; its
/// estimate splits by category and payer; it is issued for two notice rounds and as final, in
/// order, each version frozen, compared with the next and exported. A county's own prices apply.
async fn schemes_from_the_menu_in_versions(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (s, m) = c.get("/api/v1/menu").await;
    assert_eq!(s, 200, "{m}");
    let lift = m["items"].as_array().unwrap().iter().find(|i| i["code"] == "I12").cloned().unwrap();
    assert_eq!(lift["unit"], "部");
    let lift_price =
        json!({"category": "improvement", "name": "加装电梯", "unit": "部", "unit_price_fen": 45_000_000, "payer": "residents"});
    let (s, r) = c.put("/api/v1/menu/350521000000/I12", lift_price.clone()).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = c
        .put("/api/v1/menu/350521000000/I13", json!({"category": "x", "name": "", "unit": "斤", "unit_price_fen": -1, "payer": "?"}))
        .await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["category", "name", "unit", "unit_price_fen", "payer"]);
    assert_eq!(c.put("/api/v1/menu/350502000000/I12", lift_price.clone()).await.0, 422, "another county's menu");
    assert_eq!(app.client("street_staff").await.put("/api/v1/menu/350521100000/I12", lift_price).await.0, 403);

    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=1").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let (_, buildings) = c.get(&format!("/api/v1/estates/{id}/buildings")).await;
    let b0 = buildings[0]["id"].as_i64().unwrap();
    let scheme = format!("/api/v1/estates/{id}/scheme");
    let (s, r) = c
        .put(&scheme, json!({"items": [{"menu_code": "X1", "quantity": 1}, {"menu_code": "B13", "building_id": 999_999, "quantity": -1}]}))
        .await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["items[0].menu_code", "items[1].building_id", "items[1].quantity"]);
    let (s, r) = c.post(&format!("{scheme}/versions"), json!({"stage": "notice_1"})).await;
    assert_eq!(s, 409, "nothing to post yet: {r}");

    let lines = json!({"items": [
        {"menu_code": "B13", "building_id": b0, "quantity": 1200.5},
        {"menu_code": "I12", "building_id": b0, "quantity": 2},
        {"menu_code": "B02", "quantity": 300, "note": "雨污分流主管"}
    ]});
    let (s, d) = c.put(&scheme, lines).await;
    assert_eq!(s, 200, "{d}");
    let est = &d["draft"]["estimate"];
    // 1200.5 m² × 160 + 2 部 × 450,000 (the county's price) + 300 m × 420 yuan.
    assert_eq!(est["total_fen"], 19_208_000 + 90_000_000 + 12_600_000, "{est}");
    assert_eq!(est["by_payer"]["residents"], 90_000_000);
    assert_eq!(est["by_category"]["basic"], 19_208_000 + 12_600_000);
    let (s, r) = c.post(&format!("{scheme}/versions"), json!({"stage": "final"})).await;
    assert_eq!(s, 409, "the notices come first: {r}");
    let (s, v1) = c.post(&format!("{scheme}/versions"), json!({"stage": "notice_1"})).await;
    assert_eq!(s, 201, "{v1}");
    assert_eq!(v1["version_no"], 1);

    // Residents objected to the lift; the drains grew; greening was asked for.
    let revised = json!({"items": [
        {"menu_code": "B13", "building_id": b0, "quantity": 1200.5},
        {"menu_code": "B02", "quantity": 350, "note": "雨污分流主管"},
        {"menu_code": "I02", "quantity": 100}
    ]});
    assert_eq!(c.put(&scheme, revised).await.0, 200);
    let (_, frozen) = c.get(&format!("{scheme}/versions/1")).await;
    assert_eq!(frozen["items"].as_array().unwrap().len(), 3, "issued versions do not change: {frozen}");
    assert_eq!(frozen["estimate"]["total_fen"], 121_808_000);
    let (s, diff) = c.get(&format!("{scheme}/diff?from=1&to=0")).await;
    assert_eq!(s, 200, "{diff}");
    let kinds: Vec<(&str, &str)> = diff["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ch| (ch["kind"].as_str().unwrap(), ch.get("item").or(ch.get("after")).unwrap()["menu_code"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("changed", "B02"), ("added", "I02"), ("removed", "I12")]);
    assert_eq!(c.post(&format!("{scheme}/versions"), json!({"stage": "notice_2"})).await.0, 201);
    assert_eq!(c.post(&format!("{scheme}/versions"), json!({"stage": "final"})).await.0, 201);
    let (s, r) = c.put(&scheme, json!({"items": []})).await;
    assert_eq!(s, 409, "a final scheme stays as voted: {r}");
    let (_, all) = c.get(&scheme).await;
    let stages: Vec<&str> = all["issued"].as_array().unwrap().iter().map(|v| v["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["notice_1", "notice_2", "final"]);
    let (s, bytes) = c.get_bytes(&format!("{scheme}/export.xlsx?version=3")).await;
    assert_eq!(s, 200);
    assert!(bytes.starts_with(b"PK"), "an xlsx file");
    // The PDF for posting: a Chinese font embedded as a subset (small), with text that copies out as text.
    let (s, pdf) = c.get_bytes(&format!("{scheme}/export.pdf?version=3")).await;
    assert_eq!(s, 200);
    assert!(pdf.starts_with(b"%PDF-"), "a PDF file");
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/FontFile") && text.contains("/ToUnicode"), "an embedded font mapped back to Unicode");
    assert!(pdf.len() < 200_000, "only the glyphs used are embedded: {} bytes", pdf.len());
    assert_eq!(app.client("other_county_admin").await.get_bytes(&format!("{scheme}/export.pdf")).await.0, 404);

    // The county counts its drains (B02, not a national indicator) as water pipes: the accepted
    // estate's 350 m move into the figure at every level at once, and out again.
    let accepted = "2026-03-10";
    app.db.execute("UPDATE estates SET status = 'accepted' WHERE id = $1", huanxin_store::args![id]).await.unwrap();
    app.db
        .execute(
            "INSERT INTO estate_events (estate_id, from_status, to_status, note, username, at) VALUES ($1, 'completed', 'accepted', '', 'test', $2)",
            huanxin_store::args![id, format!("{accepted}T08:00:00.000Z")],
        )
        .await
        .unwrap();
    app.db.rebuild_statistics().await.unwrap();
    let pipes = |who: &'static str| async move {
        let (s, page) = app.client(who).await.get("/api/v1/statistics?period=2026-03").await;
        assert_eq!(s, 200, "{page}");
        page["figures"].as_array().unwrap().iter().find(|f| f["code"] == "pipe_water").unwrap()["value"].as_i64().unwrap()
    };
    assert_eq!(pipes("county_admin").await, 0, "drains are not water pipes nationally");
    let drains = json!({"category": "basic", "name": "雨污分流改造", "unit": "m", "unit_price_fen": 42_000, "payer": "government"});
    let mut mapped = drains.clone();
    mapped["indicator"] = json!("pipe_water");
    let (s, r) = c.put("/api/v1/menu/350521000000/B02", mapped).await;
    assert_eq!(s, 200, "{r}");
    let b02 = r["items"].as_array().unwrap().iter().find(|i| i["code"] == "B02").cloned().unwrap();
    assert_eq!(b02["indicator"], "pipe_water", "{b02}");
    assert!(r["indicators"].as_array().unwrap().iter().any(|i| i[0] == "pipe_gas"), "the choices are listed: {r}");
    assert_eq!((pipes("county_admin").await, pipes("ministry_admin").await), (35_000, 35_000), "350 m in centimetres");
    // A price change that does not name the indicator keeps it.
    let (_, r) = c.put("/api/v1/menu/350521000000/B02", drains.clone()).await;
    assert_eq!(r["items"].as_array().unwrap().iter().find(|i| i["code"] == "B02").unwrap()["indicator"], "pipe_water");
    assert_eq!(pipes("county_admin").await, 35_000);
    // Only metres count as a pipeline; only quantities are indicators a line can count in.
    let (s, r) = c.put("/api/v1/menu/350521000000/I12", json!({"category": "improvement", "name": "加装电梯", "unit": "部", "unit_price_fen": 1, "payer": "residents", "indicator": "pipe_gas"})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("indicator"), Some("schemes.indicator_unit")),
        "{r}"
    );
    let mut wrong = drains.clone();
    wrong["indicator"] = json!("planned_estates");
    let (s, r) = c.put("/api/v1/menu/350521000000/B02", wrong).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("schemes.indicator_kind")), "{r}");
    let mut none = drains;
    none["indicator"] = json!("");
    assert_eq!(c.put("/api/v1/menu/350521000000/B02", none).await.0, 200);
    assert_eq!((pipes("county_admin").await, pipes("province_admin").await), (0, 0));
    // A unit changed on the menu does not change what the lines were measured in: the scheme's
    // 1,200.5 m² of B13 never count as metres of pipe.
    let b13 = json!({"category": "basic", "name": "楼道设施改造", "unit": "m", "unit_price_fen": 16_000, "payer": "government", "indicator": "pipe_water"});
    let (s, r) = c.put("/api/v1/menu/350521000000/B13", b13).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(pipes("county_admin").await, 0, "lines measured in m² are not metres of pipe");
    // Two desks changing the indicator at once: the figures follow whichever wrote last.
    let flips = (0..6).map(|k| {
        let mut body = json!({"category": "basic", "name": "雨污分流改造", "unit": "m", "unit_price_fen": 42_000, "payer": "government"});
        body["indicator"] = json!(if k % 2 == 0 { "pipe_water" } else { "" });
        let c = &c;
        async move { c.put("/api/v1/menu/350521000000/B02", body).await.0 }
    });
    assert!(futures_util::future::join_all(flips).await.iter().all(|s| *s == 200));
    let (_, menu) = c.get("/api/v1/menu").await;
    let counted = menu["items"].as_array().unwrap().iter().find(|i| i["code"] == "B02").unwrap()["indicator"] == "pipe_water";
    assert_eq!(pipes("county_admin").await, if counted { 35_000 } else { 0 }, "the figure follows the indicator in force");
    assert_eq!(app.db.statistics_disagreements().await.unwrap(), vec![], "kept totals agree with the records");

    // Outside the estate's county, and a designer not on its project, see nothing of it.
    assert_eq!(app.client("other_county_admin").await.get(&scheme).await.0, 404);
    assert_eq!(app.client("designer").await.put(&scheme, json!({"items": []})).await.0, 404);
    assert_eq!(app.client("contractor").await.put(&scheme, json!({"items": []})).await.0, 403);
}

/// An acceptance names the parties who must sign; each signs with its own account for its own party
/// only; an objection is recorded and leaves the party missing; nothing is missing once all agreed.
async fn acceptance_needs_every_party_signed_by_its_own_accounts(app: &TestApp) {
    let id = app.attached_estate;
    let path = format!("/api/v1/estates/{id}/acceptance");
    let signatures = format!("{path}/signatures");
    let c = app.client("county_admin").await;
    let (s, a) = c.get(&path).await;
    assert_eq!((s, a), (200, serde_json::Value::Null), "not open yet");
    let contractor = app.client("contractor").await;
    assert_eq!(contractor.post(&signatures, json!({"signatory": "contractor"})).await.0, 409, "nothing to sign yet");
    // Not before the works: an estate still surveyed has nothing to accept.
    let (s, r) = c.post(&path, json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("acceptance.not_built_yet")), "{r}");
    app.db.execute("UPDATE estates SET status = 'completed' WHERE id = $1", huanxin_store::args![id]).await.unwrap();
    let (s, r) = c.post(&path, json!({"signatories": ["contractor", "painter"]})).await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["signatories[1]", "signatories", "signatories", "signatories"], "supervisor, bureau, residents must sign");
    let (s, a) = c.post(&path, json!({"signatories": ["contractor", "supervisor", "bureau", "community", "residents"]})).await;
    assert_eq!(s, 201, "{a}");
    assert_eq!(a["missing"], json!(["contractor", "supervisor", "bureau", "community", "residents"]));
    assert_eq!(c.post(&path, json!({})).await.0, 409, "one acceptance per estate");

    let (s, a) = contractor.post(&signatures, json!({"signatory": "contractor", "note": "按图施工完成"})).await;
    assert_eq!(s, 200, "{a}");
    assert!(!a["missing"].as_array().unwrap().contains(&json!("contractor")));
    let (s, r) = contractor.post(&signatures, json!({"signatory": "supervisor"})).await;
    assert_eq!(s, 422, "a contractor cannot sign for the supervisor: {r}");
    let (s, _) = app.client("street_staff").await.post(&signatures, json!({"signatory": "street"})).await;
    assert_eq!(s, 422, "the street is not required here");
    assert_eq!(app.client("property_company").await.post(&signatures, json!({"signatory": "residents"})).await.0, 403);
    assert_eq!(app.client("other_county_admin").await.get(&path).await.0, 404);

    let resident = app.client("resident").await;
    // Only the representatives named on the acceptance sign for the residents.
    let (s, r) = resident.post(&signatures, json!({"signatory": "residents"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("signatory")), "not named yet: {r}");
    let (_, candidates) = c.get(&format!("{path}/candidates")).await;
    let rep = candidates.as_array().unwrap().iter().find(|x| x["name"] == "resident").expect("the attached resident is a candidate")
        ["user_id"]
        .clone();
    let (s, a) = c.put(&format!("{path}/representatives"), json!({"representatives": [{"user_id": rep, "chosen_by": "owners"}]})).await;
    assert_eq!((s, a["representatives"][0]["chosen_by"].as_str()), (200, Some("owners")), "{a}");
    // A blank form names nobody; a refusal without a word tells nobody what to fix (new user's trial).
    let (s, e) = c.put(&format!("{path}/representatives"), json!({"representatives": []})).await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (422, Some("acceptance.representatives_required")), "{e}");
    let (s, e) = resident.post(&signatures, json!({"signatory": "residents", "agree": false, "note": " "})).await;
    assert_eq!((s, e["errors"][0]["code"].as_str()), (422, Some("acceptance.objection_needs_note")), "{e}");
    let (_, a) = resident.post(&signatures, json!({"signatory": "residents", "agree": false, "note": "楼道扶手未装"})).await;
    assert!(a["missing"].as_array().unwrap().contains(&json!("residents")), "an objection is not a signature: {a}");
    let (_, a) = resident.post(&signatures, json!({"signatory": "residents", "agree": true, "note": "已整改"})).await;
    assert!(!a["missing"].as_array().unwrap().contains(&json!("residents")), "{a}");
    app.client("supervisor").await.post(&signatures, json!({"signatory": "supervisor"})).await;
    app.client("county_staff").await.post(&signatures, json!({"signatory": "bureau"})).await;
    let (s, a) = app.client("community_staff").await.post(&signatures, json!({"signatory": "community"})).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["missing"], json!([]), "{a}");
    assert_eq!(a["signatures"].as_array().unwrap().len(), 5, "the resident's second signature replaced the first: {a}");
}

/// A file wrong on every row gets the first thousand problems and a count of the rest, not a report as long as itself.
async fn import_report_is_capped(app: &TestApp) {
    let c = app.client("county_admin").await;
    let mut csv = String::from("小区编码,楼号,层数\n");
    for i in 0..1_500 {
        csv.push_str(&format!("NO-SUCH-{i},1号楼,6\n"));
    }
    let (s, b) = c.upload("/api/v1/imports/buildings", "wrong.csv", csv.into_bytes()).await;
    assert_eq!(s, 422, "{b}");
    let rows = b["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1_001);
    assert_eq!(rows[0]["row"], 2);
    assert_eq!(rows[1_000]["reason"], "and 500 more problems");
}

/// The six-month review of an accepted estate: refused before acceptance; due six months after it;
/// findings become tasks with an owner and a deadline; an owner cannot close their own task; the
/// region's closure rate; the lifecycle waits for every task to close.
async fn review_and_rectification_to_closure(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=1&page=3").await;
    let id = list["items"][0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/estates/{id}/review");
    let (s, r) = c.post(&path, json!({"summary": "回头看", "tasks": []})).await;
    assert_eq!(s, 409, "not accepted yet: {r}");
    // Construction is not built yet, so the estate is put at "accepted" in the database, as its
    // acceptance would, nearly six months ago (the review comes due in about ten days).
    let today = huanxin_store::today();
    let accepted = today.checked_sub_months(chrono::Months::new(6)).unwrap() + chrono::Duration::days(10);
    app.db.execute("UPDATE estates SET status = 'accepted' WHERE id = $1", vec![id.into()]).await.unwrap();
    app.db
        .execute(
            "INSERT INTO estate_events (estate_id, from_status, to_status, note, username, at) VALUES ($1, 'completed', 'accepted', '', 'test', $2)",
            vec![id.into(), format!("{accepted}T08:00:00.000Z").into()],
        )
        .await
        .unwrap();
    let (s, page) = c.get(&path).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["state"], "due_soon", "{page}");
    assert_eq!(page["due_on"], accepted.checked_add_months(chrono::Months::new(6)).unwrap().to_string());

    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let (s, r) = c
        .post(
            &path,
            json!({"tasks": [
                {"finding": "雨水管渗漏", "owner": "contractor", "deadline": day(-1)},
                {"finding": "扶手松动", "owner": "nobody-here", "deadline": day(5)}
            ]}),
        )
        .await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["tasks[0].deadline", "tasks[1].owner"]);
    let (s, page) = c
        .post(
            &path,
            json!({"summary": "入户回访 120 户", "tasks": [
                {"finding": "3号楼雨水管渗漏", "owner": "contractor", "deadline": day(20), "supervised": true},
                {"finding": "楼道扶手松动", "owner": "county_staff", "deadline": day(5)}
            ]}),
        )
        .await;
    assert_eq!(s, 201, "{page}");
    assert_eq!(page["state"], "held");
    assert_eq!(page["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(c.post(&path, json!({})).await.0, 409, "one review per estate");

    let second = page["tasks"][1]["id"].as_i64().unwrap();
    let close = format!("/api/v1/rectifications/{second}/close");
    let (s, r) = c.post(&close, json!({"note": "看过了"})).await;
    assert_eq!(s, 409, "nothing to check yet: {r}");
    assert!(r["detail"].as_str().unwrap().contains("no evidence"), "{r}");
    // The owner files photos of the fix; a file that is not a photo is refused.
    let staff = app.client("county_staff").await;
    let evidence = format!("/api/v1/rectifications/{second}/evidence");
    let (s, r) = staff.upload_form(&evidence, &[], "fixed.pdf", b"%PDF-1.7\n".to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("photos[0].file")), "{r}");
    let (s, t) = staff.upload_form(&evidence, &[], "fixed.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(t["evidence"].as_array().unwrap().len(), 1);
    assert_eq!(t["evidence"][0]["kind"], "rectification_evidence");
    let (s, r) = staff.post(&close, json!({"note": "已修好"})).await;
    assert_eq!(s, 409, "the owner does not close their own task: {r}");
    assert_eq!(c.post(&close, json!({"note": " "})).await.0, 422);
    let (s, t) = c.post(&close, json!({"note": "现场复核，扶手已加固"})).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["closed_by"], "county_admin");
    assert_eq!(c.post(&close, json!({"note": "again"})).await.0, 409);
    assert_eq!(app.client("other_county_admin").await.post(&close, json!({"note": "x"})).await.0, 404);

    let (_, sum) = c.get("/api/v1/rectifications/summary").await;
    assert_eq!(sum["tasks"], 2, "{sum}");
    assert_eq!(sum["closed"], 1);
    assert_eq!(sum["supervised_open"], 1);
    assert_eq!(sum["closure_rate_bp"], 5000);
    let streets = sum["by_region"].as_array().unwrap();
    assert_eq!(streets.len(), 1, "{sum}");
    assert_eq!(streets[0]["region_code"].as_str().unwrap().len(), 12);
    assert!(streets[0]["region_code"].as_str().unwrap().starts_with("350521"), "a street of the county: {sum}");
    assert!(!streets[0]["name"].as_str().unwrap().is_empty(), "{sum}");
    assert_eq!(streets[0]["tasks"], 2);
    let (_, other) = app.client("other_county_admin").await.get("/api/v1/rectifications/summary").await;
    assert_eq!(other["tasks"], 0, "{other}");
    // The statistics count the same findings in this month, at the county and at the country.
    let month = format!("{}", today.format("%Y-%m"));
    for (who, region) in [("county_admin", "350521000000"), ("ministry_admin", "000000000000")] {
        let (s, st) = app.client(who).await.get(&format!("/api/v1/statistics?region={region}&period={month}")).await;
        assert_eq!(s, 200, "{st}");
        let fig = |c: &str| st["figures"].as_array().unwrap().iter().find(|f| f["code"] == c).unwrap()["value"].as_i64().unwrap();
        assert_eq!((fig("rectifications_found"), fig("rectifications_closed")), (2, 1), "{who}: {st}");
        let rate = st["rates"].as_array().unwrap().iter().find(|r| r["code"] == "rectification_closure_rate").unwrap().clone();
        assert_eq!(rate["bp"], 5000, "{rate}");
    }

    let life = format!("/api/v1/estates/{id}/lifecycle");
    let (s, r) = c.post(&life, json!({"to": "reviewed"})).await;
    assert_eq!(s, 200, "the review was held: {r}");
    let (_, l) = c.get(&life).await;
    assert_eq!(l["blocked_by"]["code"], "lifecycle.rectifications_open", "{l}");
    assert_eq!(l["blocked_by"]["params"]["count"], "1", "{l}");
}

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63,
    0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44,
    0xAE, 0x42, 0x60, 0x82,
];

/// Documents are filed per section by the desks and the project's parties; a file that is not what
/// its name says, a wrong section or kind are refused and change nothing; completeness counts
/// uploads and the records Huanxin keeps; the zip holds every file and an index.
async fn archive_files_checked_documents_and_exports_a_zip(app: &TestApp) {
    let id = app.attached_estate;
    let path = format!("/api/v1/estates/{id}/archive");
    let c = app.client("county_admin").await;
    let (s, a) = c.get(&path).await;
    assert_eq!(s, 200, "{a}");
    assert_eq!(a["sections"].as_array().unwrap().len(), 8);
    assert_eq!(a["overall_bp"], 10000, "nothing is due for a surveyed estate: {a}");
    assert!(a["sections"].as_array().unwrap().iter().all(|s| s["due"] == false));

    let contractor = app.client("contractor").await;
    let fields = [("section", "construction"), ("kind", "photos_during"), ("title", "3号楼外墙保温施工")];
    let (s, d) = contractor.upload_form(&path, &fields, "site.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!(d["content_type"], "image/png");
    assert_eq!(d["size"], PNG.len());
    assert_eq!(d["uploaded_by"], "contractor");
    let doc = d["id"].as_i64().unwrap();

    let (s, r) = contractor.upload_form(&path, &fields, "fake.png", b"not a picture at all".to_vec()).await;
    assert_eq!(s, 422, "{r}");
    assert_eq!(r["errors"][0]["field"], "file");
    assert!(r["errors"][0]["reason"].as_str().unwrap().contains("not a png"), "{r}");
    let (s, r) = contractor.upload_form(&path, &fields, "report.pdf", PNG.to_vec()).await;
    assert_eq!(s, 422, "a PNG named .pdf: {r}");
    let (s, r) = c.upload_form(&path, &[("section", "painting"), ("kind", "x")], "a.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("section")), "{r}");
    let (s, r) = c.upload_form(&path, &[("section", "plan"), ("kind", "photos_during")], "a.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("kind")), "{r}");
    let (s, _) = app.client("resident").await.upload_form(&path, &fields, "site.png", PNG.to_vec()).await;
    assert_eq!(s, 403, "residents do not file in the archive");
    let (s, r) = c.post(&path, json!({"section": "construction"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("body")), "JSON where a form is expected: {r}");
    let other = app.client("other_county_admin").await;
    assert_eq!(other.upload_form(&path, &fields, "site.png", PNG.to_vec()).await.0, 404);
    assert_eq!(other.get(&path).await.0, 404);
    assert_eq!(other.get_bytes(&format!("/api/v1/documents/{doc}/file")).await.0, 404);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM documents", vec![]).await.unwrap(), 1, "refusals wrote nothing");

    let (s, bytes) = c.get_bytes(&format!("/api/v1/documents/{doc}/file")).await;
    assert_eq!((s, bytes.as_slice()), (200, PNG));

    // Once assessed, the assessment section is due: the before photos filed, the report missing
    // until the assessment is scored. The same picture filed twice is stored once.
    app.db.execute("UPDATE estates SET status = 'assessed' WHERE id = $1", vec![id.into()]).await.unwrap();
    let (s, _) = c.upload_form(&path, &[("section", "assessment"), ("kind", "photos_before")], "before.png", PNG.to_vec()).await;
    assert_eq!(s, 201);
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM files", vec![]).await.unwrap(), 1);
    let (_, a) = c.get(&path).await;
    let first = &a["sections"][0];
    assert_eq!((first["section"].as_str(), first["due"].as_bool()), (Some("assessment"), Some(true)), "{a}");
    assert_eq!(first["present"], 1);
    assert_eq!(first["missing"], json!(["assessment_report"]));
    assert_eq!(a["overall_bp"], 5000);
    assert_eq!(a["sections"][5]["documents"][0]["title"], "3号楼外墙保温施工");

    let (s, zip_bytes) = c.get_bytes(&format!("{path}/export.zip")).await;
    assert_eq!(s, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    assert!(names.contains(&"档案目录.xlsx".to_string()), "{names:?}");
    let photo = format!("06-施工监理/{doc:04}-site.png");
    assert!(names.contains(&photo), "{names:?}");
    let mut content = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&photo).unwrap(), &mut content).unwrap();
    assert_eq!(content, PNG);
    let mut index = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("档案目录.xlsx").unwrap(), &mut index).unwrap();
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(index)).unwrap();
    let sheet = book.worksheet_range("档案目录").unwrap();
    let cells: Vec<String> = sheet.rows().flat_map(|r| r.iter().map(|c| c.to_string())).collect();
    assert!(cells.contains(&"3号楼外墙保温施工".to_string()), "{cells:?}");
    assert!(cells.iter().any(|c| c == "缺：体检报告"), "the index says what is missing: {cells:?}");

    let (_, audit) = c.get("/api/v1/audit?action=file_document").await;
    assert_eq!(audit["total"], 2, "{audit}");

    // The file's content is in the file store (a folder here), its row in the database; it is
    // streamed, a range at a time when asked.
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM files WHERE stored = 'object' AND size = $1", vec![(PNG.len() as i64).into()]).await.unwrap(),
        1
    );
    let file = format!("/api/v1/documents/{doc}/file");
    let res = c.req(reqwest::Method::GET, &file).header("Range", "bytes=1-4").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 206);
    assert_eq!(res.headers()["content-range"].to_str().unwrap(), format!("bytes 1-4/{}", PNG.len()));
    assert_eq!(res.bytes().await.unwrap().as_ref(), &PNG[1..5]);
    let res = c.req(reqwest::Method::GET, &file).header("Range", "bytes=-3").send().await.unwrap();
    assert_eq!((res.status().as_u16(), res.bytes().await.unwrap().as_ref()), (206, &PNG[PNG.len() - 3..]));
    let res = c.req(reqwest::Method::GET, &file).header("Range", "bytes=999999-").send().await.unwrap();
    assert_eq!(res.status().as_u16(), 416);
    let res = c.req(reqwest::Method::GET, &format!("{file}?download=1")).send().await.unwrap();
    assert!(res.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);

    // A drawing larger than any other request may be (max_upload_mb, 20 MiB) is taken a chunk at a
    // time through an unlinked temporary file (max_file_mb): kept whole under its SHA-256, and
    // nothing stays behind in the spool folder.
    let mut drawing: Vec<u8> = (0..24usize << 20).map(|i| (i % 251) as u8).collect();
    drawing[..PNG.len()].copy_from_slice(PNG);
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&drawing))
    };
    let (s, d) = contractor.upload_form(&path, &[("section", "construction"), ("kind", "photos_during")], "big.png", drawing.clone()).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!((d["size"].as_u64(), d["sha256"].as_str()), (Some(drawing.len() as u64), Some(sha.as_str())));
    let (s, got) = c.get_bytes(&format!("/api/v1/documents/{}/file", d["id"])).await;
    assert!(s == 200 && got == drawing, "the drawing comes back as sent");
    let spool = app.config.data_dir.join("uploads");
    assert_eq!(std::fs::read_dir(&spool).map(|d| d.count()).unwrap_or(0), 0, "the temporary file is unlinked");
    assert_eq!(c.announce_upload(&path, 2049 << 20).await, 413, "max_file_mb (2048 MiB) holds for documents");
    assert_eq!(c.announce_upload(&format!("/api/v1/estates/{id}/surveys"), 24 << 20).await, 413, "and 20 MiB for the rest");
    let theirs = format!("/api/v1/estates/{}/archive", app.other_county_estate);
    assert_eq!(c.announce_upload(&theirs, 1 << 30).await, 404, "another county's estate: refused before a byte of its body is read");
    // A form the parser would hold in memory until the body's end (1 GiB here) is refused within
    // its first 16 KiB: a preamble without a boundary, or a part's headers that never end (the
    // blank line right after the boundary's own line end does not end them).
    let (s, r) = c.crafted_upload(&path, 1 << 30, &[b'p'; 64 << 10]).await;
    assert!(s == 400 && r.contains("uploads.no_boundary"), "{r}");
    let headers: Vec<u8> = [b"--x\r\n\r\n".as_slice(), &[b'h'; 64 << 10]].concat();
    let (s, r) = c.crafted_upload(&path, 1 << 30, &headers).await;
    assert!(s == 400 && r.contains("uploads.headers_too_long"), "{r}");
    // A boundary past RFC 2046's 70 characters (each piece of a body costs work that grows with it).
    let long = "b".repeat(71);
    let res = c
        .req(reqwest::Method::POST, &path)
        .header("content-type", format!("multipart/form-data; boundary={long}"))
        .body(format!("--{long}\r\nContent-Disposition: form-data; name=\"section\"\r\n\r\nplan\r\n--{long}--\r\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.text().await.unwrap().contains("uploads.long_boundary"));
    // A file that is not what its name says is refused once its first 256 KiB are in, not after
    // the whole gigabyte.
    let fake: Vec<u8> =
        [b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"drawing.pdf\"\r\n\r\n".as_slice(), &[b'A'; 300 << 10]].concat();
    let (s, r) = c.crafted_upload(&path, 1 << 30, &fake).await;
    assert!(s == 422 && r.contains("archive.content_not_type"), "{r}");
    // Two uploads at once per account: a third waits for one of them (each holds a connection
    // and up to max_file_mb of disk).
    let start = b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.7\n";
    let held = [c.open_upload(&path, 1 << 20, start).await, c.open_upload(&path, 1 << 20, start).await];
    let admin = &c;
    let running = move |n: usize| async move {
        for _ in 0..1000 {
            let (_, page) = admin.get_bytes("/metrics").await;
            if String::from_utf8_lossy(&page).contains(&format!("huanxin_uploads_running {n}")) {
                return true;
            }
            tokio::task::yield_now().await;
        }
        false
    };
    assert!(running(2).await, "both held uploads are in their handler");
    let (s, r) = c.crafted_upload(&path, 1 << 20, start).await;
    assert!(s == 429 && r.contains("uploads.account_busy"), "{r}");
    let (s, _) = contractor.upload_form(&path, &[("section", "construction"), ("kind", "photos_during")], "site.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "another account's upload goes on");
    drop(held);
    assert!(running(0).await, "a dropped upload gives its place back");
    // A company files only its own sections: the contractor cannot make the owners' vote or the
    // project's approval count as filed (the new user's trial), and is told which it may.
    for section in ["decision", "plan"] {
        let (s, r) = contractor.upload_form(&path, &[("section", section)], "vote.png", PNG.to_vec()).await;
        assert_eq!((s, r["code"].as_str()), (403, Some("archive.section_not_yours")), "{r}");
        assert_eq!(r["params"]["sections"], "construction, acceptance", "{r}");
    }
    let (_, page) = contractor.get(&format!("/api/v1/estates/{id}/archive")).await;
    assert_eq!(page["may_file"], serde_json::json!(["construction", "acceptance"]));
    let (s, r) = contractor.upload_form(&path, &[("section", "construction"), ("title", "外墙\u{0}")], "site.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("title")), "a NUL in a form's text is named: {r}");

    // A file an older version kept in the database is read where it is, and moved out to the
    // file store by `huanxin files migrate` (store: move_files_out).
    let old = huanxin_store::Db::connect(&app.database_url).await.unwrap();
    let mut tx = old.begin().await.unwrap();
    let sha = tx.put_file(b"kept before".to_vec().into(), "text/plain").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.db.files_in_database().await.unwrap(), (1, 11));
    assert_eq!(app.db.file_content(&sha).await.unwrap(), b"kept before");
    assert_eq!(app.db.move_files_out(100).await.unwrap(), (1, 11));
    assert_eq!(app.db.move_files_out(100).await.unwrap(), (0, 0), "moved once");
    assert_eq!(app.db.files_in_database().await.unwrap(), (0, 0));
    assert_eq!(app.db.file_content(&sha).await.unwrap(), b"kept before", "read from the file store now");
    let e = old.file_content(&sha).await.unwrap_err().to_string();
    assert!(e.contains("file_store"), "a server without the file store says what to set: {e}");
    old.close().await;

    // Objects no row names (a transaction that failed after its file was staged) are swept once
    // older than the grace period; named ones and young ones stay.
    let object = |sha: &str| app.config.data_dir.join("files").join("sha256").join(&sha[..2]).join(&sha[2..4]).join(sha);
    let age = |sha: &str, hours: u64| {
        let f = std::fs::File::options().write(true).open(object(sha)).unwrap();
        f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(hours * 3600)).unwrap();
    };
    let (orphan, young) = (huanxin_store::Upload::from(b"orphan".to_vec()), huanxin_store::Upload::from(b"young orphan".to_vec()));
    app.db.stage_file(&orphan).await.unwrap();
    app.db.stage_file(&young).await.unwrap();
    age(&orphan.sha256, 30);
    age(&sha, 30);
    let day = chrono::Duration::hours(24);
    let dry = app.db.sweep_files(day, true).await.unwrap();
    assert_eq!((dry.orphans, dry.orphan_bytes), (1, 6), "{dry:?}");
    assert!(object(&orphan.sha256).exists(), "a dry run removes nothing");
    let swept = app.db.sweep_files(day, false).await.unwrap();
    assert_eq!((swept.orphans, swept.objects), (1, dry.objects), "{swept:?}");
    assert!(!object(&orphan.sha256).exists() && object(&young.sha256).exists() && object(&sha).exists());
    assert_eq!(app.db.sweep_files(day, false).await.unwrap().orphans, 0, "nothing left to sweep");
}

/// Construction: the contractor plans and reports the schedule, the supervising engineer inspects,
/// the designer delivers design changes within two working days; progress rolls up by weight; the
/// estate is completed only with every node finished and the four checkpoints before completion passed.
async fn construction_schedule_checkpoints_and_design_changes(app: &TestApp) {
    let id = app.attached_estate;
    let path = format!("/api/v1/estates/{id}/construction");
    let nodes = format!("{path}/nodes");
    let c = app.client("county_admin").await;
    let contractor = app.client("contractor").await;
    let (_, buildings) = c.get(&format!("/api/v1/estates/{id}/buildings")).await;
    let building = buildings[0]["id"].as_i64().unwrap();
    let today = huanxin_store::today();
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();

    let (s, n1) = contractor
        .post(
            &nodes,
            json!({"name": "外墙保温", "building_id": building, "planned_start": day(-10), "planned_end": day(10), "weight": 300}),
        )
        .await;
    assert_eq!(s, 201, "{n1}");
    assert_eq!(n1["state"], "late", "planned to start ten days ago and not started: {n1}");
    let (s, n2) = c.post(&nodes, json!({"name": "雨污分流", "planned_start": day(1), "planned_end": day(30), "weight": 100})).await;
    assert_eq!((s, n2["state"].as_str()), (201, Some("not_started")), "{n2}");
    let (s, r) = contractor.post(&nodes, json!({"name": "x", "planned_start": day(5), "planned_end": day(1)})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("planned_end")), "a deadline before its start: {r}");
    let (_, others) = c.get("/api/v1/estates?sort=id&per_page=1&page=5").await;
    let foreign = others["items"][0]["id"].as_i64().unwrap();
    assert_ne!(foreign, id);
    let (_, fb) = c.get(&format!("/api/v1/estates/{foreign}/buildings")).await;
    let (s, r) = c.post(&nodes, json!({"name": "x", "building_id": fb[0]["id"], "planned_start": day(1), "planned_end": day(2)})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("building_id")), "{r}");
    assert_eq!(app.client("resident").await.post(&nodes, json!({})).await.0, 403);
    assert_eq!(app.client("supervisor").await.post(&nodes, json!({"name": "x"})).await.0, 403, "the supervisor inspects, not plans");
    assert_eq!(app.client("other_county_admin").await.get(&path).await.0, 404);

    let node1 = format!("/api/v1/schedule-nodes/{}", n1["id"]);
    // Planning comes first; building (progress) waits for the permit or the bureau's recorded exception.
    let (s, r) = contractor.put(&node1, json!({"progress_pct": 50})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("construction permit"), "{r}");
    let exception = format!("{path}/permit-exception");
    assert_eq!(app.client("street_staff").await.post(&exception, json!({"reason": "应急抢修"})).await.0, 403);
    assert_eq!(contractor.post(&exception, json!({"reason": "应急抢修"})).await.0, 403);
    let (s, r) = c.post(&exception, json!({"reason": ""})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("reason")));
    // The exception stands in for the permit, not for the owners: still nothing built before their decision.
    assert_eq!(c.post(&exception, json!({"reason": "应急抢修，先行施工"})).await.0, 204);
    let (s, r) = contractor.put(&node1, json!({"progress_pct": 50})).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("not for the owners"), "{r}");
    permit_exception(app, id).await;
    let (s, n) = contractor.put(&node1, json!({"progress_pct": 50})).await;
    assert_eq!(s, 200, "{n}");
    assert_eq!((n["actual_start"].as_str(), n["state"].as_str()), (Some(today.to_string().as_str()), Some("in_progress")));
    let (s, r) = contractor.put(&node1, json!({"progress_pct": 120})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("progress_pct")));
    let (_, page) = c.get(&path).await;
    assert_eq!(page["progress"]["estate_bp"], 3750, "(300×50 + 100×0) / 400: {page}");
    assert_eq!(page["progress"]["by_building"][1], json!([building, 5000]), "{page}");

    // Inspections at the checkpoints: the supervising engineer, not the contractor; a failure says why.
    let inspections = format!("{path}/inspections");
    let supervisor = app.client("supervisor").await;
    assert_eq!(contractor.post(&inspections, json!({"checkpoint": "design", "passed": true})).await.0, 403);
    let (s, r) = supervisor.post(&inspections, json!({"checkpoint": "site_control", "passed": false})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("findings")), "{r}");
    let (s, r) = supervisor.post(&inspections, json!({"checkpoint": "painting", "passed": true})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("checkpoint")));
    let (s, i) = supervisor.post(&inspections, json!({"checkpoint": "design", "passed": true})).await;
    assert_eq!((s, i["inspector"].as_str()), (201, Some("supervisor")), "{i}");
    let (s, _) = supervisor.post(&inspections, json!({"checkpoint": "material_entry", "passed": false, "findings": "水泥无合格证"})).await;
    assert_eq!(s, 201);

    // The life of the estate: construction starts with the first progress; completion waits.
    app.db.execute("UPDATE estates SET status = 'approved' WHERE id = $1", vec![id.into()]).await.unwrap();
    let life = format!("/api/v1/estates/{id}/lifecycle");
    let (s, r) = c.post(&life, json!({"to": "in_construction"})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = c.post(&life, json!({"to": "completed"})).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("2 schedule nodes are not finished")), "{r}");
    contractor.put(&node1, json!({"progress_pct": 100})).await;
    let (s, n) = contractor.put(&format!("/api/v1/schedule-nodes/{}", n2["id"]), json!({"progress_pct": 100})).await;
    assert_eq!((s, n["state"].as_str()), (200, Some("done")), "{n}");
    let (s, r) = c.post(&life, json!({"to": "completed"})).await;
    assert_eq!(
        (s, r["code"].as_str(), r["params"]["checkpoints"].as_str()),
        (409, Some("lifecycle.inspections_missing"), Some("team_selection, material_entry, site_control")),
        "{r}"
    );
    for cp in ["team_selection", "material_entry", "site_control"] {
        assert_eq!(supervisor.post(&inspections, json!({"checkpoint": cp, "passed": true})).await.0, 201);
    }
    let (s, r) = c.post(&life, json!({"to": "completed"})).await;
    assert_eq!(s, 200, "{r}");
    let (_, page) = c.get(&path).await;
    assert_eq!(page["progress"]["estate_bp"], 10000);
    assert_eq!(page["checkpoints"][2]["passed"], true, "passed at the second inspection: {page}");

    // Design changes: due two working days after the request; delivered once, by the designer.
    let (s, dc) = contractor.post(&format!("{path}/design-changes"), json!({"text": "3号楼雨棚改为钢结构"})).await;
    assert_eq!(s, 201, "{dc}");
    let cal = huanxin_domain::calendar::WorkCalendar::shipped().unwrap();
    assert_eq!(dc["due_on"], cal.add_working_days(today, 2).to_string());
    assert_eq!(dc["late"], false);
    let deliver = format!("/api/v1/design-changes/{}/deliver", dc["id"]);
    assert_eq!(contractor.post(&deliver, json!({"text": "x"})).await.0, 403);
    let designer = app.client("designer").await;
    assert_eq!(designer.post(&deliver, json!({"text": " "})).await.0, 422);
    let (s, dc) = designer.post(&deliver, json!({"answer": "已出具变更图 B-3"})).await;
    assert_eq!((s, dc["delivered_by"].as_str()), (200, Some("designer")), "{dc}");
    assert_eq!(designer.post(&deliver, json!({"text": "again"})).await.0, 409);

    // A project's progress is its estates' weighted by their schedules.
    let (s, p) = c.post("/api/v1/projects", json!({"code": "P-C1", "name": "北关片区", "estate_ids": [id, foreign]})).await;
    assert_eq!(s, 201, "{p}");
    let (s, pp) = c.get(&format!("/api/v1/projects/{}/progress", p["project"]["id"])).await;
    assert_eq!(s, 200, "{pp}");
    assert_eq!(pp["progress_bp"], 10000, "the other estate has no schedule, so no weight: {pp}");
    let line = pp["estates"].as_array().unwrap().iter().find(|e| e["estate_id"] == id).unwrap().clone();
    assert_eq!((line["nodes"].as_i64(), line["late_nodes"].as_i64()), (Some(2), Some(0)), "{pp}");
}

/// The dashboard's "what is late": nodes behind plan (not finished by their end, or not started by
/// their start), design changes and rectification tasks past due; scoped by region and attachment;
/// a recorded change shows at once although answers are kept for a few seconds.
async fn what_is_late_in_my_region(app: &TestApp) {
    let id = app.attached_estate;
    let c = app.client("county_admin").await;
    let today = huanxin_store::today();
    let day = |n: i64| (today + chrono::Duration::days(n)).to_string();
    let nodes = format!("/api/v1/estates/{id}/construction/nodes");
    let (_, ended) = c.post(&nodes, json!({"name": "屋面防水", "planned_start": day(-20), "planned_end": day(-5)})).await;
    c.post(&nodes, json!({"name": "管网改造", "planned_start": day(-3), "planned_end": day(10)})).await;
    c.post(&nodes, json!({"name": "绿化", "planned_start": day(1), "planned_end": day(10)})).await;
    permit_exception(app, id).await;
    let (s, late) = c.get("/api/v1/late").await;
    assert_eq!(s, 200, "{late}");
    assert_eq!(late["schedule_nodes"]["total"], 2, "{late}");
    let items = late["schedule_nodes"]["items"].as_array().unwrap();
    assert_eq!(items[0]["what"], "屋面防水", "most late first: {late}");
    assert_eq!(items[1]["due_on"], day(-3), "not started by its planned start: {late}");
    assert_eq!(late["design_changes"]["total"], 0);

    // A change requested a week ago and a task past its deadline, as they would stand by now.
    app.db
        .execute(
            "INSERT INTO design_changes (estate_id, requested_by, requested_on, reason, due_on) VALUES ($1, 'contractor', $2, '楼梯扶手改型', $3)",
            vec![id.into(), day(-7).into(), day(-5).into()],
        )
        .await
        .unwrap();
    app.db
        .execute(
            "INSERT INTO rectifications (estate_id, finding, owner, deadline, supervised, created_at) VALUES ($1, '排水沟堵塞', 'contractor', $2, TRUE, $3)",
            vec![id.into(), day(-1).into(), format!("{}T00:00:00Z", day(-30)).into()],
        )
        .await
        .unwrap();
    // Who must act is named as people know them: the account's display name, not its user name.
    app.db.execute("UPDATE users SET display_name = '惠安建工集团' WHERE username = 'contractor'", vec![]).await.unwrap();
    // Written behind the server's back: seen once the short cache expires or any change is recorded here.
    let (_, n) = c.put(&format!("/api/v1/schedule-nodes/{}", ended["id"]), json!({"progress_pct": 100, "actual_start": day(-15)})).await;
    assert_eq!(n["state"], "done", "{n}");
    let (_, late) = c.get("/api/v1/late").await;
    assert_eq!(late["schedule_nodes"]["total"], 1, "the finished node is no longer late at once: {late}");
    assert_eq!(late["design_changes"]["total"], 1, "{late}");
    assert_eq!(late["design_changes"]["items"][0]["who"], "惠安建工集团");
    assert_eq!(late["rectifications"]["items"][0]["who"], "惠安建工集团");
    assert_eq!(late["rectifications"]["total"], 1);
    assert_eq!(late["rectifications"]["items"][0]["supervised"], true);

    let (_, theirs) = app.client("contractor").await.get("/api/v1/late").await;
    assert_eq!(theirs["schedule_nodes"]["total"], 1, "the contractor's own estate: {theirs}");
    let (_, other) = app.client("other_county_admin").await.get("/api/v1/late").await;
    assert_eq!(
        (other["schedule_nodes"]["total"].as_i64(), other["design_changes"]["total"].as_i64(), other["rectifications"]["total"].as_i64()),
        (Some(0), Some(0), Some(0)),
        "{other}"
    );
}

/// Site logs by each party with photos filed in the archive, material entry records, and photos of
/// assessment findings tied to a building and an item; bad input names the field and writes nothing.
async fn site_logs_materials_and_assessment_photos(app: &TestApp) {
    let id = app.attached_estate;
    let logs = format!("/api/v1/estates/{id}/construction/logs");
    let contractor = app.client("contractor").await;
    permit_exception(app, id).await;
    let fields = [("weather", "晴"), ("text", "3号楼外墙保温，监理旁站")];
    let (s, log) = contractor.upload_form(&logs, &fields, "a.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{log}");
    assert_eq!((log["author"].as_str(), log["photos"].as_array().map(Vec::len)), (Some("contractor"), Some(1)), "{log}");
    let resident = app.client("resident").await;
    let (s, log) = resident.upload_form(&logs, &[("text", "居民监督员巡查：工地围挡完好")], "b.png", PNG.to_vec()).await;
    assert_eq!((s, log["author"].as_str()), (201, Some("residents")), "{log}");
    assert_eq!(app.client("designer").await.upload_form(&logs, &fields, "a.png", PNG.to_vec()).await.0, 403);
    let tomorrow = (huanxin_store::today() + chrono::Duration::days(1)).to_string();
    let (s, r) = contractor.upload_form(&logs, &[("day", tomorrow.as_str()), ("text", "x")], "a.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("day")), "{r}");
    let (s, r) = contractor.upload_form(&logs, &fields, "a.png", b"not a picture".to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("photos[0].file")), "{r}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM site_logs", vec![]).await.unwrap(), 2, "refusals wrote nothing");
    assert_eq!(app.client("other_county_admin").await.upload_form(&logs, &fields, "a.png", PNG.to_vec()).await.0, 404);

    let materials = format!("/api/v1/estates/{id}/construction/materials");
    let delivery = json!({"material": "挤塑聚苯板", "spec": "XPS 50mm", "quantity": 1200.5, "unit": "m²", "supplier": "泉州建材", "certificate": true, "accepted": true});
    let (s, m) = contractor.post(&materials, delivery.clone()).await;
    assert_eq!((s, m["quantity_hundredths"].as_i64()), (201, Some(120_050)), "{m}");
    let mut refused = delivery.clone();
    refused["accepted"] = json!(false);
    let (s, r) = app.client("supervisor").await.post(&materials, refused).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("note")), "a refusal says why: {r}");
    assert_eq!(resident.post(&materials, delivery).await.0, 403);

    let c = app.client("county_admin").await;
    let (_, page) = c.get(&format!("/api/v1/estates/{id}/construction")).await;
    assert_eq!(page["site_logs"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["materials"][0]["supplier"], "泉州建材");
    let (_, archive) = c.get(&format!("/api/v1/estates/{id}/archive")).await;
    let construction = &archive["sections"][5];
    assert_eq!(construction["documents"].as_array().unwrap().len(), 2, "the logs' photos are in the archive: {archive}");

    // A photo of an assessment finding names its building and item.
    let (_, buildings) = c.get(&format!("/api/v1/estates/{id}/buildings")).await;
    let b = buildings[0]["id"].as_i64().unwrap().to_string();
    let path = format!("/api/v1/estates/{id}/archive");
    let f = [("section", "assessment"), ("kind", "photos_before"), ("building_id", b.as_str()), ("item_code", "roof_leak")];
    let (s, d) = c.upload_form(&path, &f, "roof.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{d}");
    assert_eq!((d["building_id"].to_string(), d["item_code"].as_str()), (b.clone(), Some("roof_leak")));
    let (_, others) = c.get("/api/v1/estates?sort=id&per_page=1&page=5").await;
    let (_, ob) = c.get(&format!("/api/v1/estates/{}/buildings", others["items"][0]["id"])).await;
    let foreign = ob[0]["id"].to_string();
    let f = [("section", "assessment"), ("kind", "photos_before"), ("building_id", foreign.as_str())];
    let (s, r) = c.upload_form(&path, &f, "roof.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("building_id")), "{r}");
}

/// A county adds a line to the assessment checklist and drops a national one; its estates' forms
/// follow; bad lines are refused by field; other regions and lower desks may not edit it.
async fn a_county_edits_its_assessment_checklist(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (s, page) = c.get("/api/v1/checklist").await;
    assert_eq!(s, 200, "{page}");
    let national = page["national"].as_array().unwrap().len();
    assert_eq!(page["items"].as_array().unwrap().len(), national, "nothing changed yet");
    let dropped = page["national"][0].clone();
    let code = dropped["code"].as_str().unwrap();
    let line = json!({"level": "building", "label_zh": "外墙空鼓", "label_en": "Hollow render", "weight": 8, "active": true});
    let (s, page) = c.put("/api/v1/checklist/350521000000/wall_hollow", line.clone()).await;
    assert_eq!(s, 200, "{page}");
    let mut off = dropped.clone();
    off["active"] = json!(false);
    let (_, page) = c.put(&format!("/api/v1/checklist/350521000000/{code}"), off).await;
    let codes: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"wall_hollow") && !codes.contains(&code), "{codes:?}");
    let (_, form) = c.get(&format!("/api/v1/estates/{}/assessment", app.attached_estate)).await;
    assert!(form["checklist"].as_array().unwrap().iter().any(|i| i["code"] == "wall_hollow"), "the county's estates follow: {form}");

    let (s, r) = c.put("/api/v1/checklist/350521000000/bad code", json!({"level": "street", "weight": 0})).await;
    assert_eq!(s, 422, "{r}");
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["code", "level", "label_zh", "weight"]);
    let (s, r) = c.put("/api/v1/checklist/350502000000/wall_hollow", line.clone()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("region")), "another county: {r}");
    assert_eq!(app.client("community_staff").await.put("/api/v1/checklist/350521000000/wall_hollow", line).await.0, 403);
}

/// Several files of one kind import as one (`huanxin import dwellings a.csv b.csv`): a problem in
/// any file names the file and its row and nothing of any file is written; then all of it is.
async fn several_files_import_as_one(app: &TestApp) {
    use huanxin_server::estates::{import_files, ImportFile};
    let c = app.client("county_admin").await;
    let e = "小区编码,小区名称,社区代码,建成年份\nMF-1,多文件小区,350521100004,1990\n";
    assert_eq!(c.upload("/api/v1/imports/estates", "e.csv", e.as_bytes().to_vec()).await.0, 200);
    let b = "小区编码,楼号,层数\nMF-1,1号楼,6\nMF-1,2号楼,6\n";
    assert_eq!(c.upload("/api/v1/imports/buildings", "b.csv", b.as_bytes().to_vec()).await.0, 200);
    let head = "小区编码,楼号,单元,楼层,室号,专有面积(㎡),业主\n";
    let first = format!("{head}MF-1,1号楼,1,1,101,60,甲\nMF-1,1号楼,1,1,102,61,乙\n");
    let bad = format!("{head}MF-1,2号楼,1,1,101,62,丙\nMF-1,2号楼,1,1,102,-1,丁\nMF-1,1号楼,1,1,101,60,甲\n");
    let actor = huanxin_store::audit::Actor::system("test");
    let scope = huanxin_domain::access::Scope::Region(huanxin_domain::regions::RegionCode::country());
    let files = |second: &str| {
        vec![ImportFile::Bytes("d1.csv".into(), first.clone().into_bytes()), ImportFile::Bytes("d2.csv".into(), second.as_bytes().to_vec())]
    };
    let count = || app.db.scalar("SELECT COUNT(*) FROM dwellings d JOIN estates e ON e.id = d.estate_id WHERE e.code = 'MF-1'", vec![]);
    match import_files(&app.db, &actor, &scope, "dwellings", files(&bad), &Default::default()).await {
        Err(huanxin_server::error::ApiError::ImportRejected(rows)) => {
            let at: Vec<(String, usize)> = rows.iter().map(|r| (r.file.clone(), r.row)).collect();
            assert_eq!(at, [("d2.csv".to_string(), 3), ("d2.csv".to_string(), 4)], "{rows:?}");
            assert!(rows[1].reason.contains("repeats"), "the same dwelling in the first file: {rows:?}");
        }
        other => panic!("expected the rows to be rejected: {:?}", other.map(|r| r.rows)),
    }
    assert_eq!(count().await.unwrap(), 0, "nothing of the good first file was written either");
    let good = format!("{head}MF-1,2号楼,1,1,101,62,丙\n");
    let r = import_files(&app.db, &actor, &scope, "dwellings", files(&good), &Default::default()).await.map_err(|e| e.to_string()).unwrap();
    assert_eq!((r.rows, r.created), (3, 3));
    assert_eq!(count().await.unwrap(), 3);

    // Over HTTP, several `file` fields are one import too: the bad first file is not passed over.
    let upload = |files: Vec<(&'static str, String)>| {
        let mut form = reqwest::multipart::Form::new();
        for (name, text) in files {
            form = form.part("file", reqwest::multipart::Part::bytes(text.into_bytes()).file_name(name));
        }
        c.req(reqwest::Method::POST, "/api/v1/imports/dwellings").multipart(form).send()
    };
    let bad_first = format!("{head}MF-1,2号楼,1,1,201,-5,戊\n");
    let res = upload(vec![("h1.csv", bad_first), ("h2.csv", format!("{head}MF-1,2号楼,1,1,202,62,己\n"))]).await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["rows"][0]["file"], "h1.csv", "{b}");
    assert_eq!(count().await.unwrap(), 3, "nothing of either file");
    // A NUL in a cell (PostgreSQL cannot keep one) is named by row and column, not a server error.
    let res = upload(vec![("nul.csv", format!("{head}MF-1,2号楼,1,1,203,62,庚\u{0}辛\n"))]).await.unwrap();
    assert_eq!(res.status().as_u16(), 422);
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!((b["rows"][0]["row"].as_u64(), b["rows"][0]["column"].as_str()), (Some(2), Some("业主")), "{b}");
    let res =
        upload(vec![("h1.csv", format!("{head}MF-1,2号楼,1,1,201,61,戊\n")), ("h2.csv", format!("{head}MF-1,2号楼,1,1,202,62,己\n"))])
            .await
            .unwrap();
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(b["created"], 2, "{b}");
    assert_eq!(count().await.unwrap(), 5);
}

async fn residents_bind_codes_and_owners_vote(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, building, stairwell) = estate_with_dwellings(app).await;
    assert!(stairwell.len() >= 2, "the seed has a stairwell with dwellings");
    let path = format!("/api/v1/estates/{estate}/invitations");
    assert_eq!(app.client("contractor").await.post(&path, json!({})).await.0, 403);
    let (s, inv) = staff.post(&path, json!({"building_id": building})).await;
    assert_eq!(s, 200, "{inv}");
    let invitations = inv["invitations"].as_array().unwrap().clone();
    let code_of = |d: i64| invitations.iter().find(|i| i["dwelling_id"] == d).unwrap()["code"].as_str().unwrap().to_string();
    assert!(invitations.iter().all(|i| i["link"].as_str().unwrap().contains("/m/#/bind?code=")));
    let (s, pdf) = {
        let res = staff
            .http
            .post(format!("{}{path}.pdf", app.base))
            .bearer_auth(staff.token.as_ref().unwrap())
            .json(&json!({"building_id": building}))
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.bytes().await.unwrap())
    };
    assert_eq!(s, 200);
    assert!(pdf.starts_with(b"%PDF"), "a printable sheet");
    // The sheet replaced the codes listed before it: the old ones no longer bind.
    let anon = app.anonymous();
    let d0 = stairwell[0];
    let (s, r) = anon.post("/api/v1/residents/bind", json!({"code": code_of(d0), "name": "x"})).await;
    assert_eq!((s, r["detail"].as_str().unwrap()), (409, "the code is not valid"));
    let (_, inv) = staff.post(&path, json!({"building_id": building})).await;
    let invitations = inv["invitations"].as_array().unwrap().clone();
    let code_of = |d: i64| invitations.iter().find(|i| i["dwelling_id"] == d).unwrap()["code"].as_str().unwrap().to_string();

    // The registered owner of d0 binds with their phone and becomes an owner; the code is then spent.
    let registered = app.db.scalar("SELECT COUNT(*) FROM dwelling_owners WHERE dwelling_id = $1", huanxin_store::args![d0]).await.unwrap();
    if registered == 0 {
        app.db
            .execute(
                "INSERT INTO dwelling_owners (dwelling_id, name, phone, share_bp) VALUES ($1, '陈业主', '13912345678', 10000)",
                huanxin_store::args![d0],
            )
            .await
            .unwrap();
    }
    let owners: Vec<(String, String)> =
        app.db.fetch_all("SELECT name, phone FROM dwelling_owners WHERE dwelling_id = $1", huanxin_store::args![d0]).await.unwrap();
    let (name, phone) = owners[0].clone();
    let (s, b) = anon.post("/api/v1/residents/bind", json!({"code": code_of(d0).to_lowercase(), "name": name, "phone": phone})).await;
    assert_eq!(s, 200, "{b}");
    // What was typed is only a claim: the clerk checks the property certificate (or the owner
    // confirms by text message) before the account carries the owner's vote.
    assert_eq!(b["bound"]["standing"], "resident");
    let owner = common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: Some(b["token"].as_str().unwrap().into()) };
    let (s, bound) = staff.get(&format!("/api/v1/estates/{estate}/residents")).await;
    assert_eq!(s, 200, "{bound}");
    let claim = bound.as_array().unwrap().iter().find(|r| r["dwelling_id"] == d0).unwrap().clone();
    assert_eq!((claim["claims_owner"].as_bool(), claim["standing"].as_str()), (Some(true), Some("resident")), "{claim}");
    let verify = format!("/api/v1/estates/{estate}/residents/verify");
    let check = json!({"dwelling_id": d0, "user_id": claim["user_id"], "certificate_no": "闽(2019)惠安县不动产权第0012345号"});
    assert_eq!(app.client("contractor").await.post(&verify, check.clone()).await.0, 403);
    let (s, r) = staff.post(&verify, json!({"dwelling_id": d0, "user_id": claim["user_id"], "certificate_no": ""})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("certificate_no")));
    let (s, r) = staff.post(&verify, check).await;
    assert_eq!(
        (s, r["standing"].as_str(), r["verified_how"].as_str(), r["verified_by"].as_str()),
        (200, Some("owner"), Some("certificate"), Some("county_staff")),
        "{r}"
    );
    let (s, again) = anon.post("/api/v1/residents/bind", json!({"code": code_of(d0), "name": name})).await;
    assert_eq!((s, again["detail"].as_str().unwrap()), (409, "the code has already been used"));
    // A phone retrying a spent code is not guessing: past the per-address limit of tries it still
    // hears "used", not "too many attempts" (its neighbours behind the same address are not locked out).
    for _ in 0..huanxin_domain::residents::MAX_FAILED_TRIES {
        let (s, again) = anon.post("/api/v1/residents/bind", json!({"code": code_of(d0), "name": name})).await;
        assert_eq!((s, again["code"].as_str()), (409, Some("residents.code_used")), "{again}");
    }
    let (s, bad) = anon.post("/api/v1/residents/bind", json!({"code": "12", "name": "x"})).await;
    assert_eq!((s, bad["errors"][0]["field"].as_str().unwrap()), (422, "code"));
    // A typed phone must be a mobile number; the code is not spent by the refusal.
    let (s, r) = anon.post("/api/v1/residents/bind", json!({"code": code_of(stairwell[1]), "name": "x", "phone": "12345"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("phone")), "{r}");
    // A tenant of d1 binds too, but is not an owner.
    let d1 = stairwell[1];
    let (s, b) = anon.post("/api/v1/residents/bind", json!({"code": code_of(d1), "name": "租户小李", "phone": "13000000009"})).await;
    assert_eq!((s, b["bound"]["standing"].as_str().unwrap()), (200, "resident"));
    let tenant = common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: Some(b["token"].as_str().unwrap().into()) };
    let (s, mine) = owner.get("/api/v1/residents/me").await;
    assert_eq!((s, mine.as_array().unwrap().len()), (200, 1));
    assert_eq!(owner.get(&format!("/api/v1/estates/{estate}/dwellings")).await.0, 403, "not the neighbours' names");
    assert_eq!(owner.get(&format!("/api/v1/estates/{estate}/archive")).await.0, 403, "not the archive's contracts and scans");
    let (s, photos) = owner.get(&format!("/api/v1/estates/{estate}/photos")).await;
    assert_eq!((s, photos), (200, json!([])), "the progress photos are theirs to see");
    let refused = app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'bind_refused'", vec![]).await.unwrap();
    assert_eq!(
        refused,
        3 + i64::from(huanxin_domain::residents::MAX_FAILED_TRIES),
        "a voided, the reused (each time) and a malformed code, each audited"
    );

    // Rule sets: stricter than the law may be set, laxer may not.
    let rules = "/api/v1/decision-rules/350521000000";
    let (s, r) = app
        .client("county_admin")
        .await
        .put(
            rules,
            json!({"name": "更严", "quorum": {"num": 1, "den": 2, "strict": false},
        "special": {"num": 3, "den": 4, "strict": false}, "ordinary": {"num": 1, "den": 2, "strict": true},
        "special_matters": ["raise_maintenance_fund", "renovate", "change_use_of_common_parts"]}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str().unwrap()), (422, "quorum"), "{r}");
    let (s, r) = staff.get(rules).await;
    assert_eq!((s, r["name"].as_str().unwrap()), (200, "民法典第二百七十八条"));

    // A lift for stairwell 1: the electorate is that stairwell's dwellings.
    let now = chrono::Utc::now();
    let lift = json!({"title": "1单元加装电梯", "matter": "renovate", "scope": "stairwell", "building_id": building, "stairwell": 1,
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "closes_at": (now + chrono::Duration::days(3)).to_rfc3339()});
    let decisions = format!("/api/v1/estates/{estate}/decisions");
    assert_eq!(owner.post(&decisions, lift.clone()).await.0, 403, "residents do not set up votes");
    let (s, bad) =
        staff.post(&decisions, json!({"title": "", "matter": "lift", "scope": "stairwell", "opens_at": "x", "closes_at": "y"})).await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = bad["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["title", "matter", "building_id", "opens_at", "closes_at"]);
    let (s, page) = staff.post(&decisions, lift).await;
    assert_eq!(s, 200, "{page}");
    let id = page["decision"]["id"].as_i64().unwrap();
    let area: i64 = {
        let a: Vec<(i64,)> = app
            .db
            .fetch_all("SELECT exclusive_area FROM dwellings WHERE building_id = $1 AND stairwell = 1", huanxin_store::args![building])
            .await
            .unwrap();
        a.iter().map(|(x,)| x).sum()
    };
    assert_eq!(page["tally"]["electorate"]["area"], area);
    assert_eq!(page["state"], "open");
    let ballots = format!("/api/v1/decisions/{id}/ballots");

    // Online: the owner votes once; the tenant may not; nobody votes for a dwelling not theirs.
    let (s, receipt) = owner.post(&ballots, json!({"dwelling_id": d0, "choice": "agree"})).await;
    assert_eq!(s, 200, "{receipt}");
    assert_eq!(receipt["seq"], 1);
    let (s, r) = owner.post(&ballots, json!({"dwelling_id": d0, "choice": "disagree"})).await;
    assert_eq!((s, r["detail"].as_str().unwrap()), (409, "this dwelling has already voted (online)"));
    let (s, r) = staff.post(&ballots, json!({"dwelling_id": d0, "choice": "agree", "voter": name})).await;
    assert_eq!((s, r["detail"].as_str().unwrap()), (409, "this dwelling has already voted (online)"), "never online and paper");
    let (s, r) = tenant.post(&ballots, json!({"dwelling_id": d1, "choice": "agree"})).await;
    assert_eq!((s, r["detail"].as_str().unwrap()), (409, "only an owner of the dwelling may vote for it"));
    assert_eq!(tenant.post(&ballots, json!({"dwelling_id": d0, "choice": "agree"})).await.0, 403);
    let (s, r) = owner.post(&ballots, json!({"dwelling_id": d0, "choice": "maybe"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str().unwrap()), (422, "choice"));

    // Paper: staff enter the rest; a proxy needs its scanned authorisation.
    let rest: Vec<i64> = stairwell.iter().copied().filter(|d| *d != d0).collect();
    let (s, r) = staff.post(&ballots, json!({"dwelling_id": rest[0], "choice": "agree", "voter": "代理人", "by_proxy": true})).await;
    assert_eq!(
        (s, r["detail"].as_str().unwrap()),
        (409, "a paper ballot for an owner who did not sign it needs the scanned written proxy")
    );
    let (s, r) = staff.post(&ballots, json!({"dwelling_id": rest[0], "choice": "agree", "voter": ""})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str().unwrap()), (422, "voter"));
    for d in &rest {
        let (s, r) = staff.post(&ballots, json!({"dwelling_id": d, "choice": "agree", "voter": format!("业主{d}")})).await;
        // Co-owned or several dwellings of one owner: the same owner keeps one choice.
        assert_eq!(s, 200, "{r}");
    }
    // The tenant of d1 learns that the dwelling voted, not how its owner voted.
    let (_, seen) = tenant.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(seen["mine"], json!([{"dwelling_id": d1, "is_owner": false, "choice": "voted"}]), "{seen}");
    let outside = app
        .db
        .scalar("SELECT MIN(id) FROM dwellings WHERE building_id = $1 AND stairwell <> 1", huanxin_store::args![building])
        .await
        .unwrap();
    if outside > 0 {
        let (s, r) = staff.post(&ballots, json!({"dwelling_id": outside, "choice": "agree", "voter": "外单元"})).await;
        assert_eq!((s, r["detail"].as_str().unwrap()), (409, "this dwelling is not in the decision's electorate"));
    }
    let (s, page) = owner.get(&format!("/api/v1/decisions/{id}")).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["tally"]["participating"]["area"], area, "everyone voted");
    assert_eq!(page["tally"]["passed"], true);
    assert_eq!(page["mine"][0]["dwelling_id"], d0);
    let (s, list) = staff.get(&ballots).await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, stairwell.len()));
    assert_eq!(owner.get(&ballots).await.0, 403, "residents see counts, not others' ballots");

    // Closing waits for the window's end; after it no ballot is taken.
    let close = format!("/api/v1/decisions/{id}/close");
    assert_eq!(staff.post(&close, json!({})).await.0, 409);
    let past = (now - chrono::Duration::minutes(1)).to_rfc3339();
    app.db.execute("UPDATE decisions SET closes_at = $1 WHERE id = $2", huanxin_store::args![past.as_str(), id]).await.unwrap();
    let (s, closed) = staff.post(&close, json!({})).await;
    assert_eq!((s, closed["decision"]["passed"].as_bool()), (200, Some(true)), "{closed}");
    let (s, r) = staff.post(&ballots, json!({"dwelling_id": outside.max(d0), "choice": "agree", "voter": "迟到"})).await;
    assert!(s == 409 && r["detail"].as_str().unwrap().starts_with("voting closed"), "{r}");
    let refused = app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'ballot_refused'", vec![]).await.unwrap();
    let expected_refusals = 5 + i64::from(outside > 0);
    assert_eq!(refused, expected_refusals, "every refused ballot is audited");

    // The archive's zip holds the result and the ballots, generated.
    let (s, zip_bytes) = staff.get_bytes(&format!("/api/v1/estates/{estate}/archive/export.zip")).await;
    assert_eq!(s, 200);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).unwrap();
    let mut book = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(&format!("05-业主表决/表决-{id}.xlsx")).unwrap(), &mut book).unwrap();
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(book)).unwrap();
    assert_eq!(book.worksheet_range("选票").unwrap().rows().count(), stairwell.len() + 1);
    let summary: Vec<String> = book.worksheet_range("表决结果").unwrap().rows().map(|r| r[1].to_string()).collect();
    assert!(summary.contains(&"通过".to_string()), "{summary:?}");

    // The chain verifies; a ballot changed in the database is found.
    let verify = format!("/api/v1/decisions/{id}/verify");
    let (s, v) = staff.get(&verify).await;
    assert_eq!((s, v["intact"].as_bool(), v["ballots"].as_i64()), (200, Some(true), Some(stairwell.len() as i64)), "{v}");
    app.db.execute("UPDATE ballots SET choice = 'disagree' WHERE decision_id = $1 AND seq = 2", huanxin_store::args![id]).await.unwrap();
    let (_, v) = staff.get(&verify).await;
    assert_eq!((v["intact"].as_bool(), v["broken_at"]["seq"].as_i64()), (Some(false), Some(2)), "{v}");
    app.db
        .execute("DELETE FROM ballots WHERE decision_id = $1 AND seq = $2", huanxin_store::args![id, stairwell.len() as i64])
        .await
        .unwrap();
    app.db.execute("UPDATE ballots SET choice = 'agree' WHERE decision_id = $1 AND seq = 2", huanxin_store::args![id]).await.unwrap();
    let (_, v) = staff.get(&verify).await;
    assert_eq!(v["intact"], false, "a removed last ballot shows against the recorded head: {v}");
    // Another county sees none of it.
    assert_eq!(app.client("other_county_admin").await.get(&format!("/api/v1/decisions/{id}")).await.0, 404);
}

/// Ballots that arrive together share one commit (group commit, issue 19), yet each is checked on
/// its own: every dwelling's first ballot counts, its second in the same instant is refused, a
/// store failure fails only its own ballot, and the chain and the running counts agree with a
/// recount of the ballots.
async fn ballots_arriving_together_are_each_counted_once(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, _, _) = estate_with_dwellings(app).await;
    let now = chrono::Utc::now();
    let vote = json!({"title": "外立面改造", "matter": "renovate", "scope": "estate",
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "closes_at": (now + chrono::Duration::days(3)).to_rfc3339()});
    let (s, page) = staff.post(&format!("/api/v1/estates/{estate}/decisions"), vote).await;
    assert_eq!(s, 200, "{page}");
    let id = page["decision"]["id"].as_i64().unwrap();
    let electors: Vec<(i64, i64)> = app
        .db
        .fetch_all("SELECT dwelling_id, area FROM decision_electors WHERE decision_id = $1 ORDER BY dwelling_id", huanxin_store::args![id])
        .await
        .unwrap();
    assert!(electors.len() >= 4, "the seed estate has dwellings");
    let (bad, rest) = electors.split_first().unwrap();
    let path = format!("/api/v1/decisions/{id}/ballots");
    let mut sent = Vec::new();
    for (i, (d, _)) in rest.iter().enumerate() {
        for choice in if i % 3 == 0 { ["disagree", "agree"] } else { ["agree", "disagree"] } {
            let (c, d) = (staff.req(reqwest::Method::POST, &path), *d);
            sent.push(tokio::spawn(async move {
                let r = c.json(&json!({"dwelling_id": d, "choice": choice, "voter": format!("业主{d}")})).send().await.unwrap();
                (d, r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap())
            }));
        }
    }
    // A ballot naming a proxy document that does not exist fails in the store, among the others.
    let input = huanxin_store::decisions::BallotInput {
        dwelling_id: bad.0,
        choice: huanxin_domain::decisions::Choice::Agree,
        channel: huanxin_domain::decisions::Channel::Paper,
        voter: "代理人".into(),
        is_owner: true,
        by_proxy: true,
        proxy_document_id: Some(i64::MAX),
    };
    let scope = huanxin_domain::access::Scope::Region(huanxin_domain::regions::RegionCode::parse("350521000000").unwrap());
    let actor = huanxin_store::audit::Actor::system("test");
    let failed = app.db.cast_ballot(&actor, &scope, id, &input).await;
    assert!(matches!(failed, Err(huanxin_store::decisions::BallotError::Store(_))), "{failed:?}");
    let mut counted: std::collections::HashMap<i64, String> = std::collections::HashMap::new();
    let mut seqs = Vec::new();
    for h in sent {
        let (d, s, body) = h.await.unwrap();
        match s {
            200 => {
                assert!(counted.insert(d, body["choice"].as_str().unwrap().to_string()).is_none(), "dwelling {d} counted twice");
                seqs.push(body["seq"].as_i64().unwrap());
            }
            409 => assert_eq!(body["code"], "decisions.already_voted", "{body}"),
            other => panic!("ballot for {d}: {other} {body}"),
        }
    }
    assert_eq!(counted.len(), rest.len(), "every dwelling's first ballot counts");
    // A paper ballot's signer is a name, not a document.
    let (s, r) = staff.post(&path, json!({"dwelling_id": bad.0, "choice": "abstain", "voter": "长".repeat(51)})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("voter")), "{r}");
    // The failed ballot left nothing behind: its dwelling votes afterwards.
    let (s, r) = staff.post(&path, json!({"dwelling_id": bad.0, "choice": "abstain", "voter": "业主本人"})).await;
    assert_eq!(s, 200, "{r}");
    seqs.push(r["seq"].as_i64().unwrap());
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=electors.len() as i64).collect::<Vec<_>>(), "one link per ballot, in order, no gaps");
    let (s, v) = staff.get(&format!("/api/v1/decisions/{id}/verify")).await;
    assert_eq!((s, v["intact"].as_bool()), (200, Some(true)), "{v}");
    let (_, page) = staff.get(&format!("/api/v1/decisions/{id}")).await;
    let agree_area: i64 = rest.iter().filter(|(d, _)| counted[d] == "agree").map(|(_, a)| a).sum();
    assert_eq!(page["tally"]["agree"]["area"], agree_area, "{page}");
    assert_eq!(page["tally"]["abstain"]["area"], bad.1);
    assert_eq!(page["tally"]["ballots"], electors.len());
    // A running count changed behind the chain's back is caught by the verification.
    app.db.execute("UPDATE decisions SET agree_area = agree_area + 1 WHERE id = $1", huanxin_store::args![id]).await.unwrap();
    let (_, v) = staff.get(&format!("/api/v1/decisions/{id}/verify")).await;
    assert_eq!(v["intact"], false, "{v}");
    assert!(v["broken_at"]["reason"].as_str().unwrap().contains("running counts"), "{v}");
}

/// Bindings arriving together share one commit (group commit, issue 19): each code sent twice at
/// the same instant binds once; the second is refused and leaves no account, session or audit of a
/// binding behind; each new resident's session works at once.
async fn codes_sent_twice_at_once_bind_once(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, building, _) = estate_with_dwellings(app).await;
    let (s, inv) = staff.post(&format!("/api/v1/estates/{estate}/invitations"), json!({"building_id": building})).await;
    assert_eq!(s, 200, "{inv}");
    let codes: Vec<String> =
        inv["invitations"].as_array().unwrap().iter().take(6).map(|i| i["code"].as_str().unwrap().to_string()).collect();
    let users_before = app.db.scalar("SELECT COUNT(*) FROM users", vec![]).await.unwrap();
    let sessions_before = app.db.scalar("SELECT COUNT(*) FROM sessions", vec![]).await.unwrap();
    let mut sent = Vec::new();
    for code in &codes {
        for name in ["甲", "乙"] {
            let (c, code) = (app.anonymous(), code.clone());
            sent.push(tokio::spawn(async move { c.post("/api/v1/residents/bind", json!({"code": code, "name": name})).await }));
        }
    }
    let mut tokens = Vec::new();
    let mut refused = 0;
    for h in sent {
        let (s, b) = h.await.unwrap();
        match s {
            200 => tokens.push(b["token"].as_str().unwrap().to_string()),
            409 => {
                assert_eq!(b["code"], "residents.code_used", "{b}");
                refused += 1;
            }
            other => panic!("{other} {b}"),
        }
    }
    assert_eq!((tokens.len(), refused), (codes.len(), codes.len()), "each code binds once");
    let users = app.db.scalar("SELECT COUNT(*) FROM users", vec![]).await.unwrap();
    let sessions = app.db.scalar("SELECT COUNT(*) FROM sessions", vec![]).await.unwrap();
    assert_eq!((users - users_before, sessions - sessions_before), (codes.len() as i64, codes.len() as i64), "nothing left by a refusal");
    let binds = app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'bind'", vec![]).await.unwrap();
    assert_eq!(binds, codes.len() as i64);
    for t in tokens {
        let me = common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: Some(t) };
        let (s, mine) = me.get("/api/v1/residents/me").await;
        assert_eq!((s, mine.as_array().map(Vec::len)), (200, Some(1)), "{mine}");
    }
}

async fn notices_in_two_rounds_with_objections_and_answers(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let (estate, building, _) = estate_with_dwellings(app).await;
    let scheme = format!("/api/v1/estates/{estate}/scheme");
    let (s, r) = admin.put(&scheme, json!({"items": [{"menu_code": "B13", "building_id": building, "quantity": 100}]})).await;
    assert_eq!(s, 200, "{r}");
    let (s, v1) = admin.post(&format!("{scheme}/versions"), json!({"stage": "notice_1"})).await;
    assert_eq!(s, 201, "{v1}");
    let notices = format!("/api/v1/estates/{estate}/notices");
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let round2 = json!({"title": "方案第二轮公示", "round": 2, "scheme_version": 1, "starts_on": today.to_string(), "working_days": 5});
    let (s, r) = staff.post(&notices, round2.clone()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str().unwrap()), (422, "round"), "{r}");
    let (s, r) = staff
        .post(&notices, json!({"title": "x", "round": 1, "scheme_version": 9, "starts_on": today.to_string(), "working_days": 5}))
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str().unwrap()), (422, "scheme_version"), "{r}");
    let (s, r) = staff.post(&notices, json!({"title": "x", "round": 1, "starts_on": "2020-01-01", "working_days": 0})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["scheme_version", "working_days", "starts_on"]));
    // Each refusal carries its stable code and parameters, and the catalogue has it in both languages.
    assert_eq!(r["code"], "request.invalid", "{r}");
    assert_eq!(r["errors"][1]["code"], "notices.working_days_range", "{r}");
    assert_eq!(r["errors"][1]["params"]["min_working_days"], "1", "{r}");
    for e in r["errors"].as_array().unwrap() {
        let code = e["code"].as_str().unwrap();
        assert!(huanxin_domain::reasons::wording(code).is_some_and(|w| !w.zh.is_empty()), "{code} is not in the catalogue");
    }
    assert_eq!(app.client("contractor").await.post(&notices, round2.clone()).await.0, 403);
    let (s, n1) = staff
        .post(
            &notices,
            json!({"title": "方案第一轮公示", "body": "详见公告栏", "round": 1, "scheme_version": 1,
        "starts_on": today.to_string(), "working_days": 5}),
        )
        .await;
    assert_eq!(s, 200, "{n1}");
    assert!(n1["ends_on"].as_str().unwrap() > today.to_string().as_str());
    let n1_id = n1["id"].as_i64().unwrap();
    let shown = if n1["state"] == "open" {
        true
    } else {
        assert_eq!(n1["state"], "upcoming");
        false
    };

    // Objections while on the board; each answered once.
    let comments = format!("/api/v1/notices/{n1_id}/comments");
    let (s, r) = staff.post(&comments, json!({"kind": "rant", "text": "x"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str().unwrap()), (422, "kind"));
    if shown {
        let (s, c) = staff.post(&comments, json!({"kind": "objection", "text": "电梯费用分摊不合理", "author": "3栋王阿姨"})).await;
        assert_eq!(s, 200, "{c}");
        assert_eq!(c["author"], "3栋王阿姨");
        let answer = format!("/api/v1/notice-comments/{}/answer", c["id"]);
        let (s, a) = staff.post(&answer, json!({"answer": "分摊按楼层系数，已在第二轮方案中说明"})).await;
        assert_eq!((s, a["answered_by"].as_str().unwrap()), (200, "county_staff"));
        assert_eq!(staff.post(&answer, json!({"answer": "again"})).await.0, 409);
        assert_eq!(app.client("contractor").await.post(&answer, json!({"answer": "x"})).await.0, 403);
        let resident = bind_owner(app, &staff, estate, building, estate_with_dwellings(app).await.2[0]).await;
        let (_, seen) = resident.get(&notices).await;
        assert_eq!(seen[0]["comments"][0]["author"], "居民", "residents do not see who else objected");
        assert!(seen[0]["comments"][0].get("user_id").is_none());
    }
    let (_, lc) = admin.get(&format!("/api/v1/estates/{estate}/lifecycle")).await;
    assert_eq!(lc["facts"]["notices_closed"], 0);

    // Round 1 ends: comments close, round 2 may be posted, and the lifecycle counts it.
    app.db
        .execute("UPDATE notices SET starts_on = '2026-01-05', ends_on = '2026-01-09' WHERE id = $1", huanxin_store::args![n1_id])
        .await
        .unwrap();
    let (s, r) = staff.post(&comments, json!({"kind": "opinion", "text": "晚了", "author": "林阿婆"})).await;
    assert_eq!(s, 409, "{r}");
    let (_, lc) = admin.get(&format!("/api/v1/estates/{estate}/lifecycle")).await;
    assert_eq!(lc["facts"]["notices_closed"], 1);
    let (_, archive) = admin.get(&format!("/api/v1/estates/{estate}/archive")).await;
    let notice_section = archive["sections"].as_array().unwrap().iter().find(|x| x["section"] == "notice").unwrap().clone();
    assert_eq!(notice_section["records"], json!(["opinions"]), "every comment answered: {notice_section}");
    let (s, n2) = staff.post(&notices, round2).await;
    assert_eq!(s, 200, "{n2}");
    let (s, list) = staff.get(&notices).await;
    assert_eq!((s, list.as_array().unwrap().len()), (200, 2));
    assert_eq!(list[1]["comments"].as_array().unwrap().len(), usize::from(shown));
    assert_eq!(app.client("other_county_admin").await.get(&notices).await.0, 404);
}

/// A notice and a vote show the owners the version of the scheme they are about, and each owner
/// what their household is asked to pay: the residents' lines shared by floor area (the estate's
/// across the estate, a building's across the building, a stairwell's lift across the stairwell).
/// Residents read issued versions only, never the desk's draft.
async fn owners_see_the_scheme_they_decide_on(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let (estate, building, stairwell) = estate_with_dwellings(app).await;
    let scheme = format!("/api/v1/estates/{estate}/scheme");
    let items = json!({"items": [
        {"menu_code": "B13", "building_id": building, "quantity": 100},
        {"menu_code": "B14", "building_id": building, "quantity": 2, "payer": "residents"},
        {"menu_code": "I12", "building_id": building, "quantity": 1},
        {"menu_code": "I03", "quantity": 10, "payer": "residents"},
        {"menu_code": "B02", "quantity": 50},
    ]});
    let (s, draft) = admin.put(&scheme, items).await;
    assert_eq!(s, 200, "{draft}");
    let cost = |code: &str| {
        draft["draft"]["items"].as_array().unwrap().iter().find(|i| i["menu_code"] == code).map(|i| {
            let q = i["quantity_hundredths"].as_i64().unwrap();
            (q * i["unit_price_fen"].as_i64().unwrap() + 50) / 100
        })
    };
    let (estate_lines, building_lines, lift) = (cost("I03").unwrap(), cost("B14").unwrap() + cost("I12").unwrap(), cost("I12").unwrap());
    // Nothing issued yet: no vote on the scheme (owners would vote on what they cannot read), and
    // no notice of the draft.
    let opens = chrono::Utc::now() - chrono::Duration::minutes(5);
    let window = |mut body: Value| {
        body["opens_at"] = json!(opens.to_rfc3339());
        body["closes_at"] = json!((opens + chrono::Duration::days(7)).to_rfc3339());
        body
    };
    let on_scheme = window(json!({"title": "同意改造方案", "matter": "renovate", "scope": "estate", "on_scheme": true}));
    let (s, r) = staff.post(&format!("/api/v1/estates/{estate}/decisions"), on_scheme).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("decisions.no_issued_scheme")), "{r}");
    let (s, _) = admin.post(&format!("{scheme}/versions"), json!({"stage": "notice_1"})).await;
    assert_eq!(s, 201);
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let (s, n) = staff
        .post(
            &format!("/api/v1/estates/{estate}/notices"),
            json!({"title": "方案第一轮公示", "round": 1, "scheme_version": 1, "starts_on": today.to_string(), "working_days": 5}),
        )
        .await;
    assert_eq!(s, 200, "{n}");
    let on_notice = format!("/api/v1/notices/{}/scheme", n["id"]);
    let (s, r) = staff
        .post(
            &format!("/api/v1/estates/{estate}/notices"),
            json!({"title": "草稿公示", "round": 1, "scheme_version": 0, "starts_on": today.to_string(), "working_days": 5}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("scheme_version")), "the draft is not put on the board: {r}");

    let d0 = stairwell[0];
    let resident = bind_owner(app, &staff, estate, building, d0).await;
    let sum = |sql: &'static str, id: i64| app.db.scalar(sql, huanxin_store::args![id]);
    let mine = sum("SELECT exclusive_area FROM dwellings WHERE id = $1", d0).await.unwrap();
    let estate_area = sum("SELECT CAST(SUM(exclusive_area) AS BIGINT) FROM dwellings WHERE estate_id = $1", estate).await.unwrap();
    let building_area = sum("SELECT CAST(SUM(exclusive_area) AS BIGINT) FROM dwellings WHERE building_id = $1", building).await.unwrap();
    let stairwell_area =
        sum("SELECT CAST(SUM(exclusive_area) AS BIGINT) FROM dwellings WHERE building_id = $1 AND stairwell = 1", building).await.unwrap();
    let by_area = |fen: i64, of: i64| (2 * i128::from(fen) * i128::from(mine) + i128::from(of)) / (2 * i128::from(of));

    let (s, seen) = resident.get(&on_notice).await;
    assert_eq!(s, 200, "{seen}");
    assert_eq!((seen["version_no"].as_i64(), seen["stage"].as_str()), (Some(1), Some("notice_1")));
    assert_eq!(seen["lines"].as_array().unwrap().len(), 5, "the whole scheme on a notice of it");
    assert_eq!(seen["estimate"]["total_fen"], draft["draft"]["estimate"]["total_fen"]);
    let share = &seen["households"][0]["share"];
    assert_eq!(seen["households"].as_array().unwrap().len(), 1, "{seen}");
    assert_eq!(i128::from(share["estate_fen"].as_i64().unwrap()), by_area(estate_lines, estate_area), "{seen}");
    assert_eq!(i128::from(share["building_fen"].as_i64().unwrap()), by_area(building_lines, building_area), "{seen}");
    // Staff see the scheme, and no household of their own.
    let (_, desk) = staff.get(&on_notice).await;
    assert_eq!(desk["households"], json!([]));
    assert_eq!(app.client("other_county_admin").await.get(&on_notice).await.0, 404);

    // A stairwell's lift vote is about that building's lines; the lift falls on the stairwell.
    let (s, d) = staff
        .post(
            &format!("/api/v1/estates/{estate}/decisions"),
            json!({"title": "1单元加装电梯", "matter": "renovate", "scope": "stairwell", "building_id": building, "stairwell": 1,
                   "opens_at": opens.to_rfc3339(), "closes_at": (opens + chrono::Duration::days(7)).to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    let (s, lift_vote) = resident.get(&format!("/api/v1/decisions/{}/scheme", d["decision"]["id"])).await;
    assert_eq!(s, 200, "{lift_vote}");
    assert_eq!(lift_vote["building_id"], building);
    assert!(lift_vote["lines"].as_array().unwrap().iter().all(|l| l["building_id"] == building), "{lift_vote}");
    let share = &lift_vote["households"][0]["share"];
    assert_eq!(share["estate_fen"], 0, "the estate's lines are not this vote's");
    assert_eq!(i128::from(share["building_fen"].as_i64().unwrap()), by_area(building_lines, stairwell_area), "{lift_vote}");
    assert!(share["building_fen"].as_i64().unwrap() >= by_area(lift, building_area) as i64);
    // A vote on another matter has no scheme.
    let (s, d) = staff
        .post(
            &format!("/api/v1/estates/{estate}/decisions"),
            json!({"title": "选聘物业", "matter": "property_manager", "scope": "estate",
                   "opens_at": opens.to_rfc3339(), "closes_at": (opens + chrono::Duration::days(7)).to_rfc3339()}),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(resident.get(&format!("/api/v1/decisions/{}/scheme", d["decision"]["id"])).await, (200, Value::Null));

    // Residents read issued versions, not the draft the desk is still changing.
    assert_eq!(resident.get(&scheme).await.0, 403);
    assert_eq!(resident.get(&format!("{scheme}/versions/0")).await.0, 403);
    assert_eq!(resident.get(&format!("{scheme}/export.xlsx")).await.0, 403);
    assert_eq!(resident.get(&format!("{scheme}/diff?from=0&to=1")).await.0, 403);
    assert_eq!(resident.get(&format!("{scheme}/versions/1")).await.0, 200);
    assert_eq!(resident.get_bytes(&format!("{scheme}/export.xlsx?version=1")).await.0, 200);
}

/// Binds the registered owner of a dwelling with a fresh invitation code; returns the resident's client.
async fn bind_owner(app: &TestApp, staff: &common::Client, estate: i64, building: i64, dwelling: i64) -> common::Client {
    let (_, inv) = staff.post(&format!("/api/v1/estates/{estate}/invitations"), json!({"building_id": building})).await;
    let code = inv["invitations"].as_array().unwrap().iter().find(|i| i["dwelling_id"] == dwelling).unwrap()["code"].clone();
    let owners: Vec<(String, String)> =
        app.db.fetch_all("SELECT name, phone FROM dwelling_owners WHERE dwelling_id = $1", huanxin_store::args![dwelling]).await.unwrap();
    let (name, phone) = owners.first().cloned().unwrap_or(("住户".into(), String::new()));
    let (s, b) = app.anonymous().post("/api/v1/residents/bind", json!({"code": code, "name": name, "phone": phone})).await;
    assert_eq!(s, 200, "{b}");
    let client = common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: Some(b["token"].as_str().unwrap().into()) };
    // An owner's standing comes from the clerk's check of the certificate, not from what was typed.
    if b["bound"]["standing"] != "owner" && !owners.is_empty() {
        let (_, me) = client.get("/api/v1/auth/me").await;
        let (s, r) = staff
            .post(
                &format!("/api/v1/estates/{estate}/residents/verify"),
                json!({"dwelling_id": dwelling, "user_id": me["id"], "certificate_no": format!("惠房权证字第{dwelling:06}号")}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
    }
    client
}

async fn needs_survey_answers_results_and_export(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    let surveys = format!("/api/v1/estates/{estate}/surveys");
    let (s, r) = staff
        .post(
            &surveys,
            json!({"title": "问需", "purpose": "needs", "questions": [{"id": "q", "kind": "single", "text": "x", "options": ["a"]}],
        "opens_on": today.to_string(), "closes_on": "2020-01-01"}),
        )
        .await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["questions[0].options", "closes_on"]));
    let questionnaire = json!({"title": "北关小区改造问需", "purpose": "needs", "opens_on": today.to_string(),
        "closes_on": (today + chrono::Duration::days(14)).to_string(), "questions": [
        {"id": "will", "kind": "single", "text": "是否同意改造", "options": ["同意", "不同意"], "required": true, "feeds": "willing_to_renovate"},
        {"id": "space", "kind": "single", "text": "楼下空地用作", "options": ["停车位", "儿童游乐场", "菜地"], "space": "楼下空地"},
        {"id": "needs", "kind": "multiple", "text": "最需要的改造", "options": ["加装电梯", "外墙保温", "雨污分流"]},
        {"id": "sat", "kind": "rating", "text": "对现状满意度", "max_rating": 5},
        {"id": "photo", "kind": "photo", "text": "问题照片"}]});
    assert_eq!(app.client("contractor").await.post(&surveys, questionnaire.clone()).await.0, 403);
    let (s, survey) = staff.post(&surveys, questionnaire).await;
    assert_eq!(s, 201, "{survey}");
    let id = survey["id"].as_i64().unwrap();
    assert_eq!(survey["open"], true);

    // A resident answers from the phone, with a photo; once per dwelling.
    let resident = bind_owner(app, &staff, estate, building, dwellings[0]).await;
    let (s, docs) = resident.upload_form(&format!("/api/v1/surveys/{id}/photos"), &[], "leak.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{docs}");
    let photo = docs[0]["id"].as_i64().unwrap();
    let answers = format!("/api/v1/surveys/{id}/answers");
    let (s, r) =
        resident.post(&answers, json!({"dwelling_id": dwellings[0], "answers": {"will": 0, "space": 5, "nope": 1, "photo": 999999}})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["answers.nope", "answers.space", "answers.photo"]));
    let refused = app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'answer_refused'", vec![]).await.unwrap();
    assert_eq!(refused, 1, "the refused answer is audited");
    let (s, r) = resident
        .post(&answers, json!({"dwelling_id": dwellings[0], "answers": {"will": 0, "space": 0, "needs": [0, 1], "sat": 2, "photo": photo}}))
        .await;
    assert_eq!(s, 201, "{r}");
    let (s, r) = resident.post(&answers, json!({"dwelling_id": dwellings[0], "answers": {"will": 1}})).await;
    assert_eq!((s, r["detail"].as_str().unwrap()), (409, "this dwelling has already answered the survey"));
    assert_eq!(resident.post(&answers, json!({"dwelling_id": dwellings[1], "answers": {"will": 1}})).await.0, 403, "not their dwelling");
    let (_, page) = resident.get(&format!("/api/v1/surveys/{id}")).await;
    assert_eq!(page["answered_dwellings"], json!([dwellings[0]]));

    // Paper forms entered by staff: the space splits between parking and a play area.
    for (i, d) in dwellings.iter().enumerate().skip(1).take(3) {
        let space = if i % 2 == 0 { 0 } else { 1 };
        let (s, r) = staff.post(&answers, json!({"dwelling_id": d, "respondent": format!("纸质{i}"), "answers": {"will": i64::from(i == 3), "space": space, "needs": [0], "sat": 4}})).await;
        assert_eq!(s, 201, "{r}");
    }
    let elsewhere = app.db.scalar("SELECT MIN(id) FROM dwellings WHERE estate_id <> $1", huanxin_store::args![estate]).await.unwrap();
    let (s, r) = staff.post(&answers, json!({"dwelling_id": elsewhere, "answers": {"will": 0}})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("dwelling_id")), "a dwelling of another estate: {r}");
    let (s, res) = staff.get(&format!("/api/v1/surveys/{id}/results")).await;
    assert_eq!(s, 200, "{res}");
    let r = &res["results"];
    assert_eq!(r["respondents"], 4);
    assert_eq!(r["willing_to_renovate_bp"], 7_500);
    assert_eq!(r["demand_list"][0][1], "加装电梯");
    assert_eq!(r["demand_list"][0][2], 4);
    assert_eq!(r["conflicts"][0]["space"], "楼下空地", "{r}");
    assert_eq!(r["questions"][3]["average_x100"], 350);
    let (_, archive) = staff.get(&format!("/api/v1/estates/{estate}/archive")).await;
    let plan = archive["sections"].as_array().unwrap().iter().find(|x| x["section"] == "plan").unwrap().clone();
    assert!(plan["records"].as_array().unwrap().contains(&json!("needs_survey")), "{plan}");
    let w = app.db.willingness_of(&[estate]).await.unwrap();
    assert_eq!(w.get(&estate), Some(&7_500), "the ranking reads the willingness");

    let (s, bytes) = staff.get_bytes(&format!("/api/v1/surveys/{id}/export.xlsx")).await;
    assert_eq!(s, 200);
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), ["需求清单", "分楼栋", "空间冲突", "答卷"]);
    let rows: Vec<Vec<String>> = book.worksheet_range("答卷").unwrap().rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows.len(), 5, "a header and four answers");
    assert!(rows[1].contains(&"停车位".to_string()) && rows[1].contains(&"加装电梯、外墙保温".to_string()), "{:?}", rows[1]);
    assert_eq!(app.client("other_county_admin").await.get(&format!("/api/v1/surveys/{id}/results")).await.0, 404);
}

async fn owners_sign_in_with_a_text_message(app: &TestApp) {
    let (_, _, dwellings) = estate_with_dwellings(app).await;
    // An owner of two dwellings, registered with one mobile number.
    for d in &dwellings[..2] {
        app.db.execute("DELETE FROM dwelling_owners WHERE dwelling_id = $1", huanxin_store::args![*d]).await.unwrap();
        app.db
            .execute(
                "INSERT INTO dwelling_owners (dwelling_id, name, phone, share_bp) VALUES ($1, '林业主', '13711112222', 10000)",
                huanxin_store::args![*d],
            )
            .await
            .unwrap();
    }
    let anon = app.anonymous();
    let (s, r) = anon.post("/api/v1/residents/otp", json!({"phone": "12345"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("phone")));
    // A number nobody registered gets the same answer, and no message.
    let (s, _) = anon.post("/api/v1/residents/otp", json!({"phone": "13099998888"})).await;
    assert_eq!(s, 202);
    assert!(app.sms.lock().unwrap().is_empty(), "no message to an unregistered number");
    let (s, _) = anon.post("/api/v1/residents/otp", json!({"phone": "+86 137-1111-2222"})).await;
    assert_eq!(s, 202);
    let text = {
        let sent = app.sms.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["phone"], "13711112222");
        sent[0]["text"].as_str().unwrap().to_string()
    };
    let code: String = text.chars().filter(|c| c.is_ascii_digit()).take(6).collect();
    let (s, _) = anon.post("/api/v1/residents/otp", json!({"phone": "13711112222"})).await;
    assert_eq!(s, 429, "a second code waits a minute");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (s, r) = anon.post("/api/v1/residents/otp/verify", json!({"phone": "13711112222", "code": wrong})).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("the code is not valid")));
    // Sent twice at once (a double tap): the code binds once; the other hears it is spent.
    let verify = json!({"phone": "13711112222", "code": code, "name": "林业主"});
    let (first, second) =
        tokio::join!(anon.post("/api/v1/residents/otp/verify", verify.clone()), anon.post("/api/v1/residents/otp/verify", verify));
    let mut codes = [first.0, second.0];
    codes.sort();
    assert_eq!(codes, [200, 409], "{first:?} {second:?}");
    let b = if first.0 == 200 { first.1 } else { second.1 };
    let accounts = app.db.scalar("SELECT COUNT(*) FROM users WHERE phone = '13711112222' AND role = 'resident'", vec![]).await.unwrap();
    assert_eq!(accounts, 1, "one account made");
    let bound: Vec<i64> = b["dwellings"].as_array().unwrap().iter().map(|d| d["dwelling_id"].as_i64().unwrap()).collect();
    assert_eq!(bound, dwellings[..2].to_vec(), "both dwellings of the number, as owner");
    assert!(b["dwellings"].as_array().unwrap().iter().all(|d| d["standing"] == "owner"));
    let (s, r) = anon.post("/api/v1/residents/otp/verify", json!({"phone": "13711112222", "code": code})).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("the code has expired or was tried too often; ask for a new one")), "spent once");
    let owner = common::Client { base: app.base.clone(), http: reqwest::Client::new(), token: Some(b["token"].as_str().unwrap().into()) };
    let (s, mine) = owner.get("/api/v1/residents/me").await;
    assert_eq!((s, mine.as_array().unwrap().len()), (200, 2));
}

async fn public_progress_page_where_the_region_publishes(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let (estate, building, _) = estate_with_dwellings(app).await;
    let (_, e) = admin.get(&format!("/api/v1/estates/{estate}")).await;
    let code = e["code"].as_str().unwrap().to_string();
    let anon = app.anonymous();
    let page = format!("/api/v1/public/estates/{code}");
    assert_eq!(anon.get(&page).await.0, 404, "off unless the region publishes");
    assert_eq!(app.client("street_staff").await.put("/api/v1/public-pages/350521100000", json!({"enabled": true})).await.0, 403);
    assert_eq!(admin.put("/api/v1/public-pages/350502000000", json!({"enabled": true})).await.0, 403, "another county");
    let (s, r) = admin.put("/api/v1/public-pages/350521000000", json!({"enabled": true})).await;
    assert_eq!((s, r["enabled"].as_bool()), (200, Some(true)));

    // What is done, the money by payer and the photos; nothing personal.
    admin
        .put(
            &format!("/api/v1/estates/{estate}/scheme"),
            json!({"items": [{"menu_code": "B13", "building_id": building, "quantity": 1200.5}]}),
        )
        .await;
    let archive = format!("/api/v1/estates/{estate}/archive");
    let (s, before) = admin
        .upload_form(&archive, &[("section", "assessment"), ("kind", "photos_before"), ("title", "改造前")], "before.png", PNG.to_vec())
        .await;
    assert_eq!(s, 201, "{before}");
    let (_, report) =
        admin.upload_form(&archive, &[("section", "plan"), ("kind", "project_approval"), ("title", "批复")], "a.png", PNG.to_vec()).await;
    let (s, p) = anon.get(&page).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["name"], e["name"]);
    assert_eq!((p["items"].clone(), p["estimate"]["total_fen"].as_i64()), (json!([]), Some(0)), "a draft is not public: {p}");
    let (s, v) = admin.post(&format!("/api/v1/estates/{estate}/scheme/versions"), json!({"stage": "notice_1"})).await;
    assert_eq!(s, 201, "{v}");
    let (_, p) = anon.get(&page).await;
    assert_eq!(p["scheme_stage"], "notice_1");
    assert_eq!(p["items"][0]["quantity"], "1200.5");
    assert!(p["estimate"]["total_fen"].as_i64().unwrap() > 0);
    assert_eq!(p["photos"], json!([before["id"]]));
    let text = p.to_string();
    assert!(!text.contains("phone") && !text.contains("username") && !text.contains("owner"), "{text}");
    let (s, bytes) = anon.get_bytes(&format!("{page}/photos/{}", before["id"])).await;
    assert_eq!((s, bytes), (200, PNG.to_vec()));
    assert_eq!(anon.get_bytes(&format!("{page}/photos/{}", report["id"])).await.0, 404, "only the listed photos");
    admin.put("/api/v1/public-pages/350521000000", json!({"enabled": false})).await;
    assert_eq!(anon.get(&page).await.0, 404);

    // One estate published on its own, confirmed; the region's default is shown beside it.
    let own = format!("/api/v1/estates/{estate}/public-page");
    let (_, state) = admin.get(&own).await;
    assert_eq!((state["enabled"].as_bool(), state["source"].as_str()), (Some(false), Some("region")), "{state}");
    let (s, r) = admin.put(&own, json!({"enabled": true})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("confirm")), "{r}");
    assert_eq!(anon.get(&page).await.0, 404, "nothing changed");
    assert_eq!(app.client("contractor").await.put(&own, json!({"enabled": true, "confirm": true})).await.0, 403);
    let (s, state) = admin.put(&own, json!({"enabled": true, "confirm": true})).await;
    assert_eq!((s, state["source"].as_str(), state["region_default"].as_bool()), (200, Some("estate"), Some(false)), "{state}");
    assert_eq!(anon.get(&page).await.0, 200, "published for this estate alone");
    admin.put("/api/v1/public-pages/350521000000", json!({"enabled": true})).await;
    assert_eq!(admin.put(&own, json!({"enabled": false})).await.0, 200, "withdrawing needs no confirmation");
    assert_eq!(anon.get(&page).await.0, 404, "the estate's own choice wins over the region's default");
}

async fn a_county_adapts_the_archive_checklist(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let put = |region: &str| format!("/api/v1/archive-checklist/{region}");
    let own = json!({"section": "plan", "kind": "safety_permit", "name_zh": "施工安全许可证", "required": true, "active": true});
    assert_eq!(admin.put(&put("350000000000"), own.clone()).await.0, 403, "the province is above the county");
    assert_eq!(app.client("street_staff").await.put(&put("350521100000"), own.clone()).await.0, 403);
    let (s, r) = admin.put(&put("350521000000"), json!({"section": "plans", "kind": "other", "name_zh": "", "active": true})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["section", "kind", "name_zh"]));
    let (s, page) = admin.put(&put("350521000000"), own).await;
    assert_eq!(s, 200, "{page}");
    let (s, page) = admin.put(&put("350521000000"), json!({"section": "notice", "kind": "notice_round_2", "active": false})).await;
    assert_eq!(s, 200, "{page}");
    let kinds: Vec<&str> = page["lines"].as_array().unwrap().iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"safety_permit") && !kinds.contains(&"notice_round_2"), "{kinds:?}");
    assert_eq!(page["national"].as_array().unwrap().len(), 19);

    // An estate of the county is measured against it; one of another county is not.
    let id = app.attached_estate;
    app.db.execute("UPDATE estates SET status = 'approved' WHERE id = $1", vec![id.into()]).await.unwrap();
    let (_, a) = admin.get(&format!("/api/v1/estates/{id}/archive")).await;
    let plan = a["sections"].as_array().unwrap().iter().find(|x| x["section"] == "plan").unwrap().clone();
    assert_eq!(plan["missing"], json!(["project_approval", "safety_permit"]), "{plan}");
    let notice = a["sections"].as_array().unwrap().iter().find(|x| x["section"] == "notice").unwrap().clone();
    assert_eq!(notice["missing"], json!(["notice_round_1"]), "round 2 is not asked for here: {notice}");
    let fields = [("section", "plan"), ("kind", "safety_permit"), ("title", "安全许可")];
    let (s, d) = admin.upload_form(&format!("/api/v1/estates/{id}/archive"), &fields, "permit.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{d}");
    let other = app.client("other_county_admin").await;
    let (s, r) =
        other.upload_form(&format!("/api/v1/estates/{}/archive", app.other_county_estate), &fields, "permit.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("kind")), "not a line in another county: {r}");
}

async fn service_requests_filed_handled_and_rated(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    let resident = bind_owner(app, &staff, estate, building, dwellings[0]).await;
    let path = format!("/api/v1/estates/{estate}/requests");
    let (s, r) = resident.post(&path, json!({"category": "repair", "text": ""})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["category", "text"]), "a group with kinds is no category to file under");
    assert_eq!(resident.post(&path, json!({"category": "property", "text": "楼道灯坏了", "dwelling_id": dwellings[1]})).await.0, 403);
    let (s, mine) = resident
        .post(
            &path,
            json!({"category": "property", "text": "楼道灯坏了", "dwelling_id": dwellings[0], "suggested_category": "repair.power"}),
        )
        .await;
    assert_eq!(s, 201, "{mine}");
    assert_eq!((mine["status"].as_str(), mine["channel"].as_str()), (Some("submitted"), Some("online")));
    assert_eq!(
        (mine["suggested_category"].as_str(), mine["category_confirmed_by"].as_str()),
        (Some("repair.power"), None),
        "a resident's choice waits for staff"
    );
    assert_eq!(mine["unit_kind"], "community", "complaints about the property company go to the community: {mine}");
    assert!(mine["due_on"].as_str().unwrap() > mine["created_at"].as_str().unwrap().get(..10).unwrap());
    let (s, r) = staff.post(&path, json!({"category": "renovation.disturbance", "text": "夜间施工噪音", "author": "李".repeat(65)})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("author")), "a name, not a letter");
    let (s, r) = staff
        .post(&path, json!({"category": "renovation.disturbance", "text": "夜间施工噪音", "author": "3栋李先生", "channel": "fax"}))
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("channel")), "{r}");
    let (s, taken) = staff.post(&path, json!({"category": "renovation.disturbance", "text": "夜间施工噪音", "author": "3栋李先生"})).await;
    assert_eq!(
        (s, taken["channel"].as_str(), taken["category_confirmed_by"].as_str()),
        (201, Some("phone"), Some("county_staff")),
        "{taken}"
    );
    assert_eq!(taken["unit_kind"], "community", "no contractor is registered: the community has it: {taken}");
    assert_eq!(app.client("contractor").await.post(&path, json!({"category": "question", "text": "x", "author": "y"})).await.0, 403);
    let grid = app.client("grid_worker").await;
    let found = json!({"category": "safety.fire_passage", "text": "消防通道堆放杂物", "author": "巡查发现"});
    let (ours,): (i64,) = app.db.fetch_one("SELECT MIN(id) FROM estates WHERE community_code = '350521100001'", vec![]).await.unwrap();
    let (s, patrol) = grid.post(&format!("/api/v1/estates/{ours}/requests"), found.clone()).await;
    assert_eq!((s, patrol["channel"].as_str()), (201, Some("patrol")), "grid workers file what they find on patrol: {patrol}");
    if ours != estate {
        assert_eq!(grid.post(&path, found).await.0, 404, "outside the grid worker's community");
    }

    // Residents see their own; staff see all.
    let (_, list) = resident.get(&path).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let (_, list) = staff.get(&path).await;
    assert_eq!(list.as_array().unwrap().len(), if ours == estate { 3 } else { 2 });

    let handle = format!("/api/v1/requests/{}/handle", mine["id"]);
    let (s, r) = staff.post(&handle, json!({"status": "resolved"})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["reason"].as_str()),
        (422, Some("answer"), Some("say how it was resolved"))
    );
    assert_eq!(resident.post(&handle, json!({"status": "resolved", "answer": "x"})).await.0, 403, "residents do not resolve");
    let (s, r) = staff.post(&handle, json!({"status": "in_progress"})).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("in_progress")));
    let rating = format!("/api/v1/requests/{}/rating", mine["id"]);
    assert_eq!(resident.post(&rating, json!({"rating": 5})).await.0, 409, "not resolved yet");
    let (s, r) = staff.post(&handle, json!({"status": "resolved", "answer": "已更换灯泡"})).await;
    assert_eq!((s, r["status"].as_str(), r["answer"].as_str()), (200, Some("resolved"), Some("已更换灯泡")));
    assert_eq!(staff.post(&handle, json!({"status": "in_progress"})).await.0, 409, "resolved is final");
    assert_eq!(staff.post(&rating, json!({"rating": 5})).await.0, 403, "only who filed it rates");
    let (s, r) = resident.post(&rating, json!({"rating": 6})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("rating")), "{r}");
    let (s, r) = resident.post(&rating, json!({"rating": 4})).await;
    assert_eq!((s, r["rating"].as_i64(), r["status"].as_str()), (200, Some(4), Some("closed")), "the rating closes it");
    assert_eq!(resident.post(&rating, json!({"rating": 1})).await.0, 409, "rated once");
    assert_eq!(app.client("other_county_admin").await.post(&rating, json!({"rating": 1})).await.0, 404, "another county learns nothing");
    let (_, mine) = resident.get("/api/v1/residents/requests").await;
    assert_eq!(mine[0]["status"], "closed");
    assert_eq!(app.client("other_county_admin").await.get(&path).await.0, 404);

    // The desk is offered a category for what the caller said, with how sure the model is.
    let (s, tree) = staff.get("/api/v1/request-categories").await;
    assert_eq!(s, 200);
    assert!(tree.as_array().unwrap().iter().any(|c| c["code"] == "safety.gas_smell" && c["parent"] == "safety"), "{tree}");
    let (s, offered) = staff.post("/api/v1/requests/suggest-category", json!({"text": "5号楼2单元楼道里煤气味很重，像是哪里漏气了"})).await;
    assert_eq!(s, 200, "{offered}");
    let offered = offered.as_array().unwrap();
    assert_eq!(offered.len(), 3, "the three likeliest");
    assert_eq!((offered[0]["code"].as_str(), offered[0]["zh"].as_str()), (Some("safety.gas_smell"), Some("燃气异味")), "{offered:?}");
    let sure: Vec<f64> = offered.iter().map(|o| o["confidence"].as_f64().unwrap()).collect();
    assert!(sure[0] > 0.5 && sure[0] <= 1.0 && sure.windows(2).all(|w| w[0] >= w[1]), "{sure:?}");
    let (s, none) = staff.post("/api/v1/requests/suggest-category", json!({"text": "🙂🙂"})).await;
    assert_eq!((s, none), (200, json!([])), "nothing the model has seen: no suggestion");
    let (s, r) = staff.post("/api/v1/requests/suggest-category", json!({})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("text")), "{r}");
    let (s, r) = staff.post("/api/v1/requests/suggest-category", json!({"text": "   "})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("text")), "{r}");
    let (s, r) = staff.post("/api/v1/requests/suggest-category", json!({"text": "长".repeat(2001)})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("text")), "{r}");
    assert_eq!(app.client("designer").await.post("/api/v1/requests/suggest-category", json!({"text": "停水"})).await.0, 403);
}

/// Units and routing: a category goes to its unit (a utility, the property company, an office),
/// which alone sees and handles it; it gives back what is not its matter and the desk transfers it;
/// duplicates merge; a late one is supervised from the office above; the callback visit closes it
/// or sends it back; a correction of the suggested category teaches the model.
async fn requests_are_routed_handed_over_and_supervised(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let utility = app.client("utility").await;
    let property = app.client("property_company").await;
    let other = app.client("other_county_admin").await;
    let water = json!({"region_code": "350521000000", "kind": "water", "name": "惠安县自来水公司", "phone": "0595-87362345"});
    let (s, w) = admin.post("/api/v1/request-units", water.clone()).await;
    assert_eq!(s, 201, "{w}");
    let (s, r) = admin.post("/api/v1/request-units", water.clone()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("name")), "registered once: {r}");
    for (body, field) in [
        (json!({"region_code": "350521000000", "kind": "community", "name": "x"}), "kind"),
        (json!({"region_code": "350502000000", "kind": "gas", "name": "x"}), "region_code"),
        (json!({"region_code": "350521000000", "kind": "gas", "name": " "}), "name"),
    ] {
        let (s, r) = admin.post("/api/v1/request-units", body).await;
        assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some(field)), "{r}");
    }
    assert_eq!(staff.post("/api/v1/request-units", water).await.0, 403, "administrators register units");
    let members = format!("/api/v1/request-units/{}/members", w["id"]);
    let (s, r) = admin.post(&members, json!({"username": "resident"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("username")), "only an organisation's account: {r}");
    assert_eq!(other.post(&members, json!({"username": "utility"})).await.0, 422, "not another county's account or unit");
    assert_eq!(admin.post(&members, json!({"username": "utility"})).await.0, 204);
    let (_, units) = staff.get("/api/v1/request-units").await;
    assert_eq!(units.as_array().unwrap().iter().find(|u| u["id"] == w["id"]).unwrap()["members"], 1, "{units}");
    assert_eq!(other.get("/api/v1/request-units").await.1, json!([]), "another county's units are not listed");

    // Water goes to the water company, which alone of the organisations sees it.
    let (estate, _, _) = estate_with_dwellings(app).await;
    let path = format!("/api/v1/estates/{estate}/requests");
    let (s, r) = staff
        .post(
            &path,
            json!({"category": "repair.water", "text": "2号楼自来水发黄浑浊", "author": "王女士", "suggested_category": "repair.water"}),
        )
        .await;
    assert_eq!((s, r["unit_kind"].as_str(), r["unit_name"].as_str()), (201, Some("water"), Some("惠安县自来水公司")), "{r}");
    let id = r["id"].as_i64().unwrap();
    let one = format!("/api/v1/requests/{id}");
    let (s, seen) = utility.get("/api/v1/requests").await;
    assert_eq!((s, seen["total"].as_i64()), (200, Some(1)), "{seen}");
    assert_eq!(property.get(&one).await.0, 404, "another unit learns nothing of it");
    assert_eq!(other.get(&one).await.0, 404);
    let (s, r) = staff.post(&format!("{one}/handle"), json!({"status": "in_progress"})).await;
    assert_eq!((s, r["code"].as_str()), (403, Some("requests.not_your_unit")), "the desk does not take a unit's work: {r}");
    let (s, r) = utility.post(&format!("{one}/return"), json!({"reason": " "})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("reason")), "{r}");
    let (s, r) = utility.post(&format!("{one}/return"), json!({"reason": "小区内管道属物业维护范围"})).await;
    assert_eq!((s, r["status"].as_str()), (200, Some("returned")), "{r}");
    assert_eq!(r["unit_kind"], "community", "given back to the community's desk: {r}");
    assert_eq!(utility.post(&format!("{one}/handle"), json!({"status": "in_progress"})).await.0, 404, "given back: out of its sight");
    assert_eq!(staff.post(&format!("{one}/handle"), json!({"status": "in_progress"})).await.0, 409, "given back: routed again first");
    assert_eq!(
        utility.post(&format!("{one}/transfer"), json!({"unit_kind": "community", "reason": "x"})).await.0,
        403,
        "units do not route"
    );
    let (s, r) = staff.post(&format!("{one}/transfer"), json!({"unit_kind": "community", "reason": ""})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("reason")), "{r}");
    let (_, gas) = other.post("/api/v1/request-units", json!({"region_code": "350502000000", "kind": "gas", "name": "鲤城燃气"})).await;
    let (s, r) = staff.post(&format!("{one}/transfer"), json!({"unit_id": gas["id"], "reason": "燃气"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("unit_id")), "a unit of another county serves none of ours: {r}");
    let (s, r) = staff.post(&format!("{one}/transfer"), json!({"unit_kind": "property", "reason": "物业维护"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("unit_kind")), "no property company manages this estate: {r}");
    let (s, r) = staff.post(&format!("{one}/transfer"), json!({"unit_kind": "community", "reason": "小区内管道，由社区协调物业"})).await;
    assert_eq!(
        (s, r["status"].as_str(), r["unit_kind"].as_str(), r["unit_id"].as_i64()),
        (200, Some("submitted"), Some("community"), None),
        "{r}"
    );
    assert_eq!(utility.get(&one).await.0, 404, "transferred away: out of the water company's sight");
    let (_, detail) = staff.get(&one).await;
    let actions: Vec<&str> = detail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["file", "route", "return", "transfer"], "{detail}");
    assert_eq!(detail["events"][2]["note"], "小区内管道属物业维护范围");

    // A second call about the same water is merged into the first.
    let (_, dup) = staff.post(&path, json!({"category": "repair.water", "text": "2号楼自来水发黄，很浑浊", "author": "李先生"})).await;
    let dup_id = dup["id"].as_i64().unwrap();
    let (_, d) = staff.get(&format!("/api/v1/requests/{dup_id}")).await;
    assert_eq!(d["duplicates"][0]["id"].as_i64(), Some(id), "{d}");
    let (_, unrelated) = staff.post(&path, json!({"category": "question", "text": "加装电梯怎么申请", "author": "赵"})).await;
    assert_eq!(
        staff.post(&format!("/api/v1/requests/{dup_id}/merge"), json!({"into": unrelated["id"]})).await.0,
        409,
        "not the same category"
    );
    let (s, r) = staff.post(&format!("/api/v1/requests/{dup_id}/merge"), json!({"into": id})).await;
    assert_eq!((s, r["status"].as_str(), r["merged_into"].as_i64()), (200, Some("closed"), Some(id)), "{r}");
    assert_eq!(staff.post(&format!("/api/v1/requests/{dup_id}/merge"), json!({"into": id})).await.0, 409, "merged once");

    // Late: supervised once from the street above the community (挂牌督办).
    let community: String =
        app.db.fetch_one::<(String,)>("SELECT community_code FROM estates WHERE id = $1", huanxin_store::args![estate]).await.unwrap().0;
    app.db.execute("UPDATE service_requests SET due_on = '2026-01-05' WHERE id = $1", huanxin_store::args![id]).await.unwrap();
    let today = huanxin_store::today();
    assert_eq!(app.db.escalate_late_requests(today).await.unwrap(), 1);
    assert_eq!(app.db.escalate_late_requests(today).await.unwrap(), 0, "once");
    let (_, r) = staff.get(&one).await;
    assert_eq!(r["request"]["supervised_by"].as_str(), Some(format!("{}000", &community[..9]).as_str()), "{r}");
    assert_eq!(r["events"].as_array().unwrap().last().unwrap()["action"], "escalate");
    let (_, sup) = staff.get("/api/v1/requests?supervised=true").await;
    assert_eq!(sup["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect::<Vec<_>>(), [id]);

    // Answered, called back: not satisfied sends it back; satisfied closes it with the rating.
    let handle = format!("{one}/handle");
    assert_eq!(staff.post(&handle, json!({"status": "resolved", "answer": "已协调物业冲洗管道"})).await.0, 200);
    let callback = format!("{one}/callback");
    assert_eq!(utility.post(&callback, json!({"satisfied": true, "rating": 5})).await.0, 403, "the desk calls back");
    let (s, r) = staff.post(&callback, json!({"satisfied": true, "rating": 5})).await;
    assert_eq!((s, r["code"].as_str()), (403, Some("requests.callback_by_other")), "who answered does not sign it off: {r}");
    let (s, r) = admin.post(&callback, json!({"satisfied": false, "rating": 2})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("note")), "not satisfied: say why: {r}");
    let (s, r) = admin.post(&callback, json!({"satisfied": false, "rating": 2, "note": "水仍发黄"})).await;
    assert_eq!((s, r["status"].as_str(), r["rating"].as_i64()), (200, Some("in_progress"), None), "{r}");
    assert!(r["due_on"].as_str().unwrap() >= huanxin_store::today().to_string().as_str(), "handled again: due anew: {r}");
    assert_eq!(admin.post(&callback, json!({"satisfied": true, "rating": 5})).await.0, 409, "not answered again yet");
    assert_eq!(staff.post(&handle, json!({"status": "resolved", "answer": "更换入户管段后水质正常"})).await.0, 200);
    let (s, r) = admin.post(&callback, json!({"satisfied": true, "rating": 9})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("rating")), "{r}");
    let (s, r) = admin.post(&callback, json!({"satisfied": true, "rating": 4, "note": "电话回访满意"})).await;
    assert_eq!((s, r["status"].as_str(), r["rating"].as_i64()), (200, Some("closed"), Some(4)), "{r}");

    // A correction of the model's suggestion teaches it at once.
    let text = "单元门口的路灯杆歪了快倒了";
    let confidence = |list: &Value| {
        list.as_array().unwrap().iter().find(|c| c["code"] == "safety.fire_passage").map_or(0.0, |c| c["confidence"].as_f64().unwrap())
    };
    let (_, before) = staff.post("/api/v1/requests/suggest-category", json!({"text": text})).await;
    let resident_says = before[0]["code"].as_str().unwrap().to_string();
    assert_ne!(resident_says, "safety.fire_passage", "{before}");
    // Filed by one desk, corrected by another: a correction of the filer's own choice teaches nothing.
    let (_, mine) = staff
        .post(&path, json!({"category": resident_says, "text": "我自己登记的", "author": "周", "suggested_category": resident_says}))
        .await;
    let (s, _) = staff.post(&format!("/api/v1/requests/{}/category", mine["id"]), json!({"category": "safety.fire_passage"})).await;
    assert_eq!(s, 200);
    let (_, r) =
        admin.post(&path, json!({"category": resident_says, "text": text, "author": "周", "suggested_category": resident_says})).await;
    let (s, r) = staff.post(&format!("/api/v1/requests/{}/category", r["id"]), json!({"category": "safety.fire_passage"})).await;
    assert_eq!(
        (s, r["category"].as_str(), r["category_confirmed_by"].as_str()),
        (200, Some("safety.fire_passage"), Some("county_staff")),
        "{r}"
    );
    let (s, r) = staff.post(&format!("/api/v1/requests/{}/category", r["id"]), json!({"category": "safety"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("category")), "a group is no leaf: {r}");
    let (_, after) = staff.post("/api/v1/requests/suggest-category", json!({"text": text})).await;
    assert!(confidence(&after) > confidence(&before), "learnt: {before} -> {after}");
    assert_eq!(
        app.db.category_corrections().await.unwrap(),
        vec![("350521".to_string(), "safety.fire_passage".to_string(), text.to_string())],
        "only the other desk's correction, in its county"
    );
    let (_, elsewhere) = other.post("/api/v1/requests/suggest-category", json!({"text": text})).await;
    assert!(confidence(&elsewhere) < confidence(&after), "another county's model is not taught: {elsewhere}");
}

/// A danger named in a request warns the community's people by text message at once; three of a
/// kind in a week where there were none is a surge; a desk takes note once; hot spots count them.
async fn requests_warn_of_dangers_and_pile_ups(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let (estate,): (i64,) = app.db.fetch_one("SELECT MIN(id) FROM estates WHERE community_code = '350521100001'", vec![]).await.unwrap();
    let path = format!("/api/v1/estates/{estate}/requests");
    let (s, gas) = staff.post(&path, json!({"category": "safety.gas_smell", "text": "3号楼2单元楼道里一股煤气味", "author": "住户"})).await;
    assert_eq!(s, 201, "{gas}");
    // The message goes out off the filing's path: wait for it (bounded), not for a fixed time.
    let mut warning = json!(null);
    for _ in 0..250 {
        let (_, list) = staff.get("/api/v1/request-warnings?open=true").await;
        if list[0]["notified"].as_i64().unwrap_or(0) > 0 {
            warning = list[0].clone();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        (warning["kind"].as_str(), warning["detail"].as_str(), warning["request_id"].as_i64()),
        (Some("danger"), Some("煤气味"), gas["id"].as_i64()),
        "{warning}"
    );
    // community_staff and grid_worker of the community, street_staff of its street (the test accounts all have a phone).
    assert_eq!(warning["notified"], 3, "{warning}");
    let texts: Vec<String> = app.sms.lock().unwrap().iter().map(|m| m["text"].as_str().unwrap_or("").to_string()).collect();
    assert!(texts.iter().any(|t| t.contains("煤气味") && t.contains(&format!("#{}", gas["id"]))), "{texts:?}");
    let (_, again) = staff.post(&path, json!({"category": "safety.gas_smell", "text": "还是有煤气味", "author": "邻居"})).await;
    assert!(again["id"].is_i64());
    let (_, list) = staff.get("/api/v1/request-warnings").await;
    assert_eq!(
        list.as_array().unwrap().iter().filter(|w| w["kind"] == "danger").count(),
        1,
        "one warning a day per estate and word: {list}"
    );

    // Three of a kind in a week, none before: a surge, raised once.
    for (i, text) in ["垃圾桶满了没人清", "垃圾堆在楼下好几天", "垃圾清运不及时有臭味", "垃圾又没收"].iter().enumerate()
    {
        let (s, _) = staff.post(&path, json!({"category": "environment.sanitation", "text": text, "author": format!("住户{i}")})).await;
        assert_eq!(s, 201);
    }
    let (_, list) = staff.get("/api/v1/request-warnings").await;
    let piles: Vec<&Value> = list.as_array().unwrap().iter().filter(|w| w["kind"] != "danger").collect();
    assert_eq!(piles.len(), 1, "{list}");
    assert_eq!(
        (piles[0]["kind"].as_str(), piles[0]["recent"].as_i64(), piles[0]["category"].as_str()),
        (Some("surge"), Some(3), Some("environment.sanitation"))
    );

    // On the community's work page; a desk takes note once; another county cannot.
    let (_, work) = app.client("community_staff").await.get("/api/v1/work").await;
    let warned = work["kinds"].as_array().unwrap().iter().find(|k| k["kind"] == "request_warning").unwrap()["total"].as_i64();
    assert_eq!(warned, Some(2), "{work}");
    let ack = format!("/api/v1/request-warnings/{}/acknowledge", warning["id"]);
    assert_eq!(app.client("other_county_admin").await.post(&ack, json!({})).await.0, 404);
    assert_eq!(app.client("grid_worker").await.post(&ack, json!({})).await.0, 403, "the desk takes note");
    let (s, w) = staff.post(&ack, json!({})).await;
    assert_eq!((s, w["acknowledged_by"].as_str()), (200, Some("county_staff")), "{w}");
    assert_eq!(staff.post(&ack, json!({})).await.0, 409);
    let (_, open) = staff.get("/api/v1/request-warnings?open=true").await;
    assert_eq!(open.as_array().unwrap().len(), 1);

    // Hot spots: this estate leads, sanitation first.
    let (s, hot) = staff.get("/api/v1/requests/hotspots?days=7").await;
    assert_eq!(s, 200, "{hot}");
    assert_eq!(hot["by_category"][0], json!(["environment.sanitation", 4]), "{hot}");
    assert_eq!((hot["by_estate"][0]["estate_id"].as_i64(), hot["by_estate"][0]["count"].as_i64()), (Some(estate), Some(6)));
    assert_eq!(hot["by_estate"][0]["top_category"], "environment.sanitation");
    assert_eq!(hot["total"], 6);
    let (s, r) = staff.get("/api/v1/requests/hotspots?days=8").await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("days")));
    assert_eq!(
        app.client("other_county_admin").await.get("/api/v1/requests/hotspots?days=30").await.1["total"],
        0,
        "another county sees none of it"
    );
}

/// The 12345 export: a wrong row refuses the file whole; each work order is imported once; an
/// address that names an estate files the request there, others wait for a clerk to choose.
/// An Open311 call: `(status, body)` with the body read as JSON (XML as a string).
/// A community opens an opinion round on every estate of a grid; its grid worker enters paper
/// answers and ballots door to door for the estates of their grid only, and sees which doors
/// answered.
async fn grid_workers_collect_opinions_forms_and_ballots_door_to_door(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let worker = app.client("grid_worker").await;
    let community = "350521100001";
    let ours: Vec<(i64,)> = app
        .db
        .fetch_all(
            "SELECT e.id FROM estates e WHERE e.community_code = $1 AND EXISTS (SELECT 1 FROM dwellings d WHERE d.estate_id = e.id) ORDER BY e.id LIMIT 2",
            huanxin_store::args![community],
        )
        .await
        .unwrap();
    assert_eq!(ours.len(), 2, "the test county has two estates with dwellings in {community}");
    let (inside, outside) = (ours[0].0, ours[1].0);
    let (s, g) =
        staff.post("/api/v1/grids", json!({"region_code": community, "code": "D1", "name": "上门网格", "estate_ids": [inside]})).await;
    assert_eq!(s, 200, "{g}");
    let grid = g["id"].as_i64().unwrap();
    assert_eq!(staff.put(&format!("/api/v1/grids/{grid}/people"), json!({"workers": ["grid_worker"]})).await.0, 200);
    let dwelling = |estate: i64| {
        let db = &app.db;
        async move { db.scalar("SELECT MIN(id) FROM dwellings WHERE estate_id = $1", huanxin_store::args![estate]).await.unwrap() }
    };

    // The opinion round: one survey per estate of the grid, purpose "opinion".
    let today = chrono::Utc::now().date_naive();
    let round = json!({"title": "楼道加装扶手征求意见", "purpose": "needs", "opens_on": today.to_string(),
        "closes_on": (today + chrono::Duration::days(10)).to_string(), "questions": [
        {"id": "agree", "kind": "single", "text": "是否同意加装扶手", "options": ["同意", "不同意"], "required": true},
        {"id": "say", "kind": "text", "text": "其他意见"}]});
    let rounds = format!("/api/v1/grids/{grid}/opinion-rounds");
    assert_eq!(worker.post(&rounds, round.clone()).await.0, 403, "the desk opens a round");
    let (s, r) = staff.post(&rounds, json!({"title": "", "questions": []})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("title")), "{r}");
    assert_eq!(app.client("other_county_admin").await.post(&rounds, round.clone()).await.0, 404, "another county's grid is not found");
    let (s, made) = staff.post(&rounds, round).await;
    assert_eq!(s, 201, "{made}");
    let made = made.as_array().unwrap();
    assert_eq!((made.len(), made[0]["estate_id"].as_i64(), made[0]["purpose"].as_str()), (1, Some(inside), Some("opinion")));
    let survey = made[0]["id"].as_i64().unwrap();

    // Door to door: the worker enters a household's paper form and sees the door done.
    let form = json!({"dwelling_id": dwelling(inside).await, "respondent": "3栋王阿姨", "answers": {"agree": 0, "say": "扶手要装两侧"}});
    let (s, r) = worker.post(&format!("/api/v1/surveys/{survey}/answers"), form).await;
    assert_eq!(s, 201, "{r}");
    let (_, page) = worker.get(&format!("/api/v1/surveys/{survey}")).await;
    assert_eq!(page["answered_dwellings"], json!([dwelling(inside).await]), "{page}");
    let (_, staff_page) = staff.get(&format!("/api/v1/surveys/{survey}")).await;
    assert_eq!(staff_page["answered_dwellings"], json!([]), "only the grid's worker is told the doors");

    // Ballots on paper: in the grid's estate yes, elsewhere no.
    let now = chrono::Utc::now();
    let vote = |title: &str| {
        json!({"title": title, "matter": "renovate", "scope": "estate",
        "opens_at": (now - chrono::Duration::hours(1)).to_rfc3339(), "closes_at": (now + chrono::Duration::days(3)).to_rfc3339()})
    };
    let (s, here) = staff.post(&format!("/api/v1/estates/{inside}/decisions"), vote("加装扶手表决")).await;
    assert_eq!(s, 200, "{here}");
    let (_, there) = staff.post(&format!("/api/v1/estates/{outside}/decisions"), vote("外立面表决")).await;
    let ballot = |d: i64| json!({"dwelling_id": d, "choice": "agree", "voter": "王阿姨"});
    let (s, receipt) = worker.post(&format!("/api/v1/decisions/{}/ballots", here["decision"]["id"]), ballot(dwelling(inside).await)).await;
    assert_eq!((s, receipt["seq"].as_i64()), (200, Some(1)), "{receipt}");
    let (_, page) = worker.get(&format!("/api/v1/decisions/{}", here["decision"]["id"])).await;
    assert_eq!(page["voted_dwellings"], json!([dwelling(inside).await]), "the worker sees the door voted: {page}");
    assert_eq!(
        (page["tally"]["ballots"].as_i64(), page["tally"]["agree"]["owners"].as_i64()),
        (Some(1), Some(0)),
        "but not the split while open: {page}"
    );
    let proxy =
        json!({"dwelling_id": dwelling(inside).await + 1, "choice": "agree", "voter": "李四代", "by_proxy": true, "proxy_document_id": 1});
    let (s, r) = worker.post(&format!("/api/v1/decisions/{}/ballots", here["decision"]["id"]), proxy).await;
    assert_eq!((s, r["code"].as_str()), (403, Some("grids.proxy_at_desk")), "a proxy's authorisation is the desk's: {r}");
    assert_eq!(worker.get(&format!("/api/v1/surveys/{survey}/results")).await.0, 403, "the running results are the desk's");
    let (_, page) = staff.get(&format!("/api/v1/decisions/{}", here["decision"]["id"])).await;
    assert_eq!(page["voted_dwellings"], json!([]), "told to the grid's worker only");
    let (s, r) = worker.post(&format!("/api/v1/decisions/{}/ballots", there["decision"]["id"]), ballot(dwelling(outside).await)).await;
    assert_eq!((s, r["code"].as_str()), (403, Some("grids.not_your_estate")), "{r}");
    let outside_survey = staff
        .post(
            &format!("/api/v1/estates/{outside}/surveys"),
            json!({"title": "问需", "purpose": "needs", "opens_on": today.to_string(), "closes_on": (today + chrono::Duration::days(5)).to_string(),
                "questions": [{"id": "q", "kind": "text", "text": "意见"}]}),
        )
        .await
        .1;
    let (s, _) = worker
        .post(
            &format!("/api/v1/surveys/{}/answers", outside_survey["id"]),
            json!({"dwelling_id": dwelling(outside).await, "respondent": "李", "answers": {"q": "x"}}),
        )
        .await;
    assert_eq!(s, 403, "not a door of the worker's grid");
    let channel: (String,) = app
        .db
        .fetch_one("SELECT channel FROM ballots WHERE decision_id = $1", huanxin_store::args![here["decision"]["id"].as_i64().unwrap()])
        .await
        .unwrap();
    assert_eq!(channel.0, "paper");
}

/// A county changes the category tree for itself: other working days and another unit for a
/// national kind, a kind of its own, a kind retired; requests are filed, dated and routed by it,
/// Open311 offers it, the county next door keeps the national tree, and each change is taken back.
async fn regions_change_their_category_tree(app: &TestApp) {
    let admin = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let set = |code: &str| format!("/api/v1/request-categories/350521000000/{code}");
    let leaf = |tree: &Value, code: &str| tree.as_array().unwrap().iter().find(|c| c["code"] == code).cloned().unwrap_or(Value::Null);

    assert_eq!(app.client("street_staff").await.put(&set("repair.lift"), json!({"working_days": 1})).await.0, 403);
    let (s, r) = app.client("other_county_admin").await.put(&set("repair.lift"), json!({"working_days": 1})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("region")), "not another county's tree: {r}");
    for (code, body, field) in [
        ("Repair.Heat", json!({"zh": "供暖"}), "code"),
        ("property.fee", json!({"zh": "物业费"}), "code"),
        ("repair.heating", json!({}), "zh"),
        ("repair", json!({"working_days": 2}), "working_days"),
        ("repair.lift", json!({"working_days": 61}), "working_days"),
        ("repair.lift", json!({"unit_kind": "police"}), "unit_kind"),
        ("dispute", json!({"retired": true}), "retired"),
        ("repair.lift", json!({"zh": "电".repeat(21)}), "zh"),
    ] {
        let (s, r) = admin.put(&set(code), body.clone()).await;
        assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some(field)), "{code} {body}: {r}");
    }
    let (s, r) = admin.put(&set("repair.lift"), json!({"working_days": "x"})).await;
    assert_eq!(s, 422, "{r}");
    let (_, untouched) = staff.get("/api/v1/request-categories").await;
    assert!(untouched.as_array().unwrap().iter().all(|c| c["set_in"].is_null()), "nothing refused was kept: {untouched}");

    // Lifts answered in one working day by the housing bureau; a kind of its own for heating.
    let (s, tree) = admin.put(&set("repair.lift"), json!({"working_days": 1, "unit_kind": "bureau"})).await;
    assert_eq!(s, 200, "{tree}");
    let lift = leaf(&tree, "repair.lift");
    assert_eq!(
        (lift["working_days"].as_i64(), lift["unit_kind"].as_str(), lift["set_in"].as_str()),
        (Some(1), Some("bureau"), Some("350521000000"))
    );
    assert_eq!(lift["zh"], "电梯", "a name not given follows the national tree");
    let (s, tree) =
        admin.put(&set("repair.heating"), json!({"zh": " 供暖 ", "en": "Heating", "working_days": 2, "unit_kind": "property"})).await;
    assert_eq!(s, 200, "{tree}");
    let heating = leaf(&tree, "repair.heating");
    assert_eq!(
        (heating["zh"].as_str(), heating["parent"].as_str(), heating["national"].as_bool()),
        (Some("供暖"), Some("repair"), Some(false))
    );
    let codes: Vec<&str> = tree.as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(codes.iter().position(|c| *c == "repair.heating").unwrap(), codes.iter().position(|c| *c == "repair.drainage").unwrap() + 1);

    let (estate, _, _) = estate_with_dwellings(app).await;
    let path = format!("/api/v1/estates/{estate}/requests");
    let (s, lifted) = staff.post(&path, json!({"category": "repair.lift", "text": "3号楼电梯停运", "author": "王先生"})).await;
    assert_eq!((s, lifted["unit_kind"].as_str()), (201, Some("bureau")), "{lifted}");
    let filed = chrono::NaiveDate::parse_from_str(&lifted["created_at"].as_str().unwrap()[..10], "%Y-%m-%d").unwrap();
    let due = chrono::NaiveDate::parse_from_str(lifted["due_on"].as_str().unwrap(), "%Y-%m-%d").unwrap();
    let cal = huanxin_domain::calendar::WorkCalendar::shipped().unwrap();
    let beijing =
        (chrono::DateTime::parse_from_rfc3339(lifted["created_at"].as_str().unwrap()).unwrap() + chrono::Duration::hours(8)).date_naive();
    assert!(filed <= beijing);
    assert_eq!(due, cal.add_working_days(beijing, 1), "one working day, the county's setting: {lifted}");
    let (s, warm) = staff.post(&path, json!({"category": "repair.heating", "text": "暖气不热", "author": "李女士"})).await;
    assert_eq!((s, warm["category"].as_str()), (201, Some("repair.heating")), "{warm}");

    // The county next door keeps the national tree.
    let (_, next_door) = app.client("other_county_admin").await.get("/api/v1/request-categories").await;
    assert_eq!(leaf(&next_door, "repair.lift")["working_days"], 2);
    assert_eq!(leaf(&next_door, "repair.heating"), Value::Null);

    // Retired: no longer filed under, nor offered through Open311; its requests keep their name.
    let (s, r) = admin.put(&set("environment.noise"), json!({"retired": true})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = staff.post(&path, json!({"category": "environment.noise", "text": "广场舞太吵", "author": "赵先生"})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("category"), Some("requests.category_retired")),
        "{r}"
    );
    let (s, services) = open311(app, reqwest::Method::GET, "/services.json", &[("jurisdiction_id", "350521")]).await;
    assert_eq!(s, 200, "{services}");
    let offered: Vec<&str> = services.as_array().unwrap().iter().map(|x| x["service_code"].as_str().unwrap()).collect();
    assert!(offered.contains(&"repair.heating") && !offered.contains(&"environment.noise"), "{offered:?}");
    for code in ["safety.fire_passage", "safety.ebike_indoor"] {
        assert_eq!(admin.put(&set(code), json!({"retired": true})).await.0, 200);
    }
    let (s, r) = admin.put(&set("safety.gas_smell"), json!({"retired": true})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("retired")), "a group keeps a kind in use: {r}");

    // A community's own setting holds where its estates are, Open311 included.
    let (community,): (String,) =
        app.db.fetch_one("SELECT community_code FROM estates WHERE id = $1", huanxin_store::args![estate]).await.unwrap();
    let (s, r) = admin.put(&format!("/api/v1/request-categories/{community}/environment.greening"), json!({"retired": true})).await;
    assert_eq!(s, 200, "{r}");
    let (s, r) = staff.post(&path, json!({"category": "environment.greening", "text": "绿化带枯死", "author": "赵先生"})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("requests.category_retired")), "{r}");
    let (_, client) = admin.post("/api/v1/open311/clients", json!({"name": "城市通"})).await;
    let (code,): (String,) = app.db.fetch_one("SELECT code FROM estates WHERE id = $1", huanxin_store::args![estate]).await.unwrap();
    let key = client["api_key"].as_str().unwrap();
    let form = [("api_key", key), ("jurisdiction_id", "350521"), ("service_code", "environment.greening"), ("address_id", code.as_str())];
    let (s, r) = open311(app, reqwest::Method::POST, "/requests.json", &form).await;
    assert_eq!((s, r[0]["description"].as_str().map(|d| d.starts_with("service_code"))), (400, Some(true)), "{r}");

    // Taken back: the national tree decides again; a kind of its own with requests is retired instead.
    let (s, r) = admin.post(&format!("{}/reset", set("repair.heating")), json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("requests.category_in_use")), "{r}");
    let (s, tree) = admin.post(&format!("{}/reset", set("repair.lift")), json!({})).await;
    assert_eq!(s, 200, "{tree}");
    assert_eq!((leaf(&tree, "repair.lift")["working_days"].as_i64(), leaf(&tree, "repair.lift")["set_in"].as_str()), (Some(2), None));
    let (s, r) = admin.post(&format!("{}/reset", set("repair.lift")), json!({})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("code")), "nothing to take back: {r}");
    let (_, audit) = admin.get("/api/v1/audit?entity=request_category").await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "reset").count(), 1, "{audit}");
    assert_eq!(actions.iter().filter(|a| **a == "set").count(), 6, "{audit}");
}

async fn open311(app: &TestApp, method: reqwest::Method, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let http = reqwest::Client::new();
    let url = format!("{}/open311/v2{path}", app.base);
    let res = if method == reqwest::Method::POST {
        let body: String = form.iter().map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v))).collect::<Vec<_>>().join("&");
        http.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap()
    } else {
        http.get(&url).query(form).send().await.unwrap()
    };
    let s = res.status().as_u16();
    let xml = res.headers().get("content-type").is_some_and(|v| v.to_str().unwrap().starts_with("text/xml"));
    let text = res.text().await.unwrap();
    (s, if xml { Value::String(text) } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().copied().chain(extra.iter().copied()).collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn open311_clients_file_and_read_requests(app: &TestApp) {
    use reqwest::Method;
    let admin = app.client("county_admin").await;
    let (s, _) = app.client("county_staff").await.post("/api/v1/open311/clients", json!({"name": "城市通"})).await;
    assert_eq!(s, 403, "keys are an administrator's");
    let (s, r) = admin.post("/api/v1/open311/clients", json!({"name": " "})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("name")), "{r}");
    let (s, r) = admin.post("/api/v1/open311/clients", json!({"name": "城市通", "region_code": "350502"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("region_code")), "not another county's: {r}");
    let (s, client) = admin.post("/api/v1/open311/clients", json!({"name": "城市通"})).await;
    assert_eq!(s, 201, "{client}");
    let (s, r) = admin.post("/api/v1/open311/clients", json!({"name": "城市通"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("name")), "one key per app name: {r}");
    let key = client["api_key"].as_str().unwrap().to_string();
    assert_eq!((key.len(), client["region_code"].as_str()), (48, Some("350521000000")));
    let (_, listed) = admin.get("/api/v1/open311/clients").await;
    assert_eq!(listed[0]["key_hint"].as_str(), Some(&key[44..]));
    assert!(listed[0].get("api_key").is_none(), "shown once: {listed}");
    let other = app.client("other_county_admin").await;
    assert_eq!(other.get("/api/v1/open311/clients").await.1, json!([]));
    let client_id = client["id"].as_i64().unwrap();
    assert_eq!(other.post(&format!("/api/v1/open311/clients/{client_id}/revoke"), json!({})).await.0, 404);

    // Discovery and services.
    let (s, d) = open311(app, Method::GET, "/discovery.json", &[]).await;
    assert_eq!((s, d["endpoints"][0]["url"].as_str()), (200, Some("https://hx.example.gov.cn/open311/v2")), "{d}");
    let (s, e) = open311(app, Method::GET, "/services.json", &[]).await;
    assert_eq!(s, 400);
    assert_eq!(e[0]["code"], 400);
    assert!(e[0]["description"].as_str().unwrap().starts_with("jurisdiction_id: "), "{e}");
    let j = [("jurisdiction_id", "350521")];
    let (s, services) = open311(app, Method::GET, "/services.json", &j).await;
    assert_eq!((s, services.as_array().unwrap().len()), (200, 20));
    assert!(services.as_array().unwrap().iter().any(|x| x["service_code"] == "safety.gas_smell" && x["group"] == "安全隐患"));
    let (s, xml) = open311(app, Method::GET, "/services.xml", &j).await;
    assert!(
        s == 200
            && xml.as_str().unwrap().contains("<services><service><")
            && xml.as_str().unwrap().contains("<service_code>repair.water</service_code>"),
        "{xml}"
    );
    let (s, def) = open311(app, Method::GET, "/services/repair.water.json", &j).await;
    let codes: Vec<&str> = def["attributes"].as_array().unwrap().iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!((s, codes), (200, vec!["building", "reach"]), "{def}");
    assert_eq!(open311(app, Method::GET, "/services/repair.json", &j).await.0, 404, "a group with kinds is no service");
    assert_eq!(open311(app, Method::GET, "/services.json", &[("jurisdiction_id", "990000")]).await.0, 404);

    // Filing: the key, the jurisdiction, the service, the place; nothing written on any refusal.
    let (estate, code, community): (i64, String, String) = app
        .db
        .fetch_one("SELECT id, code, community_code FROM estates WHERE community_code LIKE '350521%' ORDER BY id LIMIT 1", vec![])
        .await
        .unwrap();
    app.db.execute("UPDATE estates SET lon = 118.80, lat = 25.03 WHERE id = $1", huanxin_store::args![estate]).await.unwrap();
    let count = || async { app.db.scalar("SELECT COUNT(*) FROM service_requests", vec![]).await.unwrap() };
    let before = count().await;
    let gas = [("service_code", "safety.gas_smell"), ("description", "三号楼楼道里有很重的煤气味"), ("address_id", code.as_str())];
    let refused = [
        (with(&gas, &[]), 403, "api_key"),
        (with(&gas, &[("api_key", "not-a-key")]), 403, "api_key"),
        (with(&gas, &[("api_key", &key), ("jurisdiction_id", "350502")]), 403, "jurisdiction_id"),
        (with(&gas, &[("api_key", &key), ("attribute[colour]", "red")]), 400, "attribute[colour]"),
        (with(&gas, &[("api_key", &key), ("attribute[reach]", "street")]), 400, "attribute[reach]"),
        (with(&gas, &[("api_key", &key), ("media_url", "javascript:alert(1)")]), 400, "media_url"),
        (with(&gas, &[("api_key", &key), ("lat", "25.03")]), 400, "long"),
        (
            vec![
                ("api_key", key.as_str()),
                ("service_code", "repair.water"),
                ("description", "停水"),
                ("lat", "25.10"),
                ("long", "118.80"),
            ],
            400,
            "lat",
        ),
        (vec![("api_key", key.as_str()), ("service_code", "repair.water"), ("address_string", "城南菜市场门口")], 400, "address_string"),
        (vec![("api_key", key.as_str()), ("service_code", "repair.water")], 400, "lat"),
        (vec![("api_key", key.as_str()), ("service_code", "repair"), ("address_id", code.as_str())], 400, "service_code"),
        (with(&gas, &[("api_key", &key), ("first_name", "\u{1}\u{2}")]), 400, "first_name"),
        (with(&gas, &[("api_key", &key), ("phone", "not-a-phone<b>")]), 400, "phone"),
        (with(&gas, &[("api_key", &key), ("media_url", "http://\n<script> x")]), 400, "media_url"),
    ];
    for (form, status, field) in refused {
        let (s, e) = open311(app, Method::POST, "/requests.json", &form).await;
        assert_eq!(s, status, "{form:?}: {e}");
        assert!(e[0]["description"].as_str().unwrap().starts_with(&format!("{field}: ")), "{form:?}: {e}");
    }
    let http = reqwest::Client::new();
    let res = http.post(format!("{}/open311/v2/requests.json", app.base)).json(&json!({"api_key": key})).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 415, "the spec's form only");
    // A flood of parameters is refused before any is read (each costs nothing more).
    let flood: String = (0..1000).map(|i| format!("attribute[a{i}]=x")).collect::<Vec<_>>().join("&");
    let res = http
        .post(format!("{}/open311/v2/requests.json", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(flood)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400, "too many parameters");
    assert_eq!(
        open311(app, Method::GET, "/services.json", &[("jurisdiction_id", "110101")]).await.0,
        404,
        "a region this server does not keep"
    );
    assert_eq!(count().await, before, "nothing written");

    let (s, filed) = open311(
        app,
        Method::POST,
        "/requests.json",
        &with(
            &gas,
            &[
                ("api_key", &key),
                ("attribute[reach]", "building"),
                ("first_name", "女士"),
                ("last_name", "王"),
                ("phone", "13800000009"),
                ("media_url", "https://img.example.com/1.jpg"),
            ],
        ),
    )
    .await;
    assert_eq!(s, 201, "{filed}");
    let id = filed[0]["service_request_id"].as_str().unwrap().parse::<i64>().unwrap();
    let token = filed[0]["token"].as_str().unwrap().to_string();
    let (channel, text, author, phone, category, unit_kind): (String, String, String, String, String, String) = app
        .db
        .fetch_one(
            "SELECT channel, text, author, caller_phone, category, unit_kind FROM service_requests WHERE id = $1",
            huanxin_store::args![id],
        )
        .await
        .unwrap();
    assert_eq!(
        (channel.as_str(), author.as_str(), phone.as_str(), category.as_str()),
        ("open311", "王女士（城市通）", "13800000009", "safety.gas_smell")
    );
    assert!(text.starts_with("三号楼楼道里有很重的煤气味") && text.contains("影响范围：整栋楼"), "{text}");
    assert!(!unit_kind.is_empty(), "routed like any other");
    let warned = app.db.scalar("SELECT COUNT(*) FROM request_warnings WHERE request_id = $1", huanxin_store::args![id]).await.unwrap();
    assert_eq!(warned, 1, "a danger named warns at once");
    let (s, near) = open311(
        app,
        Method::POST,
        "/requests.xml",
        &[
            ("api_key", key.as_str()),
            ("jurisdiction_id", &community),
            ("service_code", "repair.water"),
            ("lat", "25.0305"),
            ("long", "118.8001"),
        ],
    )
    .await;
    let near = near.as_str().unwrap().to_string();
    assert!(
        s == 201 && near.starts_with("<?xml") && near.contains("<service_requests><request><") && near.contains("<service_request_id>"),
        "{near}"
    );
    let near_id: i64 = near.split("<service_request_id>").nth(1).unwrap().split('<').next().unwrap().parse().unwrap();
    let (on,): (i64,) =
        app.db.fetch_one("SELECT estate_id FROM service_requests WHERE id = $1", huanxin_store::args![near_id]).await.unwrap();
    assert_eq!(on, estate, "the estate within 300 m");

    // Reading: the jurisdiction's requests, filters named when wrong; names and phones never.
    let staff = app.client("county_staff").await;
    let (s, mine) = staff
        .post(
            &format!("/api/v1/estates/{estate}/requests"),
            json!({"category": "repair.lift", "text": "电梯坏了，张三13800000001", "author": "张三"}),
        )
        .await;
    assert_eq!(s, 201, "{mine}");
    let (s, listed) = open311(app, Method::GET, "/requests.json", &j).await;
    assert_eq!(s, 200, "{listed}");
    let rows = listed.as_array().unwrap();
    let ours = rows.iter().find(|r| r["service_request_id"].as_str() == Some(id.to_string().as_str())).unwrap();
    assert_eq!(
        (ours["status"].as_str(), ours["service_code"].as_str(), ours["address_id"].as_str()),
        (Some("open"), Some("safety.gas_smell"), Some(code.as_str()))
    );
    assert_eq!((ours["lat"].as_f64(), ours["long"].as_f64()), (Some(25.03), Some(118.8)), "the estate's point: {ours}");
    assert!(ours["requested_datetime"].as_str().unwrap().ends_with("+08:00"), "{ours}");
    assert_eq!(ours["media_url"].as_str(), Some("https://img.example.com/1.jpg"));
    let desk = rows.iter().find(|r| r["service_request_id"].as_str() == Some(mine["id"].as_i64().unwrap().to_string().as_str())).unwrap();
    assert_eq!(desk["description"].as_str(), Some(""), "a resident's words are not published: {desk}");
    let all = listed.to_string();
    assert!(!all.contains("张三") && !all.contains("13800000001") && !all.contains("王女士") && !all.contains("13800000009"), "{all}");
    let (_, one) =
        open311(app, Method::GET, "/requests.json", &[("jurisdiction_id", "350521"), ("service_request_id", &format!("{id},{near_id}"))])
            .await;
    assert_eq!(one.as_array().unwrap().len(), 2, "{one}");
    let (_, coded) =
        open311(app, Method::GET, "/requests.json", &[("jurisdiction_id", "350521"), ("service_code", "repair.water,repair.lift")]).await;
    assert_eq!(coded.as_array().unwrap().len(), 2, "{coded}");
    let (_, closed) = open311(app, Method::GET, "/requests.json", &[("jurisdiction_id", "350521"), ("status", "closed")]).await;
    assert!(closed.as_array().unwrap().iter().all(|r| r["status"] == "closed"), "{closed}");
    for (name, value) in
        [("status", "pending"), ("start_date", "yesterday"), ("service_code", "repair"), ("page_size", "0"), ("service_request_id", "x")]
    {
        let (s, e) = open311(app, Method::GET, "/requests.json", &[("jurisdiction_id", "350521"), (name, value)]).await;
        assert!(s == 400 && e[0]["description"].as_str().unwrap().starts_with(&format!("{name}: ")), "{name}: {e}");
    }
    let (s, e) = open311(
        app,
        Method::GET,
        "/requests.json",
        &[("jurisdiction_id", "350521"), ("start_date", "2026-01-01T00:00:00+08:00"), ("end_date", "2026-06-01T00:00:00+08:00")],
    )
    .await;
    assert!(s == 400 && e[0]["description"].as_str().unwrap().starts_with("end_date: "), "at most 90 days: {e}");
    let (s, _) = open311(app, Method::GET, &format!("/requests/{id}.json"), &[("jurisdiction_id", "350502")]).await;
    assert_eq!(s, 404, "another county's jurisdiction does not hold it");
    let (s, by_token) = open311(app, Method::GET, &format!("/tokens/{token}.json"), &j).await;
    assert_eq!((s, by_token[0]["service_request_id"].as_str()), (200, Some(id.to_string().as_str())));

    // Answered by the unit: closed for Open311, with the answer in its notes.
    app.db
        .execute(
            "UPDATE service_requests SET status = 'resolved', answer = '已关闭燃气总阀并检修', resolved_at = created_at WHERE id = $1",
            huanxin_store::args![id],
        )
        .await
        .unwrap();
    let (_, after) = open311(app, Method::GET, &format!("/requests/{id}.xml"), &j).await;
    let after = after.as_str().unwrap();
    assert!(after.contains("<status>closed</status>") && after.contains("已关闭燃气总阀并检修"), "{after}");

    // A revoked key files nothing.
    let (s, r) = admin.post(&format!("/api/v1/open311/clients/{client_id}/revoke"), json!({})).await;
    assert!(s == 200 && r["revoked_at"].is_string(), "{r}");
    assert_eq!(admin.post(&format!("/api/v1/open311/clients/{client_id}/revoke"), json!({})).await.0, 409);
    let (s, e) = open311(app, Method::POST, "/requests.json", &with(&gas, &[("api_key", &key)])).await;
    assert_eq!(s, 403);
    assert!(e[0]["description"].as_str().unwrap().contains("吊销"), "says the key was revoked: {e}");
}

/// A patrol's items: every one as it should be, but those named (code, note) as hazards.
fn patrol_items(hazards: &[(&str, &str)]) -> Value {
    let items: Vec<Value> = huanxin_domain::grids::WEEKLY_CHECK
        .iter()
        .map(|i| match hazards.iter().find(|(c, _)| *c == i.code) {
            Some((_, note)) => json!({"code": i.code, "ok": false, "note": note}),
            None => json!({"code": i.code, "ok": true}),
        })
        .collect();
    Value::Array(items)
}

async fn grids_patrols_hazards_coverage_and_mediation(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let worker = app.client("grid_worker").await;
    let community = "350521100001";
    let ours: Vec<(i64, Option<f64>, Option<f64>)> = app
        .db
        .fetch_all("SELECT id, lon, lat FROM estates WHERE community_code = $1 ORDER BY id LIMIT 3", huanxin_store::args![community])
        .await
        .unwrap();
    assert!(ours.len() >= 2, "the test county has estates in {community}");
    let (elsewhere,): (i64,) = app
        .db
        .fetch_one(
            "SELECT MIN(id) FROM estates WHERE community_code <> $1 AND community_code LIKE '350521%'",
            huanxin_store::args![community],
        )
        .await
        .unwrap();
    let grid = json!({"region_code": community, "code": "W1", "name": "一网格", "estate_ids": [ours[0].0, ours[1].0]});
    let (s, r) = staff.post("/api/v1/grids", json!({"region_code": "350521", "code": "W1", "name": "x"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("region_code")), "a grid is a community's: {r}");
    let (s, r) = staff.post("/api/v1/grids", json!({"region_code": community, "code": "W1", "name": "x", "estate_ids": [elsewhere]})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("estate_ids")), "{r}");
    assert_eq!(worker.post("/api/v1/grids", grid.clone()).await.0, 403, "desks draw grids");
    let (s, g) = staff.post("/api/v1/grids", grid).await;
    assert_eq!((s, g["estates"].as_i64()), (200, Some(2)), "{g}");
    let id = g["id"].as_i64().unwrap();
    assert_eq!(app.client("other_county_admin").await.get("/api/v1/grids").await.1, json!([]));
    let people = format!("/api/v1/grids/{id}/people");
    let (s, r) = staff.put(&people, json!({"workers": ["county_staff"]})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("workers[0]")), "only grid workers: {r}");
    let (s, r) = staff.put(&people, json!({"workers": ["grid_worker"], "leader": "resident"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("leader")), "a resident is responsible for nothing: {r}");
    let (s, g) = staff.put(&people, json!({"workers": ["grid_worker", "grid_worker"], "leader": "county_staff"})).await;
    assert_eq!((s, g["workers"].as_str().is_some_and(|w| !w.is_empty()), g["leader"].is_string()), (200, true, true), "{g}");

    // The round and the weekly check from the phone.
    assert_eq!(staff.get("/api/v1/grids/round").await.0, 403);
    let (s, round) = worker.get("/api/v1/grids/round").await;
    assert_eq!((s, round.as_array().unwrap().len()), (200, 2), "{round}");
    assert!(round.as_array().unwrap().iter().all(|e| e["this_week"] == 0));
    let patrol = |estate: i64, items: Value| json!({"estate_id": estate, "items": items, "lon": 118.8, "lat": 25.03}).to_string();
    let requests_before = app.db.scalar("SELECT COUNT(*) FROM service_requests", vec![]).await.unwrap();
    let (s, r) =
        worker.upload_form("/api/v1/grids/patrols", &[("patrol", &patrol(elsewhere, patrol_items(&[])))], "a.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("estate_id")), "not their grid: {r}");
    let mut missing = patrol_items(&[]);
    missing.as_array_mut().unwrap().pop();
    let (s, r) = worker.upload_form("/api/v1/grids/patrols", &[("patrol", &patrol(ours[0].0, missing))], "a.png", PNG.to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("items")), "{r}");
    let (s, r) = worker
        .upload_form("/api/v1/grids/patrols", &[("patrol", &patrol(ours[0].0, patrol_items(&[("gas", "")])))], "a.png", PNG.to_vec())
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("items[2].note")), "a hazard says what: {r}");
    let (s, r) =
        worker.upload_form("/api/v1/grids/patrols", &[("patrol", &patrol(ours[0].0, patrol_items(&[])))], "a.txt", b"hello".to_vec()).await;
    assert_eq!(s, 422, "photos are pictures: {r}");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM patrols", vec![]).await.unwrap(), 0, "nothing written");
    assert_eq!(app.db.scalar("SELECT COUNT(*) FROM service_requests", vec![]).await.unwrap(), requests_before);
    let (s, p) =
        worker.upload_form("/api/v1/grids/patrols", &[("patrol", &patrol(ours[0].0, patrol_items(&[])))], "ok.png", PNG.to_vec()).await;
    assert_eq!((s, p["hazards"].as_i64(), p["photos"].as_str().map(|x| x.split(',').count())), (201, Some(0), Some(1)), "{p}");
    let (s, p) = worker
        .upload_form(
            "/api/v1/grids/patrols",
            &[("patrol", &patrol(ours[0].0, patrol_items(&[("gas", "3号楼燃气表处有煤气味")])))],
            "gas.png",
            PNG.to_vec(),
        )
        .await;
    assert_eq!((s, p["hazards"].as_i64()), (201, Some(1)), "{p}");
    let (channel, category, text, confirmed): (String, String, String, Option<String>) = app
        .db
        .fetch_one(
            "SELECT channel, category, text, category_confirmed_by FROM service_requests WHERE patrol_id = $1",
            huanxin_store::args![p["id"].as_i64().unwrap()],
        )
        .await
        .unwrap();
    assert_eq!((channel.as_str(), category.as_str(), confirmed.as_deref()), ("patrol", "safety.gas_smell", Some("grid_worker")));
    assert!(text.contains("3号楼燃气表处有煤气味"), "{text}");
    let (_, seen) = staff.get("/api/v1/requests?status=open").await;
    assert!(seen["items"].as_array().unwrap().iter().any(|r| r["channel"] == "patrol"), "in the desk's inbox: {seen}");

    // Coverage and workload.
    let (s, cov) = staff.get("/api/v1/grids/coverage").await;
    let counts: Vec<(i64, i64)> =
        cov.as_array().unwrap().iter().map(|c| (c["estate_id"].as_i64().unwrap(), c["patrols"].as_i64().unwrap())).collect();
    assert_eq!((s, counts), (200, vec![(ours[1].0, 0), (ours[0].0, 2)]), "the estate not patrolled first: {cov}");
    let (s, load) = staff.get("/api/v1/grids/workload?weeks=4").await;
    let w = &load[0];
    assert_eq!(
        (
            s,
            w["username"].as_str(),
            w["planned"].as_i64(),
            w["done"].as_i64(),
            w["patrols"].as_i64(),
            w["hazards"].as_i64(),
            w["patrol_rate"].as_f64()
        ),
        (200, Some("grid_worker"), Some(8), Some(1), Some(2), Some(1), Some(12.5)),
        "{load}"
    );
    let (_, list) = staff.get("/api/v1/grids/patrols").await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(staff.get("/api/v1/grids/coverage?week=soon").await.0, 422);
    assert_eq!(staff.get("/api/v1/grids/coverage?week=-262143-01-01").await.0, 422, "a date far off is no week");

    // GeoJSON: a square around the second estate makes a grid of it; a bad file changes nothing.
    let (lon, lat) = (ours[1].1.unwrap(), ours[1].2.unwrap());
    let square = json!([[
        [lon - 0.0005, lat - 0.0005],
        [lon + 0.0005, lat - 0.0005],
        [lon + 0.0005, lat + 0.0005],
        [lon - 0.0005, lat + 0.0005],
        [lon - 0.0005, lat - 0.0005]
    ]]);
    let bad = json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "二网格"}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}]});
    let (s, r) =
        staff.upload_form("/api/v1/grids/import", &[("community", community)], "grids.geojson", bad.to_string().into_bytes()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("features[1].geometry")), "{r}");
    let good = json!({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"name": "二网格", "code": "W2"}, "geometry": {"type": "Polygon", "coordinates": square}}]});
    let twice = json!({"type": "FeatureCollection", "features": [good["features"][0].clone(), {"type": "Feature", "properties": {"name": "三网格", "code": "W3"}, "geometry": {"type": "Polygon", "coordinates": square}}]});
    let (s, r) =
        staff.upload_form("/api/v1/grids/import", &[("community", community)], "grids.geojson", twice.to_string().into_bytes()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("features[2].geometry")), "grids must not overlap: {r}");
    let (s, r) = staff.upload_form("/api/v1/grids/import", &[], "grids.geojson", good.to_string().into_bytes()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("features[1].community_code")), "whose community: {r}");
    let (s, r) =
        staff.upload_form("/api/v1/grids/import", &[("community", community)], "grids.geojson", good.to_string().into_bytes()).await;
    assert_eq!((s, r["grids"].as_i64(), r["estates"].as_i64(), r["moved"].as_i64()), (200, Some(1), Some(1), Some(1)), "{r}");
    let (_, grids) = staff.get("/api/v1/grids").await;
    let estates: Vec<(&str, i64)> =
        grids.as_array().unwrap().iter().map(|g| (g["code"].as_str().unwrap(), g["estates"].as_i64().unwrap())).collect();
    assert_eq!(estates, [("W1", 1), ("W2", 1)], "the estate moved to the grid drawn around it");

    // Mediation, with the signed agreement in the archive.
    let path = format!("/api/v1/estates/{}/mediations", ours[0].0);
    let fields = [
        ("held_on", "2026-11-20"),
        ("parties", "3号楼王某、4号楼李某"),
        ("issue", "加装电梯采光争议"),
        ("outcome", "agreed"),
        ("agreement", "电梯井道外移1米"),
    ];
    let (s, _) = app.client("resident").await.upload_form(&path, &fields, "agreement.pdf", b"%PDF-1.7\n".to_vec()).await;
    assert_eq!(s, 403, "residents keep no mediation records");
    let mut bad = fields;
    bad[3] = ("outcome", "maybe");
    let (s, r) = worker.upload_form(&path, &bad, "agreement.pdf", b"%PDF-1.7\n".to_vec()).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("outcome")), "{r}");
    let (s, m) = worker.upload_form(&path, &fields, "agreement.pdf", b"%PDF-1.7\n".to_vec()).await;
    assert_eq!((s, m["outcome"].as_str(), m["agreement_file"].as_str()), (201, Some("agreed"), Some("agreement.pdf")), "{m}");
    // The agreement names the parties: kept with the mediation, out of the archive companies read.
    let file = format!("{path}/{}/agreement", m["id"].as_i64().unwrap());
    let (s, bytes) = staff.get_bytes(&file).await;
    assert_eq!((s, bytes.as_slice()), (200, b"%PDF-1.7\n".as_slice()));
    assert_eq!(app.client("property_company").await.get_bytes(&file).await.0, 403);
    let (_, archive) = staff.get(&format!("/api/v1/estates/{}/archive", ours[0].0)).await;
    assert!(!archive.to_string().contains("agreement.pdf"), "not in the archive");
    let (_, list) = staff.get(&path).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(app.client("other_county_admin").await.get(&path).await.0, 404);
}

async fn the_weekly_digest_counts_each_street(app: &TestApp) {
    use calamine::{DataType, Reader};
    let staff = app.client("county_staff").await;
    let places: Vec<(i64, String)> = app
        .db
        .fetch_all(
            "SELECT MIN(id), SUBSTR(community_code, 1, 9) FROM estates WHERE community_code LIKE '350521%' GROUP BY SUBSTR(community_code, 1, 9) ORDER BY 2 LIMIT 2",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(places.len(), 2, "two streets of the test county");
    for (estate, text) in [(places[0].0, "电梯坏了三天"), (places[0].0, "楼道里有煤气味"), (places[1].0, "绿化带没人修剪")]
    {
        let category = if text.contains("电梯") {
            "repair.lift"
        } else if text.contains("煤气") {
            "safety.gas_smell"
        } else {
            "environment.greening"
        };
        let (s, r) =
            staff.post(&format!("/api/v1/estates/{estate}/requests"), json!({"category": category, "text": text, "author": "居民"})).await;
        assert_eq!(s, 201, "{r}");
    }
    assert_eq!(staff.get("/api/v1/requests/digest.xlsx?week=soon").await.0, 422);
    assert_eq!(app.client("property_company").await.get_bytes("/api/v1/requests/digest.xlsx").await.0, 403);
    let week = huanxin_store::today().to_string();
    let (s, bytes) = staff.get_bytes(&format!("/api/v1/requests/digest.xlsx?week={week}")).await;
    assert_eq!(s, 200);
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(wb.sheet_names().len(), 3, "the summary and a sheet per street: {:?}", wb.sheet_names());
    let summary = wb.worksheet_range("汇总").unwrap();
    let filed: Vec<f64> = (3..summary.height() as u32).filter_map(|r| summary.get_value((r, 1)).and_then(|v| v.as_f64())).collect();
    assert_eq!(filed, vec![2.0, 1.0], "per street, in code order");
    let warned = summary.get_value((3, 7)).and_then(|v| v.as_f64());
    assert_eq!(warned, Some(1.0), "the gas smell warned");
    let street = wb.sheet_names()[1].clone();
    let list = wb.worksheet_range(&street).unwrap();
    assert_eq!(list.height(), 5, "title, blank, header and the street's two requests");
    let all: String = list.rows().flat_map(|r| r.iter().map(|c| c.to_string())).collect();
    assert!(all.contains("电梯") && !all.contains("居民"), "kinds listed, no names: {all}");
    // Another county's desk sees none of it.
    let (_, other) = app.client("other_county_admin").await.get_bytes(&format!("/api/v1/requests/digest.xlsx?week={week}")).await;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(other)).unwrap();
    assert_eq!(wb.sheet_names().len(), 1);
    assert_eq!(wb.worksheet_range("汇总").unwrap().get_value((3, 0)).unwrap().to_string(), "本周无诉求");
}

async fn hotline_work_orders_are_imported_once_and_matched_by_address(app: &TestApp) {
    let staff = app.client("county_staff").await;
    let named: Vec<(i64, String)> = app
        .db
        .fetch_all(
            "SELECT MIN(id), name FROM estates WHERE community_code >= '350521' AND community_code < '350522' GROUP BY name HAVING COUNT(*) = 1 ORDER BY MIN(id) LIMIT 2",
            vec![],
        )
        .await
        .unwrap();
    let (other_name,): (String,) =
        app.db.fetch_one("SELECT name FROM estates WHERE id = $1", huanxin_store::args![app.other_county_estate]).await.unwrap();
    let header: &[&str] = &["工单编号", "来电时间", "来电人", "电话", "地址", "诉求内容", "诉求类型", "工单状态"];
    let gas_at = format!("惠安县{}3号楼", named[0].1);
    let elsewhere = format!("泉州市{other_name}2号楼");
    let count = || async { app.db.scalar("SELECT COUNT(*) FROM service_requests", vec![]).await.unwrap() };
    let before = count().await;

    let bad = xlsx(&[
        header,
        &["GD1", "2026-11-02 08:15", "王女士", "13800000001", &gas_at, "楼道里一股煤气味", "城乡建设", "已派单"],
        &["GD1", "2026-11-02 09:00", "李", "", &gas_at, "又闻到煤气味", "", ""],
        &["GD3", "昨天", "", "", "城南菜市场门口", "", "", ""],
    ]);
    let (s, r) = staff.upload("/api/v1/requests/hotline", "12345.xlsx", bad).await;
    assert_eq!(s, 422, "{r}");
    let problems: Vec<(i64, &str)> =
        r["rows"].as_array().unwrap().iter().map(|e| (e["row"].as_i64().unwrap(), e["column"].as_str().unwrap())).collect();
    assert_eq!(problems, [(3, "工单编号"), (4, "来电时间"), (4, "诉求内容")], "{r}");
    assert_eq!(count().await, before, "nothing written");

    let good = xlsx(&[
        header,
        &["GD1", "2026-11-02 08:15", "王女士", "13800000001", &gas_at, "楼道里一股煤气味", "城乡建设", "已派单"],
        &["GD2", "2026/11/3 9:00", "", "", "城南菜市场门口", "路灯不亮好几天了", "", ""],
        &["GD4", "2026年11月4日 10:30", "赵", "", &elsewhere, "小区门口积水", "", ""],
    ]);
    let (s, r) = staff.upload("/api/v1/requests/hotline", "12345.xlsx", good.clone()).await;
    assert_eq!((s, r["rows"].as_i64(), r["filed"].as_i64(), r["unmatched"].as_i64()), (200, Some(3), Some(1), Some(2)), "{r}");
    let (s, again) = staff.upload("/api/v1/requests/hotline", "12345.xlsx", good).await;
    assert_eq!((s, again["already_imported"].as_i64(), again["filed"].as_i64()), (200, Some(3), Some(0)), "never twice: {again}");
    assert_eq!(count().await, before + 1);
    let (_, list) = staff.get(&format!("/api/v1/estates/{}/requests", named[0].0)).await;
    let filed = &list[0];
    assert_eq!(
        (filed["channel"].as_str(), filed["work_order"].as_str(), filed["category"].as_str(), filed["caller_phone"].as_str()),
        (Some("hotline"), Some("GD1"), Some("safety.gas_smell"), Some("138****0001")),
        "{filed}"
    );
    assert!(filed["created_at"].as_str().unwrap().starts_with("2026-11-02T00:15"), "the call's time, in UTC: {filed}");

    // Waiting for a clerk: another county's estate is no match here.
    let (_, waiting) = staff.get("/api/v1/requests/hotline/unmatched").await;
    let orders: Vec<&str> = waiting.as_array().unwrap().iter().map(|o| o["work_order"].as_str().unwrap()).collect();
    assert_eq!(orders, ["GD2", "GD4"], "{waiting}");
    assert_eq!(app.client("other_county_admin").await.get("/api/v1/requests/hotline/unmatched").await.1, json!([]));
    let id = waiting[0]["id"].as_i64().unwrap();
    let path = format!("/api/v1/requests/hotline/unmatched/{id}/match");
    let (s, r) = staff.post(&path, json!({"estate_id": app.other_county_estate})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("estate_id")), "{r}");
    let (s, r) = staff.post(&path, json!({"estate_id": named[1].0, "category": "repair"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("category")), "{r}");
    let (s, r) = staff.post(&path, json!({"estate_id": named[1].0, "category": "repair.power"})).await;
    assert_eq!(
        (s, r["work_order"].as_str(), r["estate_id"].as_i64(), r["category_confirmed_by"].as_str()),
        (200, Some("GD2"), Some(named[1].0), Some("county_staff")),
        "{r}"
    );
    assert_eq!(staff.post(&path, json!({"estate_id": named[1].0})).await.0, 404, "filed once");
    assert_eq!(app.client("community_staff").await.post("/api/v1/requests/hotline", json!({})).await.0, 422, "no file: named");
}

/// Records an inspection of an estate directly (the inspection flow itself is tested with the construction pages).
async fn inspection(app: &TestApp, estate: i64, passed: bool) -> i64 {
    app.db
        .execute(
            "INSERT INTO inspections (estate_id, checkpoint, held_on, inspector, passed, findings, created_at) VALUES ($1, 'site_control', '2026-05-01', 'supervisor', $2, $3, '2026-05-01')",
            huanxin_store::args![estate, passed, if passed { "" } else { "防水层未做闭水试验" }],
        )
        .await
        .unwrap();
    app.db.scalar("SELECT MAX(id) FROM inspections", vec![]).await.unwrap()
}

async fn funds_allocated_paid_within_limits_on_a_verified_ledger(app: &TestApp) {
    let c = app.client("county_admin").await;
    // Four eyes: the admin asks for payments, the clerk approves them (and the other way round).
    let k = app.client("county_staff").await;
    assert_eq!(app.client("contractor").await.get("/api/v1/allocations").await.0, 403);
    let (s, r) = c
        .post("/api/v1/allocations", json!({"region_code": "350521000000", "source": "x", "year": 2026, "purpose": "", "amount": "1.005"}))
        .await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["source", "purpose", "amount"]));
    let (s, r) = c
        .post(
            "/api/v1/allocations",
            json!({"region_code": "350521000000", "source": "central", "year": 2026, "purpose": "中央补助", "amount": "-1"}),
        )
        .await;
    assert_eq!((s, r["errors"][0]["reason"].as_str()), (422, Some("must not be negative")));
    let (s, top) = c.post("/api/v1/allocations", json!({"region_code": "350521000000", "source": "central", "year": 2026, "purpose": "2026年中央补助资金", "amount": "1,000,000"})).await;
    assert_eq!((s, top["left"].as_i64()), (201, Some(100_000_000)), "{top}");

    let estate = app.attached_estate;
    let (_, p) = c.post("/api/v1/projects", json!({"code": "F-1", "name": "北关改造", "estate_ids": [estate]})).await;
    let pid = p["project"]["id"].as_i64().unwrap();
    let child = json!({"parent_id": top["id"], "region_code": "350521000000", "year": 2026, "purpose": "北关基础类改造", "amount": "600000", "categories": ["basic"], "projects": [pid]});
    let (s, alloc) = c.post("/api/v1/allocations", child.clone()).await;
    assert_eq!(s, 201, "{alloc}");
    assert_eq!(alloc["source"], "central", "a child keeps its parent's source");
    let (s, r) = c
        .post(
            "/api/v1/allocations",
            json!({"parent_id": top["id"], "region_code": "350521000000", "year": 2026, "purpose": "x", "amount": "400000.01"}),
        )
        .await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("more than what is left of the parent allocation (400000.00 yuan)")));

    assert_eq!(c.put(&format!("/api/v1/projects/{pid}/contract"), json!({"amount": "0"})).await.0, 422);
    let (s, _) = c.put(&format!("/api/v1/projects/{pid}/contract"), json!({"amount": "500000"})).await;
    assert_eq!(s, 200);
    // Payments are for a passed inspection (or a finished milestone) of the project's estates.
    let (passed, failed) = (inspection(app, estate, true).await, inspection(app, estate, false).await);
    let (_, bases) = c.get(&format!("/api/v1/projects/{pid}/payment-bases")).await;
    assert_eq!(
        bases.as_array().map(|b| b.iter().map(|x| x["basis"].as_str().unwrap().to_string()).collect::<Vec<_>>()),
        Some(vec![format!("inspection:{passed}")]),
        "{bases}"
    );
    let pay = |category: &str, amount: &str| json!({"allocation_id": alloc["id"], "project_id": pid, "category": category, "payee": "惠安建工", "amount": amount, "basis": format!("inspection:{passed}")});
    let mut bad = pay("basic", "1");
    bad["basis"] = json!(format!("inspection:{failed}"));
    let (s, r) = c.post("/api/v1/disbursements", bad.clone()).await;
    assert_eq!(
        (s, r["detail"].as_str()),
        (409, Some(format!("the payment's basis is not met: inspection {failed} did not pass").as_str()))
    );
    // Another county's inspection is as unknown as one that does not exist: its id tells nothing.
    let theirs = inspection(app, app.other_county_estate, true).await;
    bad["basis"] = json!(format!("inspection:{theirs}"));
    let (s, r) = c.post("/api/v1/disbursements", bad.clone()).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("funds.basis_missing")), "{r}");
    bad["basis"] = json!("advance");
    assert_eq!(c.post("/api/v1/disbursements", bad).await.1["errors"][0]["field"], "basis");
    let (s, d1) = c.post("/api/v1/disbursements", pay("basic", "300000")).await;
    assert_eq!((s, d1["status"].as_str()), (201, Some("requested")), "{d1}");
    let (s, d1) = k.post(&format!("/api/v1/disbursements/{}/approve", d1["id"]), json!({})).await;
    assert_eq!((s, d1["status"].as_str()), (200, Some("approved")), "{d1}");
    assert_eq!(k.post(&format!("/api/v1/disbursements/{}/approve", d1["id"]), json!({})).await.0, 409, "paid once");
    // What cannot be paid is refused when it is asked for, not only when it would be approved.
    let (s, r) = c.post("/api/v1/disbursements", pay("upgrading", "1000")).await;
    assert_eq!((s, r["code"].as_str(), r["params"]["category"].as_str()), (409, Some("funds.earmarked"), Some("upgrading")), "{r}");
    assert_eq!(r["params"]["project"], pid.to_string(), "{r}");
    let (s, r) = c.post("/api/v1/disbursements", pay("basic", "250000")).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("the contract has 200000.00 yuan left to pay; 250000.00 yuan is more")));

    // Two payments that together overspend the allocation's 300,000 left: exactly one wins.
    c.put(&format!("/api/v1/projects/{pid}/contract"), json!({"amount": "2000000"})).await;
    // Asked for together (so likely one shared commit): a refusal among them refuses only itself.
    let (ask_a, ask_b, ask_refused) = tokio::join!(
        c.post("/api/v1/disbursements", pay("basic", "200000")),
        c.post("/api/v1/disbursements", pay("basic", "200000")),
        c.post("/api/v1/disbursements", pay("upgrading", "1"))
    );
    let ((sa, a), (sb, b)) = (ask_a, ask_b);
    assert_eq!((sa, sb, a["status"].as_str()), (201, 201, Some("requested")), "{a} {b}");
    assert_ne!(a["id"], b["id"]);
    assert_eq!((ask_refused.0, ask_refused.1["code"].as_str()), (409, Some("funds.earmarked")), "{:?}", ask_refused.1);
    let c2 = app.client("city_admin").await;
    let (pa, pb) = (format!("/api/v1/disbursements/{}/approve", a["id"]), format!("/api/v1/disbursements/{}/approve", b["id"]));
    let (ra, rb) = tokio::join!(k.post(&pa, json!({})), c2.post(&pb, json!({})));
    let mut codes = [ra.0, rb.0];
    codes.sort();
    assert_eq!(codes, [200, 409], "{ra:?} {rb:?}");
    let (_, f) = c.get(&format!("/api/v1/projects/{pid}/funds")).await;
    assert_eq!(f["paid_by_source"], json!([["central", 50_000_000]]), "{f}");
    let (s, r) = c.put(&format!("/api/v1/projects/{pid}/contract"), json!({"amount": "499999.99"})).await;
    assert_eq!((s, r["errors"][0]["reason"].as_str()), (422, Some("is less than the 500000.00 yuan already paid")), "{r}");
    let (_, list) = c.get("/api/v1/allocations").await;
    let left = list.as_array().unwrap().iter().find(|x| x["id"] == alloc["id"]).unwrap()["left"].as_i64().unwrap();
    assert_eq!(left, 10_000_000, "600,000 − 500,000 paid");

    // A correction is a reversing entry; the chain verifies, and a changed row is found.
    let seq = d1["ledger_seq"].as_i64().unwrap();
    let (s, r) = c.post(&format!("/api/v1/ledger/{seq}/reverse"), json!({"memo": "重复付款"})).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(c.post(&format!("/api/v1/ledger/{seq}/reverse"), json!({"memo": "again"})).await.0, 409);
    let (_, f) = c.get(&format!("/api/v1/projects/{pid}/funds")).await;
    assert_eq!(f["paid_by_source"], json!([["central", 20_000_000]]));
    // Investment completed counts the same money, reversal subtracted, at the county and the country.
    let month = huanxin_store::today().format("%Y-%m").to_string();
    let (_, st) = app.client("ministry_admin").await.get(&format!("/api/v1/statistics?period={month}")).await;
    let invested = st["figures"].as_array().unwrap().iter().find(|x| x["code"] == "invest_central").unwrap()["value"].clone();
    assert_eq!(invested, 20_000_000, "{st}");
    let (_, why) = c.get(&format!("/api/v1/statistics/counted?period={month}&indicator=invest_central")).await;
    assert_eq!(
        (why["total"].as_i64(), why["items"][0]["subject"].as_str(), why["items"][0]["id"].as_i64()),
        (Some(1), Some("project"), Some(pid)),
        "{why}"
    );
    let (_, list) = c.get("/api/v1/disbursements").await;
    let reversed = list["items"].as_array().unwrap().iter().find(|x| x["id"] == d1["id"]).unwrap().clone();
    assert_eq!((reversed["status"].as_str(), reversed["reversed_by"].clone()), (Some("reversed"), r["seq"].clone()), "{reversed}");
    // The list filters by status and project, a page at a time, and says how many match.
    let (_, only) = c.get("/api/v1/disbursements?status=reversed").await;
    assert_eq!((only["total"].as_i64(), only["items"][0]["id"].clone()), (Some(1), d1["id"].clone()), "{only}");
    let (_, all) = c.get(&format!("/api/v1/disbursements?project_id={pid}")).await;
    let (_, page2) = c.get(&format!("/api/v1/disbursements?project_id={pid}&per_page=1&page=2")).await;
    assert!(all["total"].as_i64().unwrap() >= 3, "{all}");
    assert_eq!((page2["total"].clone(), page2["items"].as_array().map(|i| i.len())), (all["total"].clone(), Some(1)));
    assert_eq!(page2["items"][0]["id"], all["items"][1]["id"], "newest first");
    assert_eq!(c.get("/api/v1/disbursements?project_id=999999").await.1["total"], 0);
    let (s, bad) = c.get("/api/v1/disbursements?status=paid").await;
    assert_eq!((s, bad["errors"][0]["field"].as_str()), (422, Some("status")), "{bad}");
    let (_, v) = c.get("/api/v1/ledger/verify").await;
    assert_eq!((v["intact"].as_bool(), v["entries"].as_i64()), (Some(true), Some(5)), "{v}");
    // The same check as a background job with progress (what the page uses).
    let (s, job) = c.post("/api/v1/ledger/verify/job", json!({})).await;
    assert_eq!((s, job["total"].as_i64()), (202, Some(5)), "{job}");
    let mut job = job;
    for _ in 0..500 {
        if job["running"] == false {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        job = c.get("/api/v1/ledger/verify/job").await.1;
    }
    assert_eq!(
        (job["running"].as_bool(), job["walked"].as_i64(), job["result"]["intact"].as_bool()),
        (Some(false), Some(5), Some(true)),
        "{job}"
    );
    // The fund ledger (资金使用台账) as a workbook: every movement in order, and what is left of each allocation.
    let (s, bytes) = c.get_bytes("/api/v1/ledger/export.xlsx").await;
    assert_eq!(s, 200);
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    let rows: Vec<Vec<String>> =
        book.worksheet_range("资金使用台账").unwrap().rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows.len(), 6, "a header and five entries: {rows:?}");
    assert!(rows[3].contains(&"北关改造".to_string()) && rows[3].contains(&"300000".to_string()), "{:?}", rows[3]);
    let left: Vec<Vec<String>> =
        book.worksheet_range("资金结余").unwrap().rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert!(left.iter().any(|r| r[3] == "北关基础类改造" && r[5] == "400000"), "{left:?}");

    // A share cut by mistake is reversed: the parent has the money again, the share was given nothing,
    // and a reversal is not itself reversed.
    let find = |list: &serde_json::Value, id: &serde_json::Value| list.as_array().unwrap().iter().find(|x| &x["id"] == id).unwrap().clone();
    let top_left = find(&c.get("/api/v1/allocations").await.1, &top["id"])["left"].as_i64().unwrap();
    let (_, wrong) = c
        .post(
            "/api/v1/allocations",
            json!({"parent_id": top["id"], "region_code": "350521000000", "year": 2026, "purpose": "错拨", "amount": "100000"}),
        )
        .await;
    let listed = find(&c.get("/api/v1/allocations").await.1, &wrong["id"]);
    let funding = listed["funding_seq"].as_i64().expect("a budget allocation can be reversed");
    let (s, r) = k.post(&format!("/api/v1/ledger/{funding}/reverse"), json!({"memo": "错拨"})).await;
    assert_eq!(s, 201, "{r}");
    let list = c.get("/api/v1/allocations").await.1;
    let listed = find(&list, &wrong["id"]);
    assert_eq!((listed["amount"].as_i64(), listed["left"].as_i64(), listed["funding_seq"].clone()), (Some(0), Some(0), json!(null)));
    assert_eq!(find(&list, &top["id"])["left"].as_i64(), Some(top_left));
    let (s, again) = c.post(&format!("/api/v1/ledger/{}/reverse", r["seq"]), json!({"memo": "撤销冲正"})).await;
    assert_eq!(s, 409, "{again}");
    assert!(again["detail"].as_str().unwrap().contains("is itself the reversal of entry"), "{again}");

    // Money given to a region pays only that region's projects; the payment form offers only what may pay.
    let (_, payable) = c.get(&format!("/api/v1/projects/{pid}/payable-allocations")).await;
    let ids: Vec<i64> = payable.as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(ids.contains(&top["id"].as_i64().unwrap()) && ids.contains(&alloc["id"].as_i64().unwrap()), "{payable}");
    assert!(!ids.contains(&wrong["id"].as_i64().unwrap()), "nothing is left in it: {payable}");
    let city = app.client("city_admin").await;
    let (s, elsewhere) = city
        .post(
            "/api/v1/allocations",
            json!({"region_code": "350502000000", "source": "provincial", "year": 2026, "purpose": "鲤城区补助", "amount": "1000"}),
        )
        .await;
    assert_eq!(s, 201, "{elsewhere}");
    let (_, payable) = city.get(&format!("/api/v1/projects/{pid}/payable-allocations")).await;
    assert!(payable.as_array().unwrap().iter().all(|a| a["id"] != elsewhere["id"]), "{payable}");
    let (s, d) = city
        .post("/api/v1/disbursements", json!({"allocation_id": elsewhere["id"], "project_id": pid, "category": "basic", "payee": "惠安建工", "amount": "10", "basis": format!("inspection:{passed}")}))
        .await;
    assert_eq!((s, d["detail"].as_str()), (409, Some("the project lies outside the region the allocation was given to")), "{d}");
    assert_eq!(c.get(&format!("/api/v1/projects/{pid}/payable-allocations")).await.0, 200);
    assert_eq!(app.client("other_county_admin").await.get(&format!("/api/v1/projects/{pid}/payable-allocations")).await.0, 404);

    app.db.execute("UPDATE ledger_entries SET amount = amount + 1 WHERE seq = 3", vec![]).await.unwrap();
    let (_, v) = c.get("/api/v1/ledger/verify").await;
    assert_eq!((v["intact"].as_bool(), v["broken_at"]["seq"].as_i64()), (Some(false), Some(3)), "{v}");
}

async fn funds_planned_contributed_reconciled_reported_and_upkept(app: &TestApp) {
    let c = app.client("county_admin").await;
    // Four eyes: the clerk approves and corrects what the admin entered.
    let k = app.client("county_staff").await;
    let (estate, building, dwellings) = estate_with_dwellings(app).await;
    let (_, p) = c.post("/api/v1/projects", json!({"code": "F-2", "name": "东街改造", "estate_ids": [estate]})).await;
    let pid = p["project"]["id"].as_i64().unwrap();
    c.put(&format!("/api/v1/projects/{pid}/contract"), json!({"amount": "1200000"})).await;

    // The co-funding plan: government, utilities (with a reward subsidy) and residents; bad lines named, nothing saved.
    let plan_path = format!("/api/v1/projects/{pid}/funding-plan");
    let (s, r) = c
        .put(&plan_path, json!({"lines": [{"source": "central", "amount": "800000"}, {"source": "nobody", "amount": "1.001"}, {"source": "residents", "amount": "5", "reward": true}]}))
        .await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["lines[1].source", "lines[1].amount", "lines[2].source", "lines"]), "{r}");
    assert_eq!(c.get(&plan_path).await.1["lines"], json!([]));
    let plan = json!({"lines": [
        {"source": "central", "category": "basic", "item": "管网及屋面", "amount": "800000"},
        {"source": "utility", "item": "供水管网", "amount": "200000"},
        {"source": "local", "item": "以奖代补", "amount": "50000", "reward": true},
        {"source": "residents", "category": "improvement", "item": "加装电梯", "amount": "200000"}]});
    let (s, saved) = c.put(&plan_path, plan).await;
    assert_eq!((s, saved["lines"].as_array().map(|l| l.len())), (200, Some(4)), "{saved}");

    // Residents' contributions: by dwelling and by building, each named how paid; they enter the project's residents' pool.
    let contrib = format!("/api/v1/projects/{pid}/contributions");
    let (s, r) = c.post(&contrib, json!({"estate_id": estate, "amount": "-3", "method": "gold", "paid_on": "soon"})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["dwelling_id", "amount", "method", "paid_on"]), "{r}");
    let (s, r) = c
        .post(&contrib, json!({"estate_id": estate, "dwelling_id": 999_999, "amount": "3000", "method": "cash", "paid_on": "2026-05-01"}))
        .await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("dwelling_id")), "{r}");
    let (s, one) = c
        .post(&contrib, json!({"estate_id": estate, "dwelling_id": dwellings[0], "amount": "3000", "method": "provident_fund", "purpose": "加装电梯", "paid_on": "2026-05-01"}))
        .await;
    assert_eq!(s, 201, "{one}");
    assert_eq!(one["from_label"].as_str().map(|l| l.split(' ').count()), Some(2), "building and dwelling: {one}");
    let (s, _) = c
        .post(&contrib, json!({"estate_id": estate, "building_id": building, "households": 2, "amount": "7000", "method": "cash", "paid_on": "2026-05-02"}))
        .await;
    assert_eq!(s, 201);
    let (_, all) = c.get(&contrib).await;
    assert_eq!((all["total_fen"].as_i64(), all["contributing_households"].as_i64()), (Some(1_000_000), Some(3)), "{all}");
    assert_eq!(
        (all["estates"].as_i64(), all["contributing_estates"].as_i64(), all["estate_rate_pct"].as_f64()),
        (Some(1), Some(1), Some(100.0))
    );
    assert_eq!(all["by_method"], json!({"cash": 700_000, "provident_fund": 300_000}));
    let (_, allocations) = c.get("/api/v1/allocations").await;
    let pool = allocations.as_array().unwrap().iter().find(|a| a["pool_of"] == pid).unwrap().clone();
    assert_eq!((pool["source"].as_str(), pool["left"].as_i64()), (Some("residents"), Some(1_000_000)), "{pool}");
    // Residents' money pays only its project: the pool is never cut from, nothing changes.
    let (s, r) = c
        .post(
            "/api/v1/allocations",
            json!({"parent_id": pool["id"], "region_code": "350521000000", "year": pool["year"], "purpose": "挪用", "amount": "100"}),
        )
        .await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("parent_id"), Some("funds.pool_not_cut")),
        "{r}"
    );
    assert_eq!(c.get("/api/v1/allocations").await.1.as_array().unwrap().len(), allocations.as_array().unwrap().len());

    // Central money for the project, paid against a passed inspection.
    let (_, central) = c
        .post("/api/v1/allocations", json!({"region_code": "350521000000", "source": "central", "year": 2026, "purpose": "东街中央补助", "amount": "600000", "projects": [pid]}))
        .await;
    let passed = inspection(app, estate, true).await;
    let (_, d) = c
        .post("/api/v1/disbursements", json!({"allocation_id": central["id"], "project_id": pid, "category": "basic", "payee": "惠安建工", "amount": "250000", "basis": format!("inspection:{passed}")}))
        .await;
    let (s, _) = k.post(&format!("/api/v1/disbursements/{}/approve", d["id"]), json!({})).await;
    assert_eq!(s, 200);
    // Local money shared with another project: what this project drew from it counts as arrived for it.
    let (s, other) = c.post("/api/v1/projects", json!({"code": "F-3", "name": "西街改造", "estate_ids": [app.attached_estate]})).await;
    assert_eq!(s, 201, "{other}");
    let (s, shared) = c
        .post("/api/v1/allocations", json!({"region_code": "350521000000", "source": "local", "year": 2026, "purpose": "县级奖补（两个项目）", "amount": "100000", "projects": [pid, other["project"]["id"]]}))
        .await;
    assert_eq!(s, 201, "{shared}");
    let (_, d) = c
        .post("/api/v1/disbursements", json!({"allocation_id": shared["id"], "project_id": pid, "category": "basic", "payee": "惠安建工", "amount": "30000", "basis": format!("inspection:{passed}")}))
        .await;
    let (s, r) = k.post(&format!("/api/v1/disbursements/{}/approve", d["id"]), json!({})).await;
    assert_eq!(s, 200, "{r}");

    // Reconciliation: every difference between plan, allocation and payment, by source.
    let (s, rec) = c.get(&format!("/api/v1/projects/{pid}/reconciliation")).await;
    assert_eq!(s, 200, "{rec}");
    let diffs: Vec<(String, String, i64, i64)> = rec["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().into(),
                d["source"].as_str().unwrap_or("").into(),
                d["expected"].as_i64().unwrap(),
                d["actual"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        diffs,
        vec![
            ("under_allocated".into(), "central".into(), 80_000_000, 60_000_000),
            ("under_allocated".into(), "local".into(), 5_000_000, 3_000_000),
            ("under_allocated".into(), "utility".into(), 20_000_000, 0),
            ("under_allocated".into(), "residents".into(), 20_000_000, 1_000_000),
        ],
        "{rec}"
    );
    let central_row = rec["rows"].as_array().unwrap().iter().find(|r| r["source"] == "central").unwrap().clone();
    assert_eq!((central_row["paid"].as_i64(), central_row["left"].as_i64()), (Some(25_000_000), Some(35_000_000)));

    // A contribution entered by mistake is reversed: still listed, marked, no longer counted; the pool gives it back.
    let building_row = all["items"].as_array().unwrap().iter().find(|x| x["building_id"] == building).unwrap().clone();
    let (s, r) = k.post(&format!("/api/v1/ledger/{}/reverse", building_row["ledger_seq"]), json!({"memo": "重复登记"})).await;
    assert_eq!(s, 201, "{r}");
    let (_, after) = c.get(&contrib).await;
    assert_eq!((after["total_fen"].as_i64(), after["contributing_households"].as_i64()), (Some(300_000), Some(1)), "{after}");
    assert_eq!(after["by_method"], json!({"provident_fund": 300_000}));
    let listed = after["items"].as_array().unwrap().iter().find(|x| x["id"] == building_row["id"]).unwrap().clone();
    assert_eq!(listed["reversed_by"], r["seq"]);
    let (_, allocations) = c.get("/api/v1/allocations").await;
    let pool = allocations.as_array().unwrap().iter().find(|a| a["pool_of"] == pid).unwrap().clone();
    assert_eq!((pool["amount"].as_i64(), pool["left"].as_i64()), (Some(300_000), Some(300_000)), "{pool}");
    let (_, rec) = c.get(&format!("/api/v1/projects/{pid}/reconciliation")).await;
    let residents = rec["rows"].as_array().unwrap().iter().find(|r| r["source"] == "residents").unwrap().clone();
    assert_eq!(residents["allocated"].as_i64(), Some(300_000), "{residents}");

    // The county's report for the year: by source, by region and by month, with the disbursement rate; and as xlsx.
    let year = chrono::Utc::now().format("%Y").to_string();
    let (s, report) = c.get(&format!("/api/v1/funds/report?year={year}")).await;
    assert_eq!(s, 200, "{report}");
    let by_central = report["by_source"].as_array().unwrap().iter().find(|r| r["key"] == "central").unwrap().clone();
    assert!(by_central["paid"].as_i64().unwrap() >= 25_000_000 && by_central["rate_pct"].as_f64().is_some(), "{by_central}");
    assert_eq!(by_central["name"], "中央补助资金");
    assert_eq!(
        c.get(&format!("/api/v1/funds/report?year={year}&region=")).await.1,
        report,
        "an empty region is one's own, as in statistics"
    );
    let month = chrono::Utc::now().format("%Y-%m").to_string();
    assert!(report["by_month"].as_array().unwrap().iter().any(|m| m["month"] == month.as_str()), "{report}");
    assert!(!report["by_region"].as_array().unwrap().is_empty());
    // A later year carries what came before: allocated and paid to its end, nothing paid within it.
    let next: i64 = year.parse::<i64>().unwrap() + 1;
    let (_, later) = c.get(&format!("/api/v1/funds/report?year={next}")).await;
    assert_eq!((later["allocated"].clone(), later["paid"].clone()), (report["allocated"].clone(), report["paid"].clone()), "{later}");
    assert_eq!((later["paid_in_year"].as_i64(), later["allocated_in_year"].as_i64()), (Some(0), Some(0)));
    assert_eq!(later["by_month"], json!([]));
    assert_eq!(report["paid_in_year"], report["paid"], "all was paid this year");
    // The dashboards' panel, read from kept totals, says the same by source (and for the later year).
    let (_, first_panel) = c.get(&format!("/api/v1/funds/by-source?year={year}")).await;
    for (y, full) in [(year.clone(), &report), (next.to_string(), &later)] {
        let (s, kept) = c.get(&format!("/api/v1/funds/by-source?year={y}")).await;
        assert_eq!(s, 200, "{kept}");
        assert_eq!(
            (&kept["by_source"], &kept["allocated"], &kept["paid"]),
            (&full["by_source"], &full["allocated"], &full["paid"]),
            "{kept} {full}"
        );
    }
    assert_eq!(c.get("/api/v1/funds/by-source?region=440000").await.0, 422, "outside the caller's region");
    // The report reads figures kept with each payment (the reversal above included): they agree
    // with the ledger, and rebuilt from it they give the same report.
    assert_eq!(app.db.funds_paid_disagreements().await.unwrap(), vec![], "kept funds figures agree with the ledger");
    app.db.rebuild_funds_paid().await.unwrap();
    assert_eq!(c.get(&format!("/api/v1/funds/report?year={year}")).await.1, report, "rebuilt from the ledger");
    // The report keeps the allocations' sums only while the ledger stands: a new allocation shows at once.
    let (s, more) = c
        .post("/api/v1/allocations", json!({"region_code": "350521000000", "source": "central", "year": year.parse::<i64>().unwrap(), "purpose": "追加中央补助", "amount": "1"}))
        .await;
    assert_eq!(s, 201, "{more}");
    let (_, again) = c.get(&format!("/api/v1/funds/report?year={year}")).await;
    assert_eq!(again["allocated"].as_i64().unwrap(), report["allocated"].as_i64().unwrap() + 100, "{again}");
    assert_eq!(c.get("/api/v1/funds/report?year=1900").await.0, 422);
    assert_eq!(c.get("/api/v1/funds/report?region=440000").await.0, 422, "outside the caller's region");
    let (s, r) = app.client("city_admin").await.get("/api/v1/funds/report?region=350599000000").await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("field.unknown_region")), "a made-up region is not zeros: {r}");
    let (s, bytes) = c.get_bytes(&format!("/api/v1/funds/report.xlsx?year={year}")).await;
    assert_eq!(s, 200);
    use calamine::Reader;
    let book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(book.sheet_names(), ["按来源", "按地区", "按月", "对账差异"]);
    let (s, region_rec) = c.get("/api/v1/funds/reconciliation").await;
    assert_eq!(s, 200);
    assert!(region_rec["rows"].as_array().unwrap().iter().any(|r| r["source"] == "residents"), "{region_rec}");

    // The upkeep account: deposits and public revenue in; spending needs the owners' passed decision on using the fund.
    let upkeep = format!("/api/v1/estates/{estate}/upkeep");
    let (s, r) = c.post(&format!("{upkeep}/credits"), json!({"kind": "lottery", "amount": "0", "memo": ""})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["kind", "amount", "memo"]));
    let (s, acct) =
        c.post(&format!("{upkeep}/credits"), json!({"kind": "parking", "amount": "12000", "memo": "2026年上半年停车收益"})).await;
    assert_eq!((s, acct["balance"].as_i64()), (201, Some(1_200_000)), "{acct}");
    let spend = |decision: Option<i64>, emergency: bool, amount: &str| json!({"amount": amount, "memo": "屋面防水维修", "payee": "惠安防水", "decision_id": decision, "emergency": emergency});
    let (s, r) = c.post(&format!("{upkeep}/spendings"), spend(None, false, "3000")).await;
    assert_eq!(s, 409, "{r}");
    assert!(r["detail"].as_str().unwrap().contains("owners' decision"), "{r}");
    let now = chrono::Utc::now();
    let ask = |matter: &str, amount: &str| {
        json!({"title": "使用维修资金维修屋面", "matter": matter, "scope": "estate", "amount": amount,
        "opens_at": (now - chrono::Duration::hours(2)).to_rfc3339(), "closes_at": (now + chrono::Duration::days(7)).to_rfc3339()})
    };
    let decisions = format!("/api/v1/estates/{estate}/decisions");
    let (s, r) = c.post(&decisions, ask("renovate", "5000")).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("amount")), "only a decision on using the fund has an amount: {r}");
    let (s, r) = c.post(&decisions, ask("use_maintenance_fund", "5000.001")).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("amount")), "{r}");
    let (_, page) = c.post(&decisions, ask("use_maintenance_fund", "5,000")).await;
    let decision = page["decision"]["id"].as_i64().unwrap_or_else(|| panic!("{page}"));
    assert_eq!(page["decision"]["amount"].as_i64(), Some(500_000), "the owners vote on the amount");
    let (s, r) = c.post(&format!("{upkeep}/spendings"), spend(Some(decision), false, "3000")).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("the owners' decision given has not passed")), "{r}");
    // Owners voted it through (the vote itself is tested with decisions).
    app.db
        .execute("UPDATE decisions SET closed_at = $1, passed = $2 WHERE id = $3", huanxin_store::args![now.to_rfc3339(), true, decision])
        .await
        .unwrap();
    let (s, r) = c.post(&format!("{upkeep}/spendings"), spend(None, true, "12000.01")).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("the maintenance fund has 12000.00 yuan; 12000.01 yuan is more")));
    // Four eyes: the admin asks, nothing is paid yet; the admin may not approve it; the clerk does.
    let clerk = app.client("county_staff").await;
    let (s, acct) = c.post(&format!("{upkeep}/spendings"), spend(Some(decision), false, "3000")).await;
    assert_eq!((s, acct["balance"].as_i64(), acct["requests"][0]["status"].as_str()), (201, Some(1_200_000), Some("requested")), "{acct}");
    let asked = acct["requests"][0]["id"].as_i64().unwrap();
    let (s, r) = c.post(&format!("/api/v1/upkeep-requests/{asked}/approve"), json!({})).await;
    assert_eq!(s, 409, "the one who asked does not approve: {r}");
    assert_eq!(app.client("other_county_admin").await.post(&format!("/api/v1/upkeep-requests/{asked}/approve"), json!({})).await.0, 404);
    let (s, acct) = clerk.post(&format!("/api/v1/upkeep-requests/{asked}/approve"), json!({"note": "核对合同无误"})).await;
    assert_eq!((s, acct["balance"].as_i64(), acct["spent"].as_i64()), (200, Some(900_000), Some(300_000)), "{acct}");
    assert_eq!(
        (acct["requests"][0]["status"].as_str(), acct["requests"][0]["decided_by"].as_str()),
        (Some("approved"), Some("county_staff"))
    );
    let (s, r) = clerk.post(&format!("/api/v1/upkeep-requests/{asked}/approve"), json!({})).await;
    assert_eq!((s, r["detail"].as_str()), (409, Some("the spending is already approved")), "approved once only");
    let (s, r) = c.post(&format!("{upkeep}/spendings"), spend(Some(decision), false, "2000.01")).await;
    assert_eq!(
        (s, r["detail"].as_str()),
        (409, Some("the owners allowed 5000.00 yuan under this decision and 3000.00 yuan is spent; 2000.01 yuan is more")),
        "{r}"
    );
    // Two requests that each fit but not together: the second approval is refused under the ledger's lock.
    let (_, a) = c.post(&format!("{upkeep}/spendings"), spend(Some(decision), false, "1500")).await;
    let (_, b) = c.post(&format!("{upkeep}/spendings"), spend(Some(decision), false, "1500")).await;
    let (first, second) = (a["requests"][0]["id"].as_i64().unwrap(), b["requests"][0]["id"].as_i64().unwrap());
    assert_eq!(clerk.post(&format!("/api/v1/upkeep-requests/{first}/approve"), json!({})).await.0, 200);
    let (s, r) = clerk.post(&format!("/api/v1/upkeep-requests/{second}/approve"), json!({})).await;
    assert_eq!(s, 409, "{r}");
    // Refusing says why; the one who asked may withdraw.
    let (s, r) = c.post(&format!("/api/v1/upkeep-requests/{second}/refuse"), json!({"note": " "})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("note")), "{r}");
    let (s, acct) = c.post(&format!("/api/v1/upkeep-requests/{second}/refuse"), json!({"note": "与上一笔重复"})).await;
    assert_eq!((s, acct["balance"].as_i64()), (200, Some(750_000)), "{acct}");
    let (_, acct) = c.post(&format!("{upkeep}/spendings"), spend(None, true, "500")).await;
    let emergency = acct["requests"][0]["id"].as_i64().unwrap();
    let (s, acct) = clerk.post(&format!("/api/v1/upkeep-requests/{emergency}/approve"), json!({})).await;
    assert_eq!((s, acct["balance"].as_i64()), (200, Some(700_000)), "an emergency repair is paid first");
    assert_eq!(acct["movements"][0]["emergency"], true);

    // The estate page's funding picture, which a resident of the estate may read too (no names in it).
    let (s, f) = c.get(&format!("/api/v1/estates/{estate}/funds")).await;
    assert_eq!((s, f["upkeep"]["balance"].as_i64()), (200, Some(700_000)), "{f}");
    assert!(f["projects"].as_array().unwrap().iter().any(|p| p["project_id"] == pid));
    let resident = bind_owner(app, &app.client("county_staff").await, estate, building, dwellings[1]).await;
    let (s, f) = resident.get(&format!("/api/v1/estates/{estate}/funds")).await;
    assert_eq!((s, f["upkeep"]["movements"][0]["entered_by"].as_str()), (200, Some("")), "{f}");
    assert_eq!(f["upkeep"]["requests"], json!([]), "spendings asked for are the bureau's: {f}");
    assert_eq!(resident.get(&contrib).await.0, 403, "who paid what is for the bureau");
    let (s, seen) = resident.get(&format!("/api/v1/decisions/{decision}")).await;
    assert_eq!((s, seen["decision"]["amount"].as_i64()), (200, Some(500_000)), "owners see the amount they vote on: {seen}");
    assert_eq!(app.client("other_county_admin").await.get(&upkeep).await.0, 404);

    // Reversals stay in scope and never take back money that has moved on.
    let pool_entry = one["ledger_seq"].as_i64().unwrap();
    assert_eq!(
        app.client("other_county_admin").await.post(&format!("/api/v1/ledger/{pool_entry}/reverse"), json!({"memo": "x"})).await.0,
        404
    );
    let given = app
        .db
        .scalar("SELECT seq FROM ledger_entries WHERE debit = $1", huanxin_store::args![format!("allocation:{}", central["id"])])
        .await
        .unwrap();
    let (s, r) = k.post(&format!("/api/v1/ledger/{given}/reverse"), json!({"memo": "下达有误"})).await;
    assert_eq!(s, 409, "250,000 of it was paid out: {r}");
    assert!(r["detail"].as_str().unwrap().starts_with("reversing it would take allocation:"), "{r}");
    let (_, v) = c.get("/api/v1/ledger/verify").await;
    assert_eq!(v["intact"], true, "{v}");
    // An allocation made after the panel's first read shows in it.
    let (s, r) = c
        .post("/api/v1/allocations", json!({"region_code": "350521000000", "source": "local", "year": 2026, "purpose": "追加奖补", "amount": "1000", "projects": [pid]}))
        .await;
    assert_eq!(s, 201, "{r}");
    let (_, report) = c.get(&format!("/api/v1/funds/report?year={year}")).await;
    let (_, kept) = c.get(&format!("/api/v1/funds/by-source?year={year}")).await;
    assert_eq!(
        (&kept["by_source"], &kept["allocated"], &kept["paid"]),
        (&report["by_source"], &report["allocated"], &report["paid"]),
        "{kept}"
    );
    assert_ne!(kept["allocated"], first_panel["allocated"], "allocations came in since the first read: {kept} {first_panel}");
}

/// Statistics follow the records at every level as they are written: a plan's estates counted in
/// the plan's year from the county to the country, each figure opening the estates it counts; a
/// region outside one's own, an unknown period or indicator refused by name; and the kept totals
/// equal to what a rebuild from the records gives.
async fn statistics_count_what_the_records_say(app: &TestApp) {
    let c = app.client("county_admin").await;
    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=3&eligible=true").await;
    let estates = list["items"].as_array().unwrap().clone();
    let ids: Vec<i64> = estates.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let households: i64 = estates.iter().map(|e| e["households"].as_i64().unwrap()).sum();
    let (s, plan) = c.post("/api/v1/plans", json!({"year": 2026, "targets": {"estates": 3}})).await;
    assert_eq!(s, 201, "{plan}");
    let plan_id = plan["plan"]["id"].as_i64().unwrap();
    let (s, p) = c.post(&format!("/api/v1/plans/{plan_id}/estates"), json!({"estate_ids": ids, "reason": "补录计划"})).await;
    assert_eq!(s, 200, "{p}");

    let fig = |page: &Value, code: &str| {
        page["figures"].as_array().unwrap().iter().find(|f| f["code"] == code).unwrap()["value"].as_i64().unwrap()
    };
    for (who, region) in [
        ("county_admin", "350521000000"),
        ("city_admin", "350500000000"),
        ("province_admin", "350000000000"),
        ("ministry_admin", "000000000000"),
    ] {
        let (s, page) = app.client(who).await.get("/api/v1/statistics?period=2026").await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(page["region_code"], region, "the caller's own region by default");
        assert_eq!((fig(&page, "planned_estates"), fig(&page, "planned_households")), (3, households), "{who}: {page}");
        assert_eq!(fig(&page, "started_estates"), 0);
        let start = page["rates"].as_array().unwrap().iter().find(|r| r["code"] == "start_rate_estates").unwrap().clone();
        assert_eq!(start["bp"], 0, "none started of three planned: {start}");
        // The level below holds the same three, under one region.
        if region != "350521000000" {
            let kids = page["children"].as_array().unwrap();
            assert_eq!(kids.len(), 1, "{page}");
            assert!(page["children"][0]["region_code"].as_str().unwrap().starts_with(&region[..region.trim_end_matches('0').len()]));
            assert_eq!(page["children"][0]["values"]["planned_estates"], 3, "{page}");
        }
    }
    // Another year, a quarter of it and a month read the year's plan; 2025 had none.
    let (_, q) = c.get("/api/v1/statistics?period=2026-Q3").await;
    assert_eq!(fig(&q, "planned_estates"), 3);
    let (_, y) = c.get("/api/v1/statistics?period=2025").await;
    assert_eq!(fig(&y, "planned_estates"), 0);
    let (_, all) = c.get("/api/v1/statistics?period=all").await;
    assert_eq!(fig(&all, "planned_estates"), 3);
    let (_, later) = c.get("/api/v1/statistics?period=2027").await;
    assert_eq!(later["figures"].as_array().unwrap().iter().find(|f| f["code"] == "planned_estates").unwrap()["year_before"], 3, "{later}");
    // "Why 3?": the estates counted.
    let (s, why) = app.client("province_admin").await.get("/api/v1/statistics/counted?period=2026&indicator=planned_households").await;
    assert_eq!(s, 200, "{why}");
    assert_eq!(why["total"], 3);
    let mut counted: Vec<i64> = why["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    counted.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(counted, expected);
    assert_eq!(why["items"].as_array().unwrap().iter().map(|i| i["value"].as_i64().unwrap()).sum::<i64>(), households);
    // Refused by name; nothing read from outside one's region.
    let other = app.client("other_county_admin").await;
    let (s, r) = other.get("/api/v1/statistics?region=350521000000&period=2026").await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("region"), Some("field.outside_region")),
        "{r}"
    );
    let (_, own) = other.get("/api/v1/statistics?period=2026").await;
    assert_eq!(fig(&own, "planned_estates"), 0, "another county's plan is not theirs");
    // A made-up code under one's own region is not a region with zeros: it is refused by name.
    let (s, r) = app.client("city_admin").await.get("/api/v1/statistics?region=350599000000&period=2026").await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("region"), Some("field.unknown_region")),
        "{r}"
    );
    for bad in ["2026-13", "26", "2026-Q0", "last-year", "1999"] {
        let (s, r) = c.get(&format!("/api/v1/statistics?period={bad}")).await;
        assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("period")), "{bad}: {r}");
    }
    let (s, r) = c.get("/api/v1/statistics/counted?period=2026&indicator=nope").await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("statistics.unknown_indicator")), "{r}");
    assert_eq!(app.client("contractor").await.get("/api/v1/statistics").await.0, 403, "a company watches no region");
    let (s, bytes) = app.client("city_admin").await.get_bytes("/api/v1/statistics/export.xlsx?period=2026").await;
    assert_eq!(s, 200);
    assert!(bytes.starts_with(b"PK"), "an xlsx");
    // The dashboard's map: the regions one level down where their estates lie.
    let (s, places) = app.client("city_admin").await.get("/api/v1/statistics/places").await;
    assert_eq!(s, 200, "{places}");
    let hui_an = places.as_array().unwrap().iter().find(|p| p["region_code"] == "350521000000").unwrap().clone();
    assert!(hui_an["estates"].as_i64().unwrap() >= 3 && hui_an["name"] == "惠安县", "{places}");
    assert!((118.0..120.0).contains(&hui_an["lon"].as_f64().unwrap()), "{hui_an}");
    // Any chart's data as xlsx, numbers as numbers; a malformed table is named, row by row.
    let chart = json!({"title": "下级地区排名：完工小区", "headers": ["地区", "完工小区"], "rows": [["惠安县", 12], ["鲤城区", 3.5]]});
    let res =
        app.client("county_staff").await.req(reqwest::Method::POST, "/api/v1/statistics/chart.xlsx").json(&chart).send().await.unwrap();
    assert_eq!(res.status(), 200);
    {
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(res.bytes().await.unwrap().to_vec())).unwrap();
        let range = wb.worksheet_range("下级地区排名：完工小区").unwrap();
        assert_eq!(range.get_value((2, 1)), Some(&calamine::Data::Float(3.5)));
    }
    let (s, r) = c.post("/api/v1/statistics/chart.xlsx", json!({"title": " ", "headers": ["a"], "rows": [["x", 1], [{"no": 1}]]})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["title", "rows[0]", "rows[1]"]), "{r}");

    // A share passed down keeps its parent's earmark and year: it may narrow them, never widen them.
    let city = app.client("city_admin").await;
    let (s, parent) = city
        .post("/api/v1/allocations", json!({"region_code": "350500000000", "source": "central", "year": 2026, "purpose": "基础类专项", "amount": "500000", "categories": ["basic"]}))
        .await;
    assert_eq!(s, 201, "{parent}");
    let (s, r) = city
        .post("/api/v1/allocations", json!({"parent_id": parent["id"], "region_code": "350521000000", "year": 2025, "purpose": "转下达", "amount": "100", "categories": ["upgrading"]}))
        .await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["year", "categories[0]"]), "{r}");
    let (s, child) = city
        .post(
            "/api/v1/allocations",
            json!({"parent_id": parent["id"], "region_code": "350521000000", "year": 2026, "purpose": "转下达", "amount": "100"}),
        )
        .await;
    assert_eq!((s, child["categories"].as_str()), (201, Some("basic")), "inherited: {child}");
    // Down the ladder a level at a time, from the region the money came to, never below a county.
    let give = |parent: Value, region: &str| json!({"parent_id": parent, "region_code": region, "source": "central", "year": 2026, "purpose": "越级", "amount": "1"});
    let (s, r) = app.client("province_admin").await.post("/api/v1/allocations", give(parent["id"].clone(), "350521000000")).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("parent_id"), Some("funds.not_yours")),
        "{r}"
    );
    let (s, r) = app.client("ministry_admin").await.post("/api/v1/allocations", give(Value::Null, "350521000000")).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("funds.one_level_down")), "{r}");
    let street = &estates[0]["community_code"].as_str().unwrap()[..9];
    let (s, r) = c.post("/api/v1/allocations", give(Value::Null, &format!("{street}000"))).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("region_code"), Some("funds.below_county")),
        "{r}"
    );
    // A split larger than what is left of its parent says what is really left, and makes nothing.
    let (s, r) = city
        .post(
            "/api/v1/funds/subsidy-split",
            json!({"year": 2026, "amount": "600000", "allocate": {"parent_id": parent["id"], "purpose": "超额"}}),
        )
        .await;
    assert_eq!((s, r["code"].as_str()), (409, Some("funds.exceeds_parent")), "{r}");
    assert!(r["detail"].as_str().unwrap().contains("499900.00"), "{r}");
    let scores: serde_json::Map<String, Value> = (0..501).map(|i| (format!("{i:012}"), json!(50))).collect();
    let (s, r) = city.post("/api/v1/funds/subsidy-split", json!({"year": 2026, "amount": "1", "performance": scores})).await;
    assert_eq!((s, r["errors"].as_array().map(|e| e.len()), r["errors"][0]["field"].as_str()), (422, Some(1), Some("performance")), "{r}");
    // The central subsidy shared between the city's two counties with plans, to the fen, then handed
    // down as allocations in one step.
    let other_admin = app.client("other_county_admin").await;
    let (s, other_plan) = other_admin.post("/api/v1/plans", json!({"year": 2026})).await;
    assert_eq!(s, 201, "{other_plan}");
    let other_plan = other_plan["plan"]["id"].as_i64().unwrap();
    let (s, r) = other_admin
        .post(&format!("/api/v1/plans/{other_plan}/estates"), json!({"estate_ids": [app.other_county_estate], "reason": "补录计划"}))
        .await;
    assert_eq!(s, 200, "{r}");
    let city = app.client("city_admin").await;
    let (s, split) = city.post("/api/v1/funds/subsidy-split", json!({"year": 2026, "amount": "1,000,000.01"})).await;
    assert_eq!(s, 200, "{split}");
    let shares = split["shares"].as_array().unwrap();
    assert_eq!(shares.len(), 2, "{split}");
    assert_eq!(shares.iter().map(|x| x["amount"].as_i64().unwrap()).sum::<i64>(), 100_000_001, "to the fen: {split}");
    assert_eq!(split["weights"]["households"], 80, "2026 uses the preset from 2024");
    let hui_an = shares.iter().find(|x| x["region_code"] == "350521000000").unwrap();
    assert_eq!(hui_an["households"], households);
    assert_eq!(hui_an["performance"], 100);
    let (s, r) = city.post("/api/v1/funds/subsidy-split", json!({"year": 2026, "amount": "100", "weights": {"floor_area": 50, "households": 30, "buildings": 10, "estates": 10, "performance": 10}})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("weights"), Some("statistics.weights_sum")),
        "{r}"
    );
    let (s, r) = city
        .post(
            "/api/v1/funds/subsidy-split",
            json!({"year": 2026, "amount": "100", "performance": {"350583000000": 90, "350521000000": 101}}),
        )
        .await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["performance.350521000000", "performance.350583000000"]), "{r}");
    let (s, r) = city.post("/api/v1/funds/subsidy-split", json!({"year": 2019, "amount": "100"})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("statistics.no_tasks")), "{r}");
    let before = city.get("/api/v1/allocations").await.1.as_array().unwrap().len();
    let (s, made) = city
        .post("/api/v1/funds/subsidy-split", json!({"year": 2026, "amount": "1000000", "performance": {"350521000000": 80}, "allocate": {"source": "central", "purpose": "2026年中央补助（按因素分配）"}}))
        .await;
    assert_eq!(s, 200, "{made}");
    let ids: Vec<i64> = made["allocations"].as_array().unwrap().iter().map(|i| i.as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    let (_, list) = city.get("/api/v1/allocations").await;
    assert_eq!(list.as_array().unwrap().len(), before + 2);
    for share in made["shares"].as_array().unwrap() {
        let a = list
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["region_code"] == share["region_code"] && ids.contains(&a["id"].as_i64().unwrap()))
            .unwrap();
        assert_eq!((a["amount"].clone(), a["left"].clone()), (share["amount"].clone(), share["amount"].clone()), "{a}");
    }
    assert_eq!(app.client("street_staff").await.post("/api/v1/funds/subsidy-split", json!({"year": 2026, "amount": "1"})).await.0, 403);
    // The city's funds report by county: what each received (handed on by the city included), the
    // city's row what it kept; the rows add up to what came in.
    let (s, report) = city.get("/api/v1/funds/report?year=2026").await;
    assert_eq!(s, 200, "{report}");
    let rows = report["by_region"].as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["allocated"].as_i64().unwrap()).sum::<i64>(), report["allocated"].as_i64().unwrap(), "{report}");
    let hui_an_share =
        made["shares"].as_array().unwrap().iter().find(|x| x["region_code"] == "350521000000").unwrap()["amount"].as_i64().unwrap();
    let row = |code: &str| rows.iter().find(|r| r["key"] == code).map(|r| r["allocated"].as_i64().unwrap());
    assert_eq!(row("350521000000"), Some(hui_an_share + 10_000), "the split's share and the 100 yuan handed on: {report}");
    assert_eq!(row("350500000000"), Some(50_000_000 - 10_000), "the city kept what it did not hand on: {report}");
    let (_, kept) = city.get("/api/v1/funds/by-source?year=2026").await;
    assert_eq!((&kept["by_source"], &kept["paid"]), (&report["by_source"], &report["paid"]), "the city's panel: {kept}");

    // Kept totals equal the sum of the parts, and a rebuild from the records gives the same figures.
    assert_eq!(app.db.statistics_disagreements().await.unwrap(), vec![]);
    let (_, before) = c.get("/api/v1/statistics?period=2026").await;
    app.db.rebuild_statistics().await.unwrap();
    let (_, after) = c.get("/api/v1/statistics?period=2026").await;
    assert_eq!(before["figures"], after["figures"]);
    assert_eq!(app.db.statistics_disagreements().await.unwrap(), vec![]);
    // Totals kept before the year and programme rollups (migration 39) get them summed in the database.
    let (_, whole) = c.get("/api/v1/statistics?period=all").await;
    app.db.execute("DELETE FROM stat_totals WHERE period = '0000' OR period LIKE '%-00'", vec![]).await.unwrap();
    assert!(!app.db.statistics_disagreements().await.unwrap().is_empty(), "the rollups are gone");
    app.db.roll_up_statistics().await.unwrap();
    assert_eq!(app.db.statistics_disagreements().await.unwrap(), vec![]);
    let (_, again) = c.get("/api/v1/statistics?period=2026").await;
    let (_, whole_again) = c.get("/api/v1/statistics?period=all").await;
    assert_eq!((&before["figures"], &whole["figures"]), (&again["figures"], &whole_again["figures"]));
}

/// Hui'an's 2024 programme (POLICY §8) entered through the API: 28 estates in the year's plan, 26
/// with residents' money, 128 review findings all closed, 923 of 1,000 home visits satisfied. The
/// statistics give exactly the figures the county published: 92.86 %, 100 %, 92.3 %.
async fn hui_an_2024_figures_hold(app: &TestApp) {
    let c = app.client("county_admin").await;
    let staff = app.client("county_staff").await;
    let (surveyed, building, dwellings) = estate_with_dwellings(app).await;
    let (_, first) = c.get(&format!("/api/v1/estates/{surveyed}")).await;
    let community = first["community_code"].as_str().unwrap().to_string();
    let (mut ids, mut buildings) = (vec![surveyed], vec![building]);
    for i in 0..27 {
        let (s, e) = c.post("/api/v1/estates", estate_body(&format!("HA24-{i:02}"), &community)).await;
        assert_eq!(s, 201, "{e}");
        let (s, b) = c
            .post(
                &format!("/api/v1/estates/{}/buildings", e["id"]),
                json!({"number": "1号楼", "floors": 6, "stairwells": 2, "structure": "砖混"}),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        ids.push(e["id"].as_i64().unwrap());
        buildings.push(b["id"].as_i64().unwrap());
    }
    let (s, plan) = c.post("/api/v1/plans", json!({"year": 2024, "targets": {"estates": 28}})).await;
    assert_eq!(s, 201, "{plan}");
    let plan_id = plan["plan"]["id"].as_i64().unwrap();
    // 2024 is over: its plan is history, entered with a reason (kept in the audit log), never silently.
    let (s, r) = c.post(&format!("/api/v1/plans/{plan_id}/estates"), json!({"estate_ids": ids})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("reason"), Some("plans.past_year_reason")),
        "{r}"
    );
    assert_eq!(c.get(&format!("/api/v1/plans/{plan_id}")).await.1["estates"], json!([]), "nothing listed");
    let (s, r) = c.post(&format!("/api/v1/plans/{plan_id}/estates"), json!({"estate_ids": ids, "reason": "补录计划"})).await;
    assert_eq!(s, 200, "{r}");
    let (_, log) = c.get("/api/v1/audit?entity=plan").await;
    assert!(log.to_string().contains("补录计划"), "the reason is in the audit log: {log}");

    // Residents' money on 26 of the 28 estates, recorded on the programme's project.
    let (s, p) = c.post("/api/v1/projects", json!({"code": "HA-2024", "name": "惠安县2024年老旧小区改造", "estate_ids": ids})).await;
    assert_eq!(s, 201, "{p}");
    let pid = p["project"]["id"].as_i64().unwrap();
    for (k, (estate, building)) in ids.iter().zip(&buildings).take(26).enumerate() {
        let (s, r) = c
            .post(
                &format!("/api/v1/projects/{pid}/contributions"),
                json!({"estate_id": estate, "building_id": building, "households": 10 + k, "amount": "5000", "method": "cash", "paid_on": "2024-09-01"}),
            )
            .await;
        assert_eq!(s, 201, "{r}");
    }

    // Four estates accepted half a year ago (construction is not walked here) are reviewed: 32
    // findings each, every one fixed with a photo by its owner and closed by the bureau.
    let today = huanxin_store::today();
    let accepted = today.checked_sub_months(chrono::Months::new(6)).unwrap() + chrono::Duration::days(10);
    let deadline = (today + chrono::Duration::days(30)).to_string();
    for estate in &ids[..4] {
        app.db.execute("UPDATE estates SET status = 'accepted' WHERE id = $1", huanxin_store::args![*estate]).await.unwrap();
        app.db
            .execute(
                "INSERT INTO estate_events (estate_id, from_status, to_status, note, username, at) VALUES ($1, 'completed', 'accepted', '', 'test', $2)",
                huanxin_store::args![*estate, format!("{accepted}T08:00:00.000Z")],
            )
            .await
            .unwrap();
        let tasks: Vec<Value> =
            (0..32).map(|n| json!({"finding": format!("第{n}项：楼道照明不亮"), "owner": "county_staff", "deadline": deadline})).collect();
        let (s, review) = c.post(&format!("/api/v1/estates/{estate}/review"), json!({"summary": "回头看", "tasks": tasks})).await;
        assert_eq!(s, 201, "{review}");
        let tasks: Vec<i64> = review["tasks"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect();
        for chunk in tasks.chunks(8) {
            let (staff, c) = (&staff, &c);
            futures_util::future::join_all(chunk.iter().map(|t| async move {
                let (s, r) = staff.upload_form(&format!("/api/v1/rectifications/{t}/evidence"), &[], "fixed.png", PNG.to_vec()).await;
                assert_eq!(s, 201, "{r}");
                let (s, r) = c.post(&format!("/api/v1/rectifications/{t}/close"), json!({"note": "现场复核，整改到位"})).await;
                assert_eq!(s, 200, "{r}");
            }))
            .await;
        }
    }

    // The home visits: 1,000 paper forms, 923 rating the renewal 4 or 5 of 5.
    let (s, survey) = staff
        .post(
            &format!("/api/v1/estates/{surveyed}/surveys"),
            json!({"title": "改造完成居民满意度调查（回访）", "purpose": "satisfaction", "opens_on": today.to_string(),
                   "closes_on": (today + chrono::Duration::days(14)).to_string(), "anonymous": true, "many_per_dwelling": true,
                   "questions": [{"id": "overall", "kind": "rating", "text": "总体满意度", "max_rating": 5, "required": true}]}),
        )
        .await;
    assert_eq!(s, 201, "{survey}");
    let answers = format!("/api/v1/surveys/{}/answers", survey["id"]);
    let forms: Vec<(i64, i64)> =
        (0..1000).map(|n| (dwellings[n % dwellings.len()], if n < 923 { 4 + (n % 2) as i64 } else { 2 })).collect();
    for chunk in forms.chunks(25) {
        let (staff, answers) = (&staff, &answers);
        futures_util::future::join_all(chunk.iter().map(|(d, rating)| async move {
            let (s, r) = staff.post(answers, json!({"dwelling_id": d, "respondent": "回访", "answers": {"overall": rating}})).await;
            assert_eq!(s, 201, "{r}");
        }))
        .await;
    }

    let rate = |page: &Value, code: &str| page["rates"].as_array().unwrap().iter().find(|r| r["code"] == code).unwrap()["bp"].clone();
    let fig = |page: &Value, code: &str| page["figures"].as_array().unwrap().iter().find(|f| f["code"] == code).unwrap()["value"].clone();
    for (who, region) in [("county_admin", "350521000000"), ("ministry_admin", "000000000000")] {
        let viewer = app.client(who).await;
        let (s, year) = viewer.get(&format!("/api/v1/statistics?region={region}&period=2024")).await;
        assert_eq!(s, 200, "{year}");
        assert_eq!((fig(&year, "planned_estates"), fig(&year, "plan_contributed_estates")), (json!(28), json!(26)), "{who}: {year}");
        assert_eq!(rate(&year, "contribution_rate"), json!(9286), "26 / 28 = 92.86 %");
        let (_, all) = viewer.get(&format!("/api/v1/statistics?region={region}&period=all")).await;
        assert_eq!((fig(&all, "rectifications_found"), fig(&all, "rectifications_closed")), (json!(128), json!(128)), "{who}: {all}");
        assert_eq!(rate(&all, "rectification_closure_rate"), json!(10_000));
        assert_eq!((fig(&all, "satisfaction_answers"), fig(&all, "satisfaction_satisfied")), (json!(1000), json!(923)));
        assert_eq!(rate(&all, "satisfaction_rate"), json!(9230), "92.3 %");
        assert_eq!(rate(&all, "contribution_rate"), json!(9286), "only the 2024 plan exists");
    }
    // "Why 26?": the estates with residents' money, and the two without are not among them.
    let (_, why) = c.get("/api/v1/statistics/counted?period=2024&indicator=plan_contributed_estates").await;
    let counted: Vec<i64> = why["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(counted.len(), 26, "{why}");
    assert!(!counted.contains(&ids[26]) && !counted.contains(&ids[27]), "{why}");
    assert_eq!(app.db.statistics_disagreements().await.unwrap(), vec![]);
}

/// The monthly progress report: the county fills it (a typed figure over a computed one is
/// flagged), submits it (locked), the city returns it with a reason, then city, province and
/// ministry approve it in turn; nobody out of turn; a correction is a new version; the level above
/// sees who is late or missing; the xlsx carries the layout and numbers as numbers.
async fn statistical_reports_climb_the_ladder(app: &TestApp) {
    use chrono::Datelike;
    let c = app.client("county_admin").await;
    let clerk = app.client("county_staff").await;
    let city = app.client("city_admin").await;
    let today = huanxin_store::today();
    // Last month: a month is reported once it is over (this month is refused below).
    let last = today.with_day(1).unwrap() - chrono::Duration::days(1);
    let month = format!("{:04}-{:02}", last.year(), last.month());
    // Something to compute: a plan of this year with three estates, one of them started.
    let (_, list) = c.get("/api/v1/estates?sort=id&per_page=3&eligible=true").await;
    let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let (_, plan) = c.post("/api/v1/plans", json!({"year": today.year()})).await;
    let (s, r) = c.post(&format!("/api/v1/plans/{}/estates", plan["plan"]["id"]), json!({"estate_ids": ids, "reason": "补录计划"})).await;
    assert_eq!(s, 200, "{r}");

    let (s, forms) = clerk.get("/api/v1/reports/forms").await;
    assert_eq!((s, forms.as_array().map(|f| f.len())), (200, Some(4)), "{forms}");
    let sheet = format!("/api/v1/reports/sheet?form=progress&period={month}");
    let (s, page) = clerk.get(&sheet).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(
        (page["report"].clone(), page["may_edit"].clone(), page["late"].clone()),
        (Value::Null, json!(true), json!(today.to_string().as_str() > page["due_on"].as_str().unwrap())),
        "{page}"
    );
    let cell = |p: &Value, code: &str| p["cells"].as_array().unwrap().iter().find(|c| c["code"] == code).unwrap().clone();
    assert_eq!(cell(&page, "plan_started_estates")["computed"], 0);

    // Bad figures are named, nothing is saved.
    let (s, r) = clerk
        .put(
            "/api/v1/reports/sheet",
            json!({"form": "progress", "period": month, "preparer": " ", "phone": "0595-87654321",
            "cells": {"started_estates": -1, "completed_estates": "两个", "planned_estates": 3, "invest_central": 1.5}}),
        )
        .await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(
        (s, fields),
        (422, vec!["cells.completed_estates", "cells.invest_central", "cells.planned_estates", "cells.started_estates"]),
        "{r}"
    );
    let (s, r) = clerk.put("/api/v1/reports/sheet", json!({"form": "progress", "period": month, "preparer": " ", "phone": "1"})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("preparer")), "{r}");
    assert_eq!(clerk.get(&sheet).await.1["report"], Value::Null, "nothing saved");
    // Figures kept outside Huanxin: one typed over the computed one, flagged because they differ.
    let fill = json!({"form": "progress", "period": month, "preparer": "王芳", "phone": "0595-87654321",
        "cells": {"plan_started_estates": 2, "invest_local": 1_500_000_000, "started_estates": null}});
    let (s, page) = clerk.put("/api/v1/reports/sheet", fill.clone()).await;
    assert_eq!(s, 200, "{page}");
    let started = cell(&page, "plan_started_estates");
    assert_eq!((started["value"].clone(), started["source"].clone(), started["differs"].clone()), (json!(2), json!("typed"), json!(true)));
    assert_eq!(cell(&page, "started_estates")["source"], "computed");
    assert_eq!((page["flagged"].clone(), page["report"]["status"].clone()), (json!(2), json!("draft")));
    let id = page["report"]["id"].as_i64().unwrap();
    // The city sees a draft is being filled, not its figures.
    let county_sheet = format!("{sheet}&region=350521000000");
    let (_, seen) = city.get(&county_sheet).await;
    assert_eq!((seen["report"]["status"].clone(), seen["report"]["preparer"].clone()), (json!("draft"), json!("")), "{seen}");
    assert_eq!(cell(&seen, "plan_started_estates")["source"], "computed", "{seen}");
    assert_eq!(seen["may_edit"], false);

    // Last month's report is on the county's desk (due by the 5th working day) until it is handed up.
    let report_work = |work: &Value, kind: &str| -> Vec<(String, String, String)> {
        work["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["kind"] == kind)
            .map(|i| (i["what"].as_str().unwrap().into(), i["detail"].as_str().unwrap().into(), i["region_code"].as_str().unwrap().into()))
            .collect()
    };
    let progress = ("progress".to_string(), month.clone(), "350521000000".to_string());
    let (_, work) = clerk.get("/api/v1/work").await;
    assert!(report_work(&work, "report_to_file").contains(&progress), "{work}");
    // Submitted: locked; the city's turn, nobody else's.
    let (s, page) = clerk.post(&format!("/api/v1/reports/{id}/submit"), json!({})).await;
    assert_eq!(
        (s, page["report"]["status"].as_str(), page["report"]["awaiting"].as_str()),
        (200, Some("submitted"), Some("350500000000")),
        "{page}"
    );
    let (s, r) = c.post(&format!("/api/v1/reports/{id}/submit"), json!({})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("reports.locked")), "submitting twice: {r}");
    let (s, r) = clerk.put("/api/v1/reports/sheet", fill.clone()).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("reports.locked")), "{r}");
    let review = format!("/api/v1/reports/{id}/review");
    let (s, r) = c.post(&review, json!({"approve": true})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("reports.not_your_review")), "the county does not approve its own: {r}");
    let (s, r) = app.client("province_admin").await.post(&review, json!({"approve": true})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("reports.not_your_review")), "not the province's turn: {r}");
    assert_eq!(app.client("other_county_admin").await.post(&review, json!({"approve": true})).await.0, 404);
    let (_, seen) = city.get(&county_sheet).await;
    assert_eq!((seen["may_review"].clone(), cell(&seen, "plan_started_estates")["value"].clone()), (json!(true), json!(2)), "{seen}");
    let (_, waiting) = city.get("/api/v1/reports/awaiting").await;
    let mine: Vec<_> = waiting.as_array().unwrap().iter().filter(|r| r["id"] == id).collect();
    assert_eq!(mine.len(), 1, "{waiting}");
    assert_eq!(mine[0]["region_name"], "惠安县", "the awaiting list names the county: {waiting}");
    let (_, work) = city.get("/api/v1/work").await;
    assert_eq!(report_work(&work, "report_to_review"), std::slice::from_ref(&progress), "on the city's desk: {work}");
    let (_, work) = clerk.get("/api/v1/work").await;
    assert!(!report_work(&work, "report_to_file").contains(&progress), "handed up, off the county's desk: {work}");
    let (_, work) = app.client("province_admin").await.get("/api/v1/work").await;
    assert_eq!(report_work(&work, "report_to_review"), [], "not yet the province's turn");
    // Returned with a reason, changed, submitted again.
    let (s, r) = city.post(&review, json!({"approve": false, "reason": " "})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("reason")), "{r}");
    let (s, page) = city.post(&review, json!({"approve": false, "reason": "计划内开工数与台账不符"})).await;
    assert_eq!((s, page["report"]["status"].as_str()), (200, Some("returned")), "{page}");
    let mut fixed = fill.clone();
    fixed["cells"]["plan_started_estates"] = json!(0);
    let (s, page) = clerk.put("/api/v1/reports/sheet", fixed).await;
    assert_eq!((s, page["flagged"].as_i64()), (200, Some(1)), "{page}");
    assert_eq!(c.post(&format!("/api/v1/reports/{id}/submit"), json!({})).await.0, 200);
    // Up the ladder: city, province, ministry.
    for (who, next) in [("city_admin", json!("350000000000")), ("province_admin", json!("000000000000")), ("ministry_admin", Value::Null)] {
        let (s, page) = app.client(who).await.post(&review, json!({"approve": true})).await;
        assert_eq!((s, page["report"]["awaiting"].clone()), (200, next), "{who}: {page}");
    }
    let (_, page) = clerk.get(&sheet).await;
    assert_eq!((page["report"]["status"].as_str(), page["may_correct"].as_bool()), (Some("approved"), Some(true)), "{page}");
    let actions: Vec<&str> = page["steps"].as_array().unwrap().iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["saved", "submitted", "returned", "saved", "submitted", "approved", "approved", "approved"]);
    assert_eq!(
        app.db.scalar("SELECT COUNT(*) FROM audit_log WHERE entity = 'stat_report'", vec![]).await.unwrap(),
        8,
        "every step audited"
    );

    // A correction after approval: a new version with its reason; the approved one stands meanwhile.
    let correct = format!("/api/v1/reports/{id}/correct");
    let (s, r) = clerk.post(&correct, json!({"reason": ""})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("reason")), "{r}");
    let (s, page) = clerk.post(&correct, json!({"reason": "补录11月30日开工的小区"})).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!((page["report"]["version"].as_i64(), page["report"]["status"].as_str()), (Some(2), Some("draft")), "{page}");
    assert_eq!(page["versions"][1]["status"], "approved");
    assert_eq!(cell(&page, "invest_local")["typed"], 1_500_000_000, "the figures are carried over");
    let (s, r) = clerk.post(&correct, json!({"reason": "again"})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("reports.open_version")), "{r}");

    // The xlsx in the survey system's layout, numbers as numbers (万元 for money).
    let (s, bytes) = city.get_bytes(&format!("/api/v1/reports/sheet.xlsx?form=progress&period={month}&region=350521000000")).await;
    assert_eq!(s, 200);
    {
        use calamine::Reader;
        let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
        let range = wb.worksheet_range("报表").unwrap();
        assert_eq!(range.get_value((0, 0)).map(|v| v.to_string()), Some("城镇老旧小区改造进度月报表".into()));
        assert_eq!(range.get_value((2, 3)).map(|v| v.to_string()), Some("350521000000".into()));
        let local = range.rows().find(|r| r.get(1).map(|v| v.to_string()) == Some("完成投资：市县财政".into())).unwrap();
        assert_eq!(local[3], calamine::Data::Float(1500.0), "1,500,000,000 fen = 1,500 万元: {local:?}");
        assert_eq!(local[4].to_string(), "填报");
    }

    // Who is late or missing: last year's annual plan was due early that year; neither county filed it.
    let (s, f) = city.get(&format!("/api/v1/reports/filings?form=annual_plan&period={}", today.year() - 1)).await;
    assert_eq!(s, 200, "{f}");
    let rows = f["rows"].as_array().unwrap();
    let codes: Vec<&str> = rows.iter().map(|r| r["region_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["350502000000", "350521000000"], "{f}");
    assert!(rows.iter().all(|r| r["status"] == "missing" && r["late"] == true), "{f}");
    assert_eq!((f["missing"].as_i64(), f["late"].as_i64()), (Some(2), Some(2)));
    let (_, f) = city.get(&format!("/api/v1/reports/filings?form=progress&period={month}")).await;
    let hui_an = f["rows"].as_array().unwrap().iter().find(|r| r["region_code"] == "350521000000").unwrap().clone();
    assert_eq!(
        (hui_an["status"].as_str(), hui_an["version"].as_i64(), hui_an["late"].as_bool()),
        (Some("draft"), Some(2), Some(today.to_string().as_str() > hui_an["due_on"].as_str().unwrap())),
        "late by the first submission (today), whatever the correction: {f}"
    );

    // Deadlines: a region gives its counties fewer working days; out of range is named.
    let (s, r) = city.put("/api/v1/reports/deadlines", json!({"form": "progress", "working_days": 0})).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("working_days")), "{r}");
    // The change moves this month's report (not yet due); one already due keeps its day.
    let this_month = format!("{:04}-{:02}", today.year(), today.month());
    let earlier = last.with_day(1).unwrap() - chrono::Duration::days(1);
    let due = |period: String| {
        let clerk = &clerk;
        async move {
            let (s, page) = clerk.get(&format!("/api/v1/reports/sheet?form=progress&period={period}")).await;
            assert_eq!(s, 200, "{page}");
            page["due_on"].as_str().unwrap().to_string()
        }
    };
    let old_period = format!("{:04}-{:02}", earlier.year(), earlier.month());
    let (before, before_old) = (due(this_month.clone()).await, due(old_period.clone()).await);
    assert_eq!(city.put("/api/v1/reports/deadlines", json!({"form": "progress", "working_days": 2})).await.0, 200);
    let after = due(this_month.clone()).await;
    assert!(after < before, "{after} before {before}");
    assert_eq!(due(old_period).await, before_old, "a report already due keeps its day");
    assert_eq!(clerk.put("/api/v1/reports/deadlines", json!({"form": "progress", "working_days": 2})).await.0, 403);
    let (s, r) = c.put("/api/v1/reports/deadlines", json!({"form": "progress", "working_days": 60})).await;
    assert_eq!((s, r["code"].as_str()), (403, Some("reports.deadline_above_county")), "a county does not extend its own: {r}");
    // A period not begun, a flood of keys, a part above its whole: named, nothing saved.
    let (s, r) = clerk.put("/api/v1/reports/sheet", json!({"form": "annual_plan", "period": "2100", "preparer": "x", "phone": "1"})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("reports.future_period")), "{r}");
    let (s, r) = clerk.put("/api/v1/reports/sheet", json!({"form": "progress", "period": this_month, "preparer": "x", "phone": "1"})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("reports.period_not_ended")), "{r}");
    let flood: serde_json::Map<String, Value> = (0..5000).map(|i| (format!("k{i}"), json!(1))).collect();
    let (s, r) = clerk
        .put(
            "/api/v1/reports/sheet",
            json!({"form": "effects", "period": (today.year() - 1).to_string(), "preparer": "x", "phone": "1", "cells": flood}),
        )
        .await;
    assert_eq!((s, r["errors"].as_array().map(|e| e.len())), (422, Some(1)), "{r}");
    let (s, page) = clerk
        .put(
            "/api/v1/reports/sheet",
            json!({"form": "effects", "period": (today.year() - 1).to_string(), "preparer": "王芳", "phone": "1",
            "cells": {"rectifications_found": 1, "rectifications_closed": 50}}),
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let (s, r) = clerk.post(&format!("/api/v1/reports/{}/submit", page["report"]["id"]), json!({})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("cells.rectifications_closed"), Some("reports.part_exceeds_whole")),
        "{r}"
    );

    // Refused by name; nothing read outside one's region.
    let (s, r) = clerk.get(&format!("/api/v1/reports/sheet?form=monthly&period={month}")).await;
    assert_eq!((s, r["errors"][0]["field"].as_str()), (422, Some("form")), "{r}");
    let (s, r) = clerk.get(&format!("/api/v1/reports/sheet?form=progress&period={}", today.year())).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("reports.period_kind")), "{r}");
    let (s, r) = city.get(&format!("/api/v1/reports/sheet?form=progress&period={month}&region=440100000000")).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("field.outside_region")), "another province's figures: {r}");
    let (s, r) = city.put("/api/v1/reports/sheet", json!({"form": "progress", "period": month, "preparer": "x", "phone": "1"})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("reports.county_files")), "{r}");
    assert_eq!(app.client("street_staff").await.get(&sheet).await.0, 403);
}

/// Performance evaluation: the city sets its scheme (the Jiangxi template; weights must sum to
/// 100), Hui'an scores itself with comments where it falls short, submits (locked), the city
/// reviews (its scores stand), the total gives the grade; the ranking and its xlsx.
async fn performance_evaluated_reviewed_and_graded(app: &TestApp) {
    use chrono::Datelike;
    let year = huanxin_store::today().year();
    let city = app.client("city_admin").await;
    let county = app.client("county_admin").await;
    let (_, list) = county.get("/api/v1/estates?sort=id&per_page=2&eligible=true").await;
    let ids: Vec<i64> = list["items"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
    let (_, plan) = county.post("/api/v1/plans", json!({"year": year})).await;
    county.post(&format!("/api/v1/plans/{}/estates", plan["plan"]["id"]), json!({"estate_ids": ids, "reason": "补录计划"})).await;

    let sheet = format!("/api/v1/evaluations/sheet?year={year}");
    let (s, r) = county.get(&sheet).await;
    assert_eq!(
        (s, r["status"].as_str(), r["may_score"].as_bool()),
        (200, Some("no_scheme"), Some(false)),
        "the city has no scheme yet: {r}"
    );
    let (s, r) = county.put("/api/v1/evaluations/sheet", json!({"year": year, "scores": {}})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("evaluation.no_scheme")), "{r}");
    let (s, tpl) = city.get(&format!("/api/v1/evaluations/scheme?year={year}")).await;
    assert_eq!((s, tpl["set"].as_bool()), (200, Some(false)), "{tpl}");
    let mut bad = tpl["scheme"].clone();
    bad["dimensions"][0]["indicators"][0]["weight"] = json!(30);
    let (s, r) = city.put("/api/v1/evaluations/scheme", json!({"year": year, "scheme": bad})).await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("weights"), Some("evaluation.weights_sum")),
        "{r}"
    );
    assert_eq!(county.put("/api/v1/evaluations/scheme", json!({"year": year})).await.0, 200, "a county sets its own (for its streets)");
    let (s, set) = city.put("/api/v1/evaluations/scheme", json!({"year": year})).await;
    assert_eq!((s, set["set"].as_bool()), (200, Some(true)), "{set}");

    let (s, page) = county.get(&sheet).await;
    assert_eq!(s, 200, "{page}");
    let lines = page["lines"].as_array().unwrap();
    assert_eq!((lines.len(), page["status"].as_str(), page["may_score"].as_bool()), (18, Some("missing"), Some(true)));
    let starts = lines.iter().find(|l| l["code"] == "starts").unwrap();
    assert_eq!(
        (starts["kind"].as_str(), starts["rate_bp"].as_i64(), starts["computed"].as_i64()),
        (Some("computed"), Some(0), Some(0)),
        "none of two started: {starts}"
    );
    // Scores beyond the weight, or short of it without a reason, are named; nothing saved.
    let (s, r) = county.put("/api/v1/evaluations/sheet", json!({"year": year, "scores": {"blocks": {"points": 600, "comment": "x"}, "mechanisms": {"points": 100}, "nope": {"points": 1}}})).await;
    let fields: Vec<&str> = r["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!((s, fields), (422, vec!["scores.blocks.points", "scores.mechanisms.comment", "scores.nope.code"]), "{r}");
    assert_eq!(county.get(&sheet).await.1["status"], "missing");
    let (s, r) = county.post("/api/v1/evaluations/submit", json!({"year": year})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("evaluation.nothing_to_submit")), "{r}");
    let (s, r) =
        county.put("/api/v1/evaluations/sheet", json!({"year": year, "scores": {"starts": {"points": 1000, "comment": ""}}})).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("evaluation.computed_from_records")), "the records score starts: {r}");
    let (s, _) = county.put("/api/v1/evaluations/sheet", json!({"year": year, "scores": {"market": {"points": 500}}})).await;
    assert_eq!(s, 200);
    let (s, r) = county.post("/api/v1/evaluations/submit", json!({"year": year})).await;
    assert_eq!(
        (s, r["errors"].as_array().map(|e| e.len()), r["errors"][0]["code"].as_str()),
        (422, Some(11), Some("evaluation.unscored")),
        "{r}"
    );
    // Hui'an scores every scored indicator: full marks but one.
    let scored: Vec<(String, i64)> = lines
        .iter()
        .filter(|l| l["kind"] == "scored")
        .map(|l| (l["code"].as_str().unwrap().to_string(), l["weight"].as_i64().unwrap()))
        .collect();
    assert_eq!(scored.len(), 12);
    // Evidence from the archive: the project approval filed for one of Hui'an's estates; a
    // document of another county's estate is not evidence for Hui'an.
    let (_, list) = county.get("/api/v1/estates?sort=id&per_page=1").await;
    let estate = list["items"][0]["id"].as_i64().unwrap();
    let fields = [("section", "plan"), ("kind", "project_approval"), ("title", "惠安县2026年老旧小区改造立项批复")];
    let (s, approval) = county.upload_form(&format!("/api/v1/estates/{estate}/archive"), &fields, "approval.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{approval}");
    let approval = approval["id"].as_i64().unwrap();
    let other = app.client("other_county_admin").await;
    let (_, theirs) = other.get("/api/v1/estates?sort=id&per_page=1").await;
    let theirs = theirs["items"][0]["id"].as_i64().unwrap();
    let (s, elsewhere) = other.upload_form(&format!("/api/v1/estates/{theirs}/archive"), &fields, "approval.png", PNG.to_vec()).await;
    assert_eq!(s, 201, "{elsewhere}");
    let (s, found) = county.get("/api/v1/evaluations/documents?q=立项").await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found.as_array().unwrap().iter().map(|d| d["id"].as_i64().unwrap()).collect::<Vec<_>>(), [approval], "{found}");
    let (s, r) = county
        .put(
            "/api/v1/evaluations/sheet",
            json!({"year": year, "scores": {"market": {"points": 500, "documents": [approval, elsewhere["id"]]}}}),
        )
        .await;
    assert_eq!(
        (s, r["errors"][0]["field"].as_str(), r["errors"][0]["code"].as_str()),
        (422, Some("scores.market.documents"), Some("evaluation.evidence_not_found")),
        "{r}"
    );
    let mut own: serde_json::Map<String, Value> = scored
        .iter()
        .map(|(c, w)| (c.clone(), json!({"points": w * 100, "evidence": "惠安县住建局 2026 年工作总结", "documents": [approval]})))
        .collect();
    own.insert("blocks".into(), json!({"points": 400, "comment": "一个片区未完成", "evidence": "片区规划"}));
    let (s, page) = county.put("/api/v1/evaluations/sheet", json!({"year": year, "scores": own})).await;
    assert_eq!((s, page["status"].as_str()), (200, Some("draft")), "{page}");
    let self_total = page["total"].as_i64().unwrap();
    assert_eq!(self_total, 5200 - 100, "the scored indicators' 52 points less one; nothing computed counts yet: {page}");
    let (s, page) = county.post("/api/v1/evaluations/submit", json!({"year": year})).await;
    assert_eq!((s, page["status"].as_str()), (200, Some("submitted")), "{page}");
    let (s, r) = county.put("/api/v1/evaluations/sheet", json!({"year": year, "scores": own})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("evaluation.locked")), "{r}");
    // Only the level above reviews.
    let review =
        json!({"year": year, "region": "350521000000", "scores": {"blocks": {"points": 300, "comment": "抽查：片区改造只完成一半"}}});
    let (s, r) = app.client("province_admin").await.post("/api/v1/evaluations/review", review.clone()).await;
    assert_eq!((s, r["errors"][0]["code"].as_str()), (422, Some("evaluation.not_below")), "{r}");
    let (s, r) = county.post("/api/v1/evaluations/review", review.clone()).await;
    assert_eq!(s, 422, "{r}");
    let (s, page) = city.post("/api/v1/evaluations/review", review.clone()).await;
    assert_eq!((s, page["status"].as_str()), (200, Some("reviewed")), "{page}");
    // The reviewer opens the evidence cited.
    assert_eq!(page["documents"][0]["title"], "惠安县2026年老旧小区改造立项批复", "{page}");
    let (s, file) = city.get_bytes(&format!("/api/v1/documents/{approval}/file")).await;
    assert_eq!(s, 200, "the evidence opens for the level above");
    assert_eq!(file.to_vec(), PNG.to_vec());
    assert_eq!(page["total"].as_i64(), Some(self_total - 100), "the reviewer's score stands over the region's");
    assert_eq!(
        (page["evaluation"]["total"].as_i64(), page["evaluation"]["grade"].as_str()),
        (Some(self_total - 100), Some("差")),
        "{page}"
    );
    assert_eq!(city.post("/api/v1/evaluations/review", review).await.0, 409, "reviewed once");
    // The city's subsidy split takes the reviewed total as the county's performance unless one is typed.
    let (s, split) = city.post("/api/v1/funds/subsidy-split", json!({"year": year, "amount": "100"})).await;
    assert_eq!(s, 200, "{split}");
    let hui_an = split["shares"].as_array().unwrap().iter().find(|x| x["region_code"] == "350521000000").unwrap().clone();
    assert_eq!(hui_an["performance"].as_i64(), Some((self_total - 100 + 50) / 100), "{hui_an}");
    let (_, typed) =
        city.post("/api/v1/funds/subsidy-split", json!({"year": year, "amount": "100", "performance": {"350521000000": 90}})).await;
    let typed = typed["shares"].as_array().unwrap().iter().find(|x| x["region_code"] == "350521000000").unwrap().clone();
    assert_eq!(typed["performance"].as_i64(), Some(90), "{typed}");
    let (s, r) = city.put("/api/v1/evaluations/scheme", json!({"year": year})).await;
    assert_eq!((s, r["code"].as_str()), (409, Some("evaluation.scheme_in_use")), "{r}");
    // The ranking of the city's counties, reviewed or not, and its xlsx.
    let (s, ranked) = city.get(&format!("/api/v1/evaluations?year={year}")).await;
    assert_eq!(s, 200, "{ranked}");
    let rows = ranked.as_array().unwrap();
    assert_eq!(rows.iter().map(|r| r["region_code"].as_str().unwrap()).collect::<Vec<_>>(), ["350521000000", "350502000000"], "{ranked}");
    assert_eq!(
        (rows[0]["rank"].as_i64(), rows[0]["status"].as_str(), rows[1]["status"].as_str()),
        (Some(1), Some("reviewed"), Some("missing"))
    );
    let (s, bytes) = city.get_bytes(&format!("/api/v1/evaluations/export.xlsx?year={year}")).await;
    assert!(s == 200 && bytes.starts_with(b"PK"));
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    let sheet_rows = wb.worksheet_range("绩效评价").unwrap();
    let statuses: Vec<String> = (1..3).map(|r| sheet_rows.get_value((r, 5)).unwrap().to_string()).collect();
    assert_eq!(statuses, ["已复核", "未自评"], "statuses in words, not codes");
    assert_eq!(app.client("street_staff").await.get(&sheet).await.0, 403);
}
