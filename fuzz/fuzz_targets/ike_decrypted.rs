//! Fuzz target: the payload-chain decoder that runs on decrypted SK/SKF
//! contents. The first input octet is the type of the first inner payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some((&first, rest)) = data.split_first() {
        if let Ok(payloads) = ike::wire::decode_payload_chain(first, rest) {
            let mut out = Vec::new();
            if ike::wire::encode_payload_chain(&payloads, &mut out).is_ok() {
                let again = ike::wire::decode_payload_chain(first, &out);
                assert_eq!(again.as_ref(), Ok(&payloads));
            }
        }
    }
});
