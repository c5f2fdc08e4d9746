#![no_main]
//! AMF0 decoding of hostile input: no panic, no unbounded allocation, and
//! whatever decodes re-encodes to something that decodes the same.

use libfuzzer_sys::fuzz_target;
use liu_flv::amf0;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = amf0::decode_all(data) {
        let again = amf0::decode_all(&amf0::encode_all(&values)).expect("re-encoded AMF0 decodes");
        assert_eq!(format!("{values:?}"), format!("{again:?}"));
    }
});
