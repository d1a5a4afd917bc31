//! Archive documents as they stream in (up to `max_file_mb`): the multipart framing watched so
//! that no part of a body is held in memory without end, the pace a body must keep, and how many
//! such uploads may run at once.

use crate::error::ApiError;
use bytes::Bytes;
use futures_util::StreamExt;
use huanxin_domain::reason;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest preamble before the first boundary, and the longest headers of one part. The
/// multipart parser keeps both in memory until they end; browsers send a few hundred bytes.
pub const MAX_FRAMING_BYTES: usize = 16 * 1024;

/// The least a document's body must bring in each minute: 32 KiB (0.5 KB/s), far below any real
/// link, so that a body dripping a byte every 20 s cannot hold its request and its temporary file.
pub const MIN_BYTES_PER_MINUTE: u64 = 32 * 1024;

/// The longest boundary taken (RFC 2046 allows 70 characters): the parser's and the framing's
/// work on each piece of a body grows with it.
pub const MAX_BOUNDARY_CHARS: usize = 70;

/// Uploads one account may run at once.
pub const UPLOADS_PER_ACCOUNT: usize = 2;

/// Where a multipart body's framing is: what the parser is looking for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first `--boundary`.
    Preamble,
    /// Just after a boundary: `--` ends the body, anything else starts a part.
    AfterBoundary,
    /// Spaces and tabs after a boundary, then its line's CRLF.
    Padding,
    /// A part's headers, up to the blank line.
    Headers,
    /// A part's content, up to the next `CRLF--boundary`.
    Content,
    /// After the closing boundary: the rest is not read.
    Done,
}

/// What is wrong with a body's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramingError {
    /// No boundary within the first `MAX_FRAMING_BYTES`.
    NoBoundary,
    /// A part's headers longer than `MAX_FRAMING_BYTES`.
    HeadersTooLong,
    /// A boundary followed by something other than a line end.
    Malformed,
}

/// Follows a multipart body chunk by chunk as the parser (multer) reads it, and refuses it as soon
/// as a preamble or a part's headers grow past the limit: the parser would buffer either until the
/// whole-body limit (gigabytes). Content is only scanned for the next boundary.
#[derive(Debug, Clone)]
pub struct Framing {
    first: Vec<u8>,
    delimiter: Vec<u8>,
    limit: usize,
    stage: Stage,
    /// The end of the last chunk that may begin what is searched for.
    carry: Vec<u8>,
    /// Bytes of the preamble or headers already passed (not counting `carry`).
    in_stage: usize,
}

impl Framing {
    /// Framing for bodies with this boundary, preamble and headers limited to `limit` bytes.
    pub fn new(boundary: &str, limit: usize) -> Framing {
        Framing {
            first: format!("--{boundary}").into_bytes(),
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            limit,
            stage: Stage::Preamble,
            carry: Vec::new(),
            in_stage: 0,
        }
    }

    /// Whether the closing boundary has been seen.
    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Takes the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), FramingError> {
        if self.stage == Stage::Done {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.extend_from_slice(chunk);
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.stage {
                Stage::Done => return Ok(()),
                Stage::Preamble | Stage::Headers => {
                    let (pattern, next, error) = if self.stage == Stage::Preamble {
                        (self.first.as_slice(), Stage::AfterBoundary, FramingError::NoBoundary)
                    } else {
                        (b"\r\n\r\n".as_slice(), Stage::Content, FramingError::HeadersTooLong)
                    };
                    match memchr::memmem::find(rest, pattern) {
                        Some(i) if self.in_stage + i + pattern.len() <= self.limit => {
                            pos += i + pattern.len();
                            self.stage = next;
                            self.in_stage = 0;
                        }
                        Some(_) => return Err(error),
                        None if self.in_stage + rest.len() > self.limit => return Err(error),
                        None => {
                            let keep = rest.len().min(pattern.len() - 1);
                            self.in_stage += rest.len() - keep;
                            self.carry = rest[rest.len() - keep..].to_vec();
                            return Ok(());
                        }
                    }
                }
                Stage::AfterBoundary => {
                    if rest.len() < 2 {
                        self.carry = rest.to_vec();
                        return Ok(());
                    }
                    self.stage = if rest.starts_with(b"--") { Stage::Done } else { Stage::Padding };
                }
                Stage::Padding => {
                    // The parser drops padding as it comes, so padding costs no memory.
                    let Some(i) = rest.iter().position(|b| *b != b' ' && *b != b'\t') else { return Ok(()) };
                    let line = &rest[i..];
                    if line.len() < 2 {
                        self.carry = line.to_vec();
                        return Ok(());
                    }
                    if !line.starts_with(b"\r\n") {
                        return Err(FramingError::Malformed);
                    }
                    pos += i + 2;
                    self.stage = Stage::Headers;
                    self.in_stage = 0;
                }
                Stage::Content => match memchr::memmem::find(rest, &self.delimiter) {
                    Some(i) => {
                        pos += i + self.delimiter.len();
                        self.stage = Stage::AfterBoundary;
                    }
                    None => {
                        let keep = rest.len().min(self.delimiter.len() - 1);
                        self.carry = rest[rest.len() - keep..].to_vec();
                        return Ok(());
                    }
                },
            }
        }
    }
}

/// A body that has brought in too little in a minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSlow;

/// The pace a body keeps, counted as chunks arrive: at least `min` bytes in each `window` (the
/// chunk that ends a window counts for the next one, so a window cannot be stretched by what
/// arrives after it), and on average since the first window at least `min` per `window`.
#[derive(Debug, Clone)]
pub struct Pace {
    min: u64,
    window: Duration,
    start: Instant,
    window_start: Instant,
    in_window: u64,
    received: u64,
}

impl Pace {
    /// A pace of at least `min` bytes per `window`, starting `now`.
    pub fn new(min: u64, window: Duration, now: Instant) -> Pace {
        Pace { min, window, start: now, window_start: now, in_window: 0, received: 0 }
    }

    /// Counts `bytes` arrived at `now`; refuses the body once a whole window brought too little,
    /// or the whole body so far is behind the average.
    pub fn arrived(&mut self, bytes: usize, now: Instant) -> Result<(), TooSlow> {
        if now.saturating_duration_since(self.window_start) >= self.window {
            if self.in_window < self.min {
                return Err(TooSlow);
            }
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += bytes as u64;
        self.received += bytes as u64;
        let late = now.saturating_duration_since(self.start).saturating_sub(self.window);
        let due = self.min as f64 * late.as_secs_f64() / self.window.as_secs_f64();
        if (self.received as f64) < due {
            return Err(TooSlow);
        }
        Ok(())
    }
}

/// Why a document's body was cut off, kept for the handler to answer with (the parser only sees
/// a broken stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Framing(FramingError),
    /// A boundary longer than `MAX_BOUNDARY_CHARS`.
    LongBoundary,
    TooSlow,
    /// Nothing arrived for 30 s.
    Stalled,
    TooLarge,
}

impl Refusal {
    /// The answer for this refusal.
    pub fn into_api(self, max_file_mb: usize) -> ApiError {
        match self {
            Refusal::Framing(FramingError::NoBoundary) => {
                ApiError::BadRequest(reason!("uploads.no_boundary", max_bytes = MAX_FRAMING_BYTES))
            }
            Refusal::Framing(FramingError::HeadersTooLong) => {
                ApiError::BadRequest(reason!("uploads.headers_too_long", max_bytes = MAX_FRAMING_BYTES))
            }
            Refusal::Framing(FramingError::Malformed) => ApiError::BadRequest(reason!("uploads.malformed")),
            Refusal::LongBoundary => ApiError::BadRequest(reason!("uploads.long_boundary", max_chars = MAX_BOUNDARY_CHARS)),
            Refusal::TooSlow => ApiError::TooSlow(reason!("uploads.too_slow", min_kb = MIN_BYTES_PER_MINUTE / 1024)),
            Refusal::Stalled => ApiError::TooSlow(reason!("uploads.stalled", seconds = crate::HEADER_READ_TIMEOUT.as_secs())),
            Refusal::TooLarge => ApiError::TooLarge(reason!("server.upload_too_large", limit = max_file_mb)),
        }
    }
}

/// The refusal a watched body ended with, if any.
#[derive(Debug, Clone, Default)]
pub struct Watch(Arc<Mutex<Option<Refusal>>>);

impl Watch {
    /// Takes the refusal, if the body was cut off.
    pub fn refusal(&self) -> Option<Refusal> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, r: Refusal) -> std::io::Error {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
        std::io::Error::other(format!("{r:?}"))
    }
}

/// The request's body, cut off at `limit` bytes, at a broken framing or at too slow a pace; the
/// watch says which.
pub fn watch_body(req: axum::extract::Request, limit: u64) -> (axum::extract::Request, Watch) {
    let watch = Watch::default();
    let boundary =
        req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|ct| multer::parse_boundary(ct).ok());
    // Without a boundary the parser refuses the body before reading it.
    let long = boundary.as_ref().is_some_and(|b| b.len() > MAX_BOUNDARY_CHARS);
    let mut framing = boundary.map(|b| Framing::new(&b, MAX_FRAMING_BYTES));
    let mut pace = Pace::new(MIN_BYTES_PER_MINUTE, Duration::from_secs(60), Instant::now());
    let mut received = 0u64;
    let (parts, body) = req.into_parts();
    let w = watch.clone();
    let stream = body.into_data_stream().map(move |item| -> Result<Bytes, std::io::Error> {
        if long {
            return Err(w.refuse(Refusal::LongBoundary));
        }
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) if is_body_timeout(&e) => return Err(w.refuse(Refusal::Stalled)),
            Err(e) => return Err(std::io::Error::other(e)),
        };
        received += chunk.len() as u64;
        if received > limit {
            return Err(w.refuse(Refusal::TooLarge));
        }
        pace.arrived(chunk.len(), Instant::now()).map_err(|_| w.refuse(Refusal::TooSlow))?;
        if let Some(f) = framing.as_mut() {
            f.push(&chunk).map_err(|e| w.refuse(Refusal::Framing(e)))?;
        }
        Ok(chunk)
    });
    (axum::extract::Request::from_parts(parts, axum::body::Body::from_stream(stream)), watch)
}

/// Whether a body's error is the 30 s silence of `RequestBodyTimeoutLayer`.
fn is_body_timeout(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Which limit a new upload ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// This account already runs `UPLOADS_PER_ACCOUNT` uploads.
    Account,
    /// The server already runs `max_uploads` uploads.
    Server,
}

/// The document uploads running on this server, by account: each holds a connection and may hold
/// up to `max_file_mb` of temporary file.
#[derive(Debug)]
pub struct UploadSlots {
    total: usize,
    taken: Mutex<HashMap<i64, usize>>,
}

/// A running upload's place, given back when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<UploadSlots>,
    account: i64,
}

impl UploadSlots {
    /// At most `total` uploads at once on this server.
    pub fn new(total: usize) -> UploadSlots {
        UploadSlots { total, taken: Mutex::new(HashMap::new()) }
    }

    /// A place for one more upload by `account`, if there is one.
    pub fn take(self: &Arc<Self>, account: i64) -> Result<Slot, Full> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if taken.get(&account).copied().unwrap_or(0) >= UPLOADS_PER_ACCOUNT {
            return Err(Full::Account);
        }
        if taken.values().sum::<usize>() >= self.total {
            return Err(Full::Server);
        }
        *taken.entry(account).or_insert(0) += 1;
        Ok(Slot { slots: Arc::clone(self), account })
    }

    /// Uploads running now.
    pub fn running(&self) -> usize {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).values().sum()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut taken = self.slots.taken.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = taken.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                taken.remove(&self.account);
            }
        }
    }
}

impl Full {
    /// The answer for a full place: the account waits for its own uploads, the server asks to
    /// come back shortly.
    pub fn into_api(self, max_uploads: usize) -> ApiError {
        match self {
            Full::Account => ApiError::TooMany(reason!("uploads.account_busy", uploads = UPLOADS_PER_ACCOUNT)),
            Full::Server => ApiError::Unavailable(reason!("uploads.server_busy", uploads = max_uploads)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, content) in parts {
            b.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
            b.extend_from_slice(content);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        b
    }

    fn push_all(f: &mut Framing, chunks: &[&[u8]]) -> Result<(), FramingError> {
        chunks.iter().try_for_each(|c| f.push(c))
    }

    #[test]
    fn a_browsers_body_passes() {
        let b = body("----WebKitFormBoundaryx7", &[("section", b"design"), ("file", &[0u8, 13, 10, 45, 45, 255][..])]);
        let mut f = Framing::new("----WebKitFormBoundaryx7", MAX_FRAMING_BYTES);
        assert_eq!(f.push(&b), Ok(()));
        assert!(f.is_done());
    }

    #[test]
    fn a_preamble_without_boundary_is_refused_at_the_limit() {
        let mut f = Framing::new("b", 100);
        assert_eq!(f.push(&[b'x'; 60]), Ok(()));
        assert_eq!(f.push(&[b'x'; 60]), Err(FramingError::NoBoundary));
        // A preamble within the limit is allowed (the parser skips it).
        let mut f = Framing::new("b", 100);
        assert_eq!(push_all(&mut f, &[&[b'x'; 90], b"--b--"]), Ok(()));
        assert!(f.is_done());
        // The limit is exact: 100 bytes with the boundary pass, 101 do not, found or not.
        assert_eq!(Framing::new("b", 100).push(&[[b'x'; 97].as_slice(), b"--b"].concat()), Ok(()));
        assert_eq!(Framing::new("b", 100).push(&[[b'x'; 98].as_slice(), b"--b"].concat()), Err(FramingError::NoBoundary));
        let mut f = Framing::new("b", 100);
        assert_eq!(f.push(&[b'x'; 100]), Ok(()));
        assert_eq!(f.push(b"x"), Err(FramingError::NoBoundary));
    }

    #[test]
    fn headers_that_never_end_are_refused() {
        let mut f = Framing::new("b", 100);
        assert_eq!(f.push(b"--b\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Long: "), Ok(()));
        assert_eq!(f.push(&[b'a'; 80]), Err(FramingError::HeadersTooLong));
    }

    #[test]
    fn a_blank_line_right_after_the_boundary_does_not_end_the_headers() {
        // The boundary's own line end comes first: the parser then looks for a blank line in what
        // follows, so the attacker's 2 GiB without one would be held in memory.
        let mut f = Framing::new("b", 100);
        assert_eq!(f.push(b"--b\r\n\r\n"), Ok(()));
        assert_eq!(f.push(&[b'z'; 200]), Err(FramingError::HeadersTooLong));
    }

    #[test]
    fn a_boundary_not_followed_by_a_line_end_is_malformed() {
        let mut f = Framing::new("b", 100);
        assert_eq!(f.push(b"--b  \t xyz"), Err(FramingError::Malformed));
        let mut f = Framing::new("b", 100);
        assert_eq!(push_all(&mut f, &[b"--b  ", &[b' '; 500], b"\r\nName: x\r\n\r\ncontent"]), Ok(()));
    }

    #[test]
    fn content_has_no_limit() {
        let mut f = Framing::new("b", 100);
        assert_eq!(f.push(b"--b\r\nName: file\r\n\r\n"), Ok(()));
        for _ in 0..100 {
            assert_eq!(f.push(&[b'-'; 1000]), Ok(()));
        }
        assert_eq!(f.push(b"\r\n--b--"), Ok(()));
        assert!(f.is_done());
    }

    #[test]
    fn the_pace_refuses_a_drip() {
        let t0 = Instant::now();
        let mut p = Pace::new(MIN_BYTES_PER_MINUTE, Duration::from_secs(60), t0);
        // A byte every 20 s: refused when the first minute has passed.
        assert_eq!(p.arrived(1, t0 + Duration::from_secs(20)), Ok(()));
        assert_eq!(p.arrived(1, t0 + Duration::from_secs(40)), Ok(()));
        assert_eq!(p.arrived(1, t0 + Duration::from_secs(60)), Err(TooSlow));
        // A slow but real link (1 KB/s) passes minute after minute.
        let mut p = Pace::new(MIN_BYTES_PER_MINUTE, Duration::from_secs(60), t0);
        for s in 1..600 {
            assert_eq!(p.arrived(1024, t0 + Duration::from_secs(s)), Ok(()), "second {s}");
        }
        // A burst, then a pause of 65 s on a bad link, then on again: passes.
        let mut p = Pace::new(MIN_BYTES_PER_MINUTE, Duration::from_secs(60), t0);
        assert_eq!(p.arrived(1 << 20, t0 + Duration::from_secs(1)), Ok(()));
        assert_eq!(p.arrived(1 << 20, t0 + Duration::from_secs(66)), Ok(()));
        // The attacker's stretch: a byte at 29 s and 58 s, then the minute's 32 KiB at 87 s,
        // which would have counted for the minute it closed.
        let mut p = Pace::new(MIN_BYTES_PER_MINUTE, Duration::from_secs(60), t0);
        assert_eq!(p.arrived(1, t0 + Duration::from_secs(29)), Ok(()));
        assert_eq!(p.arrived(1, t0 + Duration::from_secs(58)), Ok(()));
        assert_eq!(p.arrived(32 * 1024 + 10, t0 + Duration::from_secs(87)), Err(TooSlow));
        // Every window met just in time, 32 KiB per 87 s (22 KiB a minute): behind the average
        // within the hour.
        let mut p = Pace::new(MIN_BYTES_PER_MINUTE, Duration::from_secs(60), t0);
        let mut refused_at = None;
        for n in 0..60u64 {
            let at = t0 + Duration::from_secs(n * 87);
            if p.arrived(1, at).and_then(|_| p.arrived(32 * 1024, at + Duration::from_secs(58))).is_err() {
                refused_at = Some(n * 87);
                break;
            }
        }
        assert!(refused_at.is_some_and(|s| s < 3600), "{refused_at:?}");
    }

    #[test]
    fn slots_are_given_back() {
        let slots = Arc::new(UploadSlots::new(3));
        let a1 = slots.take(1).unwrap();
        let _a2 = slots.take(1).unwrap();
        assert_eq!(slots.take(1).unwrap_err(), Full::Account);
        let _b1 = slots.take(2).unwrap();
        assert_eq!(slots.take(3).unwrap_err(), Full::Server);
        drop(a1);
        assert_eq!(slots.running(), 2);
        assert!(slots.take(3).is_ok());
    }

    /// Pieces bodies are made of, so that boundaries, line ends and long runs meet often.
    fn token() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"--bd".to_vec()),
            Just(b"\r\n--bd".to_vec()),
            Just(b"--".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\r\n\r\n".to_vec()),
            Just(b" \t".to_vec()),
            prop::collection::vec(any::<u8>(), 0..8),
            (1usize..80).prop_map(|n| vec![b'x'; n]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: std::env::var("HUANXIN_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// However a body is cut into chunks, the verdict is the one on the whole body.
        #[test]
        fn chunking_does_not_change_the_verdict(
            tokens in prop::collection::vec(token(), 0..40),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let b: Vec<u8> = tokens.concat();
            let mut whole = Framing::new("bd", 64);
            let expected = whole.push(&b);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(b.len() + 1)).collect();
            at.sort_unstable();
            let mut split = Framing::new("bd", 64);
            let mut got = Ok(());
            let mut from = 0;
            for to in at.into_iter().chain([b.len()]) {
                got = got.and_then(|_| split.push(&b[from..to]));
                from = to;
            }
            prop_assert_eq!(got, expected);
            if expected.is_ok() {
                prop_assert_eq!(split.stage, whole.stage);
            }
        }

        /// A well-formed body with any content passes, however it is cut.
        #[test]
        fn well_formed_bodies_pass(
            boundary in "[A-Za-z0-9'()+_,./:=?-]{1,70}",
            contents in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..5),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let delimiter = format!("\r\n--{boundary}");
            prop_assume!(contents.iter().all(|c| memchr::memmem::find(&[b"\r\n", c.as_slice()].concat(), delimiter.as_bytes()).is_none()));
            let parts: Vec<(&str, &[u8])> = contents.iter().map(|c| ("file", c.as_slice())).collect();
            let b = body(&boundary, &parts);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(b.len() + 1)).collect();
            at.sort_unstable();
            let mut f = Framing::new(&boundary, MAX_FRAMING_BYTES);
            let mut from = 0;
            for to in at.into_iter().chain([b.len()]) {
                prop_assert_eq!(f.push(&b[from..to]), Ok(()));
                from = to;
            }
            prop_assert!(f.is_done());
        }
    }
}
