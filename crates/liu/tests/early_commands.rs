//! Clients that do not wait for answers: `connect`, `createStream` and `play` (or `publish`) in
//! one write, before the server answered anything. The commands wait while `connect` is being
//! decided and are handled in order after it: the player gets media, the publisher publishes.
mod common;
use common::*;
use std::time::Duration;

/// `connect`, `createStream` and `action(name)` on the stream `createStream` will make (1),
/// as one buffer of chunks.
fn pipelined(addr: &str, app: &str, action: &str, name: &str) -> Vec<u8> {
    let tc_url = format!("rtmp://{addr}/{app}");
    let connect = connect_command(app, &tc_url);
    let mut out = message_chunks(3, 20, 0, connect.len() as u32, &connect, 128);
    let create = command_payload("createStream", 2.0, &[]);
    out.extend(message_chunks(3, 20, 0, create.len() as u32, &create, 128));
    let act = command_payload(action, 3.0, &[AmfValue::Str(name.into())]);
    out.extend(message_chunks(8, 20, 1, act.len() as u32, &act, 128));
    out
}

#[test]
fn commands_sent_before_the_connect_answer_are_handled_in_order() {
    let _wd = watchdog("early_commands", Duration::from_secs(90));
    let clip = clip(&ClipSpec::standard());
    let server = LiuServer::start("");
    let name = stream_name("early");
    let addr = server.rtmp_addr().to_string();
    let mut publisher = Publisher::spawn(&server.rtmp_url(&name), &clip, &[]);

    // A player that sends everything at once.
    let mut player = RawRtmp::connect(&addr);
    player.handshake().expect("handshake");
    player
        .send(&pipelined(&addr, "live", "play", &name))
        .expect("send");
    let limit = Duration::from_secs(10);
    let connected = player.wait_answer(1.0, limit).expect("connect answered");
    assert_eq!(connected.command_name().as_deref(), Some("_result"));
    let created = player
        .wait_answer(2.0, limit)
        .expect("createStream answered");
    assert_eq!(
        created.amf().get(3),
        Some(&AmfValue::Number(1.0)),
        "stream 1 made"
    );
    player
        .wait_status(1, "NetStream.Play.Start", limit)
        .expect("play started");
    let video = player
        .wait_media(1, 9, Duration::from_secs(20))
        .expect("video arrives");
    assert!(!video.payload.is_empty());

    // A publisher that does the same.
    let other = stream_name("early-pub");
    let mut raw_publisher = RawRtmp::connect(&addr);
    raw_publisher.handshake().expect("handshake");
    raw_publisher
        .send(&pipelined(&addr, "live", "publish", &other))
        .expect("send");
    raw_publisher
        .wait_answer(2.0, limit)
        .expect("createStream answered");
    raw_publisher
        .wait_status(1, "NetStream.Publish.Start", limit)
        .expect("publish started");

    let st = publisher.wait_with_timeout(Duration::from_secs(30));
    assert!(st.success(), "publisher: {}", publisher.stderr());
}
