//! Publisher A ends, B publishes the same name a second later: RTMP and HTTP-FLV viewers
//! connected throughout get both parts, and their timestamps never go back.
mod common;
use common::*;
use std::time::Duration;

#[test]
fn viewers_survive_republish_with_monotonic_timestamps() {
    let _wd = watchdog("republish", Duration::from_secs(120));
    let clip_a = clip(&ClipSpec::standard().seconds(5));
    let clip_b = clip(&ClipSpec::standard().seconds(5).other_pattern());
    let server = LiuServer::start("");
    let name = stream_name("republish");
    let url = server.rtmp_url(&name);

    let viewers = vec![
        Viewer::ffmpeg(&ffmpeg9(), &url),
        Viewer::ffmpeg(&ffmpeg9(), &server.flv_url(&name)),
    ];
    std::thread::sleep(Duration::from_millis(700));

    let mut a = Publisher::spawn(&url, &clip_a, &[]);
    let st = a.wait_with_timeout(Duration::from_secs(30));
    assert!(
        st.success(),
        "publisher A exited with {st}; stderr:\n{}",
        a.stderr()
    );
    std::thread::sleep(Duration::from_secs(1));
    let mut b = Publisher::spawn(&url, &clip_b, &[]);
    let st = b.wait_with_timeout(Duration::from_secs(30));
    assert!(
        st.success(),
        "publisher B exited with {st}; stderr:\n{}",
        b.stderr()
    );

    let total = clip_a.video_frames + clip_b.video_frames;
    for v in viewers {
        // Idle 4 s: longer than the gap between the two publishes.
        let d = v.finish(Duration::from_secs(4), Duration::from_secs(60));
        eprintln!("{}", d.summary());
        let (na, nb) = (d.matched_video(&clip_a), d.matched_video(&clip_b));
        assert!(
            na > 0 && nb > 0,
            "viewer did not decode both publishes: {na} pictures of A, {nb} of B: {}",
            d.summary()
        );
        assert!(
            na + nb >= total * 90 / 100,
            "expected >= {} pictures of A and B together, got {na} + {nb}: {}",
            total * 90 / 100,
            d.summary()
        );
        // A's pictures all come before B's.
        let last_a = d
            .video
            .iter()
            .rposition(|f| clip_a.video_index(&f.md5).is_some())
            .unwrap();
        let first_b = d
            .video
            .iter()
            .position(|f| clip_b.video_index(&f.md5).is_some())
            .unwrap();
        assert!(
            last_a < first_b,
            "pictures of A (last at #{last_a}) and B (first at #{first_b}) interleave"
        );
        assert!(
            d.pts_regression().is_none(),
            "{}: {}",
            d.pts_regression().unwrap(),
            d.summary()
        );
        let ts = d.timestamp_complaints();
        assert!(
            ts.is_empty(),
            "timestamps went back ({} complaints, first: {:?}): {}",
            ts.len(),
            &ts[..ts.len().min(3)],
            d.summary()
        );
        let damage = d.damage();
        if !damage.is_empty() {
            eprintln!("note: damage lines across the republish: {damage:?}");
        }
    }
}
