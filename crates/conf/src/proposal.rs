//! `ike=`, `esp=`, `ah=` and `phase2alg=`: proposal lists parsed into typed
//! algorithms, printed back in Libreswan's spelling.
//!
//! Grammar (Libreswan's): proposals separated by `,`; a proposal is
//! `ENCR[-INTEG[-PRF]][-KE]` with `;KE`, `;ke=KE` and `;addkeN=KE` clauses;
//! every component may list alternatives joined by `+`.

use std::fmt;

/// An encryption algorithm (ENCR transform).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encr {
    /// AES-CBC.
    Aes,
    /// AES-CTR.
    AesCtr,
    /// AES-GCM with 8-octet ICV.
    AesGcm8,
    /// AES-GCM with 12-octet ICV.
    AesGcm12,
    /// AES-GCM with 16-octet ICV.
    AesGcm16,
    /// AES-CCM with 8-octet ICV.
    AesCcm8,
    /// AES-CCM with 12-octet ICV.
    AesCcm12,
    /// AES-CCM with 16-octet ICV.
    AesCcm16,
    /// NULL encryption with AES-GMAC authentication.
    NullAuthAesGmac,
    /// ChaCha20-Poly1305.
    Chacha20Poly1305,
    /// 3DES-CBC.
    TripleDes,
    /// Camellia-CBC.
    Camellia,
    /// Camellia-CTR.
    CamelliaCtr,
    /// NULL encryption.
    Null,
}

impl Encr {
    const NAMES: &'static [(&'static str, Encr)] = &[
        ("aes", Encr::Aes),
        ("aes_cbc", Encr::Aes),
        ("aes_ctr", Encr::AesCtr),
        ("aesctr", Encr::AesCtr),
        ("aes_gcm", Encr::AesGcm16),
        ("aes_gcm_c", Encr::AesGcm16),
        ("aes_gcm_16", Encr::AesGcm16),
        ("aes_gcm16", Encr::AesGcm16),
        ("aes_gcm_b", Encr::AesGcm12),
        ("aes_gcm_12", Encr::AesGcm12),
        ("aes_gcm12", Encr::AesGcm12),
        ("aes_gcm_a", Encr::AesGcm8),
        ("aes_gcm_8", Encr::AesGcm8),
        ("aes_gcm8", Encr::AesGcm8),
        ("aes_ccm", Encr::AesCcm16),
        ("aes_ccm_c", Encr::AesCcm16),
        ("aes_ccm_16", Encr::AesCcm16),
        ("aes_ccm_b", Encr::AesCcm12),
        ("aes_ccm_12", Encr::AesCcm12),
        ("aes_ccm_a", Encr::AesCcm8),
        ("aes_ccm_8", Encr::AesCcm8),
        ("null_auth_aes_gmac", Encr::NullAuthAesGmac),
        ("aes_gmac", Encr::NullAuthAesGmac),
        ("chacha20_poly1305", Encr::Chacha20Poly1305),
        ("chacha20poly1305", Encr::Chacha20Poly1305),
        ("3des", Encr::TripleDes),
        ("3des_cbc", Encr::TripleDes),
        ("camellia", Encr::Camellia),
        ("camellia_cbc", Encr::Camellia),
        ("camellia_ctr", Encr::CamelliaCtr),
        ("null", Encr::Null),
    ];

    /// Libreswan's name.
    pub fn name(self) -> &'static str {
        match self {
            Encr::Aes => "aes",
            Encr::AesCtr => "aes_ctr",
            Encr::AesGcm8 => "aes_gcm_a",
            Encr::AesGcm12 => "aes_gcm_b",
            Encr::AesGcm16 => "aes_gcm",
            Encr::AesCcm8 => "aes_ccm_a",
            Encr::AesCcm12 => "aes_ccm_b",
            Encr::AesCcm16 => "aes_ccm",
            Encr::NullAuthAesGmac => "null_auth_aes_gmac",
            Encr::Chacha20Poly1305 => "chacha20_poly1305",
            Encr::TripleDes => "3des",
            Encr::Camellia => "camellia",
            Encr::CamelliaCtr => "camellia_ctr",
            Encr::Null => "null",
        }
    }

    /// Whether it is an AEAD (no separate integrity).
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Encr::AesGcm8
                | Encr::AesGcm12
                | Encr::AesGcm16
                | Encr::AesCcm8
                | Encr::AesCcm12
                | Encr::AesCcm16
                | Encr::Chacha20Poly1305
        )
    }

    /// Key lengths allowed explicitly (empty: fixed, none may be given).
    pub fn key_lengths(self) -> &'static [u16] {
        match self {
            Encr::TripleDes | Encr::Chacha20Poly1305 | Encr::Null => &[],
            _ => &[128, 192, 256],
        }
    }
}

/// An encryption algorithm with its key length (None = algorithm default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncrAlg {
    /// The algorithm.
    pub alg: Encr,
    /// Key length in bits, when given.
    pub key_len: Option<u16>,
}

impl fmt::Display for EncrAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.alg.name())?;
        if let Some(k) = self.key_len {
            // names ending in a letter take the length directly (aes256)
            if self.alg.name().ends_with(|c: char| c.is_ascii_digit()) {
                write!(f, "_{k}")?;
            } else {
                write!(f, "{k}")?;
            }
        }
        Ok(())
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $canon:literal $(| $alias:literal)* ,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)* }
        impl $name {
            /// Libreswan's name.
            pub fn name(self) -> &'static str { match self { $($name::$var => $canon,)* } }
            /// Looks a name up (case-insensitive).
            pub fn from_name(n: &str) -> Option<Self> {
                let n = n.to_ascii_lowercase();
                match n.as_str() { $($canon $(| $alias)* => Some($name::$var),)* _ => None }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
    };
}

named_enum!(
    /// An integrity algorithm.
    Integ {
        /// No integrity (AEAD).
        None = "none" | "null",
        /// HMAC-MD5-96.
        Md5 = "md5" | "hmac_md5",
        /// HMAC-SHA1-96.
        Sha1 = "sha1" | "sha" | "hmac_sha1",
        /// HMAC-SHA2-256-128.
        Sha2_256 = "sha2_256" | "sha2" | "sha256" | "hmac_sha2_256",
        /// HMAC-SHA2-384-192.
        Sha2_384 = "sha2_384" | "sha384" | "hmac_sha2_384",
        /// HMAC-SHA2-512-256.
        Sha2_512 = "sha2_512" | "sha512" | "hmac_sha2_512",
        /// AES-XCBC-96.
        AesXcbc = "aes_xcbc" | "aes_xcbc_96",
        /// AES-CMAC-96.
        AesCmac = "aes_cmac" | "aes_cmac_96",
    }
);

named_enum!(
    /// A pseudo-random function (IKE only).
    Prf {
        /// PRF_HMAC_MD5.
        Md5 = "md5",
        /// PRF_HMAC_SHA1.
        Sha1 = "sha1" | "sha",
        /// PRF_HMAC_SHA2_256.
        Sha2_256 = "sha2_256" | "sha2" | "sha256",
        /// PRF_HMAC_SHA2_384.
        Sha2_384 = "sha2_384" | "sha384",
        /// PRF_HMAC_SHA2_512.
        Sha2_512 = "sha2_512" | "sha512",
        /// PRF_AES128_XCBC.
        AesXcbc = "aes_xcbc",
        /// PRF_AES128_CMAC.
        AesCmac = "aes_cmac",
    }
);

named_enum!(
    /// A key-exchange method (DH group or KEM).
    Ke {
        /// No key exchange (no PFS for a Child SA).
        None = "none" | "null",
        /// MODP 1024 (group 2).
        Modp1024 = "modp1024" | "dh2",
        /// MODP 1536 (group 5).
        Modp1536 = "modp1536" | "dh5",
        /// MODP 2048 (group 14).
        Modp2048 = "modp2048" | "dh14",
        /// MODP 3072 (group 15).
        Modp3072 = "modp3072" | "dh15",
        /// MODP 4096 (group 16).
        Modp4096 = "modp4096" | "dh16",
        /// MODP 6144 (group 17).
        Modp6144 = "modp6144" | "dh17",
        /// MODP 8192 (group 18).
        Modp8192 = "modp8192" | "dh18",
        /// ECP 256 (group 19).
        Ecp256 = "dh19" | "ecp256" | "ecp_256",
        /// ECP 384 (group 20).
        Ecp384 = "dh20" | "ecp384" | "ecp_384",
        /// ECP 521 (group 21).
        Ecp521 = "dh21" | "ecp521" | "ecp_521",
        /// MODP 1024 with 160-bit subgroup (group 22).
        Dh22 = "dh22",
        /// MODP 2048 with 224-bit subgroup (group 23).
        Dh23 = "dh23",
        /// MODP 2048 with 256-bit subgroup (group 24).
        Dh24 = "dh24",
        /// Curve25519 (group 31).
        Curve25519 = "dh31" | "curve25519" | "x25519",
        /// ML-KEM-512.
        MlKem512 = "ml_kem_512" | "mlkem512",
        /// ML-KEM-768.
        MlKem768 = "ml_kem_768" | "mlkem768",
        /// ML-KEM-1024.
        MlKem1024 = "ml_kem_1024" | "mlkem1024",
    }
);

/// One IKE proposal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct IkeProposal {
    /// Encryption alternatives.
    pub encr: Vec<EncrAlg>,
    /// Integrity alternatives (empty: implied by the PRF, or none for AEAD).
    pub integ: Vec<Integ>,
    /// PRF alternatives (empty: implied by the integrity).
    pub prf: Vec<Prf>,
    /// Key exchange alternatives (empty: defaults).
    pub ke: Vec<Ke>,
    /// Additional key exchanges (RFC 9370), `addkeN=`.
    pub addke: Vec<(u8, Vec<Ke>)>,
}

/// One ESP or AH proposal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct EspProposal {
    /// Encryption alternatives (empty for AH).
    pub encr: Vec<EncrAlg>,
    /// Integrity alternatives.
    pub integ: Vec<Integ>,
    /// PFS key exchange alternatives (empty: the IKE SA's).
    pub ke: Vec<Ke>,
    /// Additional key exchanges, `addkeN=`.
    pub addke: Vec<(u8, Vec<Ke>)>,
}

/// `ike=`: the list of IKE proposals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IkeProposals(pub Vec<IkeProposal>);

/// `esp=` / `ah=`: the list of Child SA proposals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EspProposals {
    /// AH (`ah=` / `phase2=ah`) rather than ESP.
    pub ah: bool,
    /// The proposals.
    pub proposals: Vec<EspProposal>,
}

fn join<T: fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("+")
}

fn write_ke_clauses(f: &mut fmt::Formatter<'_>, ke: &[Ke], addke: &[(u8, Vec<Ke>)]) -> fmt::Result {
    if !ke.is_empty() {
        write!(f, ";{}", join(ke))?;
    }
    for (n, k) in addke {
        write!(f, ";addke{n}={}", join(k))?;
    }
    Ok(())
}

impl fmt::Display for IkeProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&join(&self.encr))?;
        let aead = self.encr.first().is_some_and(|e| e.alg.is_aead());
        if !self.integ.is_empty() {
            write!(f, "-{}", join(&self.integ))?;
            if !self.prf.is_empty() {
                write!(f, "-{}", join(&self.prf))?;
            }
        } else if !self.prf.is_empty() {
            if aead {
                write!(f, "-{}", join(&self.prf))?;
            } else {
                write!(f, "-none-{}", join(&self.prf))?;
            }
        }
        write_ke_clauses(f, &self.ke, &self.addke)
    }
}

impl fmt::Display for IkeProposals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.0.iter().map(|p| p.to_string()).collect();
        f.write_str(&v.join(","))
    }
}

impl fmt::Display for EspProposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.encr.is_empty() {
            f.write_str(&join(&self.integ))?;
        } else {
            f.write_str(&join(&self.encr))?;
            if !self.integ.is_empty() {
                write!(f, "-{}", join(&self.integ))?;
            }
        }
        write_ke_clauses(f, &self.ke, &self.addke)
    }
}

impl fmt::Display for EspProposals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<String> = self.proposals.iter().map(|p| p.to_string()).collect();
        f.write_str(&v.join(","))
    }
}

/// Parses `aes256`, `aes_gcm_16_128`, `3des`; an explicit length may also
/// follow as the next `-` token (handled by the caller).
fn parse_encr(tok: &str) -> Result<EncrAlg, String> {
    let t = tok.to_ascii_lowercase();
    let lookup = |n: &str| {
        Encr::NAMES
            .iter()
            .find(|(name, _)| *name == n)
            .map(|(_, e)| *e)
    };
    if let Some(alg) = lookup(&t) {
        return Ok(EncrAlg { alg, key_len: None });
    }
    let digits = t.len() - t.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        let (name, len) = t.split_at(t.len() - digits);
        let name = name.strip_suffix('_').unwrap_or(name);
        if let Some(alg) = lookup(name) {
            let k: u16 = len
                .parse()
                .map_err(|_| format!("encryption algorithm '{tok}' has a bad key length"))?;
            check_key_len(alg, k, tok)?;
            return Ok(EncrAlg {
                alg,
                key_len: Some(k),
            });
        }
    }
    Err(format!("unknown encryption algorithm '{tok}'"))
}

fn check_key_len(alg: Encr, k: u16, tok: &str) -> Result<(), String> {
    if alg.key_lengths().contains(&k) {
        Ok(())
    } else {
        Err(format!(
            "encryption algorithm '{tok}': invalid key length {k}"
        ))
    }
}

fn plus_list<T>(tok: &str, f: impl Fn(&str) -> Option<T>, what: &str) -> Result<Vec<T>, String> {
    tok.split('+')
        .map(|t| f(t).ok_or_else(|| format!("unknown {what} '{t}'")))
        .collect()
}

fn is_ke_token(tok: &str) -> bool {
    tok.split('+').all(|t| Ke::from_name(t).is_some())
}

/// The `;...` clauses after the algorithms.
fn parse_clauses(
    clauses: &[&str],
    ke: &mut Vec<Ke>,
    addke: &mut Vec<(u8, Vec<Ke>)>,
) -> Result<(), String> {
    for c in clauses {
        let c = c.trim();
        if let Some(v) = c.strip_prefix("ke=") {
            if !ke.is_empty() {
                return Err(format!("'{c}': key exchange given twice"));
            }
            *ke = plus_list(v, Ke::from_name, "key exchange")?;
        } else if let Some(rest) = c.strip_prefix("addke") {
            let (n, v) = rest
                .split_once('=')
                .ok_or_else(|| format!("'{c}' is missing '='"))?;
            let n: u8 = n
                .parse()
                .ok()
                .filter(|n| (1..=7).contains(n))
                .ok_or_else(|| format!("'{c}': addke index must be 1..7"))?;
            if addke.iter().any(|(m, _)| *m == n) {
                return Err(format!("'{c}': addke{n} given twice"));
            }
            addke.push((n, plus_list(v, Ke::from_name, "key exchange")?));
        } else {
            if !ke.is_empty() {
                return Err(format!("'{c}': key exchange given twice"));
            }
            *ke = plus_list(c, Ke::from_name, "key exchange")?;
        }
    }
    Ok(())
}

/// Splits `ENCR[-LEN]...` tokens: the encryption list and the rest.
fn encr_and_rest<'a>(
    tokens: &'a [&'a str],
    whole: &str,
) -> Result<(Vec<EncrAlg>, &'a [&'a str]), String> {
    let Some((first, mut rest)) = tokens.split_first() else {
        return Err(format!("'{whole}': empty proposal"));
    };
    let mut encr: Vec<EncrAlg> = first.split('+').map(parse_encr).collect::<Result<_, _>>()?;
    if let Some((len, r)) = rest.split_first() {
        if !len.is_empty() && len.chars().all(|c| c.is_ascii_digit()) {
            let k: u16 = len
                .parse()
                .map_err(|_| format!("'{whole}': bad key length '{len}'"))?;
            for e in &mut encr {
                if e.key_len.is_some() {
                    return Err(format!("'{whole}': key length given twice"));
                }
                check_key_len(e.alg, k, whole)?;
                e.key_len = Some(k);
            }
            rest = r;
        }
    }
    Ok((encr, rest))
}

/// Parses an `ike=` value.
pub fn parse_ike(v: &str) -> Result<IkeProposals, String> {
    let mut out = Vec::new();
    for prop in v.split(',') {
        let prop = prop.trim();
        let mut parts = prop.split(';');
        let algs = parts.next().unwrap_or("");
        let clauses: Vec<&str> = parts.collect();
        let tokens: Vec<&str> = algs.split('-').collect();
        let (encr, rest) = encr_and_rest(&tokens, prop)?;
        let mut p = IkeProposal {
            encr,
            ..Default::default()
        };
        let aead = p.encr.first().is_some_and(|e| e.alg.is_aead());
        let mut others: Vec<&str> = Vec::new();
        for (i, t) in rest.iter().enumerate() {
            let lone_none = rest.len() == 1
                && (t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("null"));
            if i + 1 == rest.len() && is_ke_token(t) && !lone_none {
                p.ke = plus_list(t, Ke::from_name, "key exchange")?;
            } else {
                others.push(t);
            }
        }
        // `aes-none` style: a single trailing "none" for IKE is integrity none
        match others.as_slice() {
            [] => {}
            [one] => {
                if aead {
                    if one.eq_ignore_ascii_case("none") || one.eq_ignore_ascii_case("null") {
                        p.integ = vec![Integ::None];
                    } else {
                        p.prf = plus_list(one, Prf::from_name, "PRF algorithm")?;
                    }
                } else {
                    p.integ = plus_list(one, Integ::from_name, "integrity algorithm")?;
                }
            }
            [i, r] => {
                p.integ = plus_list(i, Integ::from_name, "integrity algorithm")?;
                p.prf = plus_list(r, Prf::from_name, "PRF algorithm")?;
            }
            _ => return Err(format!("'{prop}': too many algorithms")),
        }
        parse_clauses(&clauses, &mut p.ke, &mut p.addke)?;
        out.push(p);
    }
    Ok(IkeProposals(out))
}

/// Parses an `esp=` (or `phase2alg=`) value.
pub fn parse_esp(v: &str) -> Result<EspProposals, String> {
    let mut out = Vec::new();
    for prop in v.split(',') {
        let prop = prop.trim();
        let mut parts = prop.split(';');
        let algs = parts.next().unwrap_or("");
        let clauses: Vec<&str> = parts.collect();
        let tokens: Vec<&str> = algs.split('-').collect();
        let (encr, rest) = encr_and_rest(&tokens, prop)?;
        let mut p = EspProposal {
            encr,
            ..Default::default()
        };
        match rest {
            [] => {}
            [i] => p.integ = plus_list(i, Integ::from_name, "integrity algorithm")?,
            [i, k] => {
                p.integ = plus_list(i, Integ::from_name, "integrity algorithm")?;
                p.ke = plus_list(k, Ke::from_name, "key exchange")?;
            }
            _ => return Err(format!("'{prop}': too many algorithms")),
        }
        parse_clauses(&clauses, &mut p.ke, &mut p.addke)?;
        out.push(p);
    }
    Ok(EspProposals {
        ah: false,
        proposals: out,
    })
}

/// Parses an `ah=` value.
pub fn parse_ah(v: &str) -> Result<EspProposals, String> {
    let mut out = Vec::new();
    for prop in v.split(',') {
        let prop = prop.trim();
        let mut parts = prop.split(';');
        let algs = parts.next().unwrap_or("");
        let clauses: Vec<&str> = parts.collect();
        let tokens: Vec<&str> = algs.split('-').collect();
        let mut p = EspProposal::default();
        match tokens.as_slice() {
            [i] => p.integ = plus_list(i, Integ::from_name, "integrity algorithm")?,
            [i, k] => {
                p.integ = plus_list(i, Integ::from_name, "integrity algorithm")?;
                p.ke = plus_list(k, Ke::from_name, "key exchange")?;
            }
            _ => return Err(format!("'{prop}': expecting INTEG[-KE]")),
        }
        if p.integ.contains(&Integ::None) {
            return Err(format!("'{prop}': AH requires an integrity algorithm"));
        }
        parse_clauses(&clauses, &mut p.ke, &mut p.addke)?;
        out.push(p);
    }
    Ok(EspProposals {
        ah: true,
        proposals: out,
    })
}

impl EspProposals {
    /// Parses back what Display printed (`ah` says which grammar).
    pub fn parse(v: &str, ah: bool) -> Result<EspProposals, String> {
        if ah {
            parse_ah(v)
        } else {
            parse_esp(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ike_forms() {
        let p = parse_ike("aes_gcm256-sha2_512;dh19").unwrap();
        let q = &p.0[0];
        assert_eq!(
            q.encr,
            vec![EncrAlg {
                alg: Encr::AesGcm16,
                key_len: Some(256)
            }]
        );
        assert_eq!(q.prf, vec![Prf::Sha2_512]);
        assert_eq!(q.ke, vec![Ke::Ecp256]);
        let p = parse_ike("aes+3des-sha1+sha2-modp2048,aes128-sha2_256;dh14").unwrap();
        assert_eq!(p.0.len(), 2);
        assert_eq!(p.0[0].encr.len(), 2);
        assert_eq!(p.0[0].integ, vec![Integ::Sha1, Integ::Sha2_256]);
        assert_eq!(p.0[0].ke, vec![Ke::Modp2048]);
        let p = parse_ike("aes;dh20;addke1=modp8192+none;addke2=ml_kem_768").unwrap();
        assert_eq!(
            p.0[0].addke,
            vec![(1, vec![Ke::Modp8192, Ke::None]), (2, vec![Ke::MlKem768])]
        );
        let p = parse_ike("aes;ke=ml_kem_768").unwrap();
        assert_eq!(p.0[0].ke, vec![Ke::MlKem768]);
        let p = parse_ike("aes_gcm_16_128-none-sha1-modp2048").unwrap();
        assert_eq!(p.0[0].integ, vec![Integ::None]);
        assert_eq!(p.0[0].prf, vec![Prf::Sha1]);
        assert_eq!(p.0[0].encr[0].key_len, Some(128));
    }

    #[test]
    fn unknown_algorithms_are_named() {
        assert!(parse_ike("foo-sha1").unwrap_err().contains("'foo'"));
        assert!(parse_ike("aes-sha7").unwrap_err().contains("sha7"));
        assert!(parse_esp("aes-sha1;dh99").unwrap_err().contains("dh99"));
        assert!(parse_esp("3des333-sha1").is_err());
        assert!(parse_esp("aes256-sha2_256-4096").is_err());
        assert!(parse_esp("aes_ccm_a-152-null").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "aes_gcm256-sha2_512;dh19",
            "aes+3des-sha1+sha2;modp2048",
            "aes;dh20;addke1=modp8192+none;addke2=ml_kem_768",
            "aes_gcm_16_128-none-sha1-modp2048",
            "chacha20poly1305-sha2-dh19",
            "aes128-aes_xcbc-modp2048",
        ] {
            let p = parse_ike(s).unwrap();
            assert_eq!(parse_ike(&p.to_string()).unwrap(), p, "{s} -> {p}");
        }
        for s in [
            "aes-sha1,3des-md5",
            "aes_gcm-null",
            "aes128-sha2_256;modp1536",
            "null_auth_aes_gmac",
            "aes_ccm_a-128-null",
        ] {
            let p = parse_esp(s).unwrap();
            assert_eq!(parse_esp(&p.to_string()).unwrap(), p, "{s} -> {p}");
        }
        let p = parse_ah("sha1;modp2048").unwrap();
        assert_eq!(p.to_string(), "sha1;modp2048");
        assert_eq!(parse_ah(&p.to_string()).unwrap(), p);
    }
}
