//! Translation of the data plane's SA and policy vocabulary (crate `esp`'s
//! transforms and keys, the [`crate::Kernel`] trait's pairs and policies)
//! into XFRM's.

use std::net::IpAddr;

use esp::{Encryption, Integrity, SaParams};

use super::algo::{AeadAlgorithm, CipherAlgorithm, IntegrityAlgorithm, SaCrypto, SecretKey};
use super::sa::{Encap, Replay, SaConfig};
use super::types::{IpsecProto, Lifetimes, Mode, Selector, Subnet};
use crate::kernel::{Encapsulation, Mode as KernelMode, SaPair};
use crate::net::IpNet;

/// The kernel transform and keys of an SA: `rfc4106(gcm(aes))` and
/// `rfc7539esp(chacha20,poly1305)` take key || 4-byte salt; AES-CBC goes
/// with `hmac(sha1|sha256|sha384|sha512)` truncated as RFC 2404/4868 say.
pub(crate) fn crypto(params: &SaParams) -> std::result::Result<SaCrypto, String> {
    let keys = &params.keys;
    let t = params.transform;
    match (t.encryption, t.integrity) {
        (Encryption::AesGcm16(_), None) => Ok(SaCrypto::Aead {
            algorithm: AeadAlgorithm::AesGcm16,
            key: SecretKey::new(keys.encryption()),
        }),
        (Encryption::ChaCha20Poly1305, None) => Ok(SaCrypto::Aead {
            algorithm: AeadAlgorithm::ChaCha20Poly1305,
            key: SecretKey::new(keys.encryption()),
        }),
        (Encryption::AesCbc(_), Some(i)) => Ok(SaCrypto::CipherAuth {
            cipher: CipherAlgorithm::AesCbc,
            cipher_key: SecretKey::new(keys.encryption()),
            integrity: integrity(i),
            integrity_key: SecretKey::new(keys.integrity()),
        }),
        (e, i) => Err(format!(
            "transform {e:?} with integrity {i:?} has no kernel equivalent"
        )),
    }
}

fn integrity(i: Integrity) -> IntegrityAlgorithm {
    match i {
        Integrity::HmacSha1_96 => IntegrityAlgorithm::HmacSha1_96,
        Integrity::HmacSha2_256_128 => IntegrityAlgorithm::HmacSha256_128,
        Integrity::HmacSha2_384_192 => IntegrityAlgorithm::HmacSha384_192,
        Integrity::HmacSha2_512_256 => IntegrityAlgorithm::HmacSha512_256,
    }
}

/// The kernel's mode.
pub(crate) fn mode(m: KernelMode) -> Mode {
    match m {
        KernelMode::Tunnel => Mode::Tunnel,
        KernelMode::Transport => Mode::Transport,
    }
}

/// The byte/packet lifetimes (time lifetimes are pluto's timers).
fn lifetimes(params: &SaParams) -> Lifetimes {
    Lifetimes {
        soft_bytes: params.lifetime.soft.bytes,
        hard_bytes: params.lifetime.hard.bytes,
        soft_packets: params.lifetime.soft.packets,
        hard_packets: params.lifetime.hard.packets,
        ..Lifetimes::default()
    }
}

/// The replay settings; an outbound SA with ESN still needs a window of at
/// least one packet for the kernel to accept the ESN state.
fn replay(params: &SaParams, outbound: bool) -> Replay {
    let mut window = params.replay_window;
    if outbound && params.esn && window == 0 {
        window = 32;
    }
    Replay {
        window,
        esn: params.esn,
    }
}

/// A subnet in XFRM's type.
pub(crate) fn subnet(n: &IpNet) -> Subnet {
    Subnet {
        addr: n.addr(),
        prefix_len: n.prefix(),
    }
}

/// The selector for traffic from `src` to `dst`.
pub(crate) fn selector(src: &IpNet, dst: &IpNet) -> Selector {
    Selector::new(subnet(src), subnet(dst))
}

/// The outbound (`inbound == false`) or inbound SA of `pair`, with `reqid`.
pub(crate) fn sa_config(
    pair: &SaPair,
    inbound: bool,
    reqid: u32,
) -> std::result::Result<SaConfig, String> {
    let (params, src, dst): (&SaParams, IpAddr, IpAddr) = if inbound {
        (&pair.inbound, pair.remote, pair.local)
    } else {
        (&pair.outbound, pair.local, pair.remote)
    };
    let encap = match pair.encapsulation {
        Encapsulation::None => None,
        Encapsulation::Udp {
            local_port,
            remote_port,
        } => Some(if inbound {
            Encap {
                src_port: remote_port,
                dst_port: local_port,
                original_addr: None,
            }
        } else {
            Encap {
                src_port: local_port,
                dst_port: remote_port,
                original_addr: None,
            }
        }),
    };
    Ok(SaConfig {
        src,
        dst,
        spi: params.spi,
        proto: IpsecProto::Esp,
        mode: mode(pair.mode),
        reqid,
        selector: None,
        crypto: crypto(params)?,
        replay: replay(params, !inbound),
        encap,
        lifetimes: lifetimes(params),
        mark: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use esp::{AesKeySize, Lifetime, Limits, SaKeys, Transform};

    fn params(spi: u32, transform: Transform, keys: SaKeys) -> SaParams {
        SaParams {
            spi,
            transform,
            keys,
            esn: true,
            replay_window: 0,
            lifetime: Lifetime {
                soft: Limits {
                    bytes: None,
                    packets: Some(10),
                },
                hard: Limits {
                    bytes: Some(1 << 20),
                    packets: None,
                },
            },
        }
    }

    fn pair(transform: Transform, keys: SaKeys) -> SaPair {
        SaPair {
            id: esp::SaId(1),
            outbound: params(0x1111, transform, keys.clone()),
            inbound: SaParams {
                replay_window: 64,
                ..params(0x2222, transform, keys)
            },
            mode: KernelMode::Tunnel,
            local: "192.0.2.1".parse().expect("addr"),
            remote: "192.0.2.2".parse().expect("addr"),
            encapsulation: Encapsulation::Udp {
                local_port: 4500,
                remote_port: 31337,
            },
            local_ts: vec![IpNet::new("10.1.0.0".parse().expect("addr"), 24)
                .expect("net")
                .into()],
            remote_ts: vec![IpNet::new("10.2.0.0".parse().expect("addr"), 24)
                .expect("net")
                .into()],
        }
    }

    #[test]
    fn gcm_pair_maps_to_mirrored_kernel_sas() {
        let p = pair(
            Transform::aes_gcm16(AesKeySize::Aes256),
            SaKeys::aead(&[9u8; 36]),
        );
        let out = sa_config(&p, false, 7).expect("outbound");
        let inb = sa_config(&p, true, 7).expect("inbound");
        assert_eq!((out.src, out.dst, out.spi), (p.local, p.remote, 0x1111));
        assert_eq!((inb.src, inb.dst, inb.spi), (p.remote, p.local, 0x2222));
        assert_eq!(out.reqid, 7);
        match &out.crypto {
            SaCrypto::Aead { algorithm, key } => {
                assert_eq!(algorithm.kernel_name(), "rfc4106(gcm(aes))");
                assert_eq!(key.len(), 36, "AES-256 key || 4-byte salt");
            }
            other => panic!("expected an AEAD, got {other:?}"),
        }
        let e = out.encap.expect("outbound encap");
        assert_eq!((e.src_port, e.dst_port), (4500, 31337));
        let e = inb.encap.expect("inbound encap");
        assert_eq!((e.src_port, e.dst_port), (31337, 4500));
        assert_eq!(
            out.replay,
            Replay {
                window: 32,
                esn: true
            }
        );
        assert_eq!(
            inb.replay,
            Replay {
                window: 64,
                esn: true
            }
        );
        assert_eq!(out.lifetimes.soft_packets, Some(10));
        assert_eq!(out.lifetimes.hard_bytes, Some(1 << 20));
        assert_eq!(out.lifetimes.hard_packets, None);
    }

    #[test]
    fn cbc_and_chacha_map_to_kernel_names() {
        let p = pair(
            Transform::aes_cbc(AesKeySize::Aes128, Integrity::HmacSha2_256_128),
            SaKeys::cipher_integrity(&[1u8; 16], &[2u8; 32]),
        );
        match sa_config(&p, true, 1).expect("sa").crypto {
            SaCrypto::CipherAuth {
                cipher,
                cipher_key,
                integrity,
                integrity_key,
            } => {
                assert_eq!(cipher.kernel_name(), "cbc(aes)");
                assert_eq!(cipher_key.len(), 16);
                assert_eq!(integrity.kernel_name(), "hmac(sha256)");
                assert_eq!(integrity.trunc_bits(), 128);
                assert_eq!(integrity_key.len(), 32);
            }
            other => panic!("expected cipher+auth, got {other:?}"),
        }
        let p = pair(Transform::chacha20_poly1305(), SaKeys::aead(&[3u8; 36]));
        match sa_config(&p, false, 1).expect("sa").crypto {
            SaCrypto::Aead { algorithm, .. } => {
                assert_eq!(algorithm.kernel_name(), "rfc7539esp(chacha20,poly1305)")
            }
            other => panic!("expected an AEAD, got {other:?}"),
        }
        // An AEAD with an integrity algorithm is not a kernel transform.
        let mut bad = Transform::chacha20_poly1305();
        bad.integrity = Some(Integrity::HmacSha1_96);
        let p = pair(bad, SaKeys::aead(&[3u8; 36]));
        assert!(sa_config(&p, false, 1).is_err());
    }
}
