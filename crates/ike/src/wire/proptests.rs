//! Property tests: every payload round-trips through encode and decode, and
//! the decoder survives arbitrary input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn attribute() -> impl Strategy<Value = Attribute> {
    prop_oneof![
        (0u16..0x8000, any::<u16>()).prop_map(|(kind, value)| Attribute::Tv { kind, value }),
        (0u16..0x8000, bytes(8)).prop_map(|(kind, value)| Attribute::Tlv { kind, value }),
    ]
}

fn transform() -> impl Strategy<Value = Transform> {
    (1u8..=12, any::<u16>(), vec(attribute(), 0..3)).prop_map(|(t, id, attributes)| Transform {
        kind: TransformType::from_u8(t),
        id,
        attributes,
    })
}

fn proposal() -> impl Strategy<Value = Proposal> {
    (
        any::<u8>(),
        1u8..=3,
        prop_oneof![Just(0usize), Just(4), Just(8)],
        vec(transform(), 1..6),
    )
        .prop_flat_map(|(number, proto, spi_len, transforms)| {
            vec(any::<u8>(), spi_len).prop_map(move |spi| Proposal {
                number,
                protocol: ProtocolId::from_u8(proto),
                spi,
                transforms: transforms.clone(),
            })
        })
}

fn ts() -> impl Strategy<Value = TrafficSelector> {
    prop_oneof![
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |(ip_protocol, start_port, end_port, s, e)| TrafficSelector {
                    ip_protocol,
                    start_port,
                    end_port,
                    start_addr: IpAddr::V4(Ipv4Addr::from(s)),
                    end_addr: IpAddr::V4(Ipv4Addr::from(e)),
                }
            ),
        (
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            any::<u128>(),
            any::<u128>()
        )
            .prop_map(
                |(ip_protocol, start_port, end_port, s, e)| TrafficSelector {
                    ip_protocol,
                    start_port,
                    end_port,
                    start_addr: IpAddr::V6(Ipv6Addr::from(s)),
                    end_addr: IpAddr::V6(Ipv6Addr::from(e)),
                }
            ),
    ]
}

fn id() -> impl Strategy<Value = IdPayload> {
    (
        prop_oneof![
            Just(1u8),
            Just(2),
            Just(3),
            Just(5),
            Just(9),
            Just(11),
            Just(13)
        ],
        bytes(40),
    )
        .prop_map(|(t, data)| IdPayload {
            id_type: IdType::from_u8(t),
            data,
        })
}

fn plain_payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        vec(proposal(), 1..4).prop_map(|proposals| Payload::Sa(SaPayload { proposals })),
        (any::<u16>(), bytes(64)).prop_map(|(group, data)| Payload::Ke(KePayload { group, data })),
        id().prop_map(Payload::IdI),
        id().prop_map(Payload::IdR),
        (any::<u8>(), bytes(64)).prop_map(|(e, data)| Payload::Cert(CertPayload {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(40)).prop_map(|(e, data)| Payload::CertReq(CertPayload {
            encoding: CertEncoding(e),
            data
        })),
        (any::<u8>(), bytes(64)).prop_map(|(m, data)| Payload::Auth(AuthPayload {
            method: AuthMethod::from_u8(m),
            data
        })),
        bytes(64).prop_map(Payload::Nonce),
        (
            prop_oneof![Just(0u8), Just(1), Just(3)],
            bytes(8),
            any::<u16>(),
            bytes(40)
        )
            .prop_map(|(p, spi, t, data)| Payload::Notify(Notify {
                protocol: if p == 0 {
                    None
                } else {
                    Some(ProtocolId::from_u8(p))
                },
                spi,
                kind: NotifyType(t),
                data,
            })),
        (1u8..=3, vec(any::<[u8; 4]>(), 0..5)).prop_map(|(p, spis)| {
            if p == 1 {
                Payload::Delete(DeletePayload {
                    protocol: ProtocolId::Ike,
                    spi_size: 0,
                    spis: Vec::new(),
                })
            } else {
                Payload::Delete(DeletePayload {
                    protocol: ProtocolId::from_u8(p),
                    spi_size: 4,
                    spis: spis.into_iter().map(|s| s.to_vec()).collect(),
                })
            }
        }),
        bytes(32).prop_map(Payload::VendorId),
        vec(ts(), 0..4).prop_map(|selectors| Payload::TsI(TsPayload { selectors })),
        vec(ts(), 0..4).prop_map(|selectors| Payload::TsR(TsPayload { selectors })),
        (1u8..=4, vec((0u16..0x8000, bytes(16)), 0..4)).prop_map(|(t, attrs)| Payload::Cp(
            CpPayload {
                cfg_type: CfgType(t),
                attributes: attrs
                    .into_iter()
                    .map(|(kind, value)| CfgAttribute { kind, value })
                    .collect(),
            }
        )),
        bytes(64).prop_map(Payload::Eap),
        (128u8..=200, bytes(16)).prop_map(|(kind, body)| Payload::Unknown { kind, body }),
    ]
}

fn last_payload() -> impl Strategy<Value = Option<Payload>> {
    prop_oneof![
        Just(None),
        (33u8..=48, bytes(64))
            .prop_map(|(first_inner, data)| Some(Payload::Sk(SkPayload { first_inner, data }))),
        (1u16..10, 0u16..10, 33u8..=48, bytes(64)).prop_map(|(n, extra, first, data)| {
            Some(Payload::Skf(SkfPayload {
                first_inner: if n == 1 { first } else { 0 },
                fragment_number: n,
                total_fragments: n + extra,
                data,
            }))
        }),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        any::<[u8; 8]>(),
        any::<[u8; 8]>(),
        prop_oneof![Just(34u8), Just(35), Just(36), Just(37), Just(43)],
        any::<bool>(),
        any::<bool>(),
        any::<u32>(),
    )
        .prop_map(
            |(spi_i, spi_r, x, initiator, response, message_id)| Header {
                spi_i,
                spi_r,
                next_payload: 0,
                version: IKEV2_VERSION,
                exchange: ExchangeType::from_u8(x),
                initiator,
                version_flag: false,
                response,
                message_id,
                length: 0,
            },
        )
}

proptest! {
    #[test]
    fn message_round_trips(h in header(), mut payloads in vec(plain_payload(), 0..6), last in last_payload()) {
        if let Some(l) = last {
            payloads.push(l);
        }
        let m = Message { header: h, payloads };
        let bytes = m.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back = Message::decode(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.header.length as usize, bytes.len());
        prop_assert_eq!(&back.payloads, &m.payloads);
        prop_assert_eq!(back.header.message_id, m.header.message_id);
        prop_assert_eq!(back.header.exchange, m.header.exchange);
        prop_assert_eq!(back.header.response, m.header.response);
        prop_assert_eq!(back.encode().map_err(|e| TestCaseError::fail(e.to_string()))?, bytes);
    }

    #[test]
    fn decoder_never_panics(data in bytes(600)) {
        let _ = Message::decode(&data);
    }

    #[test]
    fn inner_chain_decoder_never_panics(first in 0u8..=60, data in bytes(600)) {
        // What runs on decrypted SK/SKF contents.
        if let Ok(p) = decode_payload_chain(first, &data) {
            let mut out = Vec::new();
            encode_payload_chain(&p, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(decode_payload_chain(first, &out), Ok(p));
        }
    }

    #[test]
    fn inner_chain_round_trips(payloads in vec(plain_payload(), 1..6)) {
        let mut out = Vec::new();
        encode_payload_chain(&payloads, &mut out).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let first = payloads[0].kind().0;
        prop_assert_eq!(decode_payload_chain(first, &out), Ok(payloads));
    }

    #[test]
    fn decoder_survives_mutations(h in header(), payloads in vec(plain_payload(), 1..5), at in any::<usize>(), val in any::<u8>()) {
        let m = Message { header: h, payloads };
        let mut bytes = m.encode().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let i = at % bytes.len();
        if let Some(b) = bytes.get_mut(i) {
            *b = val;
        }
        let _ = Message::decode(&bytes);
        let _ = Message::decode(bytes.get(..i).unwrap_or(&[]));
    }
}

#[test]
fn unknown_critical_payload_is_rejected() {
    // Header announcing payload type 200 with the critical bit.
    let mut m = Message {
        header: Header {
            spi_i: [1; 8],
            spi_r: [0; 8],
            next_payload: 0,
            version: IKEV2_VERSION,
            exchange: ExchangeType::IkeSaInit,
            initiator: true,
            version_flag: false,
            response: false,
            message_id: 0,
            length: 0,
        },
        payloads: vec![Payload::Unknown {
            kind: 200,
            body: vec![1, 2, 3],
        }],
    };
    let mut bytes = m.encode().expect("encodes");
    assert!(Message::decode(&bytes).is_ok());
    bytes[HEADER_LEN + 1] = 0x80;
    assert_eq!(
        Message::decode(&bytes),
        Err(WireError::UnsupportedCritical(200))
    );
    m.payloads.clear();
    let bytes = m.encode().expect("encodes");
    assert_eq!(bytes.len(), HEADER_LEN);
}

#[test]
fn version_one_is_rejected() {
    let mut b = vec![0u8; HEADER_LEN];
    b[17] = 0x10;
    b[27] = HEADER_LEN as u8;
    assert_eq!(Message::decode(&b), Err(WireError::BadVersion(1)));
}
