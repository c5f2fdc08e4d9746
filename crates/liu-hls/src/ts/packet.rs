//! Transport packets (ISO/IEC 13818-1 §2.4.3.2), the adaptation field with PCR
//! and stuffing (§2.4.3.4, §2.4.3.5), and continuity counters (§2.4.3.3).

use bytes::{BufMut, BytesMut};

/// Size of a transport packet (§2.4.3.2).
pub const TS_PACKET_SIZE: usize = 188;
/// `sync_byte` (§2.4.3.3).
pub const SYNC_BYTE: u8 = 0x47;
/// Bytes after the 4-byte packet header.
const PAYLOAD_SPACE: usize = TS_PACKET_SIZE - 4;
/// Mask of a 33-bit PTS, DTS or `program_clock_reference_base`.
pub(crate) const MASK_33: u64 = (1 << 33) - 1;

/// `adaptation_field_control` (§2.4.3.3, Table 2-5).
#[derive(Clone, Copy)]
enum FieldControl {
    PayloadOnly = 0b01,
    Both = 0b11,
}

/// A 4-bit `continuity_counter` of one PID (§2.4.3.3): it advances with every
/// packet that carries payload and wraps from 15 to 0.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Continuity(u8);

impl Continuity {
    /// The value for the next packet with payload; advances the counter.
    fn next(&mut self) -> u8 {
        let c = self.0;
        self.0 = (self.0 + 1) & 0x0f;
        c
    }
}

/// What the adaptation field of the first packet of a payload unit carries.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FirstPacket {
    /// `program_clock_reference_base` in 90 kHz units (extension 0), §2.4.3.5.
    pub pcr: Option<u64>,
    /// `random_access_indicator` (§2.4.3.5): the unit starts a random access point.
    pub random_access: bool,
}

impl FirstPacket {
    /// Length of the adaptation field content (flags byte and PCR), 0 when none is needed.
    fn body_len(&self) -> usize {
        match (self.pcr, self.random_access) {
            (Some(_), _) => 1 + 6,
            (None, true) => 1,
            (None, false) => 0,
        }
    }

    /// The adaptation field flags byte (§2.4.3.4).
    fn flags(&self) -> u8 {
        let mut f = 0;
        if self.random_access {
            f |= 0x40;
        }
        if self.pcr.is_some() {
            f |= 0x10;
        }
        f
    }
}

/// Writes the 4-byte packet header (§2.4.3.2): no error, no priority, not scrambled.
fn put_header(out: &mut BytesMut, start: bool, pid: u16, control: FieldControl, cc: u8) {
    let pid = pid & 0x1fff;
    let [pid_hi, pid_lo] = pid.to_be_bytes();
    out.put_u8(SYNC_BYTE);
    out.put_u8(if start { 0x40 } else { 0 } | pid_hi);
    out.put_u8(pid_lo);
    out.put_u8(((control as u8) << 4) | (cc & 0x0f));
}

/// Encodes a PCR (§2.4.3.5): 33-bit base, 6 reserved bits, 9-bit extension (0).
pub(crate) fn encode_pcr(base: u64) -> [u8; 6] {
    let b = base & MASK_33;
    [
        (b >> 25) as u8,
        (b >> 17) as u8,
        (b >> 9) as u8,
        (b >> 1) as u8,
        (((b & 1) as u8) << 7) | 0x7e,
        0,
    ]
}

/// Writes one payload unit (a PES packet given as `head` then `body`) as
/// transport packets on `pid`, setting `payload_unit_start_indicator` on the
/// first (§2.4.3.3).
///
/// The first packet gets an adaptation field when `first` asks for a PCR or a
/// random access indicator. The last packet is filled with adaptation-field
/// stuffing (§2.4.3.4: `adaptation_field_length` 0 is one stuffing byte, more
/// is a flags byte and 0xFF bytes); the payload itself is never padded.
/// Writes nothing when the unit is empty.
pub(crate) fn write_unit(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut Continuity,
    first: FirstPacket,
    head: &[u8],
    body: &[u8],
) {
    let total = head.len() + body.len();
    // The first packet loses at most 8 bytes to its adaptation field.
    out.reserve((total / PAYLOAD_SPACE + 2) * TS_PACKET_SIZE);
    let mut src = Chain { head, body };
    let mut start = true;
    while src.len() > 0 {
        let af_body = if start { first.body_len() } else { 0 };
        // Adaptation field size including its length byte, before stuffing.
        let af_min = if af_body > 0 { 1 + af_body } else { 0 };
        let space = PAYLOAD_SPACE - af_min;
        let n = src.len().min(space);
        let af_total = PAYLOAD_SPACE - n;
        let control = if af_total > 0 {
            FieldControl::Both
        } else {
            FieldControl::PayloadOnly
        };
        put_header(out, start, pid, control, cc.next());
        if af_total > 0 {
            // adaptation_field_length counts the bytes after itself.
            out.put_u8((af_total - 1) as u8);
            if af_total > 1 {
                let flags = if start { first } else { FirstPacket::default() };
                out.put_u8(flags.flags());
                let mut written = 1;
                if let (true, Some(pcr)) = (start, first.pcr) {
                    out.put_slice(&encode_pcr(pcr));
                    written += 6;
                }
                out.put_bytes(0xff, af_total - 1 - written);
            }
        }
        src.copy_to(n, out);
        start = false;
    }
}

/// Writes one PSI section (§2.4.4) in a single packet: `pointer_field` 0, the
/// section, then 0xFF stuffing to the end of the packet (§2.4.4.1).
/// Sections longer than 183 bytes are cut (the muxer's are 16 and 26 bytes).
pub(crate) fn write_section(out: &mut BytesMut, pid: u16, cc: &mut Continuity, section: &[u8]) {
    let section = section
        .get(..section.len().min(PAYLOAD_SPACE - 1))
        .unwrap_or_default();
    out.reserve(TS_PACKET_SIZE);
    put_header(out, true, pid, FieldControl::PayloadOnly, cc.next());
    out.put_u8(0); // pointer_field
    out.put_slice(section);
    out.put_bytes(0xff, PAYLOAD_SPACE - 1 - section.len());
}

/// Two slices read as one.
struct Chain<'a> {
    head: &'a [u8],
    body: &'a [u8],
}

impl Chain<'_> {
    fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }

    /// Moves the first `n` bytes (at most `len()`) to `out`.
    fn copy_to(&mut self, n: usize, out: &mut BytesMut) {
        let (h, rest) = self.head.split_at(n.min(self.head.len()));
        out.put_slice(h);
        self.head = rest;
        let (b, rest) = self.body.split_at((n - h.len()).min(self.body.len()));
        out.put_slice(b);
        self.body = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(first: FirstPacket, len: usize) -> Vec<u8> {
        let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut out = BytesMut::new();
        write_unit(
            &mut out,
            0x100,
            &mut Continuity::default(),
            first,
            &[],
            &body,
        );
        out.to_vec()
    }

    /// `(adaptation_field_length or None, payload)` of each packet.
    fn split(ts: &[u8]) -> Vec<(Option<u8>, Vec<u8>)> {
        assert_eq!(ts.len() % TS_PACKET_SIZE, 0);
        ts.chunks(TS_PACKET_SIZE)
            .map(|p| {
                assert_eq!(p[0], SYNC_BYTE);
                if p[3] & 0x20 != 0 {
                    let n = usize::from(p[4]);
                    (Some(p[4]), p[5 + n..].to_vec())
                } else {
                    (None, p[4..].to_vec())
                }
            })
            .collect()
    }

    #[test]
    fn stuffing_fills_the_last_packet() {
        // (payload length, adaptation_field_length of the last packet or None)
        for (len, af) in [
            (1, Some(182)),
            (182, Some(1)),
            (183, Some(0)),
            (184, None),
            (185, Some(182)),
            (368, None),
            (367, Some(0)),
        ] {
            let ts = unit(FirstPacket::default(), len);
            let packets = split(&ts);
            assert_eq!(packets.len(), len.div_ceil(184), "{len}");
            let last = &ts[ts.len() - TS_PACKET_SIZE..];
            assert_eq!(packets.last().map(|p| p.0), Some(af), "{len}");
            if let Some(n) = af.filter(|&n| n > 0) {
                // Flags byte 0, then 0xFF stuffing.
                assert_eq!(last[5], 0);
                assert!(last[6..5 + usize::from(n)].iter().all(|&b| b == 0xff));
            }
            let payload: Vec<u8> = packets.into_iter().flat_map(|p| p.1).collect();
            assert_eq!(payload.len(), len);
        }
    }

    #[test]
    fn first_packet_pcr_and_random_access() {
        let first = FirstPacket {
            pcr: Some(0x1_2345_6789),
            random_access: true,
        };
        // 176 bytes fill the first packet exactly after the 8-byte field.
        let ts = unit(first, 176);
        assert_eq!(ts.len(), TS_PACKET_SIZE);
        assert_eq!(&ts[..6], &[0x47, 0x41, 0x00, 0x30, 7, 0x50]);
        assert_eq!(&ts[6..12], &encode_pcr(0x1_2345_6789));
        // One more byte: a second packet with 183 bytes of adaptation field.
        let ts = unit(first, 177);
        let packets = split(&ts);
        assert_eq!(
            packets.iter().map(|p| p.0).collect::<Vec<_>>(),
            [Some(7), Some(182)]
        );
        assert_eq!(ts[TS_PACKET_SIZE + 1], 0x01); // no PUSI on the second packet
        // Random access alone: a 2-byte field.
        let ts = unit(
            FirstPacket {
                pcr: None,
                random_access: true,
            },
            10,
        );
        assert_eq!(&ts[4..6], &[173, 0x40]);
    }

    #[test]
    fn pcr_encoding() {
        let max = MASK_33;
        assert_eq!(encode_pcr(max), [0xff, 0xff, 0xff, 0xff, 0xfe, 0]);
        assert_eq!(encode_pcr(max + 1), [0, 0, 0, 0, 0x7e, 0]);
        assert_eq!(encode_pcr(1), [0, 0, 0, 0, 0xfe, 0]);
        assert_eq!(encode_pcr(2), [0, 0, 0, 1, 0x7e, 0]);
    }

    #[test]
    fn continuity_counter_wraps_and_head_body_join() {
        let mut cc = Continuity::default();
        let mut out = BytesMut::new();
        for _ in 0..17 {
            write_unit(
                &mut out,
                0x101,
                &mut cc,
                FirstPacket::default(),
                &[1, 2],
                &[3],
            );
        }
        let ccs: Vec<u8> = out.chunks(TS_PACKET_SIZE).map(|p| p[3] & 0x0f).collect();
        let want: Vec<u8> = (0..17).map(|i| i % 16).collect();
        assert_eq!(ccs, want);
        assert_eq!(&out[TS_PACKET_SIZE - 3..TS_PACKET_SIZE], &[1, 2, 3]);
        // Empty units write nothing.
        let before = out.len();
        write_unit(&mut out, 0x101, &mut cc, FirstPacket::default(), &[], &[]);
        assert_eq!(out.len(), before);
    }

    #[test]
    fn section_packet() {
        let mut out = BytesMut::new();
        let mut cc = Continuity::default();
        write_section(&mut out, 0, &mut cc, &[0xaa; 16]);
        write_section(&mut out, 0, &mut cc, &[0xaa; 16]);
        assert_eq!(out.len(), 2 * TS_PACKET_SIZE);
        assert_eq!(&out[..5], &[0x47, 0x40, 0x00, 0x10, 0x00]);
        assert_eq!(out[TS_PACKET_SIZE + 3], 0x11);
        assert!(out[5 + 16..TS_PACKET_SIZE].iter().all(|&b| b == 0xff));
    }
}
