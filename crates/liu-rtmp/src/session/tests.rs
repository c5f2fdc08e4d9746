//! Server and client sessions talking to each other, byte for byte.

use liu_flv::amf0::Amf0Value;

use super::*;
use crate::media::MediaKind;

fn pump(
    client: &mut ClientSession,
    server: &mut ServerSession,
    decide: &mut impl FnMut(&mut ServerSession, ServerEvent),
) -> Vec<ClientEvent> {
    let mut client_events = Vec::new();
    for _ in 0..20 {
        let mut moved = false;
        if let Some(bytes) = client.take_output() {
            moved = true;
            // Feed in awkward pieces to exercise reassembly.
            for piece in bytes.chunks(777) {
                server.receive(piece).unwrap();
            }
            while let Some(ev) = server.poll_event() {
                decide(server, ev);
                server.resume().unwrap();
            }
        }
        if let Some(bytes) = server.take_output() {
            moved = true;
            client.receive(&bytes).unwrap();
            while let Some(ev) = client.poll_event() {
                client_events.push(ev);
            }
        }
        if !moved {
            break;
        }
    }
    client_events
}

fn accept_all(server: &mut ServerSession, ev: ServerEvent, seen: &mut Vec<ServerEvent>) {
    match &ev {
        ServerEvent::Connect(req) => server.accept_connect(&req.app.clone()),
        ServerEvent::Publish(req) => server.accept_publish(req.stream_id, &req.name.clone()),
        ServerEvent::Play(req) => server.accept_play(req.stream_id, &req.name.clone(), req.reset),
        _ => {}
    }
    seen.push(ev);
}

fn client(role: ClientRole) -> ClientSession {
    ClientSession::new(
        ClientConfig::new("live?token=abc", "rtmp://127.0.0.1/live?token=abc"),
        role,
        [7; 32],
        0,
    )
}

#[test]
fn publish_flow_delivers_media_and_metadata() {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Publish {
        name: "cam?sig=1".into(),
    });
    let mut seen = Vec::new();
    let events = pump(&mut client, &mut server, &mut |s, e| {
        accept_all(s, e, &mut seen)
    });
    assert_eq!(events[0], ClientEvent::Connected);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Started { stream_id: 1 })),
        "{events:?}"
    );
    let ServerEvent::Connect(connect) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(connect.app, "live");
    assert_eq!(connect.query.as_deref(), Some("token=abc"));
    let publish = seen
        .iter()
        .find_map(|e| {
            if let ServerEvent::Publish(p) = e {
                Some(p)
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        (publish.name.as_str(), publish.query.as_deref()),
        ("cam", Some("sig=1"))
    );

    let big = vec![0x17u8; 100_000];
    client.send_media(MediaKind::Video, 40, &big).unwrap();
    client
        .send_media(MediaKind::Audio, 0xFFFF_FFF0, b"\xaf\x01audio")
        .unwrap();
    let meta = liu_flv::amf0::encode_all(&[
        Amf0Value::string("@setDataFrame"),
        Amf0Value::string("onMetaData"),
        Amf0Value::object([("width", Amf0Value::Number(640.0))]),
    ]);
    seen.clear();
    let bytes = client.take_output().unwrap();
    let mut with_meta = bytes.to_vec();
    // A data message on the publishing stream, hand-chunked (type 0, csid 5).
    with_meta.extend_from_slice(&[0x05, 0, 0, 0]);
    with_meta.extend_from_slice(&(meta.len() as u32).to_be_bytes()[1..]);
    with_meta.push(18);
    with_meta.extend_from_slice(&1u32.to_le_bytes());
    with_meta.extend_from_slice(&meta[..meta.len().min(128)]);
    assert!(meta.len() <= 128);
    server.receive(&with_meta).unwrap();
    while let Some(ev) = server.poll_event() {
        seen.push(ev);
    }
    assert!(
        matches!(&seen[0], ServerEvent::Media { kind: MediaKind::Video, timestamp: 40, payload, .. } if payload.len() == 100_000)
    );
    assert!(matches!(
        &seen[1],
        ServerEvent::Media {
            kind: MediaKind::Audio,
            timestamp: 0xFFFF_FFF0,
            ..
        }
    ));
    let ServerEvent::Metadata { payload, .. } = &seen[2] else {
        panic!("{seen:?}")
    };
    let values = liu_flv::amf0::decode_all(payload).unwrap();
    assert_eq!(values[0].as_str(), Some("onMetaData"));
    assert_eq!(
        values[1].get("width").and_then(Amf0Value::as_f64),
        Some(640.0)
    );

    client.close();
    seen.clear();
    server.receive(&client.take_output().unwrap()).unwrap();
    while let Some(ev) = server.poll_event() {
        seen.push(ev);
    }
    assert!(
        seen.iter()
            .any(|e| matches!(e, ServerEvent::PublishStopped { stream_id: 1 })),
        "{seen:?}"
    );
}

#[test]
fn refused_publish_reaches_the_client() {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Publish { name: "cam".into() });
    let events = pump(&mut client, &mut server, &mut |s, e| match e {
        ServerEvent::Connect(req) => s.accept_connect(&req.app),
        ServerEvent::Publish(req) => {
            s.reject_publish(req.stream_id, "NetStream.Publish.BadName", "busy")
        }
        _ => {}
    });
    assert!(
        events.iter().any(|e| matches!(e, ClientEvent::Rejected { code, .. } if code == "NetStream.Publish.BadName")),
        "{events:?}"
    );
}

#[test]
fn play_flow_and_shared_media_bytes() {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Play { name: "cam".into() });
    let mut seen = Vec::new();
    let events = pump(&mut client, &mut server, &mut |s, e| {
        accept_all(s, e, &mut seen)
    });
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ClientEvent::Started { stream_id: 1 })),
        "{events:?}"
    );
    let ServerEvent::Play(play) = seen
        .iter()
        .find(|e| matches!(e, ServerEvent::Play(_)))
        .unwrap()
    else {
        panic!()
    };
    assert_eq!((play.name.as_str(), play.start), ("cam", -2.0));

    // Media serialized once, as the fan-out does, is read by the client.
    let shared = crate::media::serialize_media(
        MediaKind::Video,
        0x0100_0000,
        1,
        &[9u8; 10_000],
        server.out_chunk_size(),
    );
    client.receive(&shared).unwrap();
    let ev = client.poll_event().unwrap();
    assert!(
        matches!(ev, ClientEvent::Media { kind: MediaKind::Video, timestamp: 0x0100_0000, ref payload } if payload.len() == 10_000)
    );

    server.notify_unpublished(1, "cam", false);
    client.receive(&server.take_output().unwrap()).unwrap();
    assert_eq!(client.poll_event(), Some(ClientEvent::StreamEof));
}

/// `cmd` as an AMF0 command message on chunk stream 3, message stream `msid`.
fn command_bytes(cmd: &crate::command::Command, msid: u32) -> bytes::BytesMut {
    let mut payload = Vec::new();
    cmd.encode(&mut payload);
    let mut out = bytes::BytesMut::new();
    crate::chunk::write_type0_message(3, 0, 20, msid, &payload, 4096, &mut out);
    out
}

/// A server session past the handshake, with the client's `connect` (and
/// its Set Chunk Size 4096) received and not yet answered.
fn connect_pending() -> ServerSession {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Play { name: "cam".into() });
    server.receive(&client.take_output().unwrap()).unwrap();
    client.receive(&server.take_output().unwrap()).unwrap();
    server.receive(&client.take_output().unwrap()).unwrap();
    server
}

#[test]
fn commands_before_connect_are_refused() {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Play { name: "cam".into() });
    server.receive(&client.take_output().unwrap()).unwrap();
    // The client's C2 only: no connect.
    client.receive(&server.take_output().unwrap()).unwrap();
    let c2_and_connect = client.take_output().unwrap();
    server.receive(&c2_and_connect[..1536]).unwrap();
    let mut out = bytes::BytesMut::new();
    let mut payload = Vec::new();
    crate::command::Command::new("createStream", 2.0, Amf0Value::Null, vec![]).encode(&mut payload);
    crate::chunk::write_type0_message(3, 0, 20, 0, &payload, 128, &mut out);
    let err = server.receive(&out).unwrap_err();
    assert!(err.to_string().contains("before connect"), "{err}");
}

#[test]
fn commands_while_connect_is_decided_wait_for_the_answer() {
    use crate::command::Command;
    let mut server = connect_pending();
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
    assert!(server.deciding());
    // createStream and play in one write, before the answer.
    let mut early = command_bytes(
        &Command::new("createStream", 2.0, Amf0Value::Null, vec![]),
        0,
    );
    early.extend_from_slice(&command_bytes(
        &Command::new("play", 3.0, Amf0Value::Null, vec![Amf0Value::string("cam")]),
        1,
    ));
    server.receive(&early).unwrap();
    assert_eq!(
        server.poll_event(),
        None,
        "nothing is handled before the answer"
    );
    server.accept_connect("live");
    server.resume().unwrap();
    // createStream made stream 1, then play on it waits for its own answer.
    assert!(
        matches!(server.poll_event(), Some(ServerEvent::Play(p)) if p.stream_id == 1 && p.name == "cam")
    );
    assert!(server.deciding());
}

#[test]
fn media_sent_with_publish_is_kept_for_the_answer() {
    use crate::command::Command;
    let mut server = connect_pending();
    assert!(matches!(server.poll_event(), Some(ServerEvent::Connect(_))));
    server.accept_connect("live");
    server.resume().unwrap();
    let mut early = command_bytes(
        &Command::new("createStream", 2.0, Amf0Value::Null, vec![]),
        0,
    );
    early.extend_from_slice(&command_bytes(
        &Command::new(
            "publish",
            3.0,
            Amf0Value::Null,
            vec![Amf0Value::string("cam")],
        ),
        1,
    ));
    crate::chunk::write_type0_message(4, 0, 9, 1, b"\x17\x00\x00\x00\x00", 4096, &mut early);
    server.receive(&early).unwrap();
    assert!(matches!(server.poll_event(), Some(ServerEvent::Publish(_))));
    assert_eq!(server.poll_event(), None);
    server.accept_publish(1, "cam");
    server.resume().unwrap();
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Media {
            stream_id: 1,
            kind: MediaKind::Video,
            ..
        })
    ));
}

#[test]
fn held_messages_are_bounded() {
    let mut server = ServerSession::new(
        ServerConfig {
            max_held_bytes: 1000,
            ..ServerConfig::default()
        },
        [1; 32],
        0,
    );
    let mut client = client(ClientRole::Play { name: "cam".into() });
    server.receive(&client.take_output().unwrap()).unwrap();
    client.receive(&server.take_output().unwrap()).unwrap();
    server.receive(&client.take_output().unwrap()).unwrap();
    let cmd = crate::command::Command::new(
        "noise",
        0.0,
        Amf0Value::Null,
        vec![Amf0Value::string("x".repeat(300))],
    );
    let mut result = Ok(());
    for _ in 0..5 {
        result = result.and_then(|_| server.receive(&command_bytes(&cmd, 0)));
    }
    let err = result.unwrap_err();
    assert!(
        err.to_string()
            .contains("before connect, publish or play was answered"),
        "{err}"
    );
}

#[test]
fn playing_again_on_one_stream_replaces_the_play() {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Play { name: "cam".into() });
    let mut seen = Vec::new();
    pump(&mut client, &mut server, &mut |s, e| {
        accept_all(s, e, &mut seen)
    });
    let mut payload = Vec::new();
    crate::command::Command::new(
        "play",
        0.0,
        Amf0Value::Null,
        vec![Amf0Value::string("other")],
    )
    .encode(&mut payload);
    let mut out = bytes::BytesMut::new();
    crate::chunk::write_type0_message(8, 0, 20, 1, &payload, 4096, &mut out);
    server.receive(&out).unwrap();
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::PlayStopped { stream_id: 1 })
    );
    assert!(matches!(server.poll_event(), Some(ServerEvent::Play(p)) if p.name == "other"));
}

#[test]
fn a_bad_data_message_is_dropped_not_fatal() {
    let mut server = ServerSession::new(ServerConfig::default(), [1; 32], 0);
    let mut client = client(ClientRole::Publish { name: "cam".into() });
    let mut seen = Vec::new();
    pump(&mut client, &mut server, &mut |s, e| {
        accept_all(s, e, &mut seen)
    });
    let mut out = bytes::BytesMut::new();
    // An AMF3 switch marker where AMF0 was due.
    crate::chunk::write_type0_message(8, 0, 18, 1, &[0x11, 0x02, 0x00], 4096, &mut out);
    server.receive(&out).unwrap();
    assert!(matches!(
        server.poll_event(),
        Some(ServerEvent::Dropped { .. })
    ));
}
