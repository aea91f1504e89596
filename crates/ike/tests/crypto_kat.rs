//! Known-answer tests of the crypto module against published vectors kept
//! as data in tests/vectors/ (each file names its source).

use ike::crypto::keys::{rekey_skeyseed, skeyseed};
use ike::crypto::{
    ChildKeys, EncrAlg, IkeSaKeys, IntegAlg, KeGroup, KeyExchange, LegacyAuthMethod, PrfAlg,
    PrivateKey, PublicKey, Random, Secret, SignatureScheme, SkCipher,
};

/// One record of a vector file: `name = value` lines up to a blank line,
/// with the `[section]` it appeared under.
#[derive(Debug)]
struct Record {
    section: String,
    fields: Vec<(String, String)>,
}

impl Record {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> &str {
        self.get(name)
            .unwrap_or_else(|| panic!("vector lacks {name}: {self:?}"))
    }

    fn hex(&self, name: &str) -> Vec<u8> {
        let v = self.text(name);
        if let Some((byte, count)) = v.split_once('*') {
            let b = hex::decode(byte).unwrap();
            return b.repeat(count.parse().unwrap());
        }
        let clean: String = v.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(clean).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

fn records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut fields = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !fields.is_empty() {
                out.push(Record {
                    section: section.clone(),
                    fields: std::mem::take(&mut fields),
                });
            }
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let (k, v) = line.split_once('=').expect("name = value");
        fields.push((k.trim().to_string(), v.trim().to_string()));
    }
    out
}

/// A random source that returns fixed bytes, to load known private keys.
struct Fixed(Vec<u8>);

impl Random for Fixed {
    fn fill(&mut self, buf: &mut [u8]) {
        assert!(self.0.len() >= buf.len(), "fixed random source exhausted");
        let rest = self.0.split_off(buf.len());
        buf.copy_from_slice(&self.0);
        self.0 = rest;
    }
}

fn concat(parts: &[&Secret]) -> Vec<u8> {
    parts.iter().flat_map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn nist_cavp_ikev2_kdf() {
    let recs = records(include_str!("vectors/ikev2_kdf_cavp.txt"));
    assert_eq!(recs.len(), 2);
    let mut child_vectors = 0;
    for r in recs {
        let prf = match r.section.as_str() {
            "SHA-1" => PrfAlg::HmacSha1,
            "SHA-256" => PrfAlg::HmacSha2_256,
            other => panic!("unknown section {other}"),
        };
        let (ni, nr) = (r.hex("Ni"), r.hex("Nr"));
        let g_ir = Secret::new(r.hex("g^ir"));
        let g_new = Secret::new(r.hex("g^ir (new)"));
        let spi_i: [u8; 8] = r.hex("SPIi").try_into().unwrap();
        let spi_r: [u8; 8] = r.hex("SPIr").try_into().unwrap();
        let dkm = r.hex("DKM");

        let seed = skeyseed(prf, &ni, &nr, &g_ir);
        assert_eq!(seed.as_bytes(), &r.hex("SKEYSEED")[..], "{}", r.section);

        // The seven keys are consecutive slices of DKM (prf+ output is a
        // prefix of any longer output, so a suite longer than the vector
        // still checks the first len(DKM) bytes).
        let (encr, integ) = if prf == PrfAlg::HmacSha1 {
            (EncrAlg::AesGcm16_256, None) // 3*20 + 2*36 = 132
        } else {
            (EncrAlg::AesGcm16_128, None) // 3*32 + 2*20 = 136
        };
        let keys = IkeSaKeys::derive(prf, encr, integ, &g_ir, &ni, &nr, &spi_i, &spi_r).unwrap();
        let all = concat(&[
            &keys.sk_d,
            &keys.sk_ai,
            &keys.sk_ar,
            &keys.sk_ei,
            &keys.sk_er,
            &keys.sk_pi,
            &keys.sk_pr,
        ]);
        assert!(all.len() >= dkm.len());
        assert_eq!(&all[..dkm.len()], &dkm[..], "{} DKM", r.section);
        assert_eq!(keys.sk_d.as_bytes(), &dkm[..prf.output_len()]);

        let rekey = rekey_skeyseed(prf, &keys.sk_d, &[&g_new], &ni, &nr);
        assert_eq!(rekey.as_bytes(), &r.hex("SKEYSEED(Rekey)")[..]);

        // Child SA KEYMAT without and with PFS, through two ESP suites:
        // AES-GCM-256 (key, salt per direction) and AES-CBC-256 with
        // HMAC-SHA2-256 (encryption key, then integrity key).
        for (pfs, name) in [
            (vec![], "DKM(Child SA)"),
            (vec![&g_new], "DKM(Child SA D-H)"),
        ] {
            let Some(_) = r.get(name) else { continue };
            let want = r.hex(name);
            let gcm =
                ChildKeys::derive(prf, &keys.sk_d, EncrAlg::AesGcm16_256, None, &pfs, &ni, &nr)
                    .unwrap();
            let got = concat(&[
                &gcm.initiator_to_responder.encr_key,
                &gcm.initiator_to_responder.salt,
                &gcm.responder_to_initiator.encr_key,
                &gcm.responder_to_initiator.salt,
            ]);
            assert_eq!(&got[..], &want[..72], "{name}");
            let cbc = keys
                .child_keys(
                    EncrAlg::AesCbc256,
                    Some(IntegAlg::HmacSha2_256_128),
                    &pfs,
                    &ni,
                    &nr,
                )
                .unwrap();
            let got = concat(&[
                &cbc.initiator_to_responder.encr_key,
                &cbc.initiator_to_responder.integ_key,
                &cbc.responder_to_initiator.encr_key,
                &cbc.responder_to_initiator.integ_key,
            ]);
            assert_eq!(&got[..], &want[..128], "{name}");
            child_vectors += 1;
        }
    }
    assert_eq!(child_vectors, 2);
}

#[test]
fn rfc4231_hmac_sha2() {
    let recs = records(include_str!("vectors/rfc4231_hmac.txt"));
    assert_eq!(recs.len(), 7);
    let mut checked = 0;
    for r in recs {
        let (key, data) = (r.hex("key"), r.hex("data"));
        for (name, prf) in [
            ("SHA-256", PrfAlg::HmacSha2_256),
            ("SHA-384", PrfAlg::HmacSha2_384),
            ("SHA-512", PrfAlg::HmacSha2_512),
        ] {
            let Some(_) = r.get(name) else { continue };
            let want = r.hex(name);
            let got = prf.prf(&key, &data);
            assert_eq!(
                &got.as_bytes()[..want.len()],
                &want[..],
                "TC {} {name}",
                r.text("TC")
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 19);
}

#[test]
fn rfc7634_appendix_b_ikev2_chacha20_poly1305() {
    let recs = records(include_str!("vectors/rfc7634_appendix_b.txt"));
    let r = &recs[0];
    let cipher = SkCipher::new(
        EncrAlg::ChaCha20Poly1305,
        None,
        &Secret::new(r.hex("KEYMAT")),
        &Secret::default(),
    )
    .unwrap();
    let (aad, body, plain) = (r.hex("aad"), r.hex("body"), r.hex("plaintext"));
    // The AAD's lengths match the message.
    assert_eq!(aad.len() + body.len(), 0x45);
    assert_eq!(cipher.encrypted_len(plain.len()), body.len());
    assert_eq!(cipher.decrypt(&aad, &body).unwrap(), plain);
    assert_eq!(
        cipher.encrypt_with_iv(&aad, &plain, &r.hex("IV")).unwrap(),
        body
    );
    let mut bad = body.clone();
    bad[10] ^= 1;
    assert!(cipher.decrypt(&aad, &bad).is_err());
}

#[test]
fn rfc5903_ecp_groups() {
    let recs = records(include_str!("vectors/rfc5903_ecp.txt"));
    assert_eq!(recs.len(), 3);
    for r in recs {
        let group = KeGroup::from_id(r.text("group").parse().unwrap()).unwrap();
        let (i_state, gi) = KeyExchange::generate(group, &mut Fixed(r.hex("i"))).unwrap();
        let (r_state, gr) = KeyExchange::generate(group, &mut Fixed(r.hex("r"))).unwrap();
        if r.get("gi").is_some() {
            assert_eq!(gi, r.hex("gi"), "{group} gi");
            assert_eq!(gr, r.hex("gr"), "{group} gr");
        }
        let girx = r.hex("girx");
        assert_eq!(
            i_state.complete(&gr).unwrap().as_bytes(),
            &girx[..],
            "{group}"
        );
        assert_eq!(
            r_state.complete(&gi).unwrap().as_bytes(),
            &girx[..],
            "{group}"
        );
    }
}

#[test]
fn rfc7748_x25519() {
    let recs = records(include_str!("vectors/rfc7748_x25519.txt"));
    assert_eq!(recs.len(), 3);
    for r in recs {
        match r.text("section") {
            "5.2" => {
                let (state, _) =
                    KeyExchange::generate(KeGroup::Curve25519, &mut Fixed(r.hex("scalar")))
                        .unwrap();
                let out = state.complete(&r.hex("u")).unwrap();
                assert_eq!(out.as_bytes(), &r.hex("output")[..]);
            }
            "6.1" => {
                let (alice, a_pub) =
                    KeyExchange::generate(KeGroup::Curve25519, &mut Fixed(r.hex("alice_private")))
                        .unwrap();
                let (bob, b_pub) =
                    KeyExchange::generate(KeGroup::Curve25519, &mut Fixed(r.hex("bob_private")))
                        .unwrap();
                assert_eq!(a_pub, r.hex("alice_public"));
                assert_eq!(b_pub, r.hex("bob_public"));
                let shared = r.hex("shared");
                assert_eq!(alice.complete(&b_pub).unwrap().as_bytes(), &shared[..]);
                assert_eq!(bob.complete(&a_pub).unwrap().as_bytes(), &shared[..]);
            }
            other => panic!("unknown section {other}"),
        }
    }
}

#[test]
fn sk_payload_matches_an_independent_implementation() {
    let recs = records(include_str!("vectors/sk_payload_cross_check.txt"));
    assert_eq!(recs.len(), 4);
    for r in recs {
        let (encr, integ) = match r.text("suite") {
            "AES_CBC_256 HMAC_SHA2_256_128" => {
                (EncrAlg::AesCbc256, Some(IntegAlg::HmacSha2_256_128))
            }
            "AES_CBC_128 HMAC_SHA1_96" => (EncrAlg::AesCbc128, Some(IntegAlg::HmacSha1_96)),
            "AES_GCM_16_256" => (EncrAlg::AesGcm16_256, None),
            "AES_GCM_16_128" => (EncrAlg::AesGcm16_128, None),
            other => panic!("unknown suite {other}"),
        };
        let cipher = SkCipher::new(
            encr,
            integ,
            &Secret::new(r.hex("SK_e")),
            &Secret::new(r.hex("SK_a")),
        )
        .unwrap();
        let (aad, body, plain) = (r.hex("aad"), r.hex("body"), r.hex("plaintext"));
        assert_eq!(cipher.encrypted_len(plain.len()), body.len(), "{encr}");
        assert_eq!(
            cipher.encrypt_with_iv(&aad, &plain, &r.hex("IV")).unwrap(),
            body,
            "{encr}"
        );
        assert_eq!(cipher.decrypt(&aad, &body).unwrap(), plain, "{encr}");
    }
}

#[test]
fn signatures_from_an_independent_implementation_verify() {
    let recs = records(include_str!("vectors/signatures_cross_check.txt"));
    let message = recs[0].hex("message");
    let mut checked = 0;
    for r in &recs[1..] {
        let key = PublicKey::from_spki_der(&r.hex("spki")).unwrap();
        let sig = r.hex("signature");
        let mut bad = sig.clone();
        bad[sig.len() / 2] ^= 0x10;
        let scheme_name = r.text("scheme");
        if let Some(n) = scheme_name.strip_prefix("legacy ") {
            let method = LegacyAuthMethod::from_auth_method(n.parse().unwrap()).unwrap();
            key.verify_legacy(method, &message, &sig).unwrap();
            assert!(key.verify_legacy(method, &message, &bad).is_err());
        } else {
            let scheme = SignatureScheme::ALL
                .into_iter()
                .find(|s| format!("{s:?}") == scheme_name)
                .unwrap();
            key.verify(scheme, &message, &sig).unwrap();
            assert!(key.verify(scheme, &message, &bad).is_err());
            assert!(key.verify(scheme, b"other", &sig).is_err());
        }
        checked += 1;
    }
    assert_eq!(checked, 11);
}

#[test]
fn rfc8032_ed25519() {
    let recs = records(include_str!("vectors/rfc8032_ed25519.txt"));
    assert_eq!(recs.len(), 3);
    for r in recs {
        // PKCS#8 v1 PrivateKeyInfo for Ed25519 (RFC 8410 7) around the seed.
        let mut pkcs8 = hex::decode("302e020100300506032b657004220420").unwrap();
        pkcs8.extend_from_slice(&r.hex("secret"));
        let key = PrivateKey::from_pkcs8_der(&pkcs8).unwrap();
        let public = key.public_key().unwrap();
        assert_eq!(public, PublicKey::from_ed25519(&r.hex("public")).unwrap());
        let message = r.hex("message");
        let sig = key.sign(SignatureScheme::Ed25519, &message).unwrap();
        assert_eq!(sig, r.hex("signature"));
        public
            .verify(SignatureScheme::Ed25519, &message, &sig)
            .unwrap();
    }
}
