//! The chunk stream as a whole: the specification's examples both ways,
//! shared test helpers, and property tests of encoder against decoder.

use super::*;
use crate::control::{CONTROL_CSID, ControlMessage, type_id};
use proptest::prelude::*;

pub(super) fn msg(
    csid: u32,
    timestamp: u32,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
) -> RawMessage {
    RawMessage {
        csid,
        timestamp,
        type_id,
        stream_id,
        payload: Bytes::copy_from_slice(payload),
    }
}

/// Decodes everything in `bytes`, fed `step` bytes at a time, applying
/// Set Chunk Size messages.
pub(super) fn decode_all(
    dec: &mut ChunkDecoder,
    bytes: &[u8],
    step: usize,
) -> Result<Vec<RawMessage>, ChunkError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(step.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(m) = dec.decode(&mut buf)? {
            if m.csid == CONTROL_CSID && m.type_id == type_id::SET_CHUNK_SIZE {
                let Ok(ControlMessage::SetChunkSize(size)) =
                    ControlMessage::parse(m.type_id, &m.payload)
                else {
                    panic!("bad Set Chunk Size in test stream");
                };
                dec.set_chunk_size(size)?;
            }
            out.push(m);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

/// §5.3.2.1: four audio messages of 32 bytes on chunk stream 3 become a
/// type-0, a type-2 and two type-3 chunks.
#[test]
fn spec_example_1() {
    let data: Vec<u8> = (0..32).collect();
    let mut expected = vec![
        0x03, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x20, 0x08, 0x39, 0x30, 0x00, 0x00,
    ];
    expected.extend_from_slice(&data);
    expected.extend_from_slice(&[0x83, 0x00, 0x00, 0x14]);
    expected.extend_from_slice(&data);
    expected.push(0xC3);
    expected.extend_from_slice(&data);
    expected.push(0xC3);
    expected.extend_from_slice(&data);

    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    for ts in [1000, 1020, 1040, 1060] {
        enc.write(3, ts, 8, 12345, &data, &mut out);
    }
    assert_eq!(&out[..], &expected[..]);

    for step in [1, 3, expected.len()] {
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let got = decode_all(&mut dec, &expected, step).unwrap();
        let want: Vec<_> = [1000, 1020, 1040, 1060]
            .map(|ts| msg(3, ts, 8, 12345, &data))
            .into();
        assert_eq!(got, want);
    }
}

/// §5.3.2.2: a 307-byte video message at chunk size 128 becomes a type-0
/// chunk and two type-3 chunks.
#[test]
fn spec_example_2() {
    let data: Vec<u8> = (0..307u32).map(|i| i as u8).collect();
    let mut expected = vec![
        0x04, 0x00, 0x03, 0xE8, 0x00, 0x01, 0x33, 0x09, 0x39, 0x30, 0x00, 0x00,
    ];
    expected.extend_from_slice(&data[..128]);
    expected.push(0xC4);
    expected.extend_from_slice(&data[128..256]);
    expected.push(0xC4);
    expected.extend_from_slice(&data[256..]);

    let mut out = BytesMut::new();
    ChunkEncoder::new().write(4, 1000, 9, 12345, &data, &mut out);
    assert_eq!(&out[..], &expected[..]);

    let mut shared = BytesMut::new();
    write_type0_message(4, 1000, 9, 12345, &data, 128, &mut shared);
    assert_eq!(&shared[..], &expected[..]);
    assert_eq!(type0_message_len(4, 1000, data.len(), 128), expected.len());

    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    assert_eq!(
        decode_all(&mut dec, &expected, 1).unwrap(),
        vec![msg(4, 1000, 9, 12345, &data)]
    );
}

#[test]
fn basic_header_forms() {
    for (csid, header) in [
        (2u32, vec![0x02]),
        (63, vec![0x3F]),
        (64, vec![0x00, 0x00]),
        (319, vec![0x00, 0xFF]),
        (320, vec![0x01, 0x00, 0x01]),
        (65599, vec![0x01, 0xFF, 0xFF]),
    ] {
        let mut out = BytesMut::new();
        ChunkEncoder::new().write(csid, 5, 8, 1, b"x", &mut out);
        assert_eq!(&out[..header.len()], &header[..], "csid {csid}");
        assert_eq!(out.len(), header.len() + 11 + 1);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        assert_eq!(
            decode_all(&mut dec, &out, 1).unwrap(),
            vec![msg(csid, 5, 8, 1, b"x")]
        );
    }
    // csid 64..=319 may also arrive in the 3-byte form.
    let mut bytes = vec![0x01, 0x00, 0x00];
    bytes.extend_from_slice(&[0, 0, 5, 0, 0, 1, 8, 1, 0, 0, 0, b'x']);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    assert_eq!(
        decode_all(&mut dec, &bytes, 1).unwrap(),
        vec![msg(64, 5, 8, 1, b"x")]
    );
}

/// A type-0 header followed by type-3 chunks, extended timestamp
/// `0x01020304`, with or without the 4 bytes repeated on the type-3
/// chunks.
fn extended_message(payload: &[u8], repeat: bool) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut bytes = vec![0x06, 0xFF, 0xFF, 0xFF];
    bytes.extend_from_slice(&len.to_be_bytes()[1..]);
    bytes.extend_from_slice(&[9, 1, 0, 0, 0, 1, 2, 3, 4]);
    for (i, chunk) in payload.chunks(128).enumerate() {
        if i > 0 {
            bytes.push(0xC6);
            if repeat {
                bytes.extend_from_slice(&[1, 2, 3, 4]);
            }
        }
        bytes.extend_from_slice(chunk);
    }
    bytes
}

#[test]
fn extended_timestamp_on_type3_present_and_absent() {
    let payload: Vec<u8> = (0..300u32).map(|i| (i * 7) as u8).collect();
    let want = vec![msg(6, 0x0102_0304, 9, 1, &payload)];
    for repeat in [true, false] {
        let bytes = extended_message(&payload, repeat);
        for step in [1, 2, 5, bytes.len()] {
            let mut dec = ChunkDecoder::new(ChunkLimits::default());
            assert_eq!(
                decode_all(&mut dec, &bytes, step).unwrap(),
                want,
                "repeat {repeat} step {step}"
            );
        }
    }
    // The encoder repeats it.
    let mut out = BytesMut::new();
    ChunkEncoder::new().write(6, 0x0102_0304, 9, 1, &payload, &mut out);
    assert_eq!(&out[..], &extended_message(&payload, true)[..]);
    let mut shared = BytesMut::new();
    write_type0_message(6, 0x0102_0304, 9, 1, &payload, 128, &mut shared);
    assert_eq!(&shared[..], &out[..]);
}

/// xorshift64*, for reproducible test data from one seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[derive(Debug, Clone)]
enum Ts {
    Absolute(u32),
    Delta(u32),
    SameDelta,
}

#[derive(Debug, Clone)]
struct Spec {
    csid: usize,
    ts: Ts,
    type_id: u8,
    stream: usize,
    len: Option<usize>,
}

fn csid() -> impl Strategy<Value = u32> {
    prop_oneof![
        2u32..=63,
        64u32..=319,
        320u32..=65599,
        Just(64u32),
        Just(319u32),
        Just(320u32),
        Just(65599u32)
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    let ts = prop_oneof![
        any::<u32>().prop_map(Ts::Absolute),
        (0xFF_FFF0u32..0x100_0010).prop_map(Ts::Absolute),
        (0u32..100).prop_map(Ts::Delta),
        (0xFF_FFF0u32..0x100_0010).prop_map(Ts::Delta),
        Just(Ts::SameDelta),
    ];
    let type_id = prop_oneof![
        Just(8u8),
        Just(9u8),
        any::<u8>().prop_map(|t| if t == 1 { 18 } else { t })
    ];
    let len = prop_oneof![
        Just(None),
        (0usize..20_000).prop_map(Some),
        (0usize..300).prop_map(Some)
    ];
    (0usize..4, ts, type_id, 0usize..2, len).prop_map(|(csid, ts, type_id, stream, len)| Spec {
        csid,
        ts,
        type_id,
        stream,
        len,
    })
}

fn chunk_size() -> impl Strategy<Value = u32> {
    prop_oneof![1u32..=16, 17u32..=1000, 128u32..=70_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Messages on several chunk streams, chunk sizes changing between
    /// segments, chunks of different chunk streams interleaved, fed in
    /// random pieces: the decoder returns the same messages.
    #[test]
    fn round_trip(
        csids in proptest::collection::vec(csid(), 4),
        stream_ids in (any::<u32>(), 0u32..4),
        segments in proptest::collection::vec((chunk_size(), proptest::collection::vec(spec(), 1..10)), 1..4),
        seed in any::<u64>(),
        max_piece in prop_oneof![Just(1usize), 1usize..16, 1usize..5000, Just(1usize << 20)],
    ) {
        let mut rng = Rng(seed | 1);
        let stream_ids = [stream_ids.0, stream_ids.1];
        let mut enc = ChunkEncoder::new();
        let mut wire = BytesMut::new();
        let mut expected = Vec::new();
        // Per csid slot: last timestamp, last delta, last length.
        let mut last = [(0u32, 0u32, 0usize); 4];
        for (size, specs) in segments {
            // §5.4.1: announce, then switch.
            let set = ControlMessage::SetChunkSize(size);
            enc.write(CONTROL_CSID, 0, set.type_id(), 0, &set.encode(), &mut wire);
            enc.set_chunk_size(size);
            expected.push(msg(CONTROL_CSID, 0, type_id::SET_CHUNK_SIZE, 0, &set.encode()));

            // Encode each message on its own, remembering chunk ends.
            let mut queues: Vec<std::collections::VecDeque<(RawMessage, Vec<Bytes>)>> = vec![Default::default(); 4];
            for s in specs {
                let (prev_ts, prev_delta, prev_len) = last[s.csid];
                let ts = match s.ts {
                    Ts::Absolute(t) => t,
                    Ts::Delta(d) => prev_ts.wrapping_add(d),
                    Ts::SameDelta => prev_ts.wrapping_add(prev_delta),
                };
                let len = s.len.unwrap_or(prev_len);
                last[s.csid] = (ts, ts.wrapping_sub(prev_ts), len);
                let m = RawMessage {
                    csid: csids[s.csid],
                    timestamp: ts,
                    type_id: s.type_id,
                    stream_id: stream_ids[s.stream],
                    payload: rng.bytes(len).into(),
                };
                let mut out = BytesMut::new();
                let mut ends = Vec::new();
                enc.write_with(m.csid, m.timestamp, m.type_id, m.stream_id, &m.payload, &mut out, |o| ends.push(o.len()));
                let mut out = out.freeze();
                let mut chunks = Vec::new();
                let mut start = 0;
                for end in ends {
                    chunks.push(out.split_to(end - start));
                    start = end;
                }
                prop_assert!(out.is_empty());
                // Same csid value in two slots: keep them in one queue.
                let q = csids.iter().position(|&c| c == m.csid).unwrap();
                queues[q].push_back((m, chunks));
            }
            // Interleave chunk by chunk across chunk streams.
            loop {
                let live: Vec<usize> = (0..4).filter(|&i| !queues[i].is_empty()).collect();
                if live.is_empty() {
                    break;
                }
                let q = &mut queues[live[rng.below(live.len())]];
                let (_, chunks) = q.front_mut().unwrap();
                wire.extend_from_slice(&chunks.remove(0));
                if chunks.is_empty() {
                    expected.push(q.pop_front().unwrap().0);
                }
            }
        }

        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut got = Vec::new();
        let mut buf = BytesMut::new();
        let mut wire = wire.freeze();
        while !wire.is_empty() {
            let n = (1 + rng.below(max_piece)).min(wire.len());
            buf.extend_from_slice(&wire.split_to(n));
            while let Some(m) = dec.decode(&mut buf)? {
                if m.csid == CONTROL_CSID
                    && let Ok(ControlMessage::SetChunkSize(size)) = ControlMessage::parse(m.type_id, &m.payload)
                {
                    dec.set_chunk_size(size)?;
                }
                got.push(m);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            prop_assert_eq!(g, e);
        }
    }

    #[test]
    fn type0_message_decodes(
        csid in csid(),
        timestamp in prop_oneof![any::<u32>(), 0xFF_FFF0u32..0x100_0010],
        type_id in any::<u8>(),
        stream_id in any::<u32>(),
        len in 0usize..20_000,
        chunk_size in chunk_size(),
        seed in any::<u64>(),
    ) {
        let payload = Rng(seed | 1).bytes(len);
        let mut out = BytesMut::new();
        write_type0_message(csid, timestamp, type_id, stream_id, &payload, chunk_size, &mut out);
        prop_assert_eq!(out.len(), type0_message_len(csid, timestamp, len, chunk_size));
        // Twice in a row: the second decodes on its own type-0 header.
        let mut wire = out.clone();
        wire.extend_from_slice(&out);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        dec.set_chunk_size(chunk_size).unwrap();
        let want = msg(csid, timestamp, type_id, stream_id, &payload);
        prop_assert_eq!(dec.decode(&mut wire)?, Some(want.clone()));
        prop_assert_eq!(dec.decode(&mut wire)?, Some(want));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn arbitrary_bytes_do_not_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk_size in chunk_size(),
        max_message_len in prop_oneof![Just(16u32 << 20), 0u32..512],
        max_chunk_streams in 0usize..8,
        step in 1usize..64,
    ) {
        let limits = ChunkLimits { max_message_len, max_chunk_streams, ..ChunkLimits::default() };
        let mut dec = ChunkDecoder::new(limits);
        dec.set_chunk_size(chunk_size).unwrap();
        let mut buf = BytesMut::new();
        'feed: for piece in bytes.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(m)) => {
                        prop_assert!(m.payload.len() as u32 <= max_message_len);
                        if m.type_id == 2 && m.payload.len() >= 4 {
                            dec.abort(u32::from_be_bytes([m.payload[0], m.payload[1], m.payload[2], m.payload[3]]));
                        }
                    }
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }
}
