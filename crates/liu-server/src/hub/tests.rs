use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::*;

fn video(p: &Publisher, ts: u32, keyframe: bool) {
    p.push(
        FrameKind::Video,
        ts,
        Bytes::from_static(b"frame"),
        FrameFlags {
            keyframe,
            ..Default::default()
        },
    );
}

fn source() -> SourceInfo {
    SourceInfo {
        protocol: "test",
        peer: None,
        query: None,
    }
}

fn viewer() -> ViewerInfo {
    ViewerInfo::internal("test")
}

fn frames(sub: &mut Subscriber) -> Vec<Delivery> {
    let mut out = Vec::new();
    sub.read_ready(&mut out, 1000).unwrap();
    out
}

fn timestamps(d: &[Delivery]) -> Vec<u64> {
    d.iter()
        .filter_map(|d| {
            if let Delivery::Frame(f) = d {
                Some(f.timestamp)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn second_publisher_is_refused() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "a");
    let first = hub.publish(&key, source()).unwrap();
    assert_eq!(
        hub.publish(&key, source()).err(),
        Some(HubError::AlreadyPublishing(key.clone()))
    );
    assert!(first.stream.is_published());
    drop(first);
    assert!(hub.publish(&key, source()).is_ok());
}

#[test]
fn late_viewer_starts_with_headers_at_the_latest_keyframe() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "a");
    let p = hub.publish(&key, source()).unwrap();
    p.push(
        FrameKind::Video,
        0,
        Bytes::from_static(b"avcC"),
        FrameFlags {
            config: true,
            ..Default::default()
        },
    );
    for i in 0..10 {
        video(&p, i * 40, i % 5 == 0);
    }
    let mut sub = hub.subscribe(&key, viewer());
    let got = frames(&mut sub);
    let Delivery::Frame(first) = &got[0] else {
        panic!("{got:?}")
    };
    assert!(first.config);
    let Delivery::Frame(second) = &got[1] else {
        panic!()
    };
    assert!(second.keyframe);
    assert_eq!(timestamps(&got[1..]), vec![200, 240, 280, 320, 360]);
}

#[test]
fn viewer_before_publish_gets_everything_and_survives_a_republish() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "a");
    let mut sub = hub.subscribe(&key, viewer());
    assert!(frames(&mut sub).is_empty());
    let p = hub.publish(&key, source()).unwrap();
    video(&p, 1000, true);
    video(&p, 1040, false);
    drop(p);
    let p = hub.publish(&key, source()).unwrap();
    video(&p, 0, true);
    let got = frames(&mut sub);
    let kinds: Vec<&str> = got
        .iter()
        .map(|d| match d {
            Delivery::Published => "pub",
            Delivery::Unpublished => "unpub",
            Delivery::Skipped => "skip",
            Delivery::Frame(_) => "frame",
        })
        .collect();
    assert_eq!(kinds, ["pub", "frame", "frame", "unpub", "pub", "frame"]);
    assert_eq!(timestamps(&got), vec![0, 40, 80]);
}

#[test]
fn slow_viewer_is_skipped_then_dropped() {
    let mut config = HubConfig::default();
    config.ring.queue_max_bytes = 10_000;
    config.ring.gop_cache_max_bytes = 10_000;
    config.max_skips = 2;
    let hub = Hub::new(config);
    let key = StreamKey::new("live", "a");
    let p = hub.publish(&key, source()).unwrap();
    let mut sub = hub.subscribe(&key, viewer());
    let big = Bytes::from(vec![0u8; 1000]);
    let mut ts = 0;
    for round in 0..3 {
        for i in 0..50 {
            p.push(
                FrameKind::Video,
                ts,
                big.clone(),
                FrameFlags {
                    keyframe: i % 5 == 0,
                    ..Default::default()
                },
            );
            ts += 40;
        }
        let mut out = Vec::new();
        let result = sub.read_ready(&mut out, 1000);
        if round < 2 {
            result.unwrap();
            assert!(matches!(out[0], Delivery::Skipped));
            let Delivery::Frame(f) = &out[1] else {
                panic!()
            };
            assert!(f.keyframe);
        } else {
            assert!(matches!(result, Err(SubscriberError::TooSlow { .. })));
        }
    }
}

#[test]
fn streams_are_released_when_unused() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "a");
    let sub = hub.subscribe(&key, viewer());
    let p = hub.publish(&key, source()).unwrap();
    assert_eq!(hub.streams().len(), 1);
    drop(p);
    drop(sub);
    assert_eq!(hub.streams().len(), 0);
}

#[tokio::test]
async fn waiting_viewer_wakes_on_publish() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "a");
    let mut sub = hub.subscribe(&key, viewer());
    let hub2 = hub.clone();
    let key2 = key.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let p = hub2.publish(&key2, source()).unwrap();
        p.push(
            FrameKind::Video,
            0,
            Bytes::from_static(b"x"),
            FrameFlags {
                keyframe: true,
                ..Default::default()
            },
        );
        p.flush();
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    assert!(sub.wait_published(Duration::from_secs(2)).await);
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), sub.next_batch(&mut out, 10))
        .await
        .unwrap()
        .unwrap();
    assert!(!out.is_empty());
    task.await.unwrap();
}

#[test]
fn stream_keys_split_at_the_last_slash() {
    assert_eq!(StreamKey::new("live", "a/b"), StreamKey::new("live/a", "b"));
    assert_eq!(StreamKey::new("live", "a/b").to_string(), "live/a/b");
    assert_eq!(
        StreamKey::new("live/", "cam"),
        StreamKey::new("live", "cam")
    );
}

#[test]
fn long_gop_viewer_starts_at_its_keyframe_without_skipping() {
    let mut config = HubConfig::default();
    config.ring.queue_max_ms = 5000;
    let hub = Hub::new(config);
    let key = StreamKey::new("live", "a");
    let p = hub.publish(&key, source()).unwrap();
    p.push(
        FrameKind::Video,
        0,
        Bytes::from_static(b"avcC"),
        FrameFlags {
            config: true,
            ..Default::default()
        },
    );
    // A 10 s GOP, 8 s in.
    for i in 0..200 {
        video(&p, i * 40, i == 0);
    }
    let mut sub = hub.subscribe(&key, viewer());
    let got = frames(&mut sub);
    assert!(
        !got.iter().any(|d| matches!(d, Delivery::Skipped)),
        "new viewer was skipped"
    );
    let pictures: Vec<&Arc<Frame>> = got
        .iter()
        .filter_map(|d| {
            if let Delivery::Frame(f) = d {
                Some(f)
            } else {
                None
            }
        })
        .collect();
    assert!(pictures[0].config);
    assert!(pictures[1].keyframe && pictures[1].timestamp == 0);
    assert_eq!(pictures.len(), 201);
}

#[test]
fn headers_resent_after_a_skip_do_not_go_back_in_time() {
    let mut config = HubConfig::default();
    config.ring.queue_max_bytes = 10_000;
    config.ring.gop_cache_max_bytes = 10_000;
    let hub = Hub::new(config);
    let key = StreamKey::new("live", "a");
    let p = hub.publish(&key, source()).unwrap();
    p.push(
        FrameKind::Video,
        0,
        Bytes::from_static(b"avcC"),
        FrameFlags {
            config: true,
            ..Default::default()
        },
    );
    let mut sub = hub.subscribe(&key, viewer());
    let _ = frames(&mut sub);
    let big = Bytes::from(vec![0u8; 1000]);
    for i in 0..50u32 {
        p.push(
            FrameKind::Video,
            i * 40,
            big.clone(),
            FrameFlags {
                keyframe: i % 5 == 0,
                ..Default::default()
            },
        );
    }
    let got = frames(&mut sub);
    assert!(matches!(got[0], Delivery::Skipped));
    let ts = timestamps(&got);
    assert!(
        ts.windows(2).all(|w| w[0] <= w[1]),
        "timestamps go back: {ts:?}"
    );
    assert!(matches!(&got[1], Delivery::Frame(f) if f.config && f.timestamp == ts[1]));
}

/// A direct sink on a Unix socket: records the frames it was asked to write.
struct TestSink {
    sock: std::os::unix::net::UnixStream,
    asked: Arc<Mutex<Vec<u64>>>,
    kept: Vec<Bytes>,
}

impl DirectSink for TestSink {
    fn socket(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }
    fn bytes_for(&mut self, frames: &[Arc<Frame>], out: &mut DirectBytes) {
        for f in frames {
            self.asked.lock().unwrap().push(f.timestamp);
            out.shared(f.payload.clone());
        }
    }
    fn keep(&mut self, rest: Vec<Bytes>) {
        self.kept.extend(rest);
    }
    fn fail(&mut self, e: std::io::Error) {
        panic!("write failed: {e}");
    }
}

/// A sink, the socket's other end, and what the sink was asked to write.
fn sink() -> (
    Box<TestSink>,
    std::os::unix::net::UnixStream,
    Arc<Mutex<Vec<u64>>>,
) {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let s = TestSink {
        sock: a,
        asked: asked.clone(),
        kept: Vec::new(),
    };
    (Box::new(s), b, asked)
}

fn read_all(peer: &mut std::os::unix::net::UnixStream) -> Vec<u8> {
    use std::io::Read;
    peer.set_nonblocking(true).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = peer.read(&mut buf) {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    all
}

/// Lets the stream's direct writer task run.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

#[tokio::test]
async fn direct_sinks_get_frames_at_flush_and_come_back_when_full() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "d");
    let p = hub.publish(&key, source()).unwrap();
    video(&p, 0, true);
    p.flush();
    settle().await;
    let mut sub = hub.subscribe(&key, viewer());
    // Not caught up: the keyframe is unread.
    let (s, mut peer, asked) = sink();
    let writer = s.sock.try_clone().unwrap();
    let s = sub
        .go_direct(s)
        .err()
        .expect("refused while frames are unread");
    assert_eq!(timestamps(&frames(&mut sub)), vec![0]);
    let Ok(mut ticket) = sub.go_direct(s) else {
        panic!("caught up, yet refused")
    };
    video(&p, 40, false);
    video(&p, 80, false);
    p.flush();
    settle().await;
    assert_eq!(*asked.lock().unwrap(), vec![40, 80]);
    assert_eq!(read_all(&mut peer), b"frameframe");
    // A full socket: the frame stays in the sink, which comes back; the
    // viewer continues after it.
    {
        use std::io::Write;
        let mut w = &writer;
        while w.write(&[0u8; 4096]).is_ok() {}
    }
    video(&p, 120, false);
    p.flush();
    settle().await;
    let returned = ticket.returned().await.expect("handed back");
    let back: Box<TestSink> = sub.resume(returned).unwrap();
    assert_eq!(back.kept, vec![Bytes::from_static(b"frame")]);
    video(&p, 160, false);
    p.flush();
    settle().await;
    assert_eq!(timestamps(&frames(&mut sub)), vec![160]);
    assert_eq!(*asked.lock().unwrap(), vec![40, 80, 120]);
}

#[tokio::test]
async fn direct_sinks_can_be_recalled_and_return_on_unpublish() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "r");
    let p = hub.publish(&key, source()).unwrap();
    video(&p, 0, true);
    p.flush();
    settle().await;
    let mut sub = hub.subscribe(&key, viewer());
    frames(&mut sub);
    let (s, mut peer, asked) = sink();
    let Ok(mut ticket) = sub.go_direct(s) else {
        panic!("refused")
    };
    video(&p, 40, false);
    p.flush();
    settle().await;
    let returned = ticket.recall().await.expect("recalled");
    let s: Box<TestSink> = sub.resume(returned).unwrap();
    drop(ticket);
    video(&p, 80, false);
    p.flush();
    settle().await;
    assert_eq!(*asked.lock().unwrap(), vec![40], "written after the recall");
    assert_eq!(read_all(&mut peer), b"frame");
    assert_eq!(timestamps(&frames(&mut sub)), vec![80]);

    // Direct again; the publisher leaves: the sink comes back and the viewer
    // reads the unpublish itself.
    let Ok(mut ticket) = sub.go_direct(s) else {
        panic!("refused")
    };
    drop(p);
    let returned = ticket.returned().await.expect("handed back on unpublish");
    let _: Box<TestSink> = sub.resume(returned).unwrap();
    assert!(matches!(
        frames(&mut sub).as_slice(),
        [Delivery::Unpublished]
    ));
}

#[tokio::test]
async fn a_dropped_ticket_takes_its_sink_out() {
    let hub = Hub::new(HubConfig::default());
    let key = StreamKey::new("live", "x");
    let p = hub.publish(&key, source()).unwrap();
    video(&p, 0, true);
    p.flush();
    settle().await;
    let mut sub = hub.subscribe(&key, viewer());
    frames(&mut sub);
    let (s, _peer, asked) = sink();
    let Ok(ticket) = sub.go_direct(s) else {
        panic!("refused")
    };
    drop(ticket);
    video(&p, 40, false);
    p.flush();
    settle().await;
    assert!(asked.lock().unwrap().is_empty());
    assert!(p.stream.lock().direct.is_empty());
}

#[test]
fn stream_events_tell_publishes_and_viewers() {
    let hub = Hub::new(HubConfig::default());
    let mut events = hub.events();
    let key = StreamKey::new("live", "ev");
    let key2 = key.clone();
    let names = move |events: &mut tokio::sync::broadcast::Receiver<StreamEvent>| {
        let mut out = Vec::new();
        while let Ok(e) = events.try_recv() {
            assert_eq!(e.key(), &key2);
            out.push(match e {
                StreamEvent::Published { republished, .. } => {
                    if republished {
                        "republished"
                    } else {
                        "published"
                    }
                }
                StreamEvent::Unpublished { .. } => "unpublished",
                StreamEvent::ViewerJoined { .. } => "joined",
                StreamEvent::ViewerLeft { .. } => "left",
                StreamEvent::FirstViewer { .. } => "first",
                StreamEvent::LastViewerLeft { .. } => "last",
            });
        }
        out
    };
    let p = hub.publish(&key, source()).unwrap();
    let a = hub.subscribe(&key, viewer());
    let mut b = hub.subscribe(&key, viewer());
    assert_ne!(a.id(), b.id());
    assert_eq!(
        names(&mut events),
        ["published", "first", "joined", "joined"]
    );
    drop(p);
    let p = hub.publish(&key, source()).unwrap();
    // A paused viewer that resumes stays the same viewer.
    b.rejoin();
    drop(a);
    drop(b);
    assert_eq!(
        names(&mut events),
        ["unpublished", "republished", "left", "left", "last"]
    );
    drop(p);
    assert_eq!(names(&mut events), ["unpublished"]);
    // The stream was released: a new publish is not a republish.
    let _p = hub.publish(&key, source()).unwrap();
    assert_eq!(names(&mut events), ["published"]);
}

#[test]
fn a_listener_that_falls_behind_never_holds_up_the_publisher() {
    let hub = Hub::new(HubConfig::default());
    let mut events = hub.events();
    let key = StreamKey::new("live", "many");
    let _p = hub.publish(&key, source()).unwrap();
    for _ in 0..EVENT_QUEUE {
        drop(hub.subscribe(&key, viewer()));
    }
    // Nobody read: the oldest events are gone and the listener is told so.
    assert!(matches!(
        events.try_recv(),
        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_))
    ));
}
