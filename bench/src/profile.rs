//! `huanxin-bench profile-ballot DATABASE_URL N`: where a ballot's time goes, in process, on the
//! database the votes benchmark left (estate N0000000 with its 10,000 dwellings, user bench_staff).
//!
//! A new decision is set up; then N paper ballots are cast one after the other (no two share a
//! commit), timing what the HTTP handler does for each: the session lookup (which the server keeps
//! cached after the first request), the decision read in the caller's scope, and the whole cast
//! (scope read again, hand-over to the writer, the writer's steps, the commit). The writer's own
//! steps come from `huanxin_store::decisions::BALLOT_STEPS`. Then N more ballots from 64 tasks at
//! once, to show how many share a commit.

use crate::votes::Error;
use huanxin_domain::access::Scope;
use huanxin_domain::decisions::{Channel, Choice, DecisionInput};
use huanxin_domain::regions::RegionCode;
use huanxin_store::audit::Actor;
use huanxin_store::decisions::{BallotInput, BALLOT_STEPS};
use huanxin_store::Db;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn micros(d: Duration, n: u64) -> f64 {
    d.as_secs_f64() * 1e6 / n.max(1) as f64
}

async fn decision(db: &Db, scope: &Scope, estate: i64, title: &str) -> Result<i64, Error> {
    let now = chrono::Utc::now();
    let input = DecisionInput {
        title: title.into(),
        matter: "renovate".into(),
        scope: "estate".into(),
        opens_at: (now - chrono::Duration::minutes(1)).to_rfc3339(),
        closes_at: (now + chrono::Duration::hours(2)).to_rfc3339(),
        ..DecisionInput::default()
    };
    let valid = input.validate(now).map_err(|e| format!("{e:?}"))?;
    Ok(db.create_decision(&Actor::system("profile"), scope, estate, &valid).await?.id)
}

fn paper(dwelling_id: i64, i: usize) -> BallotInput {
    BallotInput {
        dwelling_id,
        choice: if i.is_multiple_of(5) { Choice::Disagree } else { Choice::Agree },
        channel: Channel::Paper,
        voter: format!("业主{i}"),
        is_owner: true,
        by_proxy: false,
        proxy_document_id: None,
    }
}

/// Runs the profile and prints the breakdown (see the module's doc).
pub async fn profile_ballot(url: &str, n: usize) -> Result<(), Error> {
    let db = Db::connect(url).await?;
    let scope = Scope::Region(RegionCode::parse("350521000000").map_err(|e| format!("{e:?}"))?);
    let estate = db.scalar("SELECT id FROM estates WHERE code = $1", huanxin_store::args!["N0000000"]).await?;
    let dwellings: Vec<(i64,)> =
        db.fetch_all("SELECT id FROM dwellings WHERE estate_id = $1 ORDER BY id", huanxin_store::args![estate]).await?;
    let n = n.min(dwellings.len() / 2);
    let staff = db.user_by_name("bench_staff").await?.ok_or("no bench_staff: run bench/votes.sh first")?;
    let token = format!("profile-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default());
    db.create_session(&token, staff.id, "web", "2099-01-01T00:00:00Z").await?;
    let actor = Actor { user_id: Some(staff.id), username: staff.username.clone(), request_id: String::new() };
    let id = decision(&db, &scope, estate, "剖析：一张一张").await?;

    // One after the other.
    let (mut session, mut read, mut cast) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    BALLOT_STEPS.reset();
    for (i, (d,)) in dwellings.iter().take(n).enumerate() {
        let t = Instant::now();
        db.session_user(&token).await?.ok_or("the session is gone")?;
        session += t.elapsed();
        let t = Instant::now();
        db.decision(&scope, id).await?;
        read += t.elapsed();
        let t = Instant::now();
        db.cast_ballot(&actor, &scope, id, &paper(*d, i)).await.map_err(|e| format!("{e}"))?;
        cast += t.elapsed();
    }
    let steps = BALLOT_STEPS.read();
    let writer: Duration = steps.iter().map(|(_, d, _)| *d).sum();
    let n64 = n as u64;
    println!("  {n} ballots one after the other, in process (µs per ballot):");
    println!("    session lookup (token -> user; the server caches it after the first request) {:>8.0}", micros(session, n64));
    println!("    decision in the caller's scope (decision row, estate in scope)              {:>8.0}", micros(read, n64));
    println!("    cast, in all                                                                {:>8.0}", micros(cast, n64));
    println!("      of which the scope read again                                             {:>8.0}", micros(read, n64));
    for (name, d, calls) in &steps {
        println!("      of which {name:<64} {:>8.0}   ({calls} times)", micros(*d, n64));
    }
    let rest = cast.saturating_sub(read).saturating_sub(writer);
    println!("      of which hand-over to the writer and back                                 {:>8.0}", micros(rest, n64));

    // 64 at once: ballots share commits.
    let id = decision(&db, &scope, estate, "剖析：六十四路同时").await?;
    BALLOT_STEPS.reset();
    let t = Instant::now();
    let db = Arc::new(db);
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    let mut handles = Vec::with_capacity(n);
    for (i, (d,)) in dwellings.iter().skip(n).take(n).enumerate() {
        let (db, scope, actor, permit, d) = (db.clone(), scope.clone(), actor.clone(), gate.clone().acquire_owned().await?, *d);
        handles.push(tokio::spawn(async move {
            let r = db.cast_ballot(&actor, &scope, id, &paper(d, i)).await;
            drop(permit);
            r.is_ok()
        }));
    }
    let mut ok = 0;
    for h in handles {
        ok += usize::from(h.await?);
    }
    let secs = t.elapsed().as_secs_f64();
    let steps = BALLOT_STEPS.read();
    let groups = steps.first().map(|(_, _, c)| *c).unwrap_or(0);
    println!(
        "  {ok} ballots from 64 tasks at once, in process: {secs:.2} s ({:.0} ballots/s), {groups} commits, {:.1} ballots per commit",
        ok as f64 / secs,
        ok as f64 / groups.max(1) as f64
    );
    println!("  {}", crate::raw::ratio_line("ballot writer in process, 64 tasks", ok as f64 / secs));
    db.execute("DELETE FROM sessions WHERE token_hash = $1", huanxin_store::args![token.as_str()]).await?;
    Ok(())
}
