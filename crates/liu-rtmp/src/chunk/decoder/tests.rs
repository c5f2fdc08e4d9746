//! Decoder edge cases: header formats and timestamps, limits, abort,
//! interleaving.

use bytes::BytesMut;

use super::*;
use crate::chunk::tests::{decode_all, msg};
use crate::chunk::{ChunkEncoder, MAX_CHUNK_SIZE, write_type0_message};

#[test]
fn extended_delta_on_type3_new_message() {
    // Type 0 at 10, type 2 with extended delta 0x01000000, then a type-3
    // new message adding the same delta, with and without the repeat.
    for repeat in [true, false] {
        let mut bytes = vec![0x05, 0, 0, 10, 0, 0, 1, 8, 0, 0, 0, 0, b'a'];
        bytes.extend_from_slice(&[0x85, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, b'b']);
        bytes.push(0xC5);
        if repeat {
            bytes.extend_from_slice(&[1, 0, 0, 0]);
        }
        bytes.push(b'c');
        // Pad so the decoder can look 4 bytes past a type-3 header.
        bytes.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0, 8]);
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let got = decode_all(&mut dec, &bytes, 1).unwrap();
        assert_eq!(
            got,
            vec![
                msg(5, 10, 8, 0, b"a"),
                msg(5, 0x0100_000A, 8, 0, b"b"),
                msg(5, 0x0200_000A, 8, 0, b"c"),
                msg(5, 0x0200_000A, 8, 0, b""),
            ],
            "repeat {repeat}"
        );
    }
}

#[test]
fn type3_after_type0_adds_its_timestamp() {
    // §5.3.1.2.4: the delta of a type-3 chunk after a type-0 one is the
    // type-0 timestamp.
    let bytes = [
        0x04, 0, 0, 100, 0, 0, 1, 8, 1, 0, 0, 0, b'a', 0xC4, b'b', 0xC4, b'c',
    ];
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let got = decode_all(&mut dec, &bytes, 1).unwrap();
    assert_eq!(
        got,
        vec![
            msg(4, 100, 8, 1, b"a"),
            msg(4, 200, 8, 1, b"b"),
            msg(4, 300, 8, 1, b"c")
        ]
    );
}

#[test]
fn type1_and_type2_deltas_accumulate_and_wrap() {
    let mut bytes = vec![
        0x04, 0xFF, 0xFF, 0xFF, 0, 0, 1, 8, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xF0, b'a',
    ];
    bytes.extend_from_slice(&[0x44, 0, 0, 0x20, 0, 0, 2, 9, b'b', b'c']);
    bytes.extend_from_slice(&[0x84, 0, 0, 0x01, b'd', b'e']);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let got = decode_all(&mut dec, &bytes, 1).unwrap();
    assert_eq!(
        got,
        vec![
            msg(4, 0xFFFF_FFF0, 8, 1, b"a"),
            msg(4, 0x10, 9, 1, b"bc"),
            msg(4, 0x11, 9, 1, b"de")
        ]
    );
}

#[test]
fn missing_header() {
    for first in [0x45u8, 0x85, 0xC5] {
        let mut dec = ChunkDecoder::new(ChunkLimits::default());
        let mut buf = BytesMut::from(&[first, 0, 0, 0, 0, 0, 1, 8][..]);
        assert_eq!(
            dec.decode(&mut buf),
            Err(ChunkError::MissingHeader { csid: 5 })
        );
    }
    // A header on another chunk stream does not count.
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let mut buf = BytesMut::from(&[0x04, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0xC5][..]);
    assert!(dec.decode(&mut buf).unwrap().is_some());
    assert_eq!(
        dec.decode(&mut buf),
        Err(ChunkError::MissingHeader { csid: 5 })
    );
}

#[test]
fn message_too_large_on_header() {
    // The 24-bit field cannot exceed the default 16 MiB limit, so use a
    // smaller one; the error comes before any data.
    let header = [0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0];
    let limits = ChunkLimits {
        max_message_len: 0xFF_FFFE,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(limits);
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(ChunkError::MessageTooLarge {
            len: 0xFF_FFFF,
            limit: 0xFF_FFFE
        })
    );

    // Type 1 too.
    let mut dec = ChunkDecoder::new(ChunkLimits {
        max_message_len: 1000,
        ..ChunkLimits::default()
    });
    let mut buf = BytesMut::from(
        &[
            0x04, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0, 0x44, 0, 0, 0, 0, 0x03, 0xE9, 9,
        ][..],
    );
    assert!(dec.decode(&mut buf).unwrap().is_some());
    assert_eq!(
        dec.decode(&mut buf),
        Err(ChunkError::MessageTooLarge {
            len: 1001,
            limit: 1000
        })
    );

    // The largest length is accepted by default and waits for data.
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let mut buf = BytesMut::from(&header[..]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert_eq!(buf.len(), header.len());
}

#[test]
fn too_many_chunk_streams() {
    let limits = ChunkLimits {
        max_chunk_streams: 3,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(limits);
    let mut out = BytesMut::new();
    let mut enc = ChunkEncoder::new();
    for csid in [3, 400, 70, 3, 400] {
        enc.write(csid, 0, 8, 1, b"", &mut out);
    }
    assert_eq!(decode_all(&mut dec, &out, 7).unwrap().len(), 5);
    let mut buf = BytesMut::from(&[0x05][..]);
    assert_eq!(
        dec.decode(&mut buf),
        Err(ChunkError::TooManyChunkStreams { limit: 3 })
    );
}

#[test]
fn chunk_size_limits() {
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    assert_eq!(dec.set_chunk_size(0), Err(ChunkError::InvalidChunkSize(0)));
    assert_eq!(
        dec.set_chunk_size(0x8000_0000),
        Err(ChunkError::InvalidChunkSize(0x8000_0000))
    );
    assert_eq!(dec.chunk_size(), 128);
    let mut dec = ChunkDecoder::new(ChunkLimits {
        max_chunk_size: 65536,
        ..ChunkLimits::default()
    });
    assert_eq!(
        dec.set_chunk_size(65537),
        Err(ChunkError::ChunkSizeOverLimit {
            size: 65537,
            limit: 65536
        })
    );
    assert_eq!(dec.set_chunk_size(65536), Ok(()));
    assert_eq!(dec.set_chunk_size(1), Ok(()));
    assert_eq!(dec.chunk_size(), 1);
}

#[test]
fn huge_chunk_size_single_chunk_without_copy() {
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut enc = ChunkEncoder::new();
    let mut out = BytesMut::new();
    enc.set_chunk_size(MAX_CHUNK_SIZE);
    enc.write(6, 40, 9, 1, &payload, &mut out);
    assert_eq!(out.len(), 12 + payload.len());

    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.set_chunk_size(0x7FFF_FFFF).unwrap();
    let data_start = out[12..].as_ptr();
    let mut partial = out.split_to(50_000);
    assert_eq!(dec.decode(&mut partial), Ok(None));
    assert_eq!(
        partial.len(),
        50_000,
        "nothing consumed before the chunk is whole"
    );
    partial.unsplit(out);
    let got = dec.decode(&mut partial).unwrap().unwrap();
    assert_eq!(got, msg(6, 40, 9, 1, &payload));
    assert_eq!(
        got.payload.as_ptr(),
        data_start,
        "single-chunk payload is not copied"
    );
    assert!(partial.is_empty());
}

#[test]
fn partial_messages_are_bounded_in_total() {
    let limits = ChunkLimits {
        max_buffered_bytes: 1000,
        ..ChunkLimits::default()
    };
    let mut dec = ChunkDecoder::new(limits);
    let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
    write_type0_message(3, 0, 9, 1, &[1u8; 800], 128, &mut a);
    write_type0_message(4, 0, 9, 1, &[2u8; 800], 128, &mut b);
    // Interleave: first chunks of both (128 + 128), then continuations.
    let mut wire = BytesMut::new();
    wire.extend_from_slice(&a.split_to(12 + 128));
    wire.extend_from_slice(&b.split_to(12 + 128));
    for _ in 0..3 {
        wire.extend_from_slice(&a.split_to(1 + 128));
        wire.extend_from_slice(&b.split_to(1 + 128));
    }
    let err = match dec.decode(&mut wire) {
        Ok(Some(m)) => panic!("no message should complete: {m:?}"),
        Ok(None) => panic!("the limit should have been hit"),
        Err(e) => e,
    };
    assert_eq!(err, ChunkError::TooMuchBuffered { limit: 1000 });
}

#[test]
fn abort_drops_partial_message() {
    let payload = [7u8; 300];
    let mut out = BytesMut::new();
    ChunkEncoder::new().write(5, 0, 9, 1, &payload, &mut out);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    let mut buf = out.split_to(12 + 128);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert!(buf.is_empty());
    dec.abort(5);
    dec.abort(77);
    // The next type-3 chunk now starts a new message with the same header.
    dec.set_chunk_size(300).unwrap();
    let mut tail = vec![0xC5];
    tail.extend_from_slice(&payload);
    let mut buf = BytesMut::from(&tail[..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap(),
        Some(msg(5, 0, 9, 1, &payload))
    );
}

#[test]
fn new_header_mid_message_replaces_it() {
    let mut bytes = vec![0x05, 0, 0, 1, 0, 0, 3, 8, 1, 0, 0, 0, b'a'];
    bytes.extend_from_slice(&[0x45, 0, 0, 1, 0, 0, 1, 9, b'z']);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    dec.set_chunk_size(1).unwrap();
    assert_eq!(
        decode_all(&mut dec, &bytes, 1).unwrap(),
        vec![msg(5, 2, 9, 1, b"z")]
    );
}

#[test]
fn interleaved_chunk_streams() {
    let a = [1u8; 200];
    let b = [2u8; 150];
    let mut enc = ChunkEncoder::new();
    let (mut ma, mut mb) = (BytesMut::new(), BytesMut::new());
    enc.write(4, 10, 8, 1, &a, &mut ma);
    enc.write(6, 20, 9, 1, &b, &mut mb);
    // a: 12 + 128, 1 + 72; b: 12 + 128, 1 + 22.
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&ma[..140]);
    bytes.extend_from_slice(&mb[..140]);
    bytes.extend_from_slice(&mb[140..]);
    bytes.extend_from_slice(&ma[140..]);
    let mut dec = ChunkDecoder::new(ChunkLimits::default());
    assert_eq!(
        decode_all(&mut dec, &bytes, 1).unwrap(),
        vec![msg(6, 20, 9, 1, &b), msg(4, 10, 8, 1, &a)]
    );
}
