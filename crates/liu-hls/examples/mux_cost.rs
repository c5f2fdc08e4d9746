//! What muxing one stream for HLS costs: an FLV file is fed through the TS
//! segmenter, the CMAF (LL-HLS) segmenter, and both, as fast as possible,
//! with the playlists rendered at every change as the server does. Prints
//! CPU time per second of media (and so the share of one core a live
//! stream takes), best of `ROUNDS`.
//!
//!     cargo run --release -p liu-hls --example mux_cost -- CLIP.flv

use std::time::{Duration, Instant};

use liu_flv::flv::{FlvReader, TagType};
use liu_hls::cmaf::{CmafConfig, CmafSegmenter};
use liu_hls::segmenter::{SegmenterConfig, TsSegmenter};

const ROUNDS: usize = 5;

fn main() {
    let path = std::env::args().nth(1).expect("usage: mux_cost CLIP.flv");
    let data = std::fs::read(&path).expect("read the clip");
    let mut reader = FlvReader::new(64 << 20);
    reader.push(&data);
    let mut tags = Vec::new();
    while let Ok(Some(tag)) = reader.next_tag() {
        if tag.tag_type != TagType::Script {
            tags.push((tag.tag_type, u64::from(tag.timestamp), tag.body));
        }
    }
    let media_s = tags.last().map_or(0, |t| t.1) as f64 / 1000.0;
    let bytes: usize = tags.iter().map(|t| t.2.len()).sum();
    println!(
        "{path}: {media_s:.1} s of media, {:.2} Mbit/s, {} tags",
        bytes as f64 * 8.0 / media_s / 1e6,
        tags.len()
    );
    for (label, ts_on, cmaf_on) in [
        ("TS", true, false),
        ("CMAF + LL parts", false, true),
        ("both", true, true),
    ] {
        let mut best = Duration::MAX;
        for _ in 0..ROUNDS {
            let mut ts = TsSegmenter::new(SegmenterConfig::default());
            let mut cmaf = CmafSegmenter::new(CmafConfig::default());
            let (mut last_ts, mut last_part) = (None, None);
            let started = Instant::now();
            for (kind, t, body) in &tags {
                if ts_on {
                    let _ = match kind {
                        TagType::Video => ts.push_video(*t, body, *t),
                        _ => ts.push_audio(*t, body, *t),
                    };
                    if ts.last_sequence() != last_ts {
                        last_ts = ts.last_sequence();
                        std::hint::black_box(ts.playlist());
                    }
                }
                if cmaf_on {
                    let _ = match kind {
                        TagType::Video => cmaf.push_video(*t, body, *t),
                        _ => cmaf.push_audio(*t, body, *t),
                    };
                    if cmaf.last_part() != last_part {
                        last_part = cmaf.last_part();
                        std::hint::black_box((cmaf.playlist(false), cmaf.playlist(true)));
                    }
                }
            }
            best = best.min(started.elapsed());
        }
        println!(
            "{label:>16}: {:>6.0} µs of CPU per media second = {:.3} % of a core per live stream",
            best.as_secs_f64() * 1e6 / media_s,
            best.as_secs_f64() / media_s * 100.0
        );
    }
}
