//! HLS written to a directory (`[hls] dir`): FFmpeg 9 publishes over RTMP and nobody asks
//! Liu for HLS; the files alone must make playable HLS (FFmpeg 9 reads the playlists from
//! disk), with the cleanup bounding what stays on disk, or, as an archive, every segment kept.
mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// 1 s segments (the clip has a keyframe every second), a window of 3, one more kept; the
/// playlist ends 4 s after the publisher leaves and is dropped 4 s later.
fn config(dir: &Path, cleanup: bool) -> String {
    format!(
        "[hls]\ntarget_duration_ms = 1000\nwindow = 3\nkeep_extra = 1\ngrace_ms = 4000\n\
         dir = {:?}\ndir_cleanup = {cleanup}\n",
        dir.to_str().unwrap()
    )
}

/// Files in `dir` ending in `ext`, by the sequence number in `TOKEN-N.ext`.
fn media_files(dir: &Path, ext: &str) -> Vec<(u64, PathBuf)> {
    let mut files: Vec<(u64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let stem = name.strip_suffix(ext)?;
            let n = stem.rsplit_once('-')?.1.parse().ok()?;
            Some((n, p))
        })
        .collect();
    files.sort();
    files
}

/// Waits until the playlist file at `path` ends with `EXT-X-ENDLIST`.
fn wait_for_end(path: &Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if text.ends_with("#EXT-X-ENDLIST\n") {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not end within {limit:?}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Decodes a playlist file and checks that it plays what it lists: H.264 640x360 + AAC with no
/// damage, and >= 95 % of the listed seconds as bit-exact pictures of the clip.
fn assert_playlist_file_plays(path: &Path, clip: &Clip) {
    let listed = parse_media_playlist(&fs::read(path).unwrap()).unwrap();
    let seconds: f64 = listed.segments.iter().map(|s| f64::from(s.duration)).sum();
    let d = decode_file(&ffmpeg9(), path);
    eprintln!("{}: {}", path.display(), d.summary());
    d.assert_h264_640x360_aac();
    d.assert_no_damage();
    let want = (seconds * 25.0 * 0.95) as usize;
    assert!(
        listed.segments.len() == 3 && d.matched_video(clip) >= want,
        "{}: {} segments listed ({seconds:.2} s), {} of >= {want} pictures matched",
        path.display(),
        listed.segments.len(),
        d.matched_video(clip)
    );
}

#[test]
fn hls_files_mirror_the_playlists_and_are_cleaned_up() {
    let _wd = watchdog("hls_files", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard().gop(25));
    let dir = temp_dir("hls-files");
    let server = LiuServer::start(&config(&dir, true));
    let name = stream_name("hlsfiles");
    let (ts_playlist, media_dir) = (
        dir.join(format!("live/{name}.m3u8")),
        dir.join("live").join(&name),
    );
    let cmaf_playlist = media_dir.join("index.m3u8");
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);

    // While it is published: every listed file exists, and no more than the window plus the
    // extra segment (plus one being replaced) stay on disk.
    let (mut polls, mut most_ts, mut most_m4s) = (0, 0, 0);
    while publisher.is_running() {
        std::thread::sleep(Duration::from_millis(200));
        for playlist in [&ts_playlist, &cmaf_playlist] {
            let Ok(text) = fs::read(playlist) else {
                continue;
            };
            let listed = parse_media_playlist(&text).unwrap();
            let base = playlist.parent().unwrap();
            for s in &listed.segments {
                assert!(
                    base.join(&s.uri).is_file(),
                    "{} lists missing {}",
                    playlist.display(),
                    s.uri
                );
            }
            polls += 1;
        }
        most_ts = most_ts.max(media_files(&media_dir, ".ts").len());
        most_m4s = most_m4s.max(media_files(&media_dir, ".m4s").len());
    }
    eprintln!("{polls} playlists read; at most {most_ts} .ts and {most_m4s} .m4s on disk");
    assert!(polls >= 10, "the playlists were read only {polls} times");
    assert!(
        publisher
            .wait_with_timeout(Duration::from_secs(5))
            .success(),
        "{}",
        publisher.stderr()
    );
    assert!(
        (3..=5).contains(&most_ts),
        "{most_ts} TS segments on disk at once"
    );
    assert!(
        (3..=5).contains(&most_m4s),
        "{most_m4s} fMP4 segments on disk at once"
    );

    // After the publisher: the playlists end, and the files alone play.
    let text = wait_for_end(&ts_playlist, Duration::from_secs(15));
    let _ = &server;
    assert!(text.contains(&format!("{name}/")), "{text}");
    wait_for_end(&cmaf_playlist, Duration::from_secs(5));
    let cmaf_text = fs::read_to_string(&cmaf_playlist).unwrap();
    assert!(
        cmaf_text.contains("#EXT-X-MAP:URI=") && !cmaf_text.contains("#EXT-X-PART"),
        "{cmaf_text}"
    );
    assert_playlist_file_plays(&ts_playlist, &clip);
    assert_playlist_file_plays(&cmaf_playlist, &clip);

    // When the session ends, its files go.
    let deadline = Instant::now() + Duration::from_secs(15);
    while ts_playlist.exists() || fs::read_dir(&media_dir).is_ok_and(|mut d| d.next().is_some()) {
        assert!(
            Instant::now() < deadline,
            "files left: {:?}",
            fs::read_dir(&media_dir)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        !server.log_tail(200).contains("HLS files:"),
        "{}",
        server.log_tail(20)
    );
}

#[test]
fn hls_files_as_an_archive_keep_every_segment() {
    let _wd = watchdog("hls_archive", Duration::from_secs(120));
    let clip = clip(&ClipSpec::standard().gop(25));
    let dir = temp_dir("hls-archive");
    let server = LiuServer::start(&config(&dir, false));
    let name = stream_name("hlsarchive");
    let media_dir = dir.join("live").join(&name);
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {st}\n{}", publisher.stderr());
    wait_for_end(
        &dir.join(format!("live/{name}.m3u8")),
        Duration::from_secs(15),
    );
    wait_for_end(&media_dir.join("index.m3u8"), Duration::from_secs(5));

    // Every segment is on disk, numbered without a gap; back to back they are the whole clip.
    for (ext, init) in [(".ts", None), (".m4s", Some("init0.mp4"))] {
        let files = media_files(&media_dir, ext);
        let numbers: Vec<u64> = files.iter().map(|(n, _)| *n).collect();
        assert!(files.len() >= 8, "{ext}: {numbers:?}");
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "{ext}: {numbers:?}"
        );
        let mut all = Vec::new();
        if let Some(init) = init {
            let token = files[0]
                .1
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .rsplit_once('-')
                .unwrap()
                .0
                .to_string();
            all.extend(fs::read(media_dir.join(format!("{token}-{init}"))).unwrap());
        }
        for (_, f) in &files {
            all.extend(fs::read(f).unwrap());
        }
        let joined = temp_dir("hls-archive-joined").join(format!("all{ext}"));
        fs::write(&joined, all).unwrap();
        assert_plays_clip(&decode_file(&ffmpeg9(), &joined), &clip);
    }

    // The session's end removes nothing.
    std::thread::sleep(Duration::from_secs(3));
    assert!(media_files(&media_dir, ".ts").len() >= 8);
    assert!(dir.join(format!("live/{name}.m3u8")).is_file());
}
