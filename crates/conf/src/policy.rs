//! Connection policy values: `auto=`, `type=`, shunts, encapsulation,
//! fragmentation, ESN, IKE version and authentication methods.

use std::fmt;

macro_rules! kw_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $canon:literal $(| $alias:literal)* ,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var,)* }
        impl $name {
            /// The keyword value as Libreswan spells it.
            pub fn name(self) -> &'static str { match self { $($name::$var => $canon,)* } }
            /// Parses a value (case-insensitive).
            pub fn from_name(n: &str) -> Option<Self> {
                match n.to_ascii_lowercase().as_str() { $($canon $(| $alias)* => Some($name::$var),)* _ => None }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.name()) }
        }
    };
}

kw_enum!(
    /// `auto=`: what happens at start-up.
    Auto {
        /// Nothing.
        Ignore = "ignore",
        /// Load the connection.
        Add = "add",
        /// Load and install the trap (route).
        Ondemand = "ondemand",
        /// Same as ondemand (older spelling).
        Route = "route",
        /// Load and initiate.
        Up = "up",
        /// Same as up (older spelling).
        Start = "start",
        /// Load, initiate and keep it up.
        Keep = "keep",
    }
);

kw_enum!(
    /// `type=`.
    ConnType {
        /// Tunnel mode.
        Tunnel = "tunnel",
        /// Transport mode.
        Transport = "transport",
        /// A pass-through shunt (never negotiated).
        Passthrough = "passthrough" | "pass",
        /// A drop shunt.
        Drop = "drop",
        /// A reject shunt (Libreswan implements it as drop).
        Reject = "reject",
    }
);

kw_enum!(
    /// `dpdaction=` (obsolete in Libreswan 5, derived from `auto=`).
    DpdAction {
        /// Delete the connection's SAs.
        Clear = "clear",
        /// Keep the trap and wait for traffic.
        Hold = "hold",
        /// Renegotiate.
        Restart = "restart",
    }
);

kw_enum!(
    /// `encapsulation=`: UDP encapsulation of ESP.
    Encapsulation {
        /// When NAT is detected.
        Auto = "auto",
        /// Always.
        Yes = "yes",
        /// Never.
        No = "no",
    }
);

kw_enum!(
    /// `fragmentation=`: IKE fragmentation.
    Fragmentation {
        /// Use it when the peer supports it.
        Yes = "yes",
        /// Never.
        No = "no" | "never",
        /// Fragment from the start.
        Force = "force" | "insist",
    }
);

kw_enum!(
    /// `esn=`: extended sequence numbers.
    Esn {
        /// Require ESN.
        Yes = "yes",
        /// No ESN.
        No = "no",
        /// Either, peer's choice.
        Either = "either",
    }
);

kw_enum!(
    /// A shunt (`failureshunt=`, `negotiationshunt=`).
    Shunt {
        /// No shunt.
        None = "none",
        /// Let traffic pass in the clear.
        Pass = "passthrough" | "pass",
        /// Drop.
        Drop = "drop",
        /// Drop and send ICMP.
        Reject = "reject",
        /// Hold packets.
        Hold = "hold",
    }
);

kw_enum!(
    /// IKE version.
    IkeVersion {
        /// IKEv1 (loaded as configuration; the daemon refuses it).
        V1 = "ikev1",
        /// IKEv2.
        V2 = "ikev2",
    }
);

/// A signature hash restriction of `authby=rsa-sha2_256` and friends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigHash {
    /// Any hash.
    Any,
    /// SHA-1 (RSA only).
    Sha1,
    /// Any SHA-2.
    Sha2,
    /// SHA2-256.
    Sha2_256,
    /// SHA2-384.
    Sha2_384,
    /// SHA2-512.
    Sha2_512,
}

impl SigHash {
    fn suffix(self) -> &'static str {
        match self {
            SigHash::Any => "",
            SigHash::Sha1 => "-sha1",
            SigHash::Sha2 => "-sha2",
            SigHash::Sha2_256 => "-sha2_256",
            SigHash::Sha2_384 => "-sha2_384",
            SigHash::Sha2_512 => "-sha2_512",
        }
    }
}

/// An authentication method (`authby=`, `leftauth=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthBy {
    /// Pre-shared key (`secret`, `psk`).
    Psk,
    /// RSA signatures.
    Rsa(SigHash),
    /// ECDSA signatures.
    Ecdsa(SigHash),
    /// EdDSA signatures.
    Eddsa,
    /// `null` authentication (RFC 7619).
    Null,
    /// `never`: no negotiation (shunts).
    Never,
    /// `eaponly`.
    EapOnly,
}

impl fmt::Display for AuthBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthBy::Psk => f.write_str("secret"),
            AuthBy::Rsa(SigHash::Any) => f.write_str("rsasig"),
            AuthBy::Rsa(h) => write!(f, "rsa{}", h.suffix()),
            AuthBy::Ecdsa(h) => write!(f, "ecdsa{}", h.suffix()),
            AuthBy::Eddsa => f.write_str("eddsa"),
            AuthBy::Null => f.write_str("null"),
            AuthBy::Never => f.write_str("never"),
            AuthBy::EapOnly => f.write_str("eaponly"),
        }
    }
}

/// Parses one authentication method.
pub fn parse_authby_one(v: &str) -> Result<AuthBy, String> {
    let v = v.trim().to_ascii_lowercase();
    let hash = |s: &str| -> Result<SigHash, String> {
        Ok(match s {
            "" => SigHash::Any,
            "-sha1" => SigHash::Sha1,
            "-sha2" => SigHash::Sha2,
            "-sha2_256" => SigHash::Sha2_256,
            "-sha2_384" => SigHash::Sha2_384,
            "-sha2_512" => SigHash::Sha2_512,
            other => {
                return Err(format!(
                    "unknown signature hash '{}'",
                    other.trim_start_matches('-')
                ))
            }
        })
    };
    Ok(match v.as_str() {
        "secret" | "psk" => AuthBy::Psk,
        "rsasig" | "rsa" => AuthBy::Rsa(SigHash::Any),
        "eddsa" => AuthBy::Eddsa,
        "null" => AuthBy::Null,
        "never" => AuthBy::Never,
        "eaponly" => AuthBy::EapOnly,
        _ => {
            if let Some(h) = v.strip_prefix("rsa") {
                AuthBy::Rsa(hash(h)?)
            } else if let Some(h) = v.strip_prefix("ecdsa") {
                let h = hash(h)?;
                if h == SigHash::Sha1 {
                    return Err("authby=ecdsa cannot use sha1, only sha2".into());
                }
                AuthBy::Ecdsa(h)
            } else {
                return Err(format!("unknown authentication method '{v}'"));
            }
        }
    })
}
