//! CMAF HLS with Low-Latency parts (`/APP/STREAM/index.m3u8`, fMP4 segments): FFmpeg 9 and
//! Debian's FFmpeg 5.1 play it (and the multivariant playlist); a watcher checks every playlist
//! and segment; blocking playlist reloads and delta updates answer as RFC 8216bis asks.
mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// The video track's ID in Liu's fMP4.
const VIDEO_TRACK: u32 = 1;

fn index_path(name: &str) -> String {
    format!("/live/{name}/index.m3u8")
}

/// `(segment, part)` of the `EXT-X-PRELOAD-HINT`.
fn preload_hint(text: &str) -> Option<(u64, u64)> {
    let line = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT:"))?;
    let uri = line.split("URI=\"").nth(1)?.trim_end_matches('"');
    let (_, rest) = uri.rsplit_once('-')?;
    let mut n = rest.trim_end_matches(".m4s").split('.');
    Some((n.next()?.parse().ok()?, n.next()?.parse().ok()?))
}

#[test]
fn ll_hls_plays_in_ffmpeg9_and_ffmpeg5() {
    let _serial = serial();
    let _wd = watchdog("ll_hls", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("[hls]\ngrace_ms = 1500\n");
    let name = stream_name("llhls");
    let addr = server.http_addr().to_string();
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let first = wait_for_playlist(&addr, &index_path(&name), Duration::from_secs(15));
    let text = String::from_utf8_lossy(&first.body).to_string();
    for tag in [
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,",
        "#EXT-X-PART-INF:PART-TARGET=",
        "#EXT-X-MAP:URI=",
        "#EXT-X-PART:DURATION=",
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=",
    ] {
        assert!(text.contains(tag), "{tag} missing:\n{text}");
    }
    let url = format!("http://{addr}{}", index_path(&name));
    let master = format!("http://{addr}/live/{name}/master.m3u8");
    let start_at_first = ["-live_start_index", "0"];
    let viewers = [
        Viewer::ffmpeg_with(&ffmpeg9(), &url, &start_at_first),
        Viewer::ffmpeg_with(&ffmpeg5(), &master, &start_at_first),
    ];
    let watcher = watch_playlist(
        &addr,
        &index_path(&name),
        Duration::from_millis(300),
        Duration::from_secs(60),
    );
    let mv = http_get(&addr, &format!("/live/{name}/master.m3u8")).unwrap();
    let mv_text = String::from_utf8_lossy(&mv.body);
    assert!(
        mv_text.contains("CODECS=\"avc1.64001E,mp4a.40.2\""),
        "codecs from the real SPS (High, level 3.0) and AudioSpecificConfig:\n{mv_text}"
    );
    match m3u8_rs::parse_playlist_res(&mv.body) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => {
            assert_eq!(m.variants.len(), 1);
            assert_eq!(m.variants[0].uri, "index.m3u8");
            assert!(m.variants[0].bandwidth > 100_000, "{mv_text}");
        }
        other => panic!("not a multivariant playlist: {other:?}"),
    }

    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    for v in viewers {
        let d = v.finish(Duration::from_secs(8), Duration::from_secs(60));
        assert!(!d.stopped_by_harness, "did not stop at EXT-X-ENDLIST");
        d.assert_plays(&clip);
    }

    let w = watcher.join().expect("watcher");
    assert!(w.errors.is_empty(), "{:#?}", w.errors);
    assert!(w.ended);
    let infos: Vec<(u64, Fmp4SegmentInfo, f32)> = w
        .segments
        .iter()
        .map(|(seq, s)| {
            assert_eq!(s.reply.header("content-type"), Some("video/mp4"));
            let info = fmp4_segment_info(&s.reply.body, VIDEO_TRACK)
                .unwrap_or_else(|e| panic!("segment {seq}: {e}"));
            (*seq, info, s.duration)
        })
        .collect();
    assert!(infos.len() >= 4, "{} segments", infos.len());
    for (i, (seq, info, extinf)) in infos.iter().enumerate() {
        assert!(
            info.first_video_sync,
            "segment {seq} starts with a non-sync sample"
        );
        assert!(
            info.fragments >= 2,
            "segment {seq}: parts are its fragments"
        );
        assert!(info.audio_samples > 0);
        if let Some((_, next, _)) = infos.get(i + 1) {
            let measured =
                (next.first_video_tfdt.unwrap() - info.first_video_tfdt.unwrap()) as f64 / 90_000.0;
            assert!(
                (measured - f64::from(*extinf)).abs() <= 0.05,
                "segment {seq}: EXTINF {extinf}, media {measured:.3} s"
            );
        }
    }
    // The init section and the segments back to back decode cleanly.
    let init_uri = w
        .playlists
        .last()
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|u| u.trim_end_matches('"').to_string())
        .expect("EXT-X-MAP");
    let init = http_get(&addr, &format!("/live/{name}/{init_uri}")).unwrap();
    assert_eq!((init.status, &init.body[4..8]), (200, &b"ftyp"[..]));
    let mut all = init.body.clone();
    all.extend(w.concatenated());
    let file = temp_dir("ll-concat").join("all.mp4");
    std::fs::write(&file, all).unwrap();
    let d = decode_file(&ffmpeg9(), Path::new(&file));
    eprintln!("{}", d.summary());
    d.assert_no_damage();
    assert!(
        d.matched_video(&clip) >= clip.video_frames * 95 / 100,
        "{}",
        d.summary()
    );
}

/// Blocking reloads: asking for the hinted part answers once that part exists (within about
/// one part duration), with a playlist that lists it; nonsense gets 400; a delta update skips
/// the old segments and lists the same newest ones as the full playlist.
#[test]
fn blocking_reload_and_delta_updates() {
    let _serial = serial();
    let _wd = watchdog("ll_hls_blocking", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard().seconds(20).gop(25));
    let server = LiuServer::start("[hls]\ntarget_duration_ms = 1000\nwindow = 10\n");
    let name = stream_name("llblock");
    let addr = server.http_addr().to_string();
    let path = index_path(&name);
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    wait_for_playlist(&addr, &path, Duration::from_secs(15));

    let mut waits = Vec::new();
    for _ in 0..5 {
        let text = String::from_utf8_lossy(&http_get(&addr, &path).unwrap().body).to_string();
        let (msn, part) = preload_hint(&text).unwrap_or_else(|| panic!("no hint:\n{text}"));
        let asked = Instant::now();
        let r = http_get(&addr, &format!("{path}?_HLS_msn={msn}&_HLS_part={part}")).unwrap();
        waits.push(asked.elapsed());
        assert_eq!(r.status, 200);
        let text = String::from_utf8_lossy(&r.body);
        let listed = format!("-{msn}.{part}.m4s\"");
        assert!(
            text.contains(&listed),
            "part {msn}.{part} not listed:\n{text}"
        );
        // The hinted part itself, asked for before it exists, comes as soon as it does.
        let (next_msn, next_part) = preload_hint(&text).unwrap();
        let uri = text
            .lines()
            .find(|l| l.starts_with("#EXT-X-PRELOAD-HINT"))
            .and_then(|l| l.split("URI=\"").nth(1))
            .unwrap()
            .trim_end_matches('"')
            .to_string();
        let part = http_get(&addr, &format!("/live/{name}/{uri}")).unwrap();
        assert_eq!(part.status, 200, "hinted part {next_msn}.{next_part}");
        let info = fmp4_segment_info(&part.body, VIDEO_TRACK).unwrap();
        assert_eq!(info.fragments, 1);
    }
    // Each wait is at most one part (0.334 s) plus scheduling; generous bound, no timing flake.
    assert!(
        waits.iter().all(|w| *w < Duration::from_millis(1500)),
        "blocking reloads took {waits:?}"
    );
    assert!(
        waits.iter().any(|w| *w > Duration::from_millis(20)),
        "the reloads did not block at all: {waits:?}"
    );

    assert_eq!(
        http_get(&addr, &format!("{path}?_HLS_msn=99999"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        http_get(&addr, &format!("{path}?_HLS_part=1"))
            .unwrap()
            .status,
        400
    );
    assert_eq!(
        http_get(&addr, &format!("{path}?_HLS_msn=x"))
            .unwrap()
            .status,
        400
    );

    // 10 s of 1 s segments: a delta skips what is older than 6 target durations.
    std::thread::sleep(Duration::from_secs(9));
    let full = http_get(&addr, &path).unwrap();
    let delta = http_get(&addr, &format!("{path}?_HLS_skip=YES")).unwrap();
    let (full, delta) = (
        String::from_utf8_lossy(&full.body).to_string(),
        String::from_utf8_lossy(&delta.body).to_string(),
    );
    let skipped: usize = delta
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
        .unwrap_or_else(|| panic!("no EXT-X-SKIP:\n{delta}"))
        .parse()
        .unwrap();
    let uris = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.ends_with(".m4s"))
            .map(String::from)
            .collect()
    };
    let (full_uris, delta_uris) = (uris(&full), uris(&delta));
    assert!(skipped >= 2, "{delta}");
    if full_uris.len() == delta_uris.len() + skipped {
        assert_eq!(&full_uris[skipped..], &delta_uris[..], "{full}\n{delta}");
    }
    assert!(delta.contains("#EXT-X-VERSION:9\n"));
}
