//! From a `conf::ConnSpec` (oriented with the host's addresses) and
//! ipsec.secrets to the `ike::engine::Connection` the IKE engine negotiates.

use conf::proposal::{Encr, Integ, Ke, Prf};
use conf::{AuthBy, ConnSpec, ConnType, EndSpec, HostAddr, Id, Orientation, PubKeySpec};
use ike::crypto::{EncrAlg, IntegAlg, KeGroup, PrfAlg, PrivateKey, PublicKey, Secret};
use ike::engine::{
    Authentication, Connection, EsnPolicy, EspProposal, Fragmentation, Identity, IkeProposal, Mode,
};
use ike::wire::TrafficSelector;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Why a connection cannot be handed to the IKE engine.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Neither end is one of this host's addresses.
    #[error("cannot orient: neither left nor right is an address of this host ({0})")]
    NotOriented(String),
    /// An end's host is not a literal address ferroswan can use.
    #[error("{end}={host}: ferroswan needs an IP address here (not resolved: %interface names, %opportunistic and %group are not supported yet)")]
    Host {
        /// `left` or `right`.
        end: &'static str,
        /// The host as written.
        host: String,
    },
    /// No pre-shared key in ipsec.secrets for the IDs.
    #[error("no pre-shared key in ipsec.secrets for {local} <-> {remote} (authby=secret)")]
    NoPsk {
        /// Our ID.
        local: String,
        /// The peer's ID.
        remote: String,
    },
    /// ipsec.secrets has conflicting records.
    #[error("ipsec.secrets: {0}")]
    Secrets(String),
    /// Something the engine or ferroswan cannot do yet.
    #[error("not implemented yet: {0}")]
    NotImplemented(String),
    /// A value the engine cannot use.
    #[error("{0}")]
    Invalid(String),
}

/// The connection's ends: (local, remote) and whether local is left.
pub fn oriented<'a>(
    spec: &'a ConnSpec,
    local: &[IpAddr],
) -> Result<(&'a EndSpec, &'a EndSpec), MapError> {
    let o = spec
        .orient(local)
        .map_err(|e| MapError::NotOriented(e.to_string()))?;
    Ok(match o {
        Orientation::LeftIsLocal => (&spec.left, &spec.right),
        Orientation::RightIsLocal => (&spec.right, &spec.left),
    })
}

fn host_ip(end: &EndSpec, which: &'static str) -> Result<Option<IpAddr>, MapError> {
    match &end.host {
        HostAddr::Addr(a) => Ok(Some(*a)),
        HostAddr::Any | HostAddr::Any6 => Ok(None),
        other => Err(MapError::Host {
            end: which,
            host: other.to_string(),
        }),
    }
}

/// The ID of an end in the engine's terms: `None` for "any".
pub fn identity(id: &Id) -> Result<Option<Identity>, MapError> {
    Ok(Some(match id {
        Id::Ipv4(a) => Identity::Address(IpAddr::V4(*a)),
        Id::Ipv6(a) => Identity::Address(IpAddr::V6(*a)),
        Id::Fqdn(h) => Identity::Fqdn(h.clone()),
        Id::UserFqdn(u) => Identity::Rfc822(u.clone()),
        Id::KeyId(k) => Identity::KeyId(k.clone()),
        Id::Null => Identity::Null,
        Id::Any => return Ok(None),
        Id::Dn(_) | Id::FromCert => {
            return Err(MapError::NotImplemented(format!(
                "ID '{id}' (distinguished names need the certificate support)"
            )))
        }
    }))
}

/// The conf ID of an end: its `id=`, else its address.
fn conf_id(end: &EndSpec, addr: Option<IpAddr>) -> Id {
    end.id
        .clone()
        .or_else(|| addr.map(Id::from_ip))
        .unwrap_or(Id::Any)
}

fn selectors(end: &EndSpec, host: Option<IpAddr>) -> Vec<TrafficSelector> {
    let proto = end.protoport.map(|p| p.proto).unwrap_or(0);
    let port = end.protoport.and_then(|p| p.port);
    let with_pp = |mut ts: TrafficSelector| {
        ts.ip_protocol = proto;
        if let Some(p) = port {
            ts.start_port = p;
            ts.end_port = p;
        }
        ts
    };
    if end.subnets.is_empty() {
        // Host-to-host: the engine uses the host address; with protoport=
        // the selector must still carry it.
        if end.protoport.is_some() {
            if let Some(h) = host {
                return vec![with_pp(TrafficSelector::host(h))];
            }
        }
        return Vec::new();
    }
    end.subnets
        .iter()
        .map(|s| with_pp(TrafficSelector::from_prefix(s.addr, s.prefix)))
        .collect()
}

fn encr(e: &conf::proposal::EncrAlg) -> Result<Vec<EncrAlg>, MapError> {
    let lens: Vec<u16> = match e.key_len {
        Some(l) => vec![l],
        None => vec![256, 128],
    };
    let mut out = Vec::new();
    for l in lens {
        let a = match (e.alg, l) {
            (Encr::Aes, 128) => EncrAlg::AesCbc128,
            (Encr::Aes, 256) => EncrAlg::AesCbc256,
            (Encr::AesGcm16, 128) => EncrAlg::AesGcm16_128,
            (Encr::AesGcm16, 256) => EncrAlg::AesGcm16_256,
            (Encr::Chacha20Poly1305, _) => EncrAlg::ChaCha20Poly1305,
            _ => continue,
        };
        if !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(MapError::NotImplemented(format!(
            "encryption algorithm {e} (ferroswan has AES-CBC, AES-GCM-16 with 128 or 256 bits and ChaCha20-Poly1305)"
        )));
    }
    Ok(out)
}

fn integ(i: Integ) -> Result<Option<IntegAlg>, MapError> {
    Ok(match i {
        Integ::None => None,
        Integ::Sha1 => Some(IntegAlg::HmacSha1_96),
        Integ::Sha2_256 => Some(IntegAlg::HmacSha2_256_128),
        Integ::Sha2_384 => Some(IntegAlg::HmacSha2_384_192),
        Integ::Sha2_512 => Some(IntegAlg::HmacSha2_512_256),
        other => {
            return Err(MapError::NotImplemented(format!(
                "integrity algorithm {other}"
            )))
        }
    })
}

fn prf(p: Prf) -> Result<PrfAlg, MapError> {
    Ok(match p {
        Prf::Sha1 => PrfAlg::HmacSha1,
        Prf::Sha2_256 => PrfAlg::HmacSha2_256,
        Prf::Sha2_384 => PrfAlg::HmacSha2_384,
        Prf::Sha2_512 => PrfAlg::HmacSha2_512,
        other => return Err(MapError::NotImplemented(format!("PRF {other}"))),
    })
}

fn prf_of_integ(i: IntegAlg) -> PrfAlg {
    match i {
        IntegAlg::HmacSha1_96 => PrfAlg::HmacSha1,
        IntegAlg::HmacSha2_256_128 => PrfAlg::HmacSha2_256,
        IntegAlg::HmacSha2_384_192 => PrfAlg::HmacSha2_384,
        IntegAlg::HmacSha2_512_256 => PrfAlg::HmacSha2_512,
    }
}

fn ke(k: Ke) -> Result<Option<KeGroup>, MapError> {
    Ok(Some(match k {
        Ke::None => return Ok(None),
        Ke::Modp2048 => KeGroup::Modp2048,
        Ke::Modp3072 => KeGroup::Modp3072,
        Ke::Modp4096 => KeGroup::Modp4096,
        Ke::Ecp256 => KeGroup::Ecp256,
        Ke::Ecp384 => KeGroup::Ecp384,
        Ke::Ecp521 => KeGroup::Ecp521,
        Ke::Curve25519 => KeGroup::Curve25519,
        Ke::MlKem768 => KeGroup::MlKem768,
        other => return Err(MapError::NotImplemented(format!("key exchange {other}"))),
    }))
}

fn ke_list(v: &[Ke]) -> Result<Vec<KeGroup>, MapError> {
    let mut out = Vec::new();
    for k in v {
        if let Some(g) = ke(*k)? {
            out.push(g);
        }
    }
    Ok(out)
}

fn flat<T, U: PartialEq>(
    v: &[T],
    f: impl Fn(&T) -> Result<Vec<U>, MapError>,
) -> Result<Vec<U>, MapError> {
    let mut out = Vec::new();
    for x in v {
        for y in f(x)? {
            if !out.contains(&y) {
                out.push(y);
            }
        }
    }
    Ok(out)
}

/// `ike=` in the engine's terms (Libreswan's defaults when unset).
pub fn ike_proposals(spec: &ConnSpec) -> Result<Vec<IkeProposal>, MapError> {
    let Some(props) = &spec.ike else {
        return Ok(Vec::new());
    };
    let default_groups = ike::engine::default_ike_proposals()
        .first()
        .map(|p| p.ke.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    for p in &props.0 {
        let encr = flat(&p.encr, encr)?;
        let aead = encr.iter().all(|e| e.is_aead());
        let integ: Vec<IntegAlg> = if aead {
            Vec::new()
        } else if p.integ.is_empty() {
            vec![IntegAlg::HmacSha2_512_256, IntegAlg::HmacSha2_256_128]
        } else {
            flat(&p.integ, |i| Ok(integ(*i)?.into_iter().collect()))?
        };
        let prf: Vec<PrfAlg> = if !p.prf.is_empty() {
            flat(&p.prf, |x| Ok(vec![prf(*x)?]))?
        } else if !integ.is_empty() {
            integ.iter().map(|i| prf_of_integ(*i)).collect()
        } else {
            vec![PrfAlg::HmacSha2_512, PrfAlg::HmacSha2_256]
        };
        let ke = if p.ke.is_empty() {
            default_groups.clone()
        } else {
            ke_list(&p.ke)?
        };
        let mut addke = Vec::new();
        let mut extra = p.addke.clone();
        extra.sort_by_key(|(n, _)| *n);
        for (_, groups) in extra {
            addke.push(ke_list(&groups)?);
        }
        out.push(IkeProposal {
            encr,
            prf,
            integ,
            ke,
            addke,
        });
    }
    Ok(out)
}

/// `esp=` in the engine's terms (Libreswan's defaults when unset).
pub fn esp_proposals(spec: &ConnSpec) -> Result<Vec<EspProposal>, MapError> {
    let Some(props) = &spec.esp else {
        return Ok(Vec::new());
    };
    if props.ah {
        return Err(MapError::NotImplemented("AH (phase2=ah)".into()));
    }
    let mut out = Vec::new();
    for p in &props.proposals {
        let encr = flat(&p.encr, encr)?;
        let aead = encr.iter().all(|e| e.is_aead());
        let integ: Vec<IntegAlg> = if aead {
            Vec::new()
        } else if p.integ.is_empty() {
            vec![IntegAlg::HmacSha2_512_256, IntegAlg::HmacSha2_256_128]
        } else {
            flat(&p.integ, |i| Ok(integ(*i)?.into_iter().collect()))?
        };
        out.push(EspProposal {
            encr,
            integ,
            ke: ke_list(&p.ke)?,
        });
    }
    Ok(out)
}

/// What a mapped connection needs besides the engine's settings.
#[derive(Debug, Clone)]
pub struct Mapped {
    /// The engine's connection.
    pub conn: Connection,
    /// Our address.
    pub local: IpAddr,
    /// The peer's address (`None`: `%any`).
    pub remote: Option<IpAddr>,
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The private keys in `dir` (`IPSECDIR/private/*.pem`, PKCS#8 or
/// traditional PEM); unreadable files are reported, not fatal.
pub fn load_private_keys(dir: &std::path::Path) -> (Vec<Arc<PrivateKey>>, Vec<String>) {
    let mut keys = Vec::new();
    let mut warnings = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (keys, warnings);
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.extension().and_then(|e| e.to_str()) != Some("pem") {
            continue;
        }
        match std::fs::read_to_string(&p) {
            Ok(text) => match PrivateKey::from_pem(&text) {
                Ok(k) => keys.push(Arc::new(k)),
                Err(e) => warnings.push(format!("{}: {e}", p.display())),
            },
            Err(e) => warnings.push(format!("{}: {e}", p.display())),
        }
    }
    (keys, warnings)
}

/// What authenticates connections: ipsec.secrets, the raw private keys
/// and the certificate store.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// ipsec.secrets, if loaded.
    pub secrets: Option<&'a conf::Secrets>,
    /// Private keys for raw-key authentication (`IPSECDIR/private/*.pem`).
    pub keys: &'a [Arc<PrivateKey>],
    /// The certificate store, for `leftcert=`.
    pub certs: Option<&'a crate::certs::Certs>,
}

/// Maps an oriented connection. `remote_host` overrides the peer
/// (`--remote-host`).
pub fn map_connection(
    spec: &ConnSpec,
    local_addrs: &[IpAddr],
    creds: &Credentials<'_>,
    remote_host: Option<IpAddr>,
) -> Result<Mapped, MapError> {
    let secrets = creds.secrets;
    let keys = creds.keys;
    let (this, that) = oriented(spec, local_addrs)?;
    let local = host_ip(this, "left")?.ok_or_else(|| MapError::Host {
        end: "left",
        host: this.host.to_string(),
    })?;
    let remote = match remote_host {
        Some(r) => Some(r),
        None => host_ip(that, "right")?,
    };
    let local_port = this.ikeport.unwrap_or(500);
    let remote_port = that.ikeport.unwrap_or(500);
    let local_conf_id = conf_id(this, Some(local));
    let remote_conf_id = conf_id(that, remote);
    let auth_words: Vec<AuthBy> = match (this.auth, spec.authby.first()) {
        (Some(a), _) => vec![a],
        (None, Some(_)) => spec.authby.clone(),
        (None, None) => vec![AuthBy::Rsa(conf::conn::SigHash::Any)],
    };
    let mut cert_ids: Option<(Identity, Option<Identity>)> = None;
    let auth = match auth_words.first() {
        Some(AuthBy::Psk) => {
            let psk = secrets
                .map(|s| s.psk(&local_conf_id, &remote_conf_id))
                .transpose()
                .map_err(|e| MapError::Secrets(e.to_string()))?
                .flatten()
                .ok_or_else(|| MapError::NoPsk {
                    local: local_conf_id.to_string(),
                    remote: remote_conf_id.to_string(),
                })?;
            Authentication::Psk(Secret::from_slice(psk.as_bytes()))
        }
        Some(AuthBy::Null) => Authentication::Null,
        Some(authby @ (AuthBy::Rsa(_) | AuthBy::Ecdsa(_) | AuthBy::Eddsa))
            if this.cert.is_some() =>
        {
            let certs = creds.certs.ok_or_else(|| {
                MapError::Invalid(
                    "leftcert= needs the certificate store, which is not loaded".into(),
                )
            })?;
            let c = certs.connection_auth(spec, this, that, *authby)?;
            cert_ids = Some((c.local_id, c.remote_id));
            Authentication::Certificate(c.auth)
        }
        Some(AuthBy::Rsa(_) | AuthBy::Ecdsa(_) | AuthBy::Eddsa) => {
            let mine = match &this.pubkey {
                Some(PubKeySpec::Raw { key, .. }) => Some(key),
                _ => None,
            };
            let (Some(PubKeySpec::Raw { key: theirs, .. }), true) =
                (&that.pubkey, mine.is_some() || this.ckaid.is_some())
            else {
                return Err(MapError::NotImplemented(
                    "signature authentication without leftcert= needs the peer's raw public key (rightrsasigkey=/rightpubkey=) and ours (leftrsasigkey=/leftpubkey=, or leftckaid= naming a key of the NSS database); ferroswan does not look keys up in DNS".into(),
                ));
            };
            let parse = |k: &[u8], whose: &str| {
                PublicKey::from_libreswan(&format!("0x{}", hex_string(k)))
                    .map_err(|e| MapError::Invalid(format!("{whose} public key: {e}")))
            };
            let mine = mine.map(|k| parse(k, "our")).transpose()?;
            let peer = parse(theirs, "the peer's")?;
            let private_key = match (&this.ckaid, mine) {
                (Some(ckaid), mine) => {
                    let key = creds
                        .certs
                        .and_then(|c| c.raw_key_by_ckaid(ckaid))
                        .ok_or_else(|| {
                            MapError::Invalid(format!(
                                "leftckaid={ckaid}: no private key with this CKAID in the NSS database"
                            ))
                        })?;
                    if let Some(mine) = mine {
                        if !key.public_key().is_ok_and(|p| p == mine) {
                            return Err(MapError::Invalid(format!(
                                "leftckaid={ckaid} names a key that does not match leftrsasigkey=/leftpubkey="
                            )));
                        }
                    }
                    key
                }
                (None, Some(mine)) => {
                    let from_store = creds.certs.map(|c| c.raw_keys()).unwrap_or_default();
                    keys.iter()
                        .chain(from_store)
                        .find(|k| k.public_key().is_ok_and(|p| p == mine))
                        .cloned()
                        .ok_or_else(|| {
                            MapError::NotImplemented(
                                "raw-key authentication: no private key matching our public key in IPSECDIR/private/*.pem or the NSS database (ferroswan does not read RSA records of ipsec.secrets yet)".into(),
                            )
                        })?
                }
                (None, None) => {
                    return Err(MapError::Invalid("no public key of ours".into()));
                }
            };
            Authentication::RawKey {
                private_key,
                peer_public_key: Arc::new(peer),
            }
        }
        Some(other) => {
            return Err(MapError::NotImplemented(format!("authby={other}")));
        }
        None => return Err(MapError::Invalid("no authby= method".into())),
    };
    let mut conn = Connection::new(
        &spec.name,
        SocketAddr::new(local, local_port),
        remote.map(|r| SocketAddr::new(r, remote_port)),
        auth,
    );
    match cert_ids {
        Some((local_id, remote_id)) => {
            conn.local_id = Some(local_id);
            conn.remote_id = remote_id;
        }
        None => {
            conn.local_id = this.id.as_ref().map(identity).transpose()?.flatten();
            conn.remote_id = match &that.id {
                Some(id) => identity(id)?,
                None => remote.map(Identity::Address),
            };
        }
    }
    conn.ike_proposals = ike_proposals(spec)?;
    conn.esp_proposals = esp_proposals(spec)?;
    conn.local_ts = selectors(this, Some(local));
    conn.remote_ts = selectors(that, remote);
    conn.mode = match spec.conn_type {
        ConnType::Transport => Mode::Transport,
        _ => Mode::Tunnel,
    };
    conn.ike_lifetime = spec.ikelifetime;
    conn.child_lifetime = spec.salifetime;
    conn.retransmit_interval = spec.retransmit_interval;
    conn.retransmit_timeout = spec.retransmit_timeout;
    conn.fragmentation = match spec.fragmentation {
        conf::Fragmentation::No => Fragmentation::No,
        _ => Fragmentation::Yes,
    };
    conn.esn = match spec.esn {
        conf::Esn::Yes => EsnPolicy::Yes,
        conf::Esn::No => EsnPolicy::No,
        conf::Esn::Either => EsnPolicy::Either,
    };
    conn.pfs = spec.pfs;
    conn.childless = spec
        .raw
        .get("childless")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    conn.dpd_delay = spec.dpddelay.filter(|d| !d.is_zero());
    conn.rekey = spec.rekey;
    conn.rekey_margin = spec
        .raw
        .contains_key("rekeymargin")
        .then_some(spec.rekeymargin);
    conn.rekey_fuzz = spec.rekeyfuzz_percent;
    Ok(Mapped {
        conn,
        local,
        remote,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn spec(text: &str) -> ConnSpec {
        let c = conf::Config::parse_str(
            text,
            Path::new("/t/ipsec.conf"),
            &conf::LoadOptions::default(),
        )
        .unwrap();
        c.conns.into_iter().next().unwrap()
    }

    fn creds(secrets: Option<&conf::Secrets>) -> Credentials<'_> {
        Credentials {
            secrets,
            keys: &[],
            certs: None,
        }
    }

    fn secrets(text: &str) -> conf::Secrets {
        conf::Secrets::parse_str(
            text,
            Path::new("/t/ipsec.secrets"),
            &conf::LoadOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn psk_subnets_proposals() {
        let s = spec(
            "conn t\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tleftid=@west\n\trightid=@east\n\
             \tleftsubnet=10.1.0.0/16\n\trightsubnet=10.2.0.0/16\n\tauthby=secret\n\
             \tike=aes256-sha2_256-modp2048\n\tesp=aes_gcm256\n",
        );
        let sec = secrets("@west @east : PSK \"right\"\n: PSK \"wrong\"\n");
        let local: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap()];
        let m = map_connection(&s, &local, &creds(Some(&sec)), None).unwrap();
        // Oriented to the right end.
        assert_eq!(m.local, "192.0.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(m.conn.local_id, Some(Identity::Fqdn("east".into())));
        assert_eq!(m.conn.remote_id, Some(Identity::Fqdn("west".into())));
        assert_eq!(
            m.conn.local_ts,
            vec![TrafficSelector::from_prefix(
                "10.2.0.0".parse().unwrap(),
                16
            )]
        );
        match &m.conn.auth {
            Authentication::Psk(p) => assert_eq!(p.as_bytes(), b"right"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            m.conn.ike_proposals,
            vec![IkeProposal {
                encr: vec![EncrAlg::AesCbc256],
                prf: vec![PrfAlg::HmacSha2_256],
                integ: vec![IntegAlg::HmacSha2_256_128],
                ke: vec![KeGroup::Modp2048],
                addke: vec![],
            }]
        );
        assert_eq!(m.conn.esp_proposals[0].encr, vec![EncrAlg::AesGcm16_256]);
        assert!(m.conn.esp_proposals[0].integ.is_empty());
    }

    #[test]
    fn missing_psk_and_unoriented_are_errors() {
        let s = spec("conn t\n\tleft=192.0.2.1\n\tright=192.0.2.2\n\tauthby=secret\n");
        let local: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap()];
        let e = map_connection(&s, &local, &creds(Some(&secrets(""))), None).unwrap_err();
        assert!(e.to_string().contains("no pre-shared key"), "{e}");
        let e = map_connection(&s, &[], &creds(None), None).unwrap_err();
        assert!(matches!(e, MapError::NotOriented(_)), "{e}");
        // Host to host: no selectors (the engine uses the addresses).
        let m = map_connection(
            &s,
            &local,
            &creds(Some(&secrets(": PSK \"x\"\n"))),
            Some("198.51.100.7".parse().unwrap()),
        )
        .unwrap();
        assert!(m.conn.local_ts.is_empty());
        assert_eq!(
            m.conn.remote_addr,
            Some("198.51.100.7:500".parse().unwrap())
        );
    }
}
