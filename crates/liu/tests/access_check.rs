//! The one access check: an answer that takes its time holds up only the
//! connection that asked. The server runs in this process with an extra
//! rule that keeps one stream's publish waiting until the test releases it,
//! then refuses it; meanwhile another stream is published and played by
//! FFmpeg 9, and an HTTP-FLV viewer of the waiting stream is refused too.
mod common;
use common::*;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use liu_server::access::{AccessRequest, AccessRule, Action, Refusal, Verdict};
use tokio::sync::Notify;

/// Publishing or playing stream `held` waits for `release`, then is refused.
struct HeldRule {
    held: String,
    release: Arc<Notify>,
    asked: Arc<AtomicUsize>,
}

impl AccessRule for HeldRule {
    fn check(&self, request: &AccessRequest) -> Verdict {
        if request.stream.as_deref() != Some(self.held.as_str()) {
            return Verdict::Allow;
        }
        self.asked.fetch_add(1, Ordering::SeqCst);
        let release = self.release.clone();
        let action = request.action;
        Verdict::Pending(Box::pin(async move {
            if action == Action::Publish {
                release.notified().await;
            }
            Err(Refusal::new("held stream refused by the test rule"))
        }))
    }
}

#[test]
fn a_pending_answer_holds_up_only_its_own_connection() {
    let _serial = serial();
    let _wd = watchdog("access_check", Duration::from_secs(150));
    let clip = clip(&ClipSpec::standard());
    let held = stream_name("held");
    let open = stream_name("open");
    let release = Arc::new(Notify::new());
    let asked = Arc::new(AtomicUsize::new(0));
    let rule = Arc::new(HeldRule {
        held: held.clone(),
        release: release.clone(),
        asked: asked.clone(),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let config: liu_server::Config = toml::from_str(
        "[rtmp]\nlisten = \"127.0.0.1:0\"\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [access]\ntimeout_ms = 120000\n",
    )
    .expect("config");
    let server = runtime
        .block_on(liu_server::bind_with(config, vec![rule]))
        .expect("bind");
    let rtmp = server.rtmp_addr();
    let http = server.http_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    // The held publish: its connect is allowed, its publish waits.
    let mut waiting = Publisher::spawn(&format!("rtmp://{rtmp}/live/{held}"), &clip, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while asked.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the held publish never reached the access check"
    );

    // Another stream, published and played while that answer is pending.
    let url = format!("rtmp://{rtmp}/live/{open}");
    let mut publisher = Publisher::spawn(&url, &clip, &[]);
    let viewer = Viewer::ffmpeg(&ffmpeg9(), &url);
    assert!(
        viewer.wait_video_frames(50, Duration::from_secs(30)),
        "the other stream played nothing while one publish waited for its access answer"
    );
    assert!(
        waiting.is_running(),
        "the held publisher ended before its answer came: {}",
        waiting.stderr()
    );

    // An HTTP-FLV viewer of the held name waits for its own answer and gets 403.
    let mut raw = RawHttp::send_get(&http.to_string(), &format!("/live/{held}.flv"));
    raw.read_head(Duration::from_secs(20))
        .expect("an answer to the refused HTTP-FLV request");
    assert_eq!(raw.status, 403, "HTTP-FLV viewer of a refused stream");

    // Now the held publish gets its refusal, in RTMP's terms.
    release.notify_one();
    let status = waiting.wait_with_timeout(Duration::from_secs(20));
    let err = waiting.stderr();
    assert!(
        !status.success(),
        "the refused publisher exited with success: {err}"
    );
    assert!(
        err.contains("held stream refused by the test rule"),
        "FFmpeg did not show the refusal's description: {err}"
    );

    // The other stream was untouched: it plays to the end, bit-exact.
    let st = publisher.wait_with_timeout(Duration::from_secs(40));
    assert!(st.success(), "publisher: {}", publisher.stderr());
    let d = viewer.finish(Duration::from_secs(3), Duration::from_secs(40));
    eprintln!("{}", d.summary());
    d.assert_h264_640x360_aac();
    d.assert_no_damage();
    let min = clip.video_frames * 90 / 100;
    assert!(
        d.matched_video(&clip) >= min,
        "expected >= {min} of the clip's pictures, got {}: {}",
        d.matched_video(&clip),
        d.summary()
    );

    let _ = stop.send(());
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_secs(5), serving).await;
    });
}
