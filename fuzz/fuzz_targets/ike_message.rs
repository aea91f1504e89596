//! Fuzz target: the IKE message decoder on raw datagrams. Every input that
//! decodes must re-encode and decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = ike::wire::Message::decode(data) {
        if let Ok(bytes) = m.encode() {
            let again = ike::wire::Message::decode(&bytes);
            assert_eq!(again.as_ref().map(|x| &x.payloads), Ok(&m.payloads));
        }
    }
});
