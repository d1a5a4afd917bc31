//! `huanxin-bench raw-chain DATABASE_URL N`: the raw engine's rate for the plain equivalent of
//! Huanxin's ballot and ledger writes, measured on the same machine in the same run so that every
//! benchmark can print its ratio to it (the figure that travels between machines).
//!
//! The plain equivalent: one transaction per record that reads the chain's head, hashes the new
//! record onto it (SHA-256) and inserts it, one client after the other. SQLite runs as Huanxin runs
//! it (WAL, `synchronous = FULL`, a file on the same disk); PostgreSQL with its defaults.

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor};
use std::time::Instant;

type Error = Box<dyn std::error::Error>;

/// The next record after the chain's head: its number, the previous hash, its hash and its body.
fn link(head: Option<(i64, String)>, i: i64) -> (i64, String, String, String) {
    let (seq, prev) = head.map(|(s, h)| (s + 1, h)).unwrap_or((1, String::new()));
    let body = format!("{{\"dwelling\":{i},\"choice\":\"agree\"}}");
    let hash = hex::encode(Sha256::digest(format!("{prev}{body}")));
    (seq, prev, hash, body)
}

/// Inserts `n` hash-chained records, one transaction each, and returns records per second.
pub async fn raw_chain(url: &str, n: usize) -> Result<f64, Error> {
    if url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(url).await?;
        c.execute("DROP TABLE IF EXISTS raw_chain; CREATE TABLE raw_chain (seq BIGINT PRIMARY KEY, prev TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)").await?;
        let t = Instant::now();
        for i in 0..n as i64 {
            let mut tx = c.begin().await?;
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM raw_chain ORDER BY seq DESC LIMIT 1 FOR UPDATE").fetch_optional(&mut *tx).await?;
            let (seq, prev, hash, body) = link(head, i);
            sqlx::query("INSERT INTO raw_chain (seq, prev, hash, body) VALUES ($1, $2, $3, $4)")
                .bind(seq)
                .bind(&prev)
                .bind(&hash)
                .bind(&body)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        c.execute("DROP TABLE raw_chain").await?;
        Ok(rate)
    } else {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let _ = std::fs::remove_file(path);
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
        c.execute("CREATE TABLE raw_chain (seq INTEGER PRIMARY KEY, prev TEXT NOT NULL, hash TEXT NOT NULL, body TEXT NOT NULL)").await?;
        let t = Instant::now();
        for i in 0..n as i64 {
            let mut tx = c.begin().await?;
            let head: Option<(i64, String)> =
                sqlx::query_as("SELECT seq, hash FROM raw_chain ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
            let (seq, prev, hash, body) = link(head, i);
            sqlx::query("INSERT INTO raw_chain (seq, prev, hash, body) VALUES (?, ?, ?, ?)")
                .bind(seq)
                .bind(&prev)
                .bind(&hash)
                .bind(&body)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        let rate = n as f64 / t.elapsed().as_secs_f64();
        c.close().await?;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
        Ok(rate)
    }
}

/// The line every benchmark prints next to its own rate: the raw rate and the ratio.
pub fn ratio_line(what: &str, rate: f64) -> String {
    match std::env::var("HUANXIN_BENCH_RAW_RATE").ok().and_then(|v| v.parse::<f64>().ok()).filter(|r| *r > 0.0) {
        Some(raw) => {
            format!("{what}: {rate:.0}/s against the raw engine's {raw:.0} chained inserts/s in this run = ratio {:.2}", rate / raw)
        }
        None => format!("{what}: {rate:.0}/s (no raw rate given: set HUANXIN_BENCH_RAW_RATE from `huanxin-bench raw-chain`)"),
    }
}
