//! The result of `liu bench play`: aggregated from every viewer, written as
//! a table and as JSON. Field names are fixed; `docs/bench.md` lists them.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::histogram::Histogram;
use crate::sys::CpuTime;
use crate::viewer::ViewerResult;

/// Version tag of the JSON layout.
pub const SCHEMA: &str = "liu-bench-play/1";
/// A viewer whose media time advanced slower than this share of wall time was not at full rate.
pub const FULL_RATE: f64 = 0.95;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: String,
    pub url: String,
    pub protocol: String,
    /// Viewers requested.
    pub viewers: u32,
    /// Streams the viewers were spread over.
    #[serde(default = "one")]
    pub streams: u32,
    pub rate_per_s: f64,
    pub duration_s: f64,
    /// From the first connect to the end of the last viewer.
    pub wall_s: f64,
    pub connections: Connections,
    pub throughput: Throughput,
    pub media: Media,
    pub ttff_ms: Percentiles,
    pub first_byte_ms: Percentiles,
    pub latency_ms: Percentiles,
    pub stalls: Stalls,
    pub tool_cpu: ToolCpu,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Connections {
    pub ok: u32,
    pub failed: u32,
    /// One entry per failure reason, most frequent first.
    pub failures: Vec<FailureCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FailureCount {
    pub reason: String,
    pub count: u32,
    pub example: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    pub bytes_total: u64,
    /// Sum of the ok viewers' average rates.
    pub mbps_total: f64,
    pub mbps_per_viewer_mean: f64,
    pub mbps_per_viewer_min: f64,
    /// HTTP requests made by all viewers (HLS: playlists, segments, parts).
    #[serde(default)]
    pub requests: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Media {
    /// Media time delivered / wall time since the viewer's first media message (ok viewers).
    pub ratio_min: Option<f64>,
    pub ratio_p50: Option<f64>,
    /// Ok viewers whose ratio is below 0.95.
    pub viewers_below_95pct: u32,
    pub media_s_min: Option<f64>,
    pub video_frames: u64,
    /// Stamped frames received whose latency was measured.
    pub stamped_frames: u64,
    /// Stamped frames sent before their viewer connected (GOP cache), not measured.
    pub cached_frames: u64,
    /// Audio or video frames whose timestamp went back from their track's previous one
    /// (RTMP and FLV viewers; HLS segments are not parsed).
    #[serde(default)]
    pub timestamps_backwards: u64,
    /// Viewers that saw at least one.
    #[serde(default)]
    pub viewers_backwards: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    /// From a histogram of µs, in ms.
    pub fn from_micros(h: &Histogram) -> Self {
        let ms = |v: Option<u64>| v.map(|us| us as f64 / 1000.0);
        Percentiles {
            count: h.count(),
            p50: ms(h.quantile(0.5)),
            p95: ms(h.quantile(0.95)),
            max: ms(h.max()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stalls {
    /// Gaps over 1 s without media bytes after a viewer's first frame.
    pub count: u32,
    pub viewers: u32,
    pub longest_gap_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolCpu {
    pub percent_of_core: f64,
    pub user_s: f64,
    pub sys_s: f64,
}

/// What a run was asked to do.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub url: String,
    pub protocol: &'static str,
    pub viewers: u32,
    pub streams: u32,
    pub rate_per_s: f64,
    pub duration: Duration,
    pub wall: Duration,
    pub cpu: CpuTime,
}

fn one() -> u32 {
    1
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

impl Report {
    /// Aggregates the viewers' results and the latency histogram.
    pub fn build(info: &RunInfo, results: &[ViewerResult], latency: &Histogram) -> Report {
        let mut ttff = Histogram::default();
        let mut first_byte = Histogram::default();
        let mut failures: BTreeMap<&str, (u32, String)> = BTreeMap::new();
        let (mut ok, mut bytes_total, mut mbps_total) = (0u32, 0u64, 0f64);
        let mut requests = 0u64;
        let mut rates = Vec::with_capacity(results.len());
        let mut ratios = Vec::with_capacity(results.len());
        let mut media_s_min: Option<f64> = None;
        let (mut video_frames, mut stamped, mut cached) = (0u64, 0u64, 0u64);
        let (mut backwards, mut viewers_backwards) = (0u64, 0u32);
        let (mut stalls, mut stalled_viewers, mut longest_gap) = (0u32, 0u32, Duration::ZERO);
        for r in results {
            bytes_total += r.bytes;
            requests += r.requests;
            let wall = r.end.saturating_duration_since(r.start).as_secs_f64();
            let mbps = if wall > 0.0 {
                r.bytes as f64 * 8.0 / wall / 1e6
            } else {
                0.0
            };
            video_frames += r.video_frames;
            stamped += r.stamped_frames;
            cached += r.cached_frames;
            backwards += r.backwards;
            viewers_backwards += u32::from(r.backwards > 0);
            if let Some(d) = r.ttff {
                ttff.record_duration(d);
            }
            if let Some(d) = r.first_byte {
                first_byte.record_duration(d);
            }
            match &r.outcome {
                Ok(()) => {
                    ok += 1;
                    rates.push(mbps);
                    mbps_total += mbps;
                    if let Some((media_ms, wall)) = r.media
                        && !wall.is_zero()
                    {
                        ratios.push(media_ms as f64 / 1000.0 / wall.as_secs_f64());
                        let s = media_ms as f64 / 1000.0;
                        media_s_min = Some(media_s_min.map_or(s, |m| m.min(s)));
                    } else {
                        ratios.push(0.0);
                    }
                    stalls += r.stalls;
                    stalled_viewers += u32::from(r.stalls > 0);
                    longest_gap = longest_gap.max(r.longest_gap);
                }
                Err(f) => {
                    let e = failures.entry(f.reason).or_insert((0, f.detail.clone()));
                    e.0 += 1;
                }
            }
        }
        ratios.sort_by(f64::total_cmp);
        let mut failures: Vec<FailureCount> = failures
            .into_iter()
            .map(|(reason, (count, example))| FailureCount {
                reason: reason.to_string(),
                count,
                example,
            })
            .collect();
        let missing = info.viewers.saturating_sub(results.len() as u32);
        if missing > 0 {
            let example = "interrupted, or cut at the hard stop".to_string();
            failures.push(FailureCount {
                reason: "not_run".to_string(),
                count: missing,
                example,
            });
        }
        failures.sort_by_key(|f| std::cmp::Reverse(f.count));
        let failed = info.viewers - ok;
        Report {
            schema: SCHEMA.to_string(),
            url: info.url.clone(),
            protocol: info.protocol.to_string(),
            viewers: info.viewers,
            streams: info.streams,
            rate_per_s: info.rate_per_s,
            duration_s: info.duration.as_secs_f64(),
            wall_s: round3(info.wall.as_secs_f64()),
            connections: Connections {
                ok,
                failed,
                failures,
            },
            throughput: Throughput {
                bytes_total,
                mbps_total: round3(mbps_total),
                mbps_per_viewer_mean: round3(if rates.is_empty() {
                    0.0
                } else {
                    rates.iter().sum::<f64>() / rates.len() as f64
                }),
                mbps_per_viewer_min: round3(rates.iter().copied().reduce(f64::min).unwrap_or(0.0)),
                requests,
            },
            media: Media {
                ratio_min: ratios.first().copied().map(round3),
                ratio_p50: quantile(&ratios, 0.5).map(round3),
                viewers_below_95pct: ratios.iter().filter(|&&r| r < FULL_RATE).count() as u32,
                media_s_min: media_s_min.map(round3),
                video_frames,
                stamped_frames: stamped,
                cached_frames: cached,
                timestamps_backwards: backwards,
                viewers_backwards,
            },
            ttff_ms: Percentiles::from_micros(&ttff),
            first_byte_ms: Percentiles::from_micros(&first_byte),
            latency_ms: Percentiles::from_micros(latency),
            stalls: Stalls {
                count: stalls,
                viewers: stalled_viewers,
                longest_gap_ms: round3(longest_gap.as_secs_f64() * 1000.0),
            },
            tool_cpu: ToolCpu {
                percent_of_core: round3(info.cpu.percent_of(info.wall)),
                user_s: round3(info.cpu.user.as_secs_f64()),
                sys_s: round3(info.cpu.system.as_secs_f64()),
            },
        }
    }

    /// Parses a report written by [`Report::write_json`].
    pub fn from_json(text: &str) -> Result<Report, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::other)?;
        writeln!(out)
    }

    /// The readable table.
    pub fn write_table(&self, out: &mut dyn Write) -> io::Result<()> {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
        let pct = |p: &Percentiles| {
            format!(
                "p50 {:>10}   p95 {:>10}   max {:>10}",
                ms(p.p50),
                ms(p.p95),
                ms(p.max)
            )
        };
        let c = &self.connections;
        let m = &self.media;
        writeln!(out, "liu bench play  {}  ({})", self.url, self.protocol)?;
        if self.streams > 1 {
            writeln!(
                out,
                "  streams      {} (STREAM-0 .. STREAM-{})",
                self.streams,
                self.streams - 1
            )?;
        }
        writeln!(
            out,
            "  viewers      {} requested, ramp {}/s, {:.1} s each; wall {:.1} s",
            self.viewers, self.rate_per_s, self.duration_s, self.wall_s
        )?;
        writeln!(out, "  connections  {} ok, {} failed", c.ok, c.failed)?;
        for f in &c.failures {
            writeln!(
                out,
                "    {:<12} {:>6}  e.g. {}",
                f.reason, f.count, f.example
            )?;
        }
        let t = &self.throughput;
        writeln!(
            out,
            "  throughput   {:.1} Mbit/s total, {:.2} Mbit/s per viewer (min {:.2})",
            t.mbps_total, t.mbps_per_viewer_mean, t.mbps_per_viewer_min
        )?;
        if t.requests > 0 {
            writeln!(
                out,
                "  requests     {} ({:.0}/s)",
                t.requests,
                t.requests as f64 / self.wall_s.max(0.001)
            )?;
        }
        writeln!(
            out,
            "  full rate    {} of {} ok viewers below 95% of real time (media/wall min {}, p50 {})",
            m.viewers_below_95pct,
            c.ok,
            m.ratio_min.map_or("-".into(), |r| format!("{r:.3}")),
            m.ratio_p50.map_or("-".into(), |r| format!("{r:.3}")),
        )?;
        writeln!(out, "  TTFF         {}", pct(&self.ttff_ms))?;
        writeln!(out, "  first byte   {}", pct(&self.first_byte_ms))?;
        writeln!(
            out,
            "  latency      {}   ({} stamped frames)",
            pct(&self.latency_ms),
            m.stamped_frames
        )?;
        writeln!(
            out,
            "  stalls       {} (in {} viewers; longest gap {:.0} ms)",
            self.stalls.count, self.stalls.viewers, self.stalls.longest_gap_ms
        )?;
        writeln!(
            out,
            "  timestamps   {} frames before their track's previous one (in {} viewers)",
            m.timestamps_backwards, m.viewers_backwards
        )?;
        writeln!(
            out,
            "  tool CPU     {:.1} % of a core (user {:.2} s, sys {:.2} s)",
            self.tool_cpu.percent_of_core, self.tool_cpu.user_s, self.tool_cpu.sys_s
        )
    }
}
