//! Classic HLS (`/APP/STREAM.m3u8`, MPEG-TS segments): FFmpeg 9 publishes over RTMP; FFmpeg 9
//! and Debian's FFmpeg 5.1 play the playlist while a watcher follows it like a player and
//! checks every playlist and segment with independent parsers (`m3u8-rs`, `mpeg2ts`).
mod common;
use common::*;
use std::path::Path;
use std::time::Duration;

/// Short grace so the playlist ends (EXT-X-ENDLIST) soon after the publisher leaves.
const CONFIG: &str = "[hls]\ngrace_ms = 1500\n";

/// Checks a followed playlist: no errors, it ended, every segment is TS starting with PAT and
/// PMT and an IDR picture, and each EXTINF matches the media (first video DTS to the next
/// segment's) within 50 ms.
fn assert_segments_sound(w: &Watched) {
    assert!(w.errors.is_empty(), "watcher: {:#?}", w.errors);
    assert!(w.ended, "the playlist never got EXT-X-ENDLIST");
    let infos: Vec<(u64, TsSegmentInfo, f32, &str)> = w
        .segments
        .iter()
        .map(|(seq, s)| {
            assert_eq!(
                s.reply.header("content-type"),
                Some("video/mp2t"),
                "{}",
                s.uri
            );
            let info =
                ts_segment_info(&s.reply.body).unwrap_or_else(|e| panic!("segment {seq}: {e}"));
            (*seq, info, s.duration, s.uri.as_str())
        })
        .collect();
    assert!(infos.len() >= 4, "only {} segments", infos.len());
    let first = infos[0].0;
    for (i, (seq, info, extinf, uri)) in infos.iter().enumerate() {
        assert_eq!(*seq, first + i as u64, "sequence numbers have a gap");
        assert!(
            info.starts_with_pat_pmt,
            "{uri} does not start with PAT, PMT"
        );
        assert_eq!(info.stream_types, [0x1b, 0x0f], "{uri}: H.264 and AAC");
        assert!(info.first_video_is_idr, "{uri} does not start with an IDR");
        assert!(info.audio_pes > 0, "{uri} has no audio");
        if let Some((_, next, _, _)) = infos.get(i + 1) {
            let measured =
                (next.first_video_dts.unwrap() - info.first_video_dts.unwrap()) as f64 / 90_000.0;
            assert!(
                (measured - f64::from(*extinf)).abs() <= 0.05,
                "{uri}: EXTINF {extinf} but the media lasts {measured:.3} s"
            );
        }
    }
}

fn play_over_hls(clip_spec: ClipSpec, label: &str) {
    let clip = clip(&clip_spec);
    let server = LiuServer::start(CONFIG);
    let name = stream_name(label);
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let first = wait_for_playlist(
        server.http_addr(),
        &server.hls_path(&name),
        Duration::from_secs(15),
    );
    let text = String::from_utf8_lossy(&first.body);
    assert!(text.starts_with("#EXTM3U\n"), "{text}");
    assert_eq!(first.header("cache-control"), Some("no-cache"));
    assert_eq!(first.header("access-control-allow-origin"), Some("*"));

    // Players that start at the first listed segment (the GOP cache's): the whole clip.
    let url = server.hls_url(&name);
    let start_at_first = ["-live_start_index", "0"];
    let viewers = [
        Viewer::ffmpeg_with(&ffmpeg9(), &url, &start_at_first),
        Viewer::ffmpeg_with(&ffmpeg5(), &url, &start_at_first),
    ];
    let watcher = watch_playlist(
        server.http_addr(),
        &server.hls_path(&name),
        Duration::from_millis(400),
        Duration::from_secs(60),
    );
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    for v in viewers {
        let d = v.finish(Duration::from_secs(8), Duration::from_secs(60));
        assert!(
            !d.stopped_by_harness,
            "the player did not stop at EXT-X-ENDLIST: {}",
            d.summary()
        );
        assert_plays_clip(&d, &clip);
    }
    let watched = watcher.join().expect("watcher");
    assert_segments_sound(&watched);
    let last = watched.playlists.last().unwrap();
    assert!(last.contains("#EXT-X-INDEPENDENT-SEGMENTS\n"), "{last}");
    assert!(last.ends_with("#EXT-X-ENDLIST\n"), "{last}");

    // The segments back to back are one seamless stream.
    let dir = temp_dir("hls-concat");
    let file = dir.join("all.ts");
    std::fs::write(&file, watched.concatenated()).unwrap();
    let d = decode_file(&ffmpeg9(), Path::new(&file));
    assert_plays_clip(&d, &clip);
}

#[test]
fn ts_hls_plays_in_ffmpeg9_and_ffmpeg5_with_b_frames() {
    let _serial = serial();
    let _wd = watchdog("hls_bframes", Duration::from_secs(150));
    play_over_hls(ClipSpec::standard(), "hlsb");
}

#[test]
fn ts_hls_plays_in_ffmpeg9_and_ffmpeg5_without_b_frames() {
    let _serial = serial();
    let _wd = watchdog("hls_no_bframes", Duration::from_secs(150));
    play_over_hls(ClipSpec::standard().no_bframes(), "hlsp");
}

/// A publisher that leaves and comes back within the grace time continues the playlist after
/// an EXT-X-DISCONTINUITY, and FFmpeg plays across it: pictures of both clips come out.
#[test]
fn a_republish_within_the_grace_time_is_a_discontinuity_ffmpeg_crosses() {
    let _serial = serial();
    let _wd = watchdog("hls_republish", Duration::from_secs(150));
    let clip_a = clip(&ClipSpec::standard().seconds(6));
    let clip_b = clip(&ClipSpec::standard().seconds(6).other_pattern());
    let server = LiuServer::start("[hls]\ngrace_ms = 4000\n");
    let name = stream_name("hlsre");
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip_a, &[]);
    wait_for_playlist(
        server.http_addr(),
        &server.hls_path(&name),
        Duration::from_secs(15),
    );
    let viewer = Viewer::ffmpeg_with(
        &ffmpeg9(),
        &server.hls_url(&name),
        &["-live_start_index", "0"],
    );
    let watcher = watch_playlist(
        server.http_addr(),
        &server.hls_path(&name),
        Duration::from_millis(400),
        Duration::from_secs(60),
    );
    assert!(
        publisher
            .wait_with_timeout(Duration::from_secs(30))
            .success()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip_b, &[]);
    assert!(
        publisher
            .wait_with_timeout(Duration::from_secs(30))
            .success()
    );

    let watched = watcher.join().expect("watcher");
    assert!(watched.errors.is_empty(), "{:#?}", watched.errors);
    assert!(watched.ended);
    let last = watched.playlists.last().unwrap();
    assert_eq!(
        last.matches("#EXT-X-DISCONTINUITY\n").count(),
        1,
        "one discontinuity:\n{last}"
    );
    let flagged: Vec<u64> = watched
        .segments
        .iter()
        .filter(|(_, s)| s.discontinuity)
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(flagged.len(), 1, "{last}");
    // The flagged segment is the first of the second publish: it starts clip B's pictures.
    let d = viewer.finish(Duration::from_secs(8), Duration::from_secs(60));
    eprintln!("{}", d.summary());
    d.assert_no_damage();
    let (a, b) = (d.matched_video(&clip_a), d.matched_video(&clip_b));
    assert!(
        a >= clip_a.video_frames * 9 / 10 && b >= clip_b.video_frames * 9 / 10,
        "pictures of the first publish {a}/{}, of the second {b}/{}: {}",
        clip_a.video_frames,
        clip_b.video_frames,
        d.summary()
    );
    assert!(d.pts_regression().is_none(), "{:?}", d.pts_regression());
}

/// The HTTP side: HEAD, ranges, caching and CORS headers, 404 for what does not exist or has
/// left the window, an app with HLS turned off.
#[test]
fn hls_http_surface() {
    let _serial = serial();
    let _wd = watchdog("hls_http", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard().gop(25));
    let server = LiuServer::start(
        "[hls]\ntarget_duration_ms = 1000\nwindow = 2\nkeep_extra = 1\n[app.nohls]\nhls = false\n",
    );
    let addr = server.http_addr().to_string();
    let name = stream_name("hlshttp");
    let path = server.hls_path(&name);
    let get = |p: &str| http_get(&addr, p).unwrap_or_else(|e| panic!("{p}: {e}"));
    let req = |m: &str, p: &str, h: &[(&str, &str)]| {
        http_request(&addr, m, p, h, Duration::from_secs(15)).unwrap_or_else(|e| panic!("{e}"))
    };

    assert_eq!(get(&path).status, 404, "not published yet");
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let _other = Publisher::spawn(
        &format!("rtmp://{}/nohls/{name}", server.rtmp_addr()),
        &clip,
        &[],
    );
    let playlist = wait_for_playlist(&addr, &path, Duration::from_secs(15));
    assert_eq!(
        playlist.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    let p = parse_media_playlist(&playlist.body).unwrap();
    let seg_path = format!("/live/{}", p.segments[0].uri);
    let seg = get(&seg_path);
    assert_eq!(seg.status, 200);
    assert_eq!(seg.header("content-type"), Some("video/mp2t"));
    assert_eq!(seg.header("access-control-allow-origin"), Some("*"));
    let cache = seg.header("cache-control").unwrap_or_default();
    assert!(cache.contains("max-age=31536000"), "{cache}");
    assert_eq!(seg.header("accept-ranges"), Some("bytes"));
    let len = seg.body.len();
    assert!(ts_segment_info(&seg.body).unwrap().starts_with_pat_pmt);

    let head = req("HEAD", &seg_path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(len.to_string().as_str())
    );
    assert!(head.body.is_empty());
    let head = req("HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let part = req("GET", &seg_path, &[("Range", "bytes=188-375")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, seg.body[188..376]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 188-375/{len}").as_str())
    );
    let tail = req("GET", &seg_path, &[("Range", "bytes=-188")]);
    assert_eq!((tail.status, &tail.body[..]), (206, &seg.body[len - 188..]));
    let beyond = req("GET", &seg_path, &[("Range", &format!("bytes={len}-"))]);
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );

    let post = req("POST", &path, &[("Content-Length", "0")]);
    assert_eq!(post.status, 405);
    let (dir, file) = seg_path.rsplit_once('/').unwrap();
    let (_, seq) = file.trim_end_matches(".ts").rsplit_once('-').unwrap();
    assert_eq!(
        get(&format!("{dir}/0000000-{seq}.ts")).status,
        404,
        "another session's name"
    );
    // One segment, one URL: other spellings of its name are not it.
    let token = file.rsplit_once('-').unwrap().0;
    for other in [
        format!("{dir}/{token}-0{seq}.ts"),
        format!("{dir}/{token}%2D{seq}.ts"),
        format!("{dir}/{token}-{seq}.TS"),
    ] {
        assert_eq!(get(&other).status, 404, "{other}");
    }
    assert_eq!(get(&seg_path).status, 200, "the segment under its own name");
    let trace = req("TRACE", &seg_path, &[]);
    assert_eq!(trace.status, 405, "TRACE");
    assert_eq!(get("/live/nosuchstream.m3u8").status, 404);
    assert_eq!(
        get(&format!("/nohls/{name}.m3u8")).status,
        404,
        "HLS off for app nohls"
    );
    assert_eq!(
        http_request(
            &addr,
            "HEAD",
            &format!("/nohls/{name}.flv"),
            &[],
            Duration::from_secs(5)
        )
        .unwrap()
        .status,
        200,
        "HTTP-FLV still on for app nohls"
    );

    // Window 2 + 1 kept at 1 s segments (1 s GOPs): the first segment is gone a few seconds later.
    std::thread::sleep(Duration::from_secs(6));
    let gone = get(&seg_path);
    assert_eq!(gone.status, 404, "segment left the window");
    assert_eq!(gone.header("cache-control"), Some("no-cache"));
    let p = parse_media_playlist(&get(&path).body).unwrap();
    assert_eq!(p.segments.len(), 2, "window of 2");
    assert_eq!(p.target_duration, 1);
}

/// With `on_demand = false` a stream is muxed from its publish: a first playlist asked for
/// seconds later already lists the segments since the start (on demand, it would list one).
#[test]
fn muxing_from_publish_with_on_demand_off() {
    let _serial = serial();
    let _wd = watchdog("hls_eager", Duration::from_secs(90));
    let clip = clip(&ClipSpec::standard().gop(25));
    let server = LiuServer::start("[hls]\non_demand = false\ntarget_duration_ms = 1000\n");
    let name = stream_name("hlseager");
    let _publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    std::thread::sleep(Duration::from_secs(5));
    let p = parse_media_playlist(
        &wait_for_playlist(
            server.http_addr(),
            &server.hls_path(&name),
            Duration::from_secs(10),
        )
        .body,
    )
    .unwrap();
    assert_eq!(p.media_sequence, 0);
    assert!(
        p.segments.len() >= 3,
        "{} segments listed",
        p.segments.len()
    );
}
