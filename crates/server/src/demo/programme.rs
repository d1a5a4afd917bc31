//! The demo county in full swing: Hui'an's renewal programme 2021–2026 (and two lighter
//! neighbours), walked forward estate by estate through the API with the clock held at each
//! step's real past date, so every record passes the same rules as a user's.
//!
//! Each estate gets a resting stage (where it stands today) and a start date; its steps are
//! events on a calendar, run in date order across all estates, with the yearly rankings, plans
//! and allocations between them. Nothing is dated after today.

use super::desk::{DemoError, Desk, Upload};
use super::pictures;
use chrono::{Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Where an estate stands today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rest {
    Assessed,
    Ranked,
    SurveyOpen,
    SchemeDrafted,
    Notice1Open,
    Notice2Open,
    VoteOpen,
    VoteFailed,
    InApproval { late: bool },
    Building { late_nodes: bool, failed_check: bool, change_overdue: bool },
    Completed,
    Accepted,
    ReviewTasksOpen,
    Reviewed,
    Upkeep,
}

/// The steps of one estate's walk, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Assess,
    Survey,
    Scheme,
    AnswerComments,
    Notice1Ended,
    Notice2Ended,
    CloseVote,
    Project,
    Approval,
    StartBuilding,
    Build(u8),
    Acceptance,
    Review,
    CloseTasks,
}

/// Nominal days from the start of the scheme work to each step (the calendar of a typical estate).
fn offset(rest: Rest) -> i64 {
    match rest {
        Rest::Assessed | Rest::Ranked => 0,
        Rest::SurveyOpen => 10,
        Rest::SchemeDrafted => 18,
        Rest::Notice1Open => 30,
        Rest::Notice2Open => 45,
        Rest::VoteOpen => 60,
        Rest::VoteFailed => 70,
        Rest::InApproval { late: false } => 80,
        Rest::InApproval { late: true } => 80,
        Rest::Building { .. } => 150,
        Rest::Completed => 185,
        Rest::Accepted => 215,
        _ => 0,
    }
}

/// A plan year's cohort: the year and how many estates rest at each stage.
pub type Cohort = (i32, Vec<(Rest, usize)>);

/// An estate as the programme picks it: id, code, name, community code, build year.
pub type DemoEstate = (i64, String, String, String, i64);

/// The step after which an estate rests.
fn last_step(rest: Rest) -> Step {
    match rest {
        Rest::Assessed | Rest::Ranked => Step::Assess,
        Rest::SurveyOpen => Step::Survey,
        Rest::SchemeDrafted => Step::Scheme,
        Rest::Notice1Open => Step::Scheme,
        Rest::Notice2Open => Step::Notice1Ended,
        Rest::VoteOpen | Rest::VoteFailed => Step::Notice2Ended,
        Rest::InApproval { .. } => Step::Project,
        Rest::Building { .. } => Step::Build(2),
        Rest::Completed => Step::Build(3),
        Rest::Accepted => Step::Acceptance,
        Rest::ReviewTasksOpen | Rest::Reviewed => Step::Review,
        Rest::Upkeep => Step::CloseTasks,
    }
}

/// For a stage that is open today (a survey, a notice, a vote, an approval step within its
/// limit), how many days before today its last step is taken, whatever the calendar before it.
fn lead(rest: Rest) -> Option<i64> {
    match rest {
        Rest::SurveyOpen => Some(3),
        Rest::Notice1Open | Rest::Notice2Open | Rest::InApproval { late: false } => Some(1),
        Rest::VoteOpen => Some(2),
        _ => None,
    }
}

/// One county's desk accounts and companies.
pub struct CountyCast {
    pub region: &'static str,
    pub admin: &'static str,
    pub staff: &'static str,
    pub street: Option<(&'static str, &'static str)>,
    pub community: Option<(&'static str, &'static str)>,
    /// The companies of the county's projects (before 2025 in 惠安县, where the demo's own take over).
    pub companies: Companies,
    /// The place a property certificate names (a city's district has the city's: 泉州市).
    pub certificate_place: &'static str,
}

/// The companies on a project: contractor, supervisor, designer (user names) and their names.
#[derive(Clone, Copy)]
pub struct Companies {
    pub contractor: (&'static str, &'static str),
    pub supervisor: (&'static str, &'static str),
    pub designer: (&'static str, &'static str),
}

/// The demo's own company accounts: they have the county's projects of 2025 and later.
pub const DEMO_COMPANIES: Companies = Companies {
    contractor: ("contractor", "惠安建工集团有限公司"),
    supervisor: ("supervisor", "泉州建设监理有限公司"),
    designer: ("designer", "福建省城乡规划设计院"),
};

struct Walk {
    county: usize,
    id: i64,
    code: String,
    name: String,
    community: String,
    year: i32,
    rest: Rest,
    start: NaiveDate,
    companies: Companies,
    buildings: Vec<(i64, String)>,
    dwellings: Vec<Value>,
    notice_ends: Option<NaiveDate>,
    comments: Vec<i64>,
    decision: Option<i64>,
    decision_closes: Option<NaiveDate>,
    lift_vote: Option<i64>,
    project: Option<i64>,
    contract_fen: i64,
    nodes: Vec<(i64, i64)>,
    tasks: Vec<i64>,
    resident_home: bool,
}

impl Walk {
    fn new(county: usize, e: &DemoEstate, year: i32, rest: Rest, start: NaiveDate, companies: Companies, resident_home: bool) -> Walk {
        Walk {
            county,
            id: e.0,
            code: e.1.clone(),
            name: e.2.clone(),
            community: e.3.clone(),
            year,
            rest,
            start,
            companies,
            buildings: Vec::new(),
            dwellings: Vec::new(),
            notice_ends: None,
            comments: Vec::new(),
            decision: None,
            decision_closes: None,
            lift_vote: None,
            project: None,
            contract_fen: 0,
            nodes: Vec::new(),
            tasks: Vec::new(),
            resident_home,
        }
    }
}

/// What the programme built, for the message at the end and the determinism test.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Built {
    pub walked: usize,
    pub calls: usize,
    pub ballots: usize,
    pub answers: usize,
}

enum Event {
    Walk(usize),
    Ranking(usize, i32),
    Plan(usize, i32),
    Funds(i32),
}

/// The programme being built.
pub struct Programme<'a> {
    desk: &'a mut Desk,
    today: NaiveDate,
    rng: ChaCha8Rng,
    casts: &'a [CountyCast],
    walks: Vec<Walk>,
    minute: i64,
    built: Built,
    user_ids: std::collections::HashMap<String, i64>,
    progress: Box<dyn FnMut(f64) + 'a>,
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn id_of(v: &Value, path: &[&str]) -> Result<i64, DemoError> {
    let mut at = v;
    for p in path {
        at = &at[*p];
    }
    at.as_i64().ok_or_else(|| DemoError::Setup(format!("no {} in {v}", path.join("."))))
}

impl<'a> Programme<'a> {
    /// A programme for the estates given as (county index, estate id, code, name, community, build year).
    pub fn new(
        desk: &'a mut Desk,
        today: NaiveDate,
        seed: u64,
        casts: &'a [CountyCast],
        user_ids: std::collections::HashMap<String, i64>,
        progress: Box<dyn FnMut(f64) + 'a>,
    ) -> Self {
        Programme {
            desk,
            today,
            rng: ChaCha8Rng::seed_from_u64(seed),
            casts,
            walks: Vec::new(),
            minute: 0,
            built: Built::default(),
            user_ids,
            progress,
        }
    }

    /// Chooses each estate of a county its resting stage and start date: the cohorts of each
    /// plan year, then `reserve` estates ranked (or, built since 2001, only assessed) for next year.
    pub fn cast(&mut self, county: usize, estates: &[DemoEstate], cohorts: &[Cohort], reserve: usize) {
        let mut eligible: Vec<_> = estates.iter().filter(|e| e.4 < 2001).collect();
        let mut late_built: Vec<_> = estates.iter().filter(|e| e.4 >= 2001).collect();
        eligible.shuffle(&mut self.rng);
        late_built.shuffle(&mut self.rng);
        // The demo resident's home (an open vote and an open survey) is an estate of 北关社区,
        // the resident's community: kept aside for the first open vote.
        let home = if county == 0 { eligible.iter().position(|e| e.3 == "350521100001").map(|p| eligible.remove(p)) } else { None };
        let mut home = home;
        let mut pool = eligible.into_iter();
        for (year, rests) in cohorts {
            for (rest, n) in rests {
                for _ in 0..*n {
                    let resident_home = *rest == Rest::VoteOpen && home.is_some();
                    let next = if resident_home { home.take() } else { pool.next() };
                    let Some(e) = next else { return };
                    let start = match rest {
                        Rest::Upkeep | Rest::Reviewed | Rest::ReviewTasksOpen => {
                            date(*year, 2, 1) + Duration::days(self.rng.gen_range(0..45))
                        }
                        r => {
                            let latest = self.today - Duration::days(offset(*r) + self.rng.gen_range(0..6));
                            latest.max(date(*year, 1, 25))
                        }
                    };
                    let companies = if county == 0 && *year >= 2025 { DEMO_COMPANIES } else { self.casts[county].companies };
                    self.walks.push(Walk::new(county, e, *year, *rest, start, companies, resident_home));
                }
            }
        }
        // The reserve pool: assessed and ranked for next year's plan, not yet in one.
        let last = cohorts.iter().map(|c| c.0).max().unwrap_or(2026);
        for e in pool.take(reserve).chain(late_built.into_iter().take(reserve / 2)) {
            let rest = if e.4 < 2001 { Rest::Ranked } else { Rest::Assessed };
            let companies = self.casts[county].companies;
            self.walks.push(Walk::new(county, e, last + 1, rest, date(last, 10, 10), companies, false));
        }
    }

    /// Runs every event in date order; returns what was built.
    pub async fn run(mut self) -> Result<Built, DemoError> {
        let mut queue: BinaryHeap<Reverse<(NaiveDate, u64, usize)>> = BinaryHeap::new();
        let mut events: Vec<(Event, Step)> = Vec::new();
        let mut seq = 0u64;
        let mut push = |queue: &mut BinaryHeap<Reverse<(NaiveDate, u64, usize)>>,
                        events: &mut Vec<(Event, Step)>,
                        at: NaiveDate,
                        e: Event,
                        s: Step| {
            seq += 1;
            events.push((e, s));
            queue.push(Reverse((at, seq, events.len() - 1)));
        };
        let years: Vec<i32> = {
            let mut y: Vec<i32> = self.walks.iter().map(|w| w.year).collect();
            y.sort();
            y.dedup();
            y
        };
        self.request_units().await?;
        for (c, _) in self.casts.iter().enumerate() {
            for y in &years {
                // Assessments run from 8 October for 40 days; the ranking follows on 20 November.
                if date(*y - 1, 11, 20) <= self.today {
                    push(&mut queue, &mut events, date(*y - 1, 11, 20), Event::Ranking(c, *y), Step::Assess);
                }
                if date(*y, 1, 15) <= self.today {
                    push(&mut queue, &mut events, date(*y, 1, 15), Event::Plan(c, *y), Step::Assess);
                }
            }
        }
        for y in &years {
            if date(*y, 1, 20) <= self.today {
                push(&mut queue, &mut events, date(*y, 1, 20), Event::Funds(*y), Step::Assess);
            }
        }
        for (i, w) in self.walks.iter().enumerate() {
            let assess_on = date(w.year - 1, 10, 8) + Duration::days(w.id % 40);
            push(&mut queue, &mut events, assess_on.min(self.today), Event::Walk(i), Step::Assess);
        }
        let first = date(2020, 10, 1);
        let span = (self.today - first).num_days().max(1) as f64;
        let mut shown = 0.0;
        while let Some(Reverse((at, _, ev))) = queue.pop() {
            self.hold(at);
            let done = (at - first).num_days() as f64 / span;
            if done - shown >= 0.01 {
                shown = done;
                (self.progress)(done);
            }
            let (event, step) = match events.get(ev) {
                Some((Event::Walk(i), s)) => (Event::Walk(*i), *s),
                Some((Event::Ranking(c, y), s)) => (Event::Ranking(*c, *y), *s),
                Some((Event::Plan(c, y), s)) => (Event::Plan(*c, *y), *s),
                Some((Event::Funds(y), s)) => (Event::Funds(*y), *s),
                None => continue,
            };
            let next = match event {
                Event::Walk(i) => self.step(i, step, at).await?.map(|(d, s)| (d, Event::Walk(i), s)),
                Event::Ranking(c, y) => {
                    self.ranking(c, y).await?;
                    None
                }
                Event::Plan(c, y) => {
                    self.plan(c, y).await?;
                    None
                }
                Event::Funds(y) => {
                    self.funds(y).await?;
                    None
                }
            };
            if let Some((d, e, s)) = next {
                let mut d = d.max(at);
                if let Event::Walk(i) = e {
                    let rest = self.walks[i].rest;
                    if let (true, Some(days)) = (s == last_step(rest), lead(rest)) {
                        d = d.max(self.today - Duration::days(days));
                    }
                }
                if d <= self.today {
                    push(&mut queue, &mut events, d, e, s);
                }
            }
        }
        self.loose_ends().await?;
        huanxin_store::clock::hold(None);
        (self.progress)(1.0);
        self.built.walked = self.walks.len();
        Ok(self.built)
    }

    /// Holds the clock at 09:00 China time on `day`, a minute later for each step that day, and
    /// never later than the real clock.
    fn hold(&mut self, day: NaiveDate) {
        self.minute += 1;
        let nine = day.and_time(NaiveTime::from_hms_opt(1, 0, 0).unwrap_or_default());
        let at = Utc.from_utc_datetime(&nine) + Duration::seconds(self.minute % 600 * 20);
        let real = Utc::now() - Duration::seconds(1);
        huanxin_store::clock::hold(Some(at.min(real)));
    }

    async fn post(&mut self, user: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        self.built.calls += 1;
        self.desk.post(user, path, body).await
    }

    async fn put(&mut self, user: &str, path: &str, body: Value) -> Result<Value, DemoError> {
        self.built.calls += 1;
        self.desk.put(user, path, body).await
    }

    async fn advance(&mut self, i: usize, to: &str, note: &str) -> Result<(), DemoError> {
        let (admin, id) = (self.casts[self.walks[i].county].admin, self.walks[i].id);
        self.post(admin, &format!("/estates/{id}/lifecycle"), json!({ "to": to, "note": note })).await.map(|_| ())
    }

    /// The units 惠安's requests are routed to: its property company, water and gas companies with
    /// their accounts; the power company has none yet, so its requests go to the community.
    async fn request_units(&mut self) -> Result<(), DemoError> {
        let units = [
            ("property", "惠安安居物业服务有限公司", "0595-87381234", Some("property_company")),
            ("water", "惠安县自来水公司", "0595-87362345", Some("water_company")),
            ("power", "国网惠安县供电公司", "95598", None),
            ("gas", "惠安华润燃气有限公司", "0595-87395678", Some("gas_company")),
        ];
        for (kind, name, phone, member) in units {
            let u = self
                .post(
                    "county_admin",
                    "/request-units",
                    json!({ "region_code": "350521000000", "kind": kind, "name": name, "phone": phone }),
                )
                .await?;
            if let Some(m) = member {
                let id = id_of(&u, &["id"])?;
                self.desk.post("county_admin", &format!("/request-units/{id}/members"), json!({ "username": m })).await?;
            }
        }
        Ok(())
    }

    /// Who handles a request as routed: the unit's demo account, or the desk for an office; `None`
    /// for a unit without an account.
    fn handler_of(r: &Value, desk: &'static str) -> Option<&'static str> {
        match r["unit_kind"].as_str() {
            Some("property") => Some("property_company"),
            Some("water") => Some("water_company"),
            Some("gas") => Some("gas_company"),
            Some("community" | "street" | "bureau") => Some(desk),
            _ => None,
        }
    }

    fn user_id(&self, name: &str) -> Result<i64, DemoError> {
        self.user_ids.get(name).copied().ok_or_else(|| DemoError::Setup(format!("no demo account {name}")))
    }

    async fn ranking(&mut self, county: usize, year: i32) -> Result<(), DemoError> {
        let admin = self.casts[county].admin;
        let candidates: Vec<usize> =
            (0..self.walks.len()).filter(|i| self.walks[*i].county == county && self.walks[*i].year == year && self.assessed(*i)).collect();
        if candidates.is_empty() {
            return Ok(());
        }
        self.post(admin, "/rankings", json!({ "year": year })).await?;
        for i in candidates {
            if self.walks[i].rest != Rest::Assessed {
                self.advance(i, "ranked", &format!("{year} 年度改造排序")).await?;
            }
        }
        Ok(())
    }

    fn assessed(&self, i: usize) -> bool {
        self.walks[i].start <= self.today && !self.walks[i].buildings.is_empty()
    }

    async fn plan(&mut self, county: usize, year: i32) -> Result<(), DemoError> {
        let admin = self.casts[county].admin;
        let cohort: Vec<usize> = (0..self.walks.len())
            .filter(|i| {
                let w = &self.walks[*i];
                w.county == county && w.year == year && !matches!(w.rest, Rest::Assessed | Rest::Ranked)
            })
            .collect();
        if cohort.is_empty() {
            return Ok(());
        }
        let households: i64 = cohort.iter().map(|i| self.walks[*i].dwellings.len() as i64).sum();
        let plan = self
            .post(
                admin,
                "/plans",
                json!({ "year": year, "targets": { "estates": cohort.len(), "households": households, "buildings": 0, "floor_area": 0 } }),
            )
            .await?;
        let plan_id = id_of(&plan, &["plan", "id"])?;
        let ids: Vec<i64> = cohort.iter().map(|i| self.walks[*i].id).collect();
        // Listing the estates moves them to 列入计划.
        // The programme's earlier years are entered as history: a year already over says so.
        self.post(admin, &format!("/plans/{plan_id}/estates"), json!({ "estate_ids": ids, "reason": "补录往年改造计划" })).await?;
        Ok(())
    }

    /// The year's money: the central subsidy from the province through the city down to each
    /// county (1.2 million yuan an estate, about 60 % of a scheme), and the county's own
    /// budget and the utilities' share.
    async fn funds(&mut self, year: i32) -> Result<(), DemoError> {
        const CENTRAL: i64 = 1_200_000;
        let cohort: i64 = self.walks.iter().filter(|w| w.year == year).count() as i64;
        if cohort == 0 {
            return Ok(());
        }
        let purpose = format!("{year}年中央财政城镇老旧小区改造补助资金");
        let top = self
            .post("province_admin", "/allocations", json!({ "region_code": "350000000000", "source": "central", "year": year, "purpose": purpose, "amount": (cohort * CENTRAL).to_string() }))
            .await?;
        let purpose = format!("{year}年泉州市老旧小区改造中央补助");
        let city = self
            .post("province_admin", "/allocations", json!({ "parent_id": id_of(&top, &["id"])?, "region_code": "350500000000", "year": year, "purpose": purpose, "amount": (cohort * CENTRAL).to_string() }))
            .await?;
        let city_id = id_of(&city, &["id"])?;
        for (c, cast) in self.casts.iter().enumerate() {
            let n = self.walks.iter().filter(|w| w.year == year && w.county == c).count() as i64;
            if n == 0 {
                continue;
            }
            let purpose = format!("{year}年老旧小区改造中央补助（下达）");
            self.post("city_admin", "/allocations", json!({ "parent_id": city_id, "region_code": cast.region, "year": year, "purpose": purpose, "amount": (n * CENTRAL).to_string() }))
                .await?;
            for (source, share, purpose) in [("local", 30, "县级财政配套资金"), ("utility", 15, "水电气讯专营单位出资")] {
                let body = json!({ "region_code": cast.region, "source": source, "year": year, "purpose": format!("{year}年{purpose}"), "amount": (n * CENTRAL * share / 100).to_string() });
                self.post(cast.admin, "/allocations", body).await?;
            }
        }
        Ok(())
    }

    /// Runs one step of estate `i`; returns the next step and its date, or `None` when the estate rests.
    async fn step(&mut self, i: usize, step: Step, today: NaiveDate) -> Result<Option<(NaiveDate, Step)>, DemoError> {
        let w = &self.walks[i];
        let (county, id, rest) = (w.county, w.id, w.rest);
        let cast = &self.casts[county];
        let (admin, staff) = (cast.admin, cast.staff);
        let next = |days: i64, s: Step| Some((today + Duration::days(days), s));
        let rests_at = |s: Step| s >= last_step(rest);
        // The next step in `days`, unless the estate rests after this one.
        let then = |days: i64, s: Step| if rests_at(step) { None } else { next(days, s) };
        match step {
            Step::Assess => {
                self.load_estate(i).await?;
                self.assess(i).await?;
                if rests_at(step) {
                    return Ok(None);
                }
                let start = self.walks[i].start;
                Ok(Some((start, Step::Survey)))
            }
            Step::Survey => {
                self.survey(i, today, rest == Rest::SurveyOpen).await?;
                Ok(then(14, Step::Scheme))
            }
            Step::Scheme => {
                self.scheme(i).await?;
                self.advance(i, "scheme_drafted", "方案初稿（一区一策）").await?;
                if rest == Rest::SchemeDrafted {
                    return Ok(None);
                }
                self.notice(i, 1, today).await?;
                Ok(then(1, Step::AnswerComments))
            }
            Step::AnswerComments => {
                let comments = std::mem::take(&mut self.walks[i].comments);
                for c in comments {
                    self.post(
                        staff,
                        &format!("/notice-comments/{c}/answer"),
                        json!({ "answer": "已记录，第二轮方案中按楼层系数说明分摊，并保留楼下空地为公共活动场地。" }),
                    )
                    .await?;
                }
                let ends = self.walks[i].notice_ends.unwrap_or(today);
                Ok(Some((ends + Duration::days(1), Step::Notice1Ended)))
            }
            Step::Notice1Ended => {
                self.advance(i, "notice_1", "第一轮公示期满").await?;
                self.notice(i, 2, today).await?;
                if rests_at(step) {
                    return Ok(None);
                }
                let ends = self.walks[i].notice_ends.unwrap_or(today);
                Ok(Some((ends + Duration::days(1), Step::Notice2Ended)))
            }
            Step::Notice2Ended => {
                self.advance(i, "notice_2", "第二轮公示期满").await?;
                let share = match rest {
                    Rest::VoteOpen => 0.55,
                    Rest::VoteFailed => 0.45,
                    _ => 0.9,
                };
                self.vote(i, today, share).await?;
                if self.walks[i].resident_home {
                    self.resident_home(i, today).await?;
                }
                if rest == Rest::VoteOpen {
                    return Ok(None);
                }
                let closes = self.walks[i].decision_closes.unwrap_or(today);
                Ok(Some((closes + Duration::days(1), Step::CloseVote)))
            }
            Step::CloseVote => {
                let d = self.walks[i].decision.unwrap_or_default();
                let page = self.post(staff, &format!("/decisions/{d}/close"), json!({})).await?;
                if let Some(lift) = self.walks[i].lift_vote {
                    self.post(staff, &format!("/decisions/{lift}/close"), json!({})).await?;
                }
                if page["decision"]["passed"].as_bool() != Some(true) {
                    // Quorum not reached: the estate stays in notice, as the failed vote shows.
                    return Ok(None);
                }
                self.post(admin, &format!("/estates/{id}/scheme/versions"), json!({ "stage": "final" })).await?;
                self.advance(i, "decided", "业主表决通过").await?;
                Ok(next(5, Step::Project))
            }
            Step::Project => {
                self.project(i, today, rest == (Rest::InApproval { late: true })).await?;
                Ok(then(6, Step::Approval))
            }
            Step::Approval => {
                let p = self.walks[i].project.unwrap_or_default();
                let steps = self.desk.get(admin, &format!("/projects/{p}/approval")).await?;
                let open: Vec<String> = steps
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|s| !s["started_on"].is_null() && s["done_on"].is_null())
                            .filter_map(|s| s["code"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                if open.is_empty() {
                    self.advance(i, "approved", "审批办结").await?;
                    return Ok(next(7, Step::StartBuilding));
                }
                for code in open {
                    let no = format!("惠建审〔{}〕{}号", today.year(), 10 + (id % 80));
                    self.post(admin, &format!("/projects/{p}/approval/{code}"), json!({ "date": ymd(today), "document_no": no })).await?;
                }
                Ok(next(5, Step::Approval))
            }
            Step::StartBuilding => {
                self.start_building(i, today).await?;
                Ok(next(25, Step::Build(1)))
            }
            Step::Build(k) => {
                let late = matches!(rest, Rest::Building { late_nodes: true, .. });
                self.build(i, k, late).await?;
                if let Rest::Building { failed_check, change_overdue, .. } = rest {
                    if k == 2 {
                        if failed_check {
                            let path = format!("/estates/{id}/construction/inspections");
                            let sup = self.walks[i].companies.supervisor.0;
                            self.post(sup, &path, json!({ "checkpoint": "site_control", "passed": false, "findings": "3号楼屋面防水层未做闭水试验，责令整改后复验" })).await?;
                        }
                        if change_overdue {
                            let path = format!("/estates/{id}/construction/design-changes");
                            let c = self.walks[i].companies.contractor.0;
                            self.post(c, &path, json!({ "text": "2号楼雨棚原设计为混凝土结构，现场荷载不足，申请改为轻钢结构" })).await?;
                        }
                    }
                }
                if k < 3 {
                    if rests_at(step) {
                        return Ok(None);
                    }
                    return Ok(next(25, Step::Build(k + 1)));
                }
                self.complete(i).await?;
                if rest == Rest::Completed {
                    // Acceptance opened: the builders have signed, the bureau, street, community,
                    // designer and residents' representative have not yet.
                    self.open_acceptance(i, &["contractor", "supervisor"]).await?;
                    return Ok(None);
                }
                Ok(next(14, Step::Acceptance))
            }
            Step::Acceptance => {
                self.accept(i, today).await?;
                Ok(then(183, Step::Review))
            }
            Step::Review => {
                self.review(i, today, rest == Rest::ReviewTasksOpen).await?;
                Ok(then(20, Step::CloseTasks))
            }
            Step::CloseTasks => {
                self.close_tasks(i).await?;
                self.advance(i, "in_upkeep", "转入长效管理").await?;
                self.upkeep(i, today).await?;
                Ok(None)
            }
        }
    }

    async fn load_estate(&mut self, i: usize) -> Result<(), DemoError> {
        let (county, id) = (self.walks[i].county, self.walks[i].id);
        let admin = self.casts[county].admin;
        let b = self.desk.get(admin, &format!("/estates/{id}/buildings")).await?;
        self.walks[i].buildings = b
            .as_array()
            .map(|a| a.iter().filter_map(|x| Some((x["id"].as_i64()?, x["number"].as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let mut page = 1;
        let mut all = Vec::new();
        loop {
            let d = self.desk.get(admin, &format!("/estates/{id}/dwellings?per_page=500&page={page}")).await?;
            let items = d["items"].as_array().cloned().unwrap_or_default();
            let total = d["total"].as_i64().unwrap_or(0);
            all.extend(items);
            if (page * 500) as i64 >= total {
                break;
            }
            page += 1;
        }
        self.walks[i].dwellings = all;
        Ok(())
    }

    async fn assess(&mut self, i: usize) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, code) = (w.id, w.code.clone());
        let cast = &self.casts[w.county];
        let assessor = match (&cast.community, &cast.street) {
            (Some((name, region)), _) if w.community == *region => *name,
            _ => cast.staff,
        };
        let admin = cast.admin;
        let building_items =
            ["gas_hazard", "envelope_hazard", "damaged_pipes", "stairwell_hazard", "needs_ageing_retrofit", "needs_energy_retrofit"];
        let estate_items = [
            "parking_shortfall",
            "no_elderly_care",
            "ev_charger_shortfall",
            "no_ebike_charging",
            "substandard_footpaths",
            "no_property_management",
        ];
        let mut findings = Vec::new();
        for (b, _) in &w.buildings {
            for item in building_items.iter() {
                if self.rng.gen_bool(0.45) {
                    findings.push(json!({ "item": item, "building_id": b, "present": true }));
                }
            }
        }
        for item in estate_items.iter() {
            findings.push(json!({ "item": item, "present": self.rng.gen_bool(0.6) }));
        }
        let path = format!("/estates/{id}/assessment");
        self.put(assessor, &path, json!({ "findings": findings, "finish": true })).await?;
        // Two photos of what was found.
        let first_building = self.walks[i].buildings.first().cloned();
        if let Some((b, number)) = first_building {
            let day = huanxin_store::today();
            for (k, item) in ["envelope_hazard", "gas_hazard"].iter().enumerate() {
                let png =
                    pictures::photo(&code, &number.replace("号楼", "#"), &ymd(day), pictures::Mood::Before, (id as u64) * 7 + k as u64);
                self.built.calls += 1;
                self.desk
                    .multipart(
                        admin,
                        &format!("/estates/{id}/archive"),
                        &[
                            ("section", "assessment".into()),
                            ("kind", "photos_before".into()),
                            ("building_id", b.to_string()),
                            ("item_code", item.to_string()),
                            ("title", format!("{number} 体检照片")),
                        ],
                        &[Upload { field: "file", name: format!("{code}-{k}.png"), bytes: png }],
                    )
                    .await?;
            }
        }
        self.advance(i, "assessed", "体检完成").await
    }

    async fn survey(&mut self, i: usize, today: NaiveDate, open: bool) -> Result<(), DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let staff = self.casts[county].staff;
        let closes = today + Duration::days(14);
        let s = self
            .post(
                staff,
                &format!("/estates/{id}/surveys"),
                json!({
                    "title": "老旧小区改造居民需求调查（问需于民）", "purpose": "needs",
                    "opens_on": ymd(today), "closes_on": ymd(closes), "anonymous": false, "many_per_dwelling": false,
                    "questions": [
                        { "id": "will", "kind": "single", "text": "您是否同意本小区实施改造？", "options": ["同意", "不同意"], "required": true, "feeds": "willing_to_renovate" },
                        { "id": "pay", "kind": "single", "text": "是否愿意按户出资参与改造？", "options": ["愿意", "不愿意"], "feeds": "willing_to_contribute" },
                        { "id": "needs", "kind": "multiple", "text": "您最希望改造的项目（可多选）", "options": ["屋面防水", "外墙修缮", "雨污分流", "加装电梯", "停车位", "充电设施", "适老化扶手"] },
                        { "id": "space", "kind": "single", "text": "楼下空地希望用作", "options": ["停车位", "儿童游乐场", "老年活动场地"], "space": "楼下空地" },
                        { "id": "other", "kind": "text", "text": "其他意见和建议" }
                    ]
                }),
            )
            .await?;
        let sid = id_of(&s, &["id"])?;
        // Paper forms collected door to door: many on the open survey, a sample elsewhere.
        let take = if open || self.walks[i].resident_home { 400 } else { 24 };
        let dwellings: Vec<Value> = self.walks[i].dwellings.iter().step_by(2).take(take).cloned().collect();
        let mut bodies = Vec::new();
        for d in dwellings {
            let Some(did) = d["id"].as_i64() else { continue };
            let will = usize::from(self.rng.gen_bool(0.08));
            let pay = usize::from(self.rng.gen_bool(0.3));
            let mut needs: Vec<usize> = (0..7).filter(|_| self.rng.gen_bool(0.35)).collect();
            if needs.is_empty() {
                needs.push(0);
            }
            // The shared space divides the estate: parking against a playground.
            let space = if self.rng.gen_bool(0.46) {
                0
            } else if self.rng.gen_bool(0.7) {
                1
            } else {
                2
            };
            let other = ["", "希望施工期间保证出行安全", "楼道灯经常不亮", "雨天一楼返水严重", ""][self.rng.gen_range(0..5)];
            bodies.push((
                format!("/surveys/{sid}/answers"),
                json!({ "dwelling_id": did, "respondent": format!("纸质问卷-{}", d["number"].as_str().unwrap_or("")),
                        "answers": { "will": will, "pay": pay, "needs": needs, "space": space, "other": other } }),
            ));
        }
        self.built.answers += bodies.len();
        self.many(staff, bodies).await
    }

    /// Sends many JSON posts at once (paper ballots, paper answers): they arrive together, as
    /// from a desk of clerks.
    async fn many(&mut self, user: &str, bodies: Vec<(String, Value)>) -> Result<(), DemoError> {
        self.built.calls += bodies.len();
        for chunk in bodies.chunks(64) {
            let calls = chunk.iter().map(|(p, b)| self.desk.post(user, p, b.clone()));
            for r in futures_util::future::join_all(calls).await {
                match r {
                    Ok(_) => {}
                    // An owner of several dwellings votes once for all of them.
                    Err(DemoError::Refused { status: 409, .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    async fn scheme(&mut self, i: usize) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, county) = (w.id, w.county);
        let admin = self.casts[county].admin;
        let homes = w.dwellings.len().max(1) as f64;
        let mut items = Vec::new();
        for (n, (b, _)) in w.buildings.iter().enumerate() {
            let area = 600.0 + (*b % 9) as f64 * 120.0;
            items.push(json!({ "menu_code": "B13", "building_id": b, "quantity": area }));
            items.push(json!({ "menu_code": "B12", "building_id": b, "quantity": area / 3.0 }));
            // 居民拿一点: the stairwells' repairs are the residents' share.
            items.push(json!({ "menu_code": "B14", "building_id": b, "quantity": 2, "payer": "residents" }));
            // The lift the first building's stairwell votes on (see `vote`), paid by its residents.
            if n == 0 && id % 5 == 0 {
                items.push(json!({ "menu_code": "I12", "building_id": b, "quantity": 1, "note": "1单元" }));
            }
            if b % 3 == 0 {
                items.push(json!({ "menu_code": "I04", "building_id": b, "quantity": 6 }));
            }
        }
        items.push(json!({ "menu_code": "B02", "quantity": (homes * 4.0).round(), "note": "雨污分流主管" }));
        items.push(json!({ "menu_code": "B06", "quantity": homes, "payer": "utility" }));
        items.push(json!({ "menu_code": "B09", "quantity": 12 }));
        items.push(json!({ "menu_code": "I02", "quantity": 300 }));
        items.push(json!({ "menu_code": "I07", "quantity": 10, "payer": "enterprise" }));
        if id % 4 == 0 {
            items.push(json!({ "menu_code": "U05", "quantity": 120, "note": "社区嵌入式养老服务站" }));
        }
        let saved = self.put(admin, &format!("/estates/{id}/scheme"), json!({ "items": items })).await?;
        self.walks[i].contract_fen = saved["draft"]["estimate"]["total_fen"].as_i64().unwrap_or(100_000_000);
        Ok(())
    }

    async fn notice(&mut self, i: usize, round: u8, today: NaiveDate) -> Result<(), DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let (admin, staff) = (self.casts[county].admin, self.casts[county].staff);
        let v = self.post(admin, &format!("/estates/{id}/scheme/versions"), json!({ "stage": format!("notice_{round}") })).await?;
        let no = id_of(&v, &["version_no"])?;
        let title =
            if round == 1 { "改造方案第一轮公示（一上一下）" } else { "改造方案第二轮公示（二上二下）" };
        let n = self
            .post(
                staff,
                &format!("/estates/{id}/notices"),
                json!({ "title": title, "body": "改造方案已在小区公告栏及“焕新”居民端公示，居民可在公示期内提出意见。", "round": round, "scheme_version": no, "starts_on": ymd(today), "working_days": 5 }),
            )
            .await?;
        let nid = id_of(&n, &["id"])?;
        self.walks[i].notice_ends = n["ends_on"].as_str().and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok());
        if round == 1 {
            let opinions = [
                ("objection", "加装电梯费用分摊不合理，一楼住户不应出资", "2号楼101住户"),
                ("opinion", "希望保留楼下空地做儿童游乐场，不要全改停车位", "3号楼住户王阿姨"),
            ];
            for (kind, text, author) in opinions {
                let c =
                    self.post(staff, &format!("/notices/{nid}/comments"), json!({ "kind": kind, "text": text, "author": author })).await?;
                self.walks[i].comments.push(id_of(&c, &["id"])?);
            }
        }
        Ok(())
    }

    async fn vote(&mut self, i: usize, today: NaiveDate, share: f64) -> Result<(), DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let staff = self.casts[county].staff;
        let opens = Utc.from_utc_datetime(&today.and_time(NaiveTime::from_hms_opt(0, 30, 0).unwrap_or_default()));
        let closes = opens + Duration::days(7);
        self.walks[i].decision_closes = Some(today + Duration::days(7));
        let d = self
            .post(
                staff,
                &format!("/estates/{id}/decisions"),
                json!({ "title": "同意本小区老旧小区改造方案（定稿）", "matter": "renovate", "scope": "estate", "on_scheme": true,
                        "opens_at": opens.to_rfc3339(), "closes_at": closes.to_rfc3339() }),
            )
            .await?;
        let did = id_of(&d, &["decision", "id"])?;
        self.walks[i].decision = Some(did);
        let mut bodies = Vec::new();
        let dwellings = self.walks[i].dwellings.clone();
        for d in &dwellings {
            if !self.rng.gen_bool(share) {
                continue;
            }
            let Some(dw) = d["id"].as_i64() else { continue };
            let owner = d["owners"][0]["name"].as_str().unwrap_or("住户").to_string();
            // An owner's choice follows the owner, whichever of their dwellings is counted first.
            let h = owner.bytes().fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(u64::from(b)));
            let choice = match h % 25 {
                0 => "disagree",
                1 => "abstain",
                _ => "agree",
            };
            bodies.push((format!("/decisions/{did}/ballots"), json!({ "dwelling_id": dw, "choice": choice, "voter": owner })));
        }
        self.built.ballots += bodies.len();
        self.many(staff, bodies).await?;
        // A lift vote by stairwell on the first building of every fifth estate deciding.
        if id % 5 == 0 {
            if let Some((b, number)) = self.walks[i].buildings.first().cloned() {
                let d = self
                    .post(
                        staff,
                        &format!("/estates/{id}/decisions"),
                        json!({ "title": format!("{number}1单元加装电梯"), "matter": "renovate", "scope": "stairwell", "building_id": b, "stairwell": 1,
                                "opens_at": opens.to_rfc3339(), "closes_at": closes.to_rfc3339() }),
                    )
                    .await?;
                let lid = id_of(&d, &["decision", "id"])?;
                self.walks[i].lift_vote = Some(lid);
                let bodies: Vec<(String, Value)> = dwellings
                    .iter()
                    .filter(|d| d["building_id"].as_i64() == Some(b) && d["stairwell"].as_i64() == Some(1))
                    .filter(|d| d["floor"].as_i64().unwrap_or(1) > 2)
                    .filter_map(|d| {
                        Some((format!("/decisions/{lid}/ballots"), json!({ "dwelling_id": d["id"].as_i64()?, "choice": "agree", "voter": d["owners"][0]["name"].as_str().unwrap_or("住户") })))
                    })
                    .collect();
                self.built.ballots += bodies.len();
                self.many(staff, bodies).await?;
            }
        }
        Ok(())
    }

    /// The demo resident's home: a dwelling of this estate bound to the `resident` account and
    /// confirmed against the certificate, and a second, open survey on the shared space.
    async fn resident_home(&mut self, i: usize, today: NaiveDate) -> Result<(), DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let staff = self.casts[county].staff;
        let Some(d) = self.walks[i].dwellings.iter().find(|d| d["owners"].as_array().is_some_and(|o| !o.is_empty())).cloned() else {
            return Ok(());
        };
        let (dw, code) = self.invitation(i, &d).await?;
        self.post("resident", "/residents/bind", json!({ "code": code, "name": "北关社区居民" })).await?;
        let resident = self.user_id("resident")?;
        self.post(
            staff,
            &format!("/estates/{id}/residents/verify"),
            json!({ "dwelling_id": dw, "user_id": resident, "certificate_no": "闽(2019)惠安县不动产权第0012345号" }),
        )
        .await?;
        self.survey(i, today, true).await?;
        // The resident's own requests: one answered and rated, one still being handled.
        let r = self
            .post(
                "resident",
                &format!("/estates/{id}/requests"),
                json!({ "category": "property", "text": "3单元楼道灯不亮，晚上上下楼不安全，物业一直没人来修", "dwelling_id": dw }),
            )
            .await?;
        let rid = id_of(&r, &["id"])?;
        if let Some(h) = Self::handler_of(&r, staff) {
            self.post(h, &format!("/requests/{rid}/handle"), json!({ "status": "resolved", "answer": "已督促物业安排电工更换为声光控灯" }))
                .await?;
            self.post("resident", &format!("/requests/{rid}/rating"), json!({ "rating": 5 })).await?;
        }
        let r = self
            .post(
                "resident",
                &format!("/estates/{id}/requests"),
                json!({ "category": "question", "text": "加装电梯的费用怎么分摊？一楼要出钱吗？" }),
            )
            .await?;
        let rid = id_of(&r, &["id"])?;
        if let Some(h) = Self::handler_of(&r, staff) {
            self.post(h, &format!("/requests/{rid}/handle"), json!({ "status": "in_progress" })).await?;
        }
        Ok(())
    }

    async fn project(&mut self, i: usize, today: NaiveDate, late: bool) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, county, year, companies) = (w.id, w.county, w.year, w.companies);
        let admin = self.casts[county].admin;
        let code = format!("{}-{}", w.code, year);
        let p = self.post(admin, "/projects", json!({ "code": code, "name": format!("{}改造工程", w.name), "estate_ids": [id] })).await?;
        let pid = id_of(&p, &["project", "id"])?;
        self.walks[i].project = Some(pid);
        for (role, (user, company)) in
            [("designer", companies.designer), ("contractor", companies.contractor), ("supervisor", companies.supervisor)]
        {
            let uid = self.user_id(user)?;
            self.post(
                admin,
                &format!("/projects/{pid}/parties"),
                json!({ "role": role, "company": company, "contact": "项目负责人", "phone": "13905951234", "user_id": uid }),
            )
            .await?;
        }
        let start = if late { today - Duration::days(20) } else { today };
        self.post(admin, &format!("/projects/{pid}/approval"), json!({ "merge_design": true, "start": ymd(start) })).await?;
        Ok(())
    }

    async fn start_building(&mut self, i: usize, today: NaiveDate) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, county, companies, pid) = (w.id, w.county, w.companies, w.project.unwrap_or_default());
        let admin = self.casts[county].admin;
        let contract = (w.contract_fen / 100).max(500_000);
        self.put(admin, &format!("/projects/{pid}/contract"), json!({ "amount": contract.to_string() })).await?;
        let central = contract * 6 / 10;
        let utility = contract / 10;
        let residents = contract / 20;
        let local = contract - central - utility - residents;
        self.put(
            admin,
            &format!("/projects/{pid}/funding-plan"),
            json!({ "lines": [
                { "source": "central", "category": "basic", "item": "基础类改造", "amount": central.to_string() },
                { "source": "utility", "item": "供水供气管网（专营单位出资）", "amount": utility.to_string() },
                { "source": "local", "item": "县级配套", "amount": local.to_string() },
                { "source": "residents", "category": "improvement", "item": "居民出资", "amount": residents.to_string() }
            ] }),
        )
        .await?;
        let c = companies.contractor.0;
        let names = ["屋面防水及外墙修缮", "雨污分流及管网改造", "道路、绿化及安防"];
        let mut nodes = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let start = today + Duration::days(25 * k as i64);
            let weight = [45, 35, 20][k];
            let n = self
                .post(
                    c,
                    &format!("/estates/{id}/construction/nodes"),
                    json!({ "name": name, "planned_start": ymd(start), "planned_end": ymd(start + Duration::days(40)), "weight": weight }),
                )
                .await?;
            nodes.push((id_of(&n, &["id"])?, weight));
        }
        self.walks[i].nodes = nodes.clone();
        let sup = companies.supervisor.0;
        for checkpoint in ["design", "team_selection"] {
            self.post(sup, &format!("/estates/{id}/construction/inspections"), json!({ "checkpoint": checkpoint, "passed": true })).await?;
        }
        self.put(c, &format!("/schedule-nodes/{}", nodes[0].0), json!({ "progress_pct": 20 })).await?;
        self.advance(i, "in_construction", "开工").await?;
        self.post(
            c,
            &format!("/estates/{id}/construction/materials"),
            json!({ "material": "SBS改性沥青防水卷材", "spec": "4mm", "quantity": 1200.0, "unit": "m²", "supplier": "泉州建材有限公司", "certificate": true, "accepted": true }),
        )
        .await?;
        self.post(sup, &format!("/estates/{id}/construction/inspections"), json!({ "checkpoint": "material_entry", "passed": true }))
            .await?;
        self.site_log(i, "开工，搭设脚手架，屋面旧防水层铲除").await
    }

    async fn site_log(&mut self, i: usize, text: &str) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, code, c) = (w.id, w.code.clone(), w.companies.contractor.0);
        let day = huanxin_store::today();
        let png = pictures::photo(&code, "", &ymd(day), pictures::Mood::During, id as u64 + day.ordinal() as u64);
        self.built.calls += 1;
        self.desk
            .multipart(
                c,
                &format!("/estates/{id}/construction/logs"),
                &[("weather", "晴".into()), ("text", text.into())],
                &[Upload { field: "file", name: format!("{code}-{}.png", ymd(day)), bytes: png }],
            )
            .await
            .map(|_| ())
    }

    /// Construction, a month at a time: nodes move, a node done is paid on its milestone.
    async fn build(&mut self, i: usize, k: u8, late: bool) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (c, nodes) = (w.companies.contractor.0, w.nodes.clone());
        let k = usize::from(k);
        for (n, (node, _)) in nodes.iter().enumerate() {
            let pct = match (n + 1).cmp(&k) {
                std::cmp::Ordering::Less => 100,
                std::cmp::Ordering::Equal => {
                    if late {
                        60
                    } else {
                        100
                    }
                }
                std::cmp::Ordering::Greater => {
                    if n == k {
                        30
                    } else {
                        continue;
                    }
                }
            };
            self.put(c, &format!("/schedule-nodes/{node}"), json!({ "progress_pct": pct })).await?;
            if pct == 100 && n + 1 == k {
                // The last milestone of the county's first estate building on time waits for approval.
                let approve = !(k == 2 && self.first_on_time_build(i));
                self.pay(i, *node, approve).await?;
            }
        }
        if k == 2 {
            let (id, sup) = (self.walks[i].id, self.walks[i].companies.supervisor.0);
            if !late {
                self.post(sup, &format!("/estates/{id}/construction/inspections"), json!({ "checkpoint": "site_control", "passed": true }))
                    .await?;
            }
        }
        if k == 1 {
            // Construction disturbs: a neighbour's complaint, answered by the desk.
            let (id, staff) = (self.walks[i].id, self.casts[self.walks[i].county].staff);
            let r = self
                .post(
                    staff,
                    &format!("/estates/{id}/requests"),
                    json!({ "category": "renovation.disturbance", "text": "施工队晚上十点后还在切割作业，噪音扰民", "author": "12345热线转办", "channel": "phone" }),
                )
                .await?;
            let rid = id_of(&r, &["id"])?;
            if let Some(h) = Self::handler_of(&r, staff) {
                self.post(
                    h,
                    &format!("/requests/{rid}/handle"),
                    json!({ "status": "resolved", "answer": "已约谈施工单位，夜间22:00后停止高噪音作业" }),
                )
                .await?;
            }
        }
        let text = ["外墙修缮完成，屋面闭水试验合格", "雨污管网开挖敷设，路面恢复", "道路铺装、绿化种植，安防摄像头安装"][(k - 1).min(2)];
        self.site_log(i, text).await
    }

    /// A finished node's milestone payment: asked by the county's admin, approved by its staff,
    /// from the central subsidy while it lasts, then from the county's own budget; when neither
    /// has enough left, what is left is paid.
    async fn pay(&mut self, i: usize, node: i64, approve: bool) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (county, pid) = (w.county, w.project.unwrap_or_default());
        let weight = w.nodes.iter().find(|n| n.0 == node).map(|n| n.1).unwrap_or(30);
        let contract = (w.contract_fen / 100).max(500_000);
        let payee = w.companies.contractor.1;
        let (admin, staff) = (self.casts[county].admin, self.casts[county].staff);
        let payable = self.desk.get(admin, &format!("/projects/{pid}/payable-allocations")).await?;
        let best = payable.as_array().and_then(|a| {
            a.iter()
                .filter(|x| x["source"] != "residents")
                .max_by_key(|x| (x["source"] == "central", x["left"].as_i64().unwrap_or(0)))
                .and_then(|x| Some((x["id"].as_i64()?, x["left"].as_i64()? / 100)))
        });
        let Some((alloc, left)) = best else { return Ok(()) };
        let amount = (contract * 6 / 10 * weight / 100).min(left);
        if amount < 1000 {
            return Ok(());
        }
        // A payment left for approval is asked by the staff, so that the admin's desk shows it.
        let asker = if approve { admin } else { staff };
        let d = self
            .post(
                asker,
                "/disbursements",
                json!({ "allocation_id": alloc, "project_id": pid, "category": "basic", "payee": payee, "amount": amount.to_string(), "basis": format!("milestone:{node}") }),
            )
            .await?;
        let did = id_of(&d, &["id"])?;
        if approve {
            self.post(staff, &format!("/disbursements/{did}/approve"), json!({})).await?;
        }
        Ok(())
    }

    /// True for the first estate of the first county that rests in construction on schedule.
    fn first_on_time_build(&self, i: usize) -> bool {
        let on_time = |w: &Walk| w.county == 0 && matches!(w.rest, Rest::Building { late_nodes: false, .. });
        self.walks.iter().position(on_time) == Some(i)
    }

    /// What a county's desks find open on the day: a spending from a maintenance fund asked for and
    /// not yet approved, and residents' requests on estates in upkeep not yet resolved (the
    /// property company manages these estates).
    async fn loose_ends(&mut self) -> Result<(), DemoError> {
        self.hold(self.today - Duration::days(2));
        let upkeep: Vec<usize> =
            (0..self.walks.len()).filter(|&i| self.walks[i].county == 0 && self.walks[i].rest == Rest::Upkeep).take(4).collect();
        let staff = self.casts[0].staff;
        if let Some(&i) = upkeep.first() {
            let id = self.walks[i].id;
            self.post(
                staff,
                &format!("/estates/{id}/upkeep/spendings"),
                json!({ "amount": "2600", "memo": "暴雨后3号楼配电箱进水，应急更换", "payee": "惠安电力安装有限公司", "emergency": true }),
            )
            .await?;
        }
        self.hold(self.today - Duration::days(1));
        let requests = [
            ("repair.roof_leak", "5号楼屋面下雨渗水，顶楼住户墙面发霉", true),
            ("environment.sanitation", "小区垃圾清运不及时，夏天有异味", false),
            ("repair.water", "2号楼自来水发黄，放了很久还是浑浊", false),
            ("safety.gas_smell", "3号楼2单元楼道里一股煤气味，很浓", false),
        ];
        for (&i, (cat, text, accept)) in upkeep.iter().zip(requests) {
            let id = self.walks[i].id;
            let r = self
                .post(
                    staff,
                    &format!("/estates/{id}/requests"),
                    json!({ "category": cat, "text": text, "author": "居民来电", "channel": "phone" }),
                )
                .await?;
            if let (true, Some(h)) = (accept, Self::handler_of(&r, staff)) {
                let rid = id_of(&r, &["id"])?;
                self.post(h, &format!("/requests/{rid}/handle"), json!({ "status": "in_progress" })).await?;
            }
        }
        self.grids().await
    }

    /// 北关社区's grids: two grids of its estates, the demo grid worker on both with the community's
    /// staff responsible; this week's patrols of half the estates (one finds a blocked fire passage,
    /// filed as a request), a neighbours' dispute mediated, and an opinion round open on the first
    /// grid for the worker to collect door to door.
    async fn grids(&mut self) -> Result<(), DemoError> {
        const COMMUNITY: &str = "350521100001";
        let listed = self.desk.get("county_staff", &format!("/estates?region={COMMUNITY}&per_page=50")).await?;
        let ids: Vec<i64> = listed["items"].as_array().map(|a| a.iter().filter_map(|e| e["id"].as_i64()).collect()).unwrap_or_default();
        if ids.is_empty() {
            return Ok(());
        }
        let half = ids.len().div_ceil(2);
        let mut first = None;
        for (code, name, part) in [("BG01", "北关一网格", &ids[..half]), ("BG02", "北关二网格", &ids[half..])] {
            if part.is_empty() {
                continue;
            }
            let g = self
                .post("county_staff", "/grids", json!({ "region_code": COMMUNITY, "code": code, "name": name, "estate_ids": part }))
                .await?;
            let gid = id_of(&g, &["id"])?;
            first.get_or_insert(gid);
            self.put("county_staff", &format!("/grids/{gid}/people"), json!({ "workers": ["grid_worker"], "leader": "community_staff" }))
                .await?;
        }
        if let Some(gid) = first {
            let round = json!({
                "title": "楼道加装扶手征求意见", "opens_on": ymd(self.today), "closes_on": ymd(self.today + Duration::days(14)),
                "questions": [
                    { "id": "agree", "kind": "single", "text": "是否同意在楼道两侧加装扶手", "options": ["同意", "不同意", "无所谓"], "required": true },
                    { "id": "say", "kind": "text", "text": "其他意见" },
                ],
            });
            self.post("community_staff", &format!("/grids/{gid}/opinion-rounds"), round).await?;
        }
        self.hold(self.today);
        let items = |hazard: Option<(&str, &str)>| -> Value {
            Value::Array(
                huanxin_domain::grids::WEEKLY_CHECK
                    .iter()
                    .map(|i| match hazard {
                        Some((code, note)) if code == i.code => json!({ "code": i.code, "ok": false, "note": note }),
                        _ => json!({ "code": i.code, "ok": true }),
                    })
                    .collect(),
            )
        };
        for (k, &id) in ids.iter().step_by(2).take(4).enumerate() {
            let hazard = (k == 1).then_some(("fire_passage", "5号楼东侧消防通道被三辆私家车堵住"));
            let patrol = json!({ "estate_id": id, "items": items(hazard), "note": "" });
            let png = pictures::photo(&format!("BG{k}"), "", &ymd(self.today), pictures::Mood::Before, id as u64 + 11);
            self.built.calls += 1;
            self.desk
                .multipart(
                    "grid_worker",
                    "/grids/patrols",
                    &[("patrol", patrol.to_string())],
                    &[Upload { field: "photos", name: format!("patrol-{id}.png"), bytes: png }],
                )
                .await?;
        }
        self.built.calls += 1;
        self.desk
            .multipart(
                "grid_worker",
                &format!("/estates/{}/mediations", ids[0]),
                &[
                    ("held_on", ymd(self.today - Duration::days(3))),
                    ("parties", "3号楼王女士、4号楼李先生".into()),
                    ("issue", "加装电梯遮挡4号楼低层采光".into()),
                    ("outcome", "agreed".into()),
                    ("agreement", "电梯井道向东移1米，施工方为4号楼101、201加装补光灯".into()),
                ],
                &[],
            )
            .await
            .map(|_| ())
    }

    async fn complete(&mut self, i: usize) -> Result<(), DemoError> {
        let (id, sup, c) = (self.walks[i].id, self.walks[i].companies.supervisor.0, self.walks[i].companies.contractor.0);
        let nodes = self.walks[i].nodes.clone();
        for (node, _) in &nodes {
            self.put(c, &format!("/schedule-nodes/{node}"), json!({ "progress_pct": 100 })).await?;
        }
        self.post(sup, &format!("/estates/{id}/construction/inspections"), json!({ "checkpoint": "site_control", "passed": true })).await?;
        self.contributions(i).await?;
        self.advance(i, "completed", "竣工").await
    }

    /// Residents' money for the improvements: a share of households pay (two estates of a
    /// year's cohort in five do not, as in the seed's 26 of 28).
    async fn contributions(&mut self, i: usize) -> Result<(), DemoError> {
        let w = &self.walks[i];
        if w.id % 14 == 0 {
            return Ok(());
        }
        let (id, county, pid) = (w.id, w.county, w.project.unwrap_or_default());
        let admin = self.casts[county].admin;
        let payers: Vec<i64> = w.dwellings.iter().step_by(5).take(8).filter_map(|d| d["id"].as_i64()).collect();
        for (k, dw) in payers.into_iter().enumerate() {
            let method = ["cash", "maintenance_fund", "provident_fund"][k % 3];
            self.post(
                admin,
                &format!("/projects/{pid}/contributions"),
                json!({ "estate_id": id, "dwelling_id": dw, "amount": (1000 + 500 * (k as i64 % 4)).to_string(), "method": method, "purpose": "适老化及楼道改造居民出资", "paid_on": ymd(huanxin_store::today()) }),
            )
            .await?;
        }
        Ok(())
    }

    /// Opens the acceptance of estate `i` with its parties and an owners' representative; the
    /// parties named in `signing` sign (all of them with the representative when `signing` is empty).
    async fn open_acceptance(&mut self, i: usize, signing: &[&str]) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, county, companies, community) = (w.id, w.county, w.companies, w.community.clone());
        let cast = &self.casts[county];
        let (admin, staff) = (cast.admin, cast.staff);
        let mut parties = vec![
            ("contractor", companies.contractor.0),
            ("supervisor", companies.supervisor.0),
            ("designer", companies.designer.0),
            ("bureau", staff),
        ];
        if let Some((street, region)) = cast.street {
            let within = huanxin_domain::regions::RegionCode::parse(region)
                .ok()
                .zip(huanxin_domain::regions::RegionCode::parse(&community).ok())
                .is_some_and(|(street, c)| street.contains(&c));
            if within {
                parties.push(("street", street));
            }
        }
        if let Some((comm, region)) = cast.community {
            if community == region {
                parties.push(("community", comm));
            }
        }
        let mut signatories: Vec<&str> = parties.iter().map(|p| p.0).collect();
        signatories.push("residents");
        self.post(admin, &format!("/estates/{id}/acceptance"), json!({ "signatories": signatories })).await?;
        // The owners' representative: an owner bound by invitation code and chosen by the owners.
        let rep = self.representative(i).await?;
        let rep_id = id_of(&self.desk.get(&rep, "/auth/me").await?, &["id"])?;
        self.put(
            admin,
            &format!("/estates/{id}/acceptance/representatives"),
            json!({ "representatives": [{ "user_id": rep_id, "chosen_by": "owners" }] }),
        )
        .await?;
        for (party, user) in parties {
            if signing.is_empty() || signing.contains(&party) {
                self.post(
                    user,
                    &format!("/estates/{id}/acceptance/signatures"),
                    json!({ "signatory": party, "note": "经现场查验，同意验收" }),
                )
                .await?;
            }
        }
        if signing.is_empty() {
            self.post(
                &rep,
                &format!("/estates/{id}/acceptance/signatures"),
                json!({ "signatory": "residents", "note": "居民代表查验，同意验收" }),
            )
            .await?;
        }
        Ok(())
    }

    async fn accept(&mut self, i: usize, today: NaiveDate) -> Result<(), DemoError> {
        self.open_acceptance(i, &[]).await?;
        let (id, admin) = (self.walks[i].id, self.casts[self.walks[i].county].admin);
        // The supervisor's fifth checkpoint (竣工验收关) is passed with the signed acceptance.
        let sup = self.walks[i].companies.supervisor.0;
        self.post(
            sup,
            &format!("/estates/{id}/construction/inspections"),
            json!({ "checkpoint": "completion_acceptance", "passed": true }),
        )
        .await?;
        let code = self.walks[i].code.clone();
        let png = pictures::photo(&code, "", &ymd(today), pictures::Mood::After, id as u64);
        self.built.calls += 1;
        self.desk
            .multipart(
                admin,
                &format!("/estates/{id}/archive"),
                &[("section", "acceptance".into()), ("kind", "photos_after".into()), ("title", "改造后全景".into())],
                &[Upload { field: "file", name: format!("{code}-after.png"), bytes: png }],
            )
            .await?;
        self.advance(i, "accepted", "竣工验收合格").await
    }

    /// A fresh invitation code for dwelling `d` of estate `i`, as the desk prints it: (dwelling, code).
    async fn invitation(&mut self, i: usize, d: &Value) -> Result<(i64, String), DemoError> {
        let (id, staff) = (self.walks[i].id, self.casts[self.walks[i].county].staff);
        let (dw, building) = (id_of(d, &["id"])?, id_of(d, &["building_id"])?);
        let inv = self.post(staff, &format!("/estates/{id}/invitations"), json!({ "building_id": building })).await?;
        let code = inv["invitations"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["dwelling_id"].as_i64() == Some(dw)))
            .and_then(|x| x["code"].as_str())
            .map(String::from)
            .ok_or_else(|| DemoError::Setup(format!("no invitation for dwelling {dw}")))?;
        Ok((dw, code))
    }

    async fn representative(&mut self, i: usize) -> Result<String, DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let staff = self.casts[county].staff;
        let Some(d) = self.walks[i].dwellings.iter().rev().find(|d| d["owners"].as_array().is_some_and(|o| !o.is_empty())).cloned() else {
            return Err(DemoError::Setup(format!("estate {id} has no registered owner")));
        };
        let (dw, code) = self.invitation(i, &d).await?;
        let name = d["owners"][0]["name"].as_str().unwrap_or("业主代表").to_string();
        let bound = self.desk.post("", "/residents/bind", json!({ "code": code, "name": name })).await?;
        let token = bound["token"].as_str().ok_or_else(|| DemoError::Setup("no token from binding".into()))?.to_string();
        let key = format!("rep-{id}");
        self.desk.remember(&key, token);
        let me = id_of(&self.desk.get(&key, "/auth/me").await?, &["id"])?;
        self.post(
            staff,
            &format!("/estates/{id}/residents/verify"),
            json!({ "dwelling_id": dw, "user_id": me, "certificate_no": format!("闽({}){}不动产权第{:07}号", 2010 + id % 10, self.casts[county].certificate_place, dw) }),
        )
        .await?;
        Ok(key)
    }

    async fn review(&mut self, i: usize, today: NaiveDate, open_tasks: bool) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (id, county, c) = (w.id, w.county, w.companies.contractor.0);
        let cast = &self.casts[county];
        let (admin, staff) = (cast.admin, cast.staff);
        // Tasks stay open where the estate rests with them; elsewhere one estate in three had
        // tasks, closed before upkeep.
        // Open tasks fall due around now (a fortnight late to a fortnight ahead), as a county's
        // list looks: not years overdue.
        let around_now = |days: i64| (self.today + Duration::days(days)).clamp(today + Duration::days(5), today + Duration::days(360));
        let (first, second) = if open_tasks {
            (around_now((id % 5) * 7 - 14), around_now((id % 4) * 6 - 6))
        } else {
            (today + Duration::days(20), today + Duration::days(10))
        };
        let tasks = if open_tasks || (self.walks[i].rest == Rest::Upkeep && id % 3 == 0) {
            json!([
                { "finding": "3号楼雨水管接口渗漏", "owner": c, "deadline": ymd(first), "supervised": open_tasks },
                { "finding": "楼道扶手松动，需加固", "owner": staff, "deadline": ymd(second) }
            ])
        } else {
            json!([])
        };
        let r = self
            .post(
                admin,
                &format!("/estates/{id}/review"),
                json!({ "summary": format!("入户回访 {} 户，查看改造质量和长效管理", 20 + id % 40), "tasks": tasks }),
            )
            .await?;
        self.walks[i].tasks = r["tasks"].as_array().map(|a| a.iter().filter_map(|t| t["id"].as_i64()).collect()).unwrap_or_default();
        self.satisfaction(i, today).await?;
        self.advance(i, "reviewed", "回头看完成").await
    }

    /// The residents' satisfaction survey of the review's home visits (回访): an overall rating,
    /// answered on paper by a sample of households, about nine in ten satisfied.
    async fn satisfaction(&mut self, i: usize, today: NaiveDate) -> Result<(), DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let staff = self.casts[county].staff;
        let s = self
            .post(
                staff,
                &format!("/estates/{id}/surveys"),
                json!({
                    "title": "改造完成居民满意度调查（回访）", "purpose": "satisfaction",
                    "opens_on": ymd(today), "closes_on": ymd(today + Duration::days(14)), "anonymous": true, "many_per_dwelling": false,
                    "questions": [
                        { "id": "overall", "kind": "rating", "text": "您对本次改造的总体满意度（1–5 分）", "max_rating": 5, "required": true },
                        { "id": "other", "kind": "text", "text": "意见和建议" }
                    ]
                }),
            )
            .await?;
        let sid = id_of(&s, &["id"])?;
        let dwellings: Vec<Value> = self.walks[i].dwellings.iter().skip(1).step_by(3).take(30).cloned().collect();
        let mut bodies = Vec::new();
        for d in dwellings {
            let Some(did) = d["id"].as_i64() else { continue };
            let rating =
                if self.rng.gen_bool(0.92) { 4 + i64::from(self.rng.gen_bool(0.6)) } else { 1 + i64::from(self.rng.gen_bool(0.5)) };
            bodies.push((
                format!("/surveys/{sid}/answers"),
                json!({ "dwelling_id": did, "respondent": format!("回访-{}", d["number"].as_str().unwrap_or("")), "answers": { "overall": rating } }),
            ));
        }
        self.built.answers += bodies.len();
        self.many(staff, bodies).await
    }

    async fn close_tasks(&mut self, i: usize) -> Result<(), DemoError> {
        let w = &self.walks[i];
        let (county, code, tasks, c) = (w.county, w.code.clone(), w.tasks.clone(), w.companies.contractor.0);
        let admin = self.casts[county].admin;
        let staff = self.casts[county].staff;
        for (k, t) in tasks.into_iter().enumerate() {
            let png = pictures::photo(&code, "", &ymd(huanxin_store::today()), pictures::Mood::After, t as u64);
            let owner = if k == 0 { c } else { staff };
            self.built.calls += 2;
            self.desk
                .multipart(
                    owner,
                    &format!("/rectifications/{t}/evidence"),
                    &[],
                    &[Upload { field: "file", name: format!("{code}-fix-{t}.png"), bytes: png }],
                )
                .await?;
            let closer = if owner == admin { staff } else { admin };
            self.desk.post(closer, &format!("/rectifications/{t}/close"), json!({ "note": "现场复核，整改到位" })).await?;
        }
        Ok(())
    }

    /// Upkeep: the property company takes the estate over and parking income goes to its fund.
    async fn upkeep(&mut self, i: usize, today: NaiveDate) -> Result<(), DemoError> {
        let (id, county) = (self.walks[i].id, self.walks[i].county);
        let admin = self.casts[county].admin;
        if county == 0 {
            let pc = self.user_id("property_company")?;
            self.post(admin, &format!("/users/{pc}/estates"), json!({ "estate_id": id })).await?;
        }
        self.post(
            admin,
            &format!("/estates/{id}/upkeep/credits"),
            json!({ "kind": "parking", "amount": (6000 + (id % 9) * 1000).to_string(), "memo": format!("{}年停车收益", today.year()) }),
        )
        .await?;
        // Requests from the estate: handled and answered by the desk.
        let staff = self.casts[county].staff;
        let requests = [
            ("repair.drainage", "雨后小区主干道积水，下水道堵塞", "已疏通排水管道并清理雨水口"),
            ("safety.fire_passage", "小区东门消防通道被电动车和杂物堵住", "已清理通道并增设停放区，张贴告示"),
            ("suggestion", "建议在健身区增加遮阳棚", "已纳入年度维护计划"),
        ];
        if id % 5 == 0 {
            let account = self
                .post(
                    admin,
                    &format!("/estates/{id}/upkeep/spendings"),
                    json!({ "amount": "800", "memo": "暴雨后屋面排水口疏通（应急）", "payee": "惠安防水工程队", "emergency": true }),
                )
                .await?;
            if let Some(r) =
                account["requests"].as_array().and_then(|a| a.iter().find(|r| r["status"] == "requested")).and_then(|r| r["id"].as_i64())
            {
                self.post(staff, &format!("/upkeep-requests/{r}/approve"), json!({ "note": "应急维修，核对发票无误" })).await?;
            }
        }
        let (cat, text, answer) = requests[(id % 3) as usize];
        let r = self
            .post(
                staff,
                &format!("/estates/{id}/requests"),
                json!({ "category": cat, "text": text, "author": "居民来电", "channel": "reception" }),
            )
            .await?;
        let rid = id_of(&r, &["id"])?;
        if let Some(h) = Self::handler_of(&r, staff) {
            self.post(h, &format!("/requests/{rid}/handle"), json!({ "status": "in_progress" })).await?;
            self.post(h, &format!("/requests/{rid}/handle"), json!({ "status": "resolved", "answer": answer })).await?;
            // Another desk calls the resident back (not who answered), which closes it.
            let caller = if h == staff { admin } else { staff };
            self.post(
                caller,
                &format!("/requests/{rid}/callback"),
                json!({ "satisfied": true, "rating": 4 + id % 2, "note": "电话回访，居民满意" }),
            )
            .await?;
        }
        Ok(())
    }
}
