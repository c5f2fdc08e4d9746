//! Repeated log lines, summarised. The same line from many connections (a
//! refusal, a timeout, a bad request) is logged in full the first few times
//! in each interval, then only counted; one line per interval then says how
//! many more there were and which address sent most of them. A flood of
//! connections never becomes a flood of log lines.
//!
//! [`Repeats`] is the bookkeeping, given the time by its caller; [`note`]
//! logs through one process-wide `Repeats`, and [`summarise`] (called every
//! second by the server) writes the summaries whose interval ended.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Lines of one kind logged in full per interval.
pub const FULL_PER_INTERVAL: u32 = 10;
/// The interval a summary covers.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Addresses counted per kind and interval; more are counted as "others".
const MAX_SOURCES: usize = 1024;

/// How loud a kind of line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
}

/// Occurrences of each kind of line in the current interval.
#[derive(Debug)]
pub struct Repeats {
    kinds: HashMap<&'static str, Tally>,
}

#[derive(Debug)]
struct Tally {
    level: Level,
    since: Instant,
    full: u32,
    /// Occurrences not logged in full.
    more: u64,
    sources: HashMap<IpAddr, u64>,
    others: u64,
    /// The last line not logged in full, as an example.
    example: String,
}

/// A summary line due: its level and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub level: Level,
    pub text: String,
}

impl Default for Repeats {
    fn default() -> Self {
        Self::new()
    }
}

impl Repeats {
    pub fn new() -> Self {
        Repeats {
            kinds: HashMap::new(),
        }
    }

    /// Counts one line of `kind` from `peer` at `now`: `true` if it is to
    /// be logged in full, `false` if it is only counted (then `line` is
    /// kept as the summary's example). A summary of an interval that ended
    /// is returned with it.
    pub fn note(
        &mut self,
        kind: &'static str,
        level: Level,
        peer: Option<IpAddr>,
        line: &dyn fmt::Display,
        now: Instant,
    ) -> (bool, Option<Summary>) {
        let ended = self
            .kinds
            .get(kind)
            .filter(|t| now.duration_since(t.since) >= INTERVAL)
            .is_some();
        let summary = if ended { self.close(kind, now) } else { None };
        let tally = self.kinds.entry(kind).or_insert_with(|| Tally {
            level,
            since: now,
            full: 0,
            more: 0,
            sources: HashMap::new(),
            others: 0,
            example: String::new(),
        });
        if tally.full < FULL_PER_INTERVAL {
            tally.full += 1;
            return (true, summary);
        }
        tally.more += 1;
        match peer {
            Some(ip) if tally.sources.len() < MAX_SOURCES || tally.sources.contains_key(&ip) => {
                *tally.sources.entry(ip).or_default() += 1
            }
            _ => tally.others += 1,
        }
        tally.example = line.to_string();
        (false, summary)
    }

    /// The summaries of every interval that ended by `now`.
    pub fn due(&mut self, now: Instant) -> Vec<Summary> {
        let ended: Vec<&'static str> = self
            .kinds
            .iter()
            .filter(|(_, t)| now.duration_since(t.since) >= INTERVAL)
            .map(|(k, _)| *k)
            .collect();
        ended
            .into_iter()
            .filter_map(|kind| self.close(kind, now))
            .collect()
    }

    /// Ends `kind`'s interval: its summary if lines were only counted.
    fn close(&mut self, kind: &'static str, now: Instant) -> Option<Summary> {
        let tally = self.kinds.remove(kind)?;
        if tally.more == 0 {
            return None;
        }
        let secs = now.duration_since(tally.since).as_secs().max(1);
        let top = tally
            .sources
            .iter()
            .max_by_key(|(ip, n)| (**n, std::cmp::Reverse(**ip)))
            .map(|(ip, n)| format!("; top source {ip} ({n})"))
            .unwrap_or_default();
        let spread = match tally.sources.len() {
            0 | 1 => String::new(),
            n => format!(", from {n} addresses"),
        };
        Some(Summary {
            level: tally.level,
            text: format!(
                "{} more \"{kind}\" in the last {secs} s{spread}{top}; the last: {}",
                tally.more, tally.example
            ),
        })
    }
}

static REPEATS: LazyLock<Mutex<Repeats>> = LazyLock::new(|| Mutex::new(Repeats::new()));

fn emit(level: Level, text: &dyn fmt::Display) {
    match level {
        Level::Info => tracing::info!("{text}"),
        Level::Warn => tracing::warn!("{text}"),
    }
}

/// Logs `line` (a line of `kind`, about `peer`) at `level`, unless that kind
/// was logged in full often enough in this interval: then it is counted for
/// the interval's summary.
pub fn note(kind: &'static str, level: Level, peer: Option<IpAddr>, line: fmt::Arguments<'_>) {
    let (full, summary) = REPEATS.lock().unwrap_or_else(|e| e.into_inner()).note(
        kind,
        level,
        peer,
        &line,
        Instant::now(),
    );
    if let Some(s) = summary {
        emit(s.level, &s.text);
    }
    if full {
        emit(level, &line);
    }
}

/// Writes the summaries whose interval ended.
pub fn summarise() {
    let due = REPEATS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .due(Instant::now());
    for s in due {
        emit(s.level, &s.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([127, 0, 0, last]))
    }

    #[test]
    fn a_few_in_full_then_one_summary_per_interval() {
        let mut r = Repeats::new();
        let t0 = Instant::now();
        let kind = "RTMP connection refused";
        let mut full = 0;
        for i in 0..4003u32 {
            let peer = if i % 4 == 0 { ip(3) } else { ip(2) };
            let (logged, summary) = r.note(kind, Level::Warn, peer, &"100 already", t0);
            full += u32::from(logged);
            assert!(summary.is_none());
        }
        assert_eq!(full, FULL_PER_INTERVAL);
        assert!(r.due(t0 + Duration::from_secs(9)).is_empty());
        let due = r.due(t0 + INTERVAL);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].level, Level::Warn);
        assert!(
            due[0].text.starts_with(&format!(
                "3993 more \"{kind}\" in the last 10 s, from 2 addresses; top source 127.0.0.2 (2995)"
            )),
            "{}",
            due[0].text
        );
        // The next interval starts afresh.
        assert!(r.note(kind, Level::Warn, ip(2), &"x", t0 + INTERVAL).0);
        assert!(r.due(t0 + INTERVAL * 3).is_empty(), "nothing was counted");
    }

    #[test]
    fn a_late_line_closes_the_ended_interval() {
        let mut r = Repeats::new();
        let t0 = Instant::now();
        for _ in 0..FULL_PER_INTERVAL + 2 {
            r.note("k", Level::Info, None, &"line", t0);
        }
        let (logged, summary) = r.note("k", Level::Info, None, &"line", t0 + INTERVAL);
        assert!(logged);
        let summary = summary.expect("the ended interval's summary");
        assert!(summary.text.starts_with("2 more \"k\""), "{}", summary.text);
        assert!(!summary.text.contains("top source"));
    }

    #[test]
    fn sources_are_bounded() {
        let mut r = Repeats::new();
        let t0 = Instant::now();
        for i in 0..(MAX_SOURCES as u32 + 100 + FULL_PER_INTERVAL) {
            let peer = Some(IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i)));
            r.note("k", Level::Warn, peer, &"line", t0);
        }
        let tally = &r.kinds["k"];
        assert_eq!(tally.sources.len(), MAX_SOURCES);
        assert_eq!(tally.others, 100);
    }
}
