//! Property tests: any bytes a client sends decode to a request or an
//! error, never a panic; every reply line survives the wire.

use control::{
    copy_reply, decode_request, encode_request, read_reply, Rc, ReplyLine, Request, MAGIC,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&bytes);
        let mut with_magic = MAGIC.to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = decode_request(&with_magic);
        let _ = control::read_request(&mut with_magic.as_slice());
    }

    #[test]
    fn names_round_trip(name in ".{0,200}") {
        let req = Request::Delete { name };
        let frame = encode_request(&req).unwrap();
        prop_assert_eq!(decode_request(&frame).unwrap(), req);
    }

    #[test]
    fn reply_lines_round_trip(rc in 0u16..1000, text in "[^\r\n]{0,200}", kind in 0u8..3) {
        let line = match kind {
            0 => ReplyLine::Line { rc: Rc(rc), text },
            1 => ReplyLine::Verbose { rc: Rc(rc), text },
            _ => ReplyLine::Raw(text),
        };
        let wire = line.encode();
        prop_assert_eq!(ReplyLine::parse(&wire).unwrap(), line.clone());
        let full = format!("{wire}=021\n");
        let mut seen = Vec::new();
        let done = read_reply(&mut full.as_bytes(), |l| seen.push(l.clone())).unwrap();
        prop_assert_eq!(done, Rc::UNKNOWN_NAME);
        prop_assert_eq!(seen, vec![line.clone()]);
        let mut copied = Vec::new();
        prop_assert_eq!(copy_reply(&mut full.as_bytes(), &mut copied, true).unwrap(), Rc::UNKNOWN_NAME);
        let shown = line.display(true).map(|s| format!("{s}\n")).unwrap_or_default();
        prop_assert_eq!(String::from_utf8(copied).unwrap(), shown);
    }

    #[test]
    fn arbitrary_replies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = read_reply(&mut bytes.as_slice(), |_| {});
        let _ = copy_reply(&mut bytes.as_slice(), &mut Vec::new(), true);
    }
}
