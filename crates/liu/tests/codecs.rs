//! H.265 end to end in both FLV forms, and AV1 + Opus passed through.
//!
//! - FFmpeg 9 publishes H.265 + AAC (libx265, with and without B-frames) as Enhanced RTMP
//!   (`hvc1`). Viewers that did not announce Enhanced RTMP get the legacy form (codec id 12):
//!   FFmpeg 9 over RTMP, and rtmpdump (librtmp) whose FLV output FFmpeg 9 decodes; HTTP-FLV is
//!   Enhanced; with `rtmp_hevc = "enhanced"` FFmpeg 9 plays Enhanced RTMP, with
//!   `flv_hevc = "legacy"` HTTP-FLV is legacy unless `?hevc=enhanced`. Each decodes >= 95 % of
//!   the pictures bit-exact. Debian's FFmpeg 5.1 knows H.265 in FLV in neither form: it gets
//!   codec id 12 ("Video codec (c) is not implemented") and decodes the audio.
//! - A raw RTMP client announcing `fourCcList: ["hvc1"]` gets Enhanced tags and a `_result`
//!   naming the server's Enhanced RTMP capabilities.
//! - Liu's own publisher (`liu bench publish`) sends the same H.265 bitstream as legacy codec
//!   id 12 tags: FFmpeg 9 decodes the Enhanced HTTP-FLV output, and the `?hevc=legacy` output,
//!   read tag by tag, carries codec id 12 with an HEVCDecoderConfigurationRecord (640x360 Main)
//!   whose bitstream FFmpeg 9 decodes.
//! - FFmpeg 9 publishes AV1 (libsvtav1) + Opus as Enhanced RTMP; FFmpeg 9 decodes both over
//!   RTMP and HTTP-FLV.
mod common;
use common::*;

use std::time::Duration;

use liu_codec::hevc::HevcDecoderConfigurationRecord;
use liu_flv::av::{FlvDialect, VideoCodec, parse_video_tag_header, rewrite_video};
use liu_flv::flv::{FlvReader, TagType, encode_file_header, encode_tag};

/// Starts `viewers`, publishes `clip` to `publish_url` with FFmpeg 9 and returns each viewer's
/// decode (labelled) once the publisher is done.
fn publish_and_play(publish_url: &str, clip: &Clip, viewers: Vec<Viewer>) -> Vec<Decoded> {
    std::thread::sleep(Duration::from_millis(800));
    let mut publisher = Publisher::spawn(publish_url, clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    viewers
        .into_iter()
        .map(|v| v.finish(Duration::from_secs(3), Duration::from_secs(60)))
        .collect()
}

/// Every tag of an FLV byte stream (header first).
fn flv_tags(data: &[u8]) -> Vec<liu_flv::flv::FlvTag> {
    let mut reader = FlvReader::new(16 << 20);
    reader.push(data);
    std::iter::from_fn(|| reader.next_tag().unwrap()).collect()
}

/// Writes `dir/name`: the FLV file `src` with each tag body passed through `change` (`None`
/// leaves the tag out).
fn rewrite_flv(
    src: &std::path::Path,
    dir: &std::path::Path,
    name: &str,
    mut change: impl FnMut(TagType, &[u8]) -> Option<Vec<u8>>,
) -> std::path::PathBuf {
    let mut out = encode_file_header(true, true).to_vec();
    for tag in flv_tags(&std::fs::read(src).unwrap()) {
        if let Some(body) = change(tag.tag_type, &tag.body) {
            out.extend_from_slice(&encode_tag(tag.tag_type, tag.timestamp, &body));
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, out).unwrap();
    path
}

/// Liu's own publisher: `liu bench publish` of `file` to `url`, one pass in real time.
fn liu_bench_publish(url: &str, file: &std::path::Path) -> std::process::Child {
    bench_command(&["publish", "--url", url, "--file"])
        .arg(file)
        .spawn()
        .expect("spawn liu bench publish")
}

#[test]
fn hevc_enhanced_publish_plays_legacy_and_enhanced() {
    let _serial = serial();
    let _wd = watchdog("hevc_forms", Duration::from_secs(200));
    let clip = clip(&ClipSpec::standard().hevc());
    let mut server = LiuServer::start("");
    let name = stream_name("hevc");
    let rtmp = server.rtmp_url(&name);

    // A raw client that announces Enhanced RTMP playback of hvc1.
    let mut raw = RawRtmp::connect(server.rtmp_addr());
    raw.handshake().unwrap();
    let result = raw
        .connect_app_with(
            "live",
            vec![(
                "fourCcList".into(),
                AmfValue::Array(vec![AmfValue::Str("hvc1".into())]),
            )],
        )
        .unwrap();
    let props = result.amf().get(2).cloned();
    assert!(
        props
            .as_ref()
            .is_some_and(|p| p.get("videoFourCcInfoMap").is_some() && p.get("capsEx").is_some()),
        "the connect _result names the server's Enhanced RTMP capabilities: {props:?}"
    );
    let sid = raw.create_stream().unwrap();
    raw.play(sid, &name).unwrap();

    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &rtmp),
        Viewer::rtmpdump(&rtmp),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
        Viewer::ffmpeg(&ffmpeg5(), &rtmp),
    ];
    std::thread::sleep(Duration::from_millis(800));
    let mut publisher = Publisher::spawn(&rtmp, &clip, &[]);
    // The raw viewer's first video messages: the sequence start, then pictures, all `hvc1`.
    for _ in 0..3 {
        let m = raw.wait_media(sid, 9, Duration::from_secs(15)).unwrap();
        assert!(
            m.payload[0] & 0x80 != 0 && &m.payload[1..5] == b"hvc1",
            "an Enhanced RTMP viewer gets hvc1 tags: {:02x?}",
            &m.payload[..m.payload.len().min(8)]
        );
    }
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    // FFmpeg 5.1 decodes nothing (see below): it is stopped with the others.
    let mut decoded: Vec<Decoded> = viewers
        .into_iter()
        .map(|v| v.finish(Duration::from_secs(3), Duration::from_secs(20)))
        .collect();
    let ffmpeg5 = decoded.pop().unwrap();
    for d in &decoded {
        d.assert_plays(&clip);
    }
    // FFmpeg 5.1 has no H.265 in FLV (in either form): it names the codec id of every video
    // tag it gets, and that is legacy id 12 (an Enhanced tag would read as id 0, 1 or 3).
    let ids: Vec<&str> = ffmpeg5
        .stderr
        .iter()
        .filter_map(|l| l.split("Video codec (").nth(1))
        .filter_map(|rest| rest.split(')').next())
        .collect();
    eprintln!("{}", ffmpeg5.summary());
    assert!(
        ids.len() >= 10 && ids.iter().all(|id| *id == "c"),
        "FFmpeg 5.1 gets legacy codec id 12 (0xc) tags: {ids:?}"
    );
    server.assert_alive("H.265 in both forms");
}

#[test]
fn hevc_without_bframes_configured_forms() {
    let _serial = serial();
    let _wd = watchdog("hevc_config", Duration::from_secs(200));
    let clip = clip(&ClipSpec::standard().hevc().no_bframes());
    let server = LiuServer::start("[stream]\nrtmp_hevc = \"enhanced\"\nflv_hevc = \"legacy\"\n");
    let name = stream_name("hevc-cfg");
    let flv = server.flv_url(&name);
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &server.rtmp_url(&name)),
        Viewer::ffmpeg(&ffmpeg9(), &flv),
        Viewer::ffmpeg(&ffmpeg9(), &format!("{flv}?hevc=enhanced")),
    ];
    let mut legacy = RawHttp::send_get(server.http_addr(), &format!("/live/{name}.flv"));
    let mut enhanced = RawHttp::send_get(
        server.http_addr(),
        &format!("/live/{name}.flv?hevc=enhanced"),
    );
    for d in publish_and_play(&server.rtmp_url(&name), &clip, viewers) {
        d.assert_plays(&clip);
    }
    // What each HTTP-FLV form carried, tag by tag.
    for (raw, enhanced_form) in [(&mut legacy, false), (&mut enhanced, true)] {
        raw.read_head(Duration::from_secs(5)).unwrap();
        let mut tags = FlvParser::default();
        raw.read_body(&mut tags, Duration::from_secs(2), Duration::from_secs(10));
        let video: Vec<_> = tags.video().collect();
        assert!(video.len() > 200, "{} video tags", video.len());
        assert!(
            video.iter().all(|t| t.enhanced == enhanced_form),
            "every video tag is {}",
            if enhanced_form { "Enhanced" } else { "legacy" }
        );
    }
}

/// The clip with every Enhanced H.265 video tag rewritten as legacy codec id 12 (what SRS,
/// nginx-http-flv-module and older OBS forks send).
fn legacy_hevc_file(clip: &Clip, dir: &std::path::Path) -> std::path::PathBuf {
    let mut rewritten = 0;
    let path = rewrite_flv(&clip.path, dir, "legacy-hevc.flv", |kind, body| {
        if kind != TagType::Video {
            return Some(body.to_vec());
        }
        let h = parse_video_tag_header(body).unwrap();
        assert!(h.enhanced && h.codec == VideoCodec::Hevc, "{h:?}");
        rewritten += 1;
        liu_flv::av::dialect::rewritten(body, rewrite_video(body, FlvDialect::Legacy))
    });
    assert!(rewritten >= 250, "{rewritten} video tags");
    path
}

#[test]
fn legacy_codec_id_12_ingest() {
    let _serial = serial();
    let _wd = watchdog("hevc_legacy_ingest", Duration::from_secs(200));
    let clip = clip(&ClipSpec::standard().hevc());
    let dir = temp_dir("legacy-hevc");
    let file = legacy_hevc_file(&clip, &dir);
    let server = LiuServer::start("");
    let name = stream_name("hevc-legacy");
    let viewer = Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name));
    let mut legacy =
        RawHttp::send_get(server.http_addr(), &format!("/live/{name}.flv?hevc=legacy"));
    std::thread::sleep(Duration::from_millis(800));
    let out = liu_bench_publish(&server.rtmp_url(&name), &file)
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "liu bench publish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    viewer
        .finish(Duration::from_secs(3), Duration::from_secs(60))
        .assert_plays(&clip);

    // The legacy output, tag by tag: codec id 12 throughout, a valid configuration record.
    legacy.read_head(Duration::from_secs(5)).unwrap();
    let mut parsed = FlvParser::default();
    parsed.keep = true;
    legacy.read_body(&mut parsed, Duration::from_secs(2), Duration::from_secs(20));
    let body = parsed.kept;
    let (mut pictures, mut records) = (0, 0);
    for tag in flv_tags(&body)
        .iter()
        .filter(|t| t.tag_type == TagType::Video)
    {
        assert_eq!(
            tag.body[0] & 0x0f,
            12,
            "legacy codec id: {:02x?}",
            &tag.body[..5]
        );
        let h = parse_video_tag_header(&tag.body).unwrap();
        if h.is_sequence_header() {
            let r = HevcDecoderConfigurationRecord::parse(&tag.body[h.header_len..]).unwrap();
            let sps = r.sps().unwrap();
            assert_eq!(
                (sps.width, sps.height, r.profile.profile_idc),
                (640, 360, 1)
            );
            records += 1;
        } else {
            pictures += 1;
        }
    }
    assert!(
        records >= 1 && pictures >= 240,
        "{records} records, {pictures} pictures"
    );
    let saved = dir.join("legacy-output.flv");
    std::fs::write(&saved, &body).unwrap();
    let d = decode_file(&ffmpeg9(), &saved);
    eprintln!("{}", d.summary());
    assert_eq!(d.video_codec().as_deref(), Some("hevc"));
    d.assert_no_damage();
    assert!(
        d.matched_video(&clip) >= clip.video_frames * 95 / 100,
        "{}",
        d.summary()
    );
}

#[test]
fn av1_and_opus_pass_through() {
    let _serial = serial();
    let _wd = watchdog("av1_opus", Duration::from_secs(200));
    let clip = clip(&ClipSpec::standard().av1_opus());
    let server = LiuServer::start("");
    let name = stream_name("av1");
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &server.rtmp_url(&name)),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];
    for d in publish_and_play(&server.rtmp_url(&name), &clip, viewers) {
        d.assert_plays(&clip);
    }
}

#[test]
fn hevc_over_hls_ts_and_fmp4() {
    let _serial = serial();
    let _wd = watchdog("hevc_hls", Duration::from_secs(200));
    let clip = clip(&ClipSpec::standard().hevc());
    let server = LiuServer::start("[hls]\ngrace_ms = 1500\n");
    let name = stream_name("hevc-hls");
    let addr = server.http_addr().to_string();
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let ts_path = format!("/live/{name}.m3u8");
    let index_path = format!("/live/{name}/index.m3u8");
    wait_for_playlist(&addr, &ts_path, Duration::from_secs(15));
    wait_for_playlist(&addr, &index_path, Duration::from_secs(15));
    let start_at_first = ["-live_start_index", "0"];
    let viewers = [
        Viewer::ffmpeg_with(
            &ffmpeg9(),
            &format!("http://{addr}{ts_path}"),
            &start_at_first,
        ),
        Viewer::ffmpeg_with(
            &ffmpeg5(),
            &format!("http://{addr}{ts_path}"),
            &start_at_first,
        ),
        Viewer::ffmpeg_with(
            &ffmpeg9(),
            &format!("http://{addr}{index_path}"),
            &start_at_first,
        ),
    ];
    let mv = http_get(&addr, &format!("/live/{name}/master.m3u8")).unwrap();
    let mv_text = String::from_utf8_lossy(&mv.body);
    assert!(
        mv_text.contains("CODECS=\"hvc1.1.6.L") && mv_text.contains(",mp4a.40.2\""),
        "H.265 Main codecs from the hvcC:\n{mv_text}"
    );
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    for v in viewers {
        let d = v.finish(Duration::from_secs(8), Duration::from_secs(60));
        assert!(!d.stopped_by_harness, "did not stop at EXT-X-ENDLIST");
        assert_plays_clip(&d, &clip);
    }
}

/// `file` with its `onMetaData` replaced by one that lies: 100x100 H.264 at 10 fps.
fn with_false_metadata(file: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    use liu_flv::amf0::{Amf0Value, encode_all};
    rewrite_flv(file, dir, "lying.flv", |kind, body| {
        Some(if kind == TagType::Script {
            encode_all(&[
                Amf0Value::string("onMetaData"),
                Amf0Value::EcmaArray(vec![
                    ("width".into(), Amf0Value::Number(100.0)),
                    ("height".into(), Amf0Value::Number(100.0)),
                    ("videocodecid".into(), Amf0Value::Number(7.0)),
                    ("framerate".into(), Amf0Value::Number(10.0)),
                    ("audiocodecid".into(), Amf0Value::Number(10.0)),
                    ("encoder".into(), Amf0Value::string("a liar")),
                ]),
            ])
        } else {
            body.to_vec()
        })
    })
}

/// The first `onMetaData` object of an HTTP-FLV body.
fn first_metadata(body: &[u8]) -> liu_flv::amf0::Amf0Value {
    let tags = flv_tags(body);
    let tag = tags
        .iter()
        .find(|t| t.tag_type == TagType::Script)
        .unwrap_or_else(|| panic!("no onMetaData in {} bytes", body.len()));
    liu_flv::amf0::decode_all(&tag.body).unwrap()[1].clone()
}

#[test]
fn metadata_tells_the_real_codec_size_and_rate() {
    let _serial = serial();
    let _wd = watchdog("hevc_metadata", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard().hevc());
    let dir = temp_dir("hevc-metadata");
    let file = with_false_metadata(&legacy_hevc_file(&clip, &dir), &dir);
    let server = LiuServer::start("");
    let name = stream_name("hevc-meta");
    let mut publisher = liu_bench_publish(&server.rtmp_url(&name), &file);
    // Late viewers, after the frame rate was measured (50 frames, 2 s).
    std::thread::sleep(Duration::from_secs(4));
    let mut seen = Vec::new();
    for (query, codec_id) in [("", 1_752_589_105.0), ("?hevc=legacy", 12.0)] {
        let mut raw = RawHttp::send_get(server.http_addr(), &format!("/live/{name}.flv{query}"));
        raw.read_head(Duration::from_secs(5)).unwrap();
        let mut parsed = FlvParser::default();
        parsed.keep = true;
        raw.read_body(&mut parsed, Duration::from_secs(1), Duration::from_secs(1));
        let meta = first_metadata(&parsed.kept);
        let num = |k: &str| meta.get(k).and_then(|v| v.as_f64());
        assert_eq!(
            (
                num("width"),
                num("height"),
                num("framerate"),
                num("videocodecid")
            ),
            (Some(640.0), Some(360.0), Some(25.0), Some(codec_id)),
            "onMetaData{query}: {meta:?}"
        );
        assert_eq!(
            meta.get("encoder").and_then(|v| v.as_str()),
            Some("a liar"),
            "the rest is kept"
        );
        seen.push(meta);
    }
    let published = publisher.wait().expect("wait for liu bench publish");
    assert!(
        published.success(),
        "liu bench publish exited with {published}"
    );
    let log = server.log_tail(200);
    assert!(
        log.contains("video hvc1.1.6.L") && log.contains("640x360 4:2:0 8-bit (legacy FLV)"),
        "the publish logs its real video: {log}"
    );
    assert!(
        log.contains("audio mp4a.40.2 44100 Hz, 2 channels"),
        "{log}"
    );
}

/// The clip as Enhanced RTMP v2 multitrack tags (ManyTracks): every video and audio tag carries
/// track 1 (the same media) before track 0, so that finding track 0 is what makes it play.
fn multitrack_file(clip: &Clip, dir: &std::path::Path) -> std::path::PathBuf {
    let tracks = |lead: u8, kind_packet: u8, fourcc: &[u8], rest: &[u8]| {
        let mut b = vec![lead, kind_packet];
        b.extend_from_slice(fourcc);
        for id in [1u8, 0] {
            b.push(id);
            b.extend_from_slice(&(rest.len() as u32).to_be_bytes()[1..]);
            b.extend_from_slice(rest);
        }
        b
    };
    rewrite_flv(&clip.path, dir, "multitrack.flv", |kind, b| match kind {
        // Enhanced hvc1: [0x80 | frame type | packet type, FourCC, rest].
        TagType::Video if b[0] & 0x0f != 2 => Some(tracks(
            0x80 | (b[0] & 0x70) | 6,
            0x10 | (b[0] & 0x0f),
            b"hvc1",
            &b[5..],
        )),
        TagType::Video => None, // SequenceEnd
        // Legacy AAC: [0xaf, AACPacketType, rest].
        TagType::Audio => Some(tracks(0x95, 0x10 | b[1], b"mp4a", &b[2..])),
        TagType::Script => Some(b.to_vec()),
    })
}

#[test]
fn multitrack_passes_through_with_track_0_as_default() {
    let _serial = serial();
    let _wd = watchdog("multitrack", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard().hevc());
    let dir = temp_dir("multitrack");
    let file = multitrack_file(&clip, &dir);
    let server = LiuServer::start("[hls]\ngrace_ms = 1500\non_demand = false\n");
    let name = stream_name("multitrack");
    let addr = server.http_addr().to_string();
    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &server.rtmp_url(&name)),
        Viewer::ffmpeg(
            &ffmpeg9(),
            &format!("{}?hevc=legacy", server.flv_url(&name)),
        ),
    ];
    let mut enhanced = RawHttp::send_get(&addr, &format!("/live/{name}.flv"));
    std::thread::sleep(Duration::from_millis(800));
    let mut publisher = liu_bench_publish(&server.rtmp_url(&name), &file);
    let ts_path = format!("/live/{name}.m3u8");
    wait_for_playlist(&addr, &ts_path, Duration::from_secs(15));
    let hls = Viewer::ffmpeg_with(
        &ffmpeg9(),
        &format!("http://{addr}{ts_path}"),
        &["-live_start_index", "0"],
    );
    assert!(publisher.wait().unwrap().success(), "liu bench publish");
    // Legacy viewers and HLS get track 0, in the legacy form and in MPEG-TS.
    for v in viewers.into_iter().chain([hls]) {
        v.finish(Duration::from_secs(8), Duration::from_secs(60))
            .assert_plays(&clip);
    }
    // Enhanced viewers get the multitrack tags as they came.
    enhanced.read_head(Duration::from_secs(5)).unwrap();
    let mut parsed = FlvParser::default();
    parsed.keep = true;
    enhanced.read_body(&mut parsed, Duration::from_secs(1), Duration::from_secs(5));
    let tags = flv_tags(&parsed.kept);
    let video: Vec<_> = tags
        .iter()
        .filter(|t| t.tag_type == TagType::Video)
        .collect();
    let multitrack = video.iter().filter(|t| t.body[0] & 0x8f == 0x86).count();
    let video = video.len();
    assert!(
        video > 200 && multitrack == video,
        "{multitrack} of {video} video tags multitrack"
    );
}

#[test]
fn av1_over_ll_hls_fmp4() {
    av1_over_ll_hls(&ClipSpec::standard().av1(), "mp4a.40.2");
}

#[test]
fn av1_and_opus_over_ll_hls_fmp4() {
    av1_over_ll_hls(&ClipSpec::standard().av1_opus(), "opus");
}

/// FFmpeg 9 publishes AV1 with `audio` (a CODECS name) and plays it over LL-HLS (fMP4).
fn av1_over_ll_hls(spec: &ClipSpec, audio: &str) {
    let _serial = serial();
    let _wd = watchdog("av1_hls", Duration::from_secs(200));
    let clip = clip(spec);
    let server = LiuServer::start("[hls]\ngrace_ms = 1500\n");
    let name = stream_name("av1-hls");
    let addr = server.http_addr().to_string();
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let index_path = format!("/live/{name}/index.m3u8");
    wait_for_playlist(&addr, &index_path, Duration::from_secs(15));
    let viewer = Viewer::ffmpeg_with(
        &ffmpeg9(),
        &format!("http://{addr}{index_path}"),
        &["-live_start_index", "0"],
    );
    let mv = http_get(&addr, &format!("/live/{name}/master.m3u8")).unwrap();
    let mv_text = String::from_utf8_lossy(&mv.body);
    assert!(
        mv_text.contains("CODECS=\"av01.0.") && mv_text.contains(&format!("M.08,{audio}\"")),
        "AV1 Main 8-bit codecs from the av1C:\n{mv_text}"
    );
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    let d = viewer.finish(Duration::from_secs(8), Duration::from_secs(60));
    assert!(!d.stopped_by_harness, "did not stop at EXT-X-ENDLIST");
    assert_plays_clip(&d, &clip);
}
