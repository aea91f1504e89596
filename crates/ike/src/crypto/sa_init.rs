//! The hashes carried in IKE_SA_INIT notifies: NAT_DETECTION_SOURCE_IP /
//! NAT_DETECTION_DESTINATION_IP (RFC 7296 2.23) and a stateless COOKIE
//! (RFC 7296 2.6).

use std::net::IpAddr;

use aws_lc_rs::{constant_time, digest, hmac};

use super::secret::Secret;

/// The notification data of NAT_DETECTION_SOURCE_IP (with the sender's
/// address and port) or NAT_DETECTION_DESTINATION_IP (with the
/// recipient's): SHA-1(SPIi | SPIr | IP | Port). In the IKE_SA_INIT
/// request SPIr is zero.
pub fn nat_detection_hash(spi_i: &[u8; 8], spi_r: &[u8; 8], ip: IpAddr, port: u16) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(spi_i);
    ctx.update(spi_r);
    match ip {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(&port.to_be_bytes());
    let mut out = [0u8; 20];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A responder's COOKIE (RFC 7296 2.6): &lt;VersionIDofSecret&gt; |
/// HMAC-SHA2-256(&lt;secret&gt;, Ni | IPi | SPIi), 36 octets. The responder
/// keeps no state: it recomputes the value when the initiator retries and
/// compares with [`verify_cookie`]. `version` names the secret, so a
/// responder that rotates its secret can still check cookies made with
/// the previous one.
pub fn cookie(secret: &Secret, version: u32, ni: &[u8], ip_i: IpAddr, spi_i: &[u8; 8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(ni);
    match ip_i {
        IpAddr::V4(a) => ctx.update(&a.octets()),
        IpAddr::V6(a) => ctx.update(&a.octets()),
    }
    ctx.update(spi_i);
    let mut out = version.to_be_bytes().to_vec();
    out.extend_from_slice(ctx.sign().as_ref());
    out
}

/// The version of the secret a received cookie names, if it has the form
/// of one of ours.
pub fn cookie_version(received: &[u8]) -> Option<u32> {
    if received.len() != 36 {
        return None;
    }
    let v: [u8; 4] = received.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(v))
}

/// Checks a received cookie against the one `secret` (of `version`)
/// gives for this initiator, in constant time.
pub fn verify_cookie(
    secret: &Secret,
    version: u32,
    ni: &[u8],
    ip_i: IpAddr,
    spi_i: &[u8; 8],
    received: &[u8],
) -> bool {
    let expect = cookie(secret, version, ni, ip_i, spi_i);
    constant_time::verify_slices_are_equal(&expect, received).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_detection_hash_is_sha1_of_the_fields() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let h = nat_detection_hash(&[1; 8], &[0; 8], ip, 500);
        let mut data = vec![1u8; 8];
        data.extend_from_slice(&[0; 8]);
        data.extend_from_slice(&[192, 0, 2, 1]);
        data.extend_from_slice(&[0x01, 0xf4]);
        let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &data);
        assert_eq!(&h[..], d.as_ref());
        assert_ne!(h, nat_detection_hash(&[1; 8], &[0; 8], ip, 4500));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_ne!(h, nat_detection_hash(&[1; 8], &[0; 8], v6, 500));
    }

    #[test]
    fn cookies_verify_only_for_the_same_initiator() {
        let secret = Secret::from_slice(&[9; 32]);
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let c = cookie(&secret, 3, &[1; 32], ip, &[5; 8]);
        assert_eq!(c.len(), 36);
        assert_eq!(cookie_version(&c), Some(3));
        assert!(verify_cookie(&secret, 3, &[1; 32], ip, &[5; 8], &c));
        assert!(!verify_cookie(&secret, 3, &[2; 32], ip, &[5; 8], &c));
        assert!(!verify_cookie(&secret, 3, &[1; 32], ip, &[6; 8], &c));
        let other: IpAddr = "198.51.100.8".parse().unwrap();
        assert!(!verify_cookie(&secret, 3, &[1; 32], other, &[5; 8], &c));
        assert!(!verify_cookie(&secret, 4, &[1; 32], ip, &[5; 8], &c));
        assert!(!verify_cookie(&secret, 3, &[1; 32], ip, &[5; 8], &c[..35]));
        assert_eq!(cookie_version(&c[..10]), None);
    }
}
