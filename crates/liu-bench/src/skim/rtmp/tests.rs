use bytes::BytesMut;
use liu_rtmp::chunk::{ChunkDecoder, ChunkEncoder, ChunkLimits, write_type0_message};
use proptest::prelude::*;

use super::*;

/// What a skimmer should report for a message: header fields and kept bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    type_id: u8,
    timestamp: u32,
    stream_id: u32,
    len: u32,
    data: Vec<u8>,
}

fn expected_data(type_id: u8, payload: &[u8]) -> Vec<u8> {
    match keep_for(type_id, payload.len() as u32) {
        Keep::Prefix => payload[..payload.len().min(PREFIX_LEN)].to_vec(),
        Keep::Body => payload.to_vec(),
        Keep::Skip => Vec::new(),
    }
}

/// Skims `bytes` fed in pieces whose lengths cycle through `cuts`.
fn skim(bytes: &[u8], cuts: &[usize]) -> Vec<Seen> {
    let mut s = RtmpSkimmer::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut k = 0;
    while pos < bytes.len() {
        let n = cuts
            .get(k % cuts.len().max(1))
            .copied()
            .unwrap_or(bytes.len())
            .max(1)
            .min(bytes.len() - pos);
        k += 1;
        s.feed(&bytes[pos..pos + n], &mut |m: &Message<'_>| {
            out.push(Seen {
                type_id: m.type_id,
                timestamp: m.timestamp,
                stream_id: m.stream_id,
                len: m.len,
                data: m.data.to_vec(),
            })
        })
        .unwrap();
        pos += n;
    }
    out
}

/// The same through liu-rtmp's full decoder.
fn decode(bytes: &[u8]) -> Vec<Seen> {
    let mut d = ChunkDecoder::new(ChunkLimits::default());
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    while let Some(m) = d.decode(&mut buf).unwrap() {
        if m.type_id == 1 {
            d.set_chunk_size(u32::from_be_bytes(m.payload[..4].try_into().unwrap()))
                .unwrap();
        }
        out.push(Seen {
            type_id: m.type_id,
            timestamp: m.timestamp,
            stream_id: m.stream_id,
            len: m.payload.len() as u32,
            data: expected_data(m.type_id, &m.payload),
        });
    }
    assert!(buf.is_empty());
    out
}

#[derive(Debug, Clone)]
enum Op {
    /// csid, timestamp step (may jump past 0xFFFFFF or go back), type id, stream id, payload length, type-0 form.
    Msg {
        csid: u32,
        step: i64,
        type_id: u8,
        stream_id: u32,
        len: usize,
        type0: bool,
    },
    ChunkSize(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let csid = prop_oneof![
        Just(3u32),
        Just(4),
        Just(5),
        Just(6),
        Just(63),
        Just(64),
        Just(319),
        Just(320),
        Just(65_599)
    ];
    let step = prop_oneof![4 => 0i64..100, 1 => Just(0x0100_0000i64), 1 => -50i64..0];
    let type_id = prop_oneof![Just(8u8), Just(9), Just(20), Just(18), Just(4), Just(22)];
    let len = prop_oneof![3 => 0usize..200, 2 => 200usize..5000, 1 => 15_000usize..20_000];
    prop_oneof![
        8 => (csid, step, type_id, 0u32..3, len, any::<bool>()).prop_map(|(csid, step, type_id, stream_id, len, type0)| {
            Op::Msg { csid, step, type_id, stream_id, len, type0 }
        }),
        1 => prop_oneof![Just(1u32), Just(7), Just(128), Just(4096), Just(60_000)].prop_map(Op::ChunkSize),
    ]
}

/// Encodes the operations; returns the bytes and what each message should look like.
fn encode(ops: &[Op]) -> (Vec<u8>, Vec<Seen>) {
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    let mut expected = Vec::new();
    let mut clocks = std::collections::HashMap::<u32, u32>::new();
    for (n, op) in ops.iter().enumerate() {
        match *op {
            Op::Msg {
                csid,
                step,
                type_id,
                stream_id,
                len,
                type0,
            } => {
                let clock = clocks.entry(csid).or_insert(0);
                *clock = (i64::from(*clock) + step).clamp(0, i64::from(u32::MAX)) as u32;
                let payload: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8).collect();
                if type0 {
                    write_type0_message(
                        csid,
                        *clock,
                        type_id,
                        stream_id,
                        &payload,
                        enc.chunk_size(),
                        &mut out,
                    );
                    enc.reset_csid(csid);
                } else {
                    enc.write(csid, *clock, type_id, stream_id, &payload, &mut out);
                }
                expected.push(Seen {
                    type_id,
                    timestamp: *clock,
                    stream_id,
                    len: len as u32,
                    data: expected_data(type_id, &payload),
                });
            }
            Op::ChunkSize(size) => {
                enc.write(2, 0, 1, 0, &size.to_be_bytes(), &mut out);
                enc.set_chunk_size(size);
                expected.push(Seen {
                    type_id: 1,
                    timestamp: 0,
                    stream_id: 0,
                    len: 4,
                    data: size.to_be_bytes().to_vec(),
                });
            }
        }
    }
    (out.to_vec(), expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn skims_what_the_encoder_wrote(ops in prop::collection::vec(op(), 1..40), cuts in prop::collection::vec(1usize..300, 1..20)) {
        let (bytes, expected) = encode(&ops);
        let seen = skim(&bytes, &cuts);
        prop_assert_eq!(&seen, &expected);
        prop_assert_eq!(&seen, &decode(&bytes));
        // Byte by byte too.
        prop_assert_eq!(&skim(&bytes, &[1]), &expected);
    }
}

fn chunk(fmt: u8, csid: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![(fmt << 6) | csid];
    v.extend_from_slice(rest);
    v
}

#[test]
fn interleaved_chunk_streams() {
    let video: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut bytes = Vec::new();
    // Video (csid 6, 300 bytes) in chunks of 128, with a whole audio message (csid 4) between.
    bytes.extend(chunk(0, 6, &[0, 0, 40, 0, 1, 44, 9, 1, 0, 0, 0]));
    bytes.extend_from_slice(&video[..128]);
    bytes.extend(chunk(
        0,
        4,
        &[0, 0, 23, 0, 0, 3, 8, 1, 0, 0, 0, 0xaf, 1, 0x21],
    ));
    bytes.extend(chunk(3, 6, &video[128..256]));
    bytes.extend(chunk(1, 4, &[0, 0, 23, 0, 0, 2, 8, 0xaf, 1]));
    bytes.extend(chunk(3, 6, &video[256..]));
    // Type 2 then type 3 starting a new message: delta 20 reused.
    bytes.extend(chunk(2, 4, &[0, 0, 20, 0xaf, 1]));
    bytes.extend(chunk(3, 4, &[0xaf, 2]));
    for cuts in [&[1usize][..], &[2, 3, 5], &[1000]] {
        let seen = skim(&bytes, cuts);
        let summary: Vec<(u8, u32, u32, usize)> = seen
            .iter()
            .map(|m| (m.type_id, m.timestamp, m.len, m.data.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (8, 23, 3, 3),
                (8, 46, 2, 2),
                (9, 40, 300, PREFIX_LEN),
                (8, 66, 2, 2),
                (8, 86, 2, 2)
            ]
        );
        assert_eq!(seen[2].data, &video[..PREFIX_LEN]);
        assert_eq!(seen, decode(&bytes));
    }
}

#[test]
fn extended_timestamp_left_out_of_type3_chunks() {
    // A type-0 header with an extended timestamp, then a continuation chunk without it
    // (as some encoders write): the four bytes are payload.
    let mut bytes = chunk(
        0,
        6,
        &[
            0xff, 0xff, 0xff, 0, 0, 130, 9, 1, 0, 0, 0, 0x01, 0x00, 0x00, 0x00,
        ],
    );
    let payload: Vec<u8> = (0..130u32).map(|i| (i + 1) as u8).collect();
    bytes.extend_from_slice(&payload[..128]);
    bytes.extend(chunk(3, 6, &payload[128..]));
    bytes.extend(chunk(0, 4, &[0, 0, 1, 0, 0, 1, 8, 1, 0, 0, 0, 0xaf]));
    let seen = skim(&bytes, &[1]);
    assert_eq!((seen[0].timestamp, seen[0].len), (0x0100_0000, 130));
    assert_eq!((seen[1].type_id, seen[1].timestamp), (8, 1));
    assert_eq!(seen, decode(&bytes));
}

#[test]
fn abort_drops_the_partial_message() {
    let mut bytes = chunk(0, 6, &[0, 0, 1, 0, 1, 0, 9, 1, 0, 0, 0]);
    bytes.extend_from_slice(&[7; 128]);
    bytes.extend(chunk(0, 2, &[0, 0, 0, 0, 0, 4, 2, 0, 0, 0, 0, 0, 0, 0, 6]));
    // The next message on csid 6 starts with type 3: same header, new message.
    bytes.extend(chunk(3, 6, &[8; 128]));
    let seen = skim(&bytes, &[5]);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].type_id, 2);
    let mut s = RtmpSkimmer::new();
    s.feed(&bytes, &mut |_| {}).unwrap();
    bytes.extend(chunk(3, 6, &[9; 128]));
    let seen = skim(&bytes, &[1000]);
    assert_eq!(
        seen.last().map(|m| (m.type_id, m.timestamp, m.data[0])),
        Some((9, 2, 8))
    );
}

#[test]
fn bad_input_is_an_error() {
    let mut s = RtmpSkimmer::new();
    assert!(
        s.feed(&[0xc6, 1, 2, 3], &mut |_| {}).is_err(),
        "type 3 on an unknown chunk stream"
    );
    let mut s = RtmpSkimmer::new();
    let zero_chunk_size = chunk(0, 2, &[0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(s.feed(&zero_chunk_size, &mut |_| {}).is_err());
}

#[test]
fn media_bytes_count_audio_and_video_payload_only() {
    let (bytes, _) = encode(&[
        Op::Msg {
            csid: 4,
            step: 0,
            type_id: 8,
            stream_id: 1,
            len: 100,
            type0: true,
        },
        Op::Msg {
            csid: 3,
            step: 0,
            type_id: 20,
            stream_id: 0,
            len: 50,
            type0: true,
        },
        Op::Msg {
            csid: 6,
            step: 0,
            type_id: 9,
            stream_id: 1,
            len: 1000,
            type0: false,
        },
    ]);
    let mut s = RtmpSkimmer::new();
    s.feed(&bytes, &mut |_| {}).unwrap();
    assert_eq!(s.media_bytes(), 1100);
}
