//! Program specific information: the program association section (ISO/IEC
//! 13818-1 §2.4.4.3) and the TS program map section (§2.4.4.8), each closed by
//! a CRC-32/MPEG-2 (Annex A).

/// `table_id` of the program association section (§2.4.4.4, Table 2-31).
const TABLE_ID_PAT: u8 = 0x00;
/// `table_id` of the TS program map section (§2.4.4.4, Table 2-31).
const TABLE_ID_PMT: u8 = 0x02;
/// `transport_stream_id` written in the PAT.
const TRANSPORT_STREAM_ID: u16 = 1;
/// The muxer's single `program_number`.
const PROGRAM_NUMBER: u16 = 1;
/// Longest section the muxer builds: a PMT with two elementary streams is 26 bytes.
const MAX_SECTION: usize = 32;

/// CRC-32/MPEG-2 (Annex A): polynomial 0x04C11DB7, initial value all ones,
/// no reflection, no final XOR. Over a section including its CRC it yields 0.
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    data.iter().fold(0xffff_ffff, |crc, &b| {
        (crc << 8) ^ CRC_TABLE[usize::from((crc >> 24) as u8 ^ b)]
    })
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 0x8000_0000 != 0 {
                (c << 1) ^ 0x04c1_1db7
            } else {
                c << 1
            };
            bit += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
}

/// One elementary stream of the PMT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EsEntry {
    /// `stream_type` (Table 2-34).
    pub stream_type: u8,
    /// `elementary_PID`.
    pub pid: u16,
}

/// A complete section (header, body, CRC) in a fixed buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Section {
    buf: [u8; MAX_SECTION],
    len: usize,
}

impl Section {
    /// The section bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Builds a long-form section (§2.4.4.3 and §2.4.4.8 share the layout):
    /// `table_id`, `section_syntax_indicator` 1, `section_length`, the 16-bit
    /// extension, `version_number`, `current_next_indicator` 1, section numbers
    /// 0 and 0, `body`, then the CRC. `body` must fit: at most 20 bytes.
    fn long_form(table_id: u8, extension: u16, version: u8, body: &[u8]) -> Section {
        let body = body
            .get(..body.len().min(MAX_SECTION - 12))
            .unwrap_or_default();
        // section_length counts from after itself to the end of the CRC.
        let section_length = 5 + body.len() + 4;
        let [len_hi, len_lo] = (section_length as u16).to_be_bytes();
        let [ext_hi, ext_lo] = extension.to_be_bytes();
        let mut s = Section {
            buf: [0; MAX_SECTION],
            len: 0,
        };
        s.put(&[
            table_id,
            0xb0 | (len_hi & 0x0f), // syntax indicator 1, '0', reserved '11'
            len_lo,
            ext_hi,
            ext_lo,
            0xc1 | ((version & 0x1f) << 1), // reserved '11', version, current_next 1
            0,                              // section_number
            0,                              // last_section_number
        ]);
        s.put(body);
        let crc = crc32_mpeg2(s.bytes());
        s.put(&crc.to_be_bytes());
        s
    }

    fn put(&mut self, data: &[u8]) {
        for &b in data {
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }
}

/// `reserved` '111' followed by a 13-bit PID.
fn pid_bytes(pid: u16) -> [u8; 2] {
    let [hi, lo] = pid.to_be_bytes();
    [0xe0 | (hi & 0x1f), lo]
}

/// The program association section (§2.4.4.3): `transport_stream_id` 1 and
/// program 1 mapped to `pmt_pid`.
pub(crate) fn pat(pmt_pid: u16) -> Section {
    let [pn_hi, pn_lo] = PROGRAM_NUMBER.to_be_bytes();
    let [p_hi, p_lo] = pid_bytes(pmt_pid);
    Section::long_form(
        TABLE_ID_PAT,
        TRANSPORT_STREAM_ID,
        0,
        &[pn_hi, pn_lo, p_hi, p_lo],
    )
}

/// The TS program map section of program 1 (§2.4.4.8): `PCR_PID`, no
/// program descriptors, then each stream with no ES descriptors. At most three
/// streams fit.
pub(crate) fn pmt(pcr_pid: u16, version: u8, streams: &[EsEntry]) -> Section {
    let mut body = [0u8; 4 + 3 * 5];
    let mut len = 0;
    let [pcr_hi, pcr_lo] = pid_bytes(pcr_pid);
    let mut put = |data: &[u8]| {
        for &b in data {
            if let Some(slot) = body.get_mut(len) {
                *slot = b;
                len += 1;
            }
        }
    };
    // reserved '1111' + program_info_length 0.
    put(&[pcr_hi, pcr_lo, 0xf0, 0x00]);
    for es in streams {
        let [hi, lo] = pid_bytes(es.pid);
        // reserved '1111' + ES_info_length 0.
        put(&[es.stream_type, hi, lo, 0xf0, 0x00]);
    }
    Section::long_form(
        TABLE_ID_PMT,
        PROGRAM_NUMBER,
        version,
        body.get(..len).unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        // The CRC-32/MPEG-2 catalogue check value.
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_e6e7);
        assert_eq!(crc32_mpeg2(b""), 0xffff_ffff);
    }

    #[test]
    fn pat_bytes() {
        let s = pat(0x1000);
        assert_eq!(
            s.bytes(),
            &[
                0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, // header
                0x00, 0x01, 0xf0, 0x00, // program 1 -> PID 0x1000
                0x2a, 0xb1, 0x04, 0xb2, // CRC
            ]
        );
        assert_eq!(crc32_mpeg2(s.bytes()), 0);
    }

    #[test]
    fn pmt_bytes() {
        let s = pmt(
            0x100,
            0,
            &[
                EsEntry {
                    stream_type: 0x1b,
                    pid: 0x100,
                },
                EsEntry {
                    stream_type: 0x0f,
                    pid: 0x101,
                },
            ],
        );
        assert_eq!(
            s.bytes(),
            &[
                0x02, 0xb0, 0x17, 0x00, 0x01, 0xc1, 0x00, 0x00, // header
                0xe1, 0x00, 0xf0, 0x00, // PCR PID 0x100, no program info
                0x1b, 0xe1, 0x00, 0xf0, 0x00, // H.264 on 0x100
                0x0f, 0xe1, 0x01, 0xf0, 0x00, // ADTS AAC on 0x101
                0x2f, 0x44, 0xb9, 0x9b, // CRC
            ]
        );
        assert_eq!(crc32_mpeg2(s.bytes()), 0);
        // Audio only, version 3.
        let s = pmt(
            0x101,
            3,
            &[EsEntry {
                stream_type: 0x0f,
                pid: 0x101,
            }],
        );
        assert_eq!(s.bytes().len(), 12 + 5 + 4);
        assert_eq!(s.bytes()[5], 0xc1 | (3 << 1));
        assert_eq!(crc32_mpeg2(s.bytes()), 0);
    }
}
