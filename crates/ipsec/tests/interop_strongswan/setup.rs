//! One interop scenario's set-up: namespaces (a veth pair, or three
//! namespaces with a masquerading NAT), ferroswan's daemon with its
//! ipsec.conf/ipsec.secrets/keys, and strongSwan's charon with the mirror
//! swanctl connection `sw`.

use std::net::SocketAddr;
use std::time::Duration;

use testkit::{wait_until, Charon, CharonConn, NetPair, Netns, TempDir};

use crate::common::nat::{self, NatTopology};
use crate::common::{keypair, tcp_echo_to, wait_ping, Daemon};

/// The PSK both sides use.
pub const PSK: &str = "interop secret 0123456789abcdef";
/// The connection name on both sides.
pub const CONN: &str = "sw";
/// ferroswan's second subnet (`Scenario::second_child`), with 10.3.0.1 on lo.
pub const SECOND_FS_NET: &str = "10.3.0.0/24";
/// strongSwan's second subnet, with 10.4.0.1 on lo.
pub const SECOND_SW_NET: &str = "10.4.0.0/24";

/// One proposal set in both spellings.
#[derive(Debug)]
pub struct Suite {
    /// For the matrix.
    pub name: &'static str,
    /// ferroswan `ike=`.
    pub ike: &'static str,
    /// ferroswan `esp=`.
    pub esp: &'static str,
    /// strongSwan `proposals`.
    pub sw_ike: &'static str,
    /// strongSwan `esp_proposals`.
    pub sw_esp: &'static str,
    /// The key exchange in strongSwan's spelling (for ESP with PFS).
    pub sw_ke: &'static str,
    /// What ferroswan's IKE SA progress line names.
    pub cipher: &'static str,
    /// The key exchange it names.
    pub group: &'static str,
    /// How `swanctl --list-sas` names the IKE SA's algorithms.
    pub sw_ike_sa: &'static str,
}

/// AES-GCM-256, Curve25519.
pub const GCM256_X25519: Suite = Suite {
    name: "AES-GCM-256 / Curve25519",
    ike: "aes_gcm256-sha2_256;dh31",
    esp: "aes_gcm256",
    sw_ike: "aes256gcm16-prfsha256-x25519",
    sw_esp: "aes256gcm16",
    sw_ke: "x25519",
    cipher: "cipher=AES_GCM_16_256",
    group: "group=DH31",
    sw_ike_sa: "AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519",
};

/// AES-CBC-256, HMAC-SHA2-256, MODP2048.
pub const CBC_MODP2048: Suite = Suite {
    name: "AES-CBC-256 / HMAC-SHA2-256 / MODP2048",
    ike: "aes256-sha2_256-modp2048",
    esp: "aes256-sha2_256",
    sw_ike: "aes256-sha256-modp2048",
    sw_esp: "aes256-sha256",
    sw_ke: "modp2048",
    cipher: "cipher=AES_CBC_256",
    group: "group=MODP2048",
    sw_ike_sa: "AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
};

/// AES-GCM-128, ECP-384.
pub const GCM128_ECP384: Suite = Suite {
    name: "AES-GCM-128 / ECP-384",
    ike: "aes_gcm128-sha2_384;dh20",
    esp: "aes_gcm128",
    sw_ike: "aes128gcm16-prfsha384-ecp384",
    sw_esp: "aes128gcm16",
    sw_ke: "ecp384",
    cipher: "cipher=AES_GCM_16_128",
    group: "group=DH20",
    sw_ike_sa: "AES_GCM_16-128/PRF_HMAC_SHA2_384/ECP_384",
};

/// ChaCha20-Poly1305, ECP-256.
pub const CHACHA_ECP256: Suite = Suite {
    name: "ChaCha20-Poly1305 / ECP-256",
    ike: "chacha20_poly1305-sha2_256;dh19",
    esp: "chacha20_poly1305",
    sw_ike: "chacha20poly1305-prfsha256-ecp256",
    sw_esp: "chacha20poly1305",
    sw_ke: "ecp256",
    cipher: "cipher=CHACHA20_POLY1305",
    group: "group=DH19",
    sw_ike_sa: "CHACHA20_POLY1305/PRF_HMAC_SHA2_256/ECP_256",
};

/// The identities both ends use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// IPv4 addresses (ferroswan's default `leftid`).
    Ip,
    /// FQDNs (`@host`).
    Fqdn,
    /// user@FQDN (RFC 822 addresses).
    UserFqdn,
}

/// How the peers authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// A pre-shared key.
    Psk,
    /// Raw RSA public keys (ferroswan `authby=rsasig`).
    RawRsa,
    /// Raw ECDSA P-256 public keys (ferroswan `authby=ecdsa`).
    RawEcdsa,
}

/// What one scenario configures.
#[derive(Debug)]
pub struct Scenario {
    /// Who starts the IKE SA.
    pub ferroswan_initiates: bool,
    /// Identities.
    pub ids: Ids,
    /// Authentication.
    pub auth: Auth,
    /// Proposals.
    pub suite: &'static Suite,
    /// The initiator proposes /16 subnets, the responder accepts /24s.
    pub narrow: bool,
    /// A masquerading NAT in front of the initiator.
    pub nat: bool,
    /// strongSwan's ESP proposals name the key exchange, so Child SA
    /// rekeys have PFS (as ferroswan's default `pfs=yes` proposes).
    pub pfs: bool,
    /// Extra lines for ferroswan's conn section (tab-indented).
    pub ferroswan_extra: String,
    /// ferroswan's `auto=`.
    pub auto: &'static str,
    /// Extra lines for strongSwan's connection section (after its
    /// defaults, which they override).
    pub sw_extra: String,
    /// A second subnet pair (10.3.0.0/24 on ferroswan's side, 10.4.0.0/24
    /// on strongSwan's): ferroswan connection `sw2`, strongSwan child
    /// `sw2` in the same swanctl connection.
    pub second_child: bool,
}

impl Scenario {
    /// PSK with @FQDN IDs and AES-GCM-256/Curve25519, no NAT, no narrowing.
    pub fn new(ferroswan_initiates: bool) -> Scenario {
        Scenario {
            ferroswan_initiates,
            ids: Ids::Fqdn,
            auth: Auth::Psk,
            suite: &GCM256_X25519,
            narrow: false,
            nat: false,
            pfs: false,
            ferroswan_extra: String::new(),
            auto: "add",
            sw_extra: String::new(),
            second_child: false,
        }
    }
}

enum Net {
    Pair(NetPair),
    Nat(NatTopology),
}

/// Addresses of one end.
#[derive(Debug, Clone)]
pub struct End {
    /// Its own outer address.
    pub addr: String,
    /// What it configures as the peer's address.
    pub peer: String,
    /// Its protected address (on lo).
    pub inner: String,
    /// The prefix length it configures for both ends' subnets.
    pub len: u8,
    /// Its identity, in its own spelling.
    pub id: String,
    /// The peer's identity, in its own spelling.
    pub peer_id: String,
}

/// A running scenario: ferroswan, charon and their namespaces.
pub struct Setup {
    /// ferroswan's daemon (dropped before the namespaces).
    pub fs: Daemon,
    /// charon; `None` after it was killed.
    pub sw: Option<Charon>,
    /// ferroswan's end.
    pub fs_end: End,
    /// strongSwan's end.
    pub sw_end: End,
    /// What charon was started with (to start it again).
    sw_conn: CharonConn,
    sw_secrets: String,
    sw_key: Option<Vec<u8>>,
    fs_is_west: bool,
    _keys: Option<TempDir>,
    net: Net,
}

/// `prefix` of an inner address: `10.1.0.0/16` or `/24`.
fn subnet(inner: &str, len: u8) -> String {
    let base = inner.rsplit_once('.').map_or(inner, |(a, _)| a);
    format!("{base}.0/{len}")
}

fn ids(kind: Ids, fs_addr: &str, sw_addr: &str) -> (String, String, String, String) {
    match kind {
        // ferroswan: no leftid/rightid (the addresses); strongSwan spells
        // them out.
        Ids::Ip => (
            String::new(),
            String::new(),
            sw_addr.to_string(),
            fs_addr.to_string(),
        ),
        Ids::Fqdn => (
            "@ferroswan.example".into(),
            "@strongswan.example".into(),
            "strongswan.example".into(),
            "ferroswan.example".into(),
        ),
        Ids::UserFqdn => (
            "ferroswan@example.org".into(),
            "strongswan@example.org".into(),
            "strongswan@example.org".into(),
            "ferroswan@example.org".into(),
        ),
    }
}

impl Setup {
    /// Builds the namespaces and starts charon, then ferroswan.
    pub fn start(sc: &Scenario) -> Setup {
        let (net, fs_is_west) = if sc.nat {
            // The initiator sits behind the NAT (west).
            (
                Net::Nat(NatTopology::new().expect("NAT topology")),
                sc.ferroswan_initiates,
            )
        } else {
            (Net::Pair(NetPair::new().expect("namespaces")), true)
        };
        let (west_addr, east_addr) = match &net {
            Net::Pair(p) => (p.west_addr.to_string(), p.east_addr.to_string()),
            Net::Nat(_) => (nat::WEST_ADDR.to_string(), nat::EAST_ADDR.to_string()),
        };
        let (fs_addr, sw_addr, fs_inner, sw_inner) = if fs_is_west {
            (west_addr, east_addr, "10.1.0.1", "10.2.0.1")
        } else {
            (east_addr, west_addr, "10.2.0.1", "10.1.0.1")
        };
        // Behind a NAT, the end in front does not know the other's
        // address.
        let (fs_peer, sw_peer) = match (sc.nat, fs_is_west) {
            (false, _) => (sw_addr.clone(), fs_addr.clone()),
            (true, true) => (sw_addr.clone(), "%any".to_string()),
            (true, false) => ("%any".to_string(), fs_addr.clone()),
        };
        let (fs_id, fs_peer_id, sw_id, sw_peer_id) = ids(sc.ids, &fs_addr, &sw_addr);
        let (fs_len, sw_len) = match (sc.narrow, sc.ferroswan_initiates) {
            (false, _) => (16, 16),
            (true, true) => (16, 24),
            (true, false) => (24, 16),
        };
        let fs_end = End {
            len: fs_len,
            addr: fs_addr,
            peer: fs_peer,
            inner: fs_inner.to_string(),
            id: fs_id,
            peer_id: fs_peer_id,
        };
        let sw_end = End {
            len: sw_len,
            addr: sw_addr,
            peer: sw_peer,
            inner: sw_inner.to_string(),
            id: sw_id,
            peer_id: sw_peer_id,
        };

        // Keys for raw public key authentication.
        let algorithm: Option<(&str, &[&str])> = match sc.auth {
            Auth::Psk => None,
            Auth::RawRsa => Some((
                "rsasig",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            )),
            Auth::RawEcdsa => Some((
                "ecdsa",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            )),
        };
        let keys = algorithm.map(|(authby, alg)| {
            let dir = TempDir::new("keys").expect("temporary directory");
            let fs = keypair(dir.path(), "ferroswan", alg);
            let sw = keypair(dir.path(), "strongswan", alg);
            for (name, k) in [("ferroswan", &fs), ("strongswan", &sw)] {
                std::fs::write(dir.path().join(format!("{name}.pub.pem")), &k.public_pem)
                    .expect("public key");
            }
            (dir, authby, fs, sw)
        });

        // strongSwan.
        let mut c = CharonConn::psk(
            CONN,
            &sw_end.addr,
            &sw_end.peer,
            &sw_end.id,
            &sw_end.peer_id,
        );
        c.proposals = sc.suite.sw_ike.to_string();
        c.esp_proposals = if sc.pfs {
            format!("{}-{}", sc.suite.sw_esp, sc.suite.sw_ke)
        } else {
            sc.suite.sw_esp.to_string()
        };
        c.extra = sc.sw_extra.clone();
        if sc.second_child {
            // CharonConn has one child: close it and open a second one,
            // which its renderer then closes.
            c.child_extra = format!(
                "            }}\n            {CONN}2 {{\n                local_ts = {}\n                \
                 remote_ts = {}\n                esp_proposals = {}\n",
                SECOND_SW_NET, SECOND_FS_NET, sc.suite.sw_esp
            );
        }
        c.local_ts = subnet(&sw_end.inner, sw_end.len);
        c.remote_ts = subnet(&fs_end.inner, sw_end.len);
        let sw_secrets = match &keys {
            None => format!("    ike-test {{\n        secret = \"{PSK}\"\n    }}\n"),
            Some((dir, ..)) => {
                let d = dir.path().display();
                c.local_auth = "pubkey".into();
                c.remote_auth = "pubkey".into();
                c.local_extra = format!("            pubkeys = {d}/strongswan.pub.pem\n");
                c.remote_extra = format!("            pubkeys = {d}/ferroswan.pub.pem\n");
                String::new()
            }
        };

        // ferroswan.
        let mut conf = format!(
            "config setup\n\tprotostack=userspace\n\tlogtime=no\n\n\
             conn {CONN}\n\tleft={}\n\tleftsubnet={}\n\tright={}\n\trightsubnet={}\n\
             \tike={}\n\tesp={}\n\tauto={}\n",
            fs_end.addr,
            subnet(&fs_end.inner, fs_end.len),
            fs_end.peer,
            subnet(&sw_end.inner, fs_end.len),
            sc.suite.ike,
            sc.suite.esp,
            sc.auto
        );
        if !fs_end.id.is_empty() {
            conf.push_str(&format!(
                "\tleftid={}\n\trightid={}\n",
                fs_end.id, fs_end.peer_id
            ));
        }
        let mut files: Vec<(&str, &[u8])> = Vec::new();
        let secrets = match &keys {
            None => {
                conf.push_str("\tauthby=secret\n");
                let (me, peer) = if fs_end.id.is_empty() {
                    (fs_end.addr.as_str(), sw_end.addr.as_str())
                } else {
                    (fs_end.id.as_str(), fs_end.peer_id.as_str())
                };
                format!("{me} {peer} : PSK \"{PSK}\"\n")
            }
            Some((_, authby, fs, sw)) => {
                conf.push_str(&format!(
                    "\tauthby={authby}\n\tleftpubkey={}\n\trightpubkey={}\n",
                    fs.public_0s, sw.public_0s
                ));
                files.push(("ipsec.d/private/ferroswan.pem", &fs.private_pem));
                String::new()
            }
        };
        conf.push_str(&sc.ferroswan_extra);
        if sc.second_child {
            // The same peer and IDs, another subnet pair.
            let first = conf
                .split_once(&format!("conn {CONN}\n"))
                .map_or("", |(_, c)| c);
            let second = first
                .replace(
                    &format!("\tleftsubnet={}\n", subnet(&fs_end.inner, fs_end.len)),
                    &format!("\tleftsubnet={SECOND_FS_NET}\n"),
                )
                .replace(
                    &format!("\trightsubnet={}\n", subnet(&sw_end.inner, fs_end.len)),
                    &format!("\trightsubnet={SECOND_SW_NET}\n"),
                );
            conf.push_str(&format!("\nconn {CONN}2\n{second}"));
        }

        let (fs_ns, sw_ns) = namespaces(&net, fs_is_west);
        if sc.second_child {
            for (ns, addr) in [(fs_ns, "10.3.0.1/32"), (sw_ns, "10.4.0.1/32")] {
                ns.exec_ok(&["ip", "addr", "add", addr, "dev", "lo"])
                    .expect("second inner address");
            }
        }
        let sw_key = keys.as_ref().map(|(_, _, _, sw)| sw.private_pem.clone());
        let sw = start_charon(sw_ns, &c, &sw_secrets, sw_key.as_deref());
        let fs = Daemon::start_with(fs_ns, &conf, &secrets, &files);
        Setup {
            fs,
            sw: Some(sw),
            fs_end,
            sw_end,
            sw_conn: c,
            sw_secrets,
            sw_key,
            fs_is_west,
            _keys: keys.map(|(dir, ..)| dir),
            net,
        }
    }

    /// ferroswan's namespace.
    pub fn fs_ns(&self) -> &Netns {
        namespaces(&self.net, self.fs_is_west).0
    }

    /// charon's namespace.
    pub fn sw_ns(&self) -> &Netns {
        namespaces(&self.net, self.fs_is_west).1
    }

    /// The running charon.
    #[track_caller]
    pub fn sw(&self) -> &Charon {
        self.sw.as_ref().expect("charon is running")
    }

    /// Kills charon with SIGKILL: the peer vanishes.
    pub fn kill_charon(&mut self) {
        self.sw = None;
    }

    /// Starts charon again with the same configuration.
    pub fn restart_charon(&mut self) {
        let sw = start_charon(
            namespaces(&self.net, self.fs_is_west).1,
            &self.sw_conn,
            &self.sw_secrets,
            self.sw_key.as_deref(),
        );
        self.sw = Some(sw);
    }

    /// Kills ferroswan's daemon with SIGKILL: the peer vanishes.
    pub fn kill_ferroswan(&mut self) {
        self.fs.kill();
    }

    /// Both daemons' state, for failure messages.
    pub fn diag(&self) -> String {
        let (sas, log) = match &self.sw {
            Some(sw) => (sw.list_sas(), sw.log()),
            None => (String::from("(charon not running)"), String::new()),
        };
        format!(
            "== ferroswan status\n{}\n== ferroswan log\n{}\n== swanctl --list-sas\n{sas}\n== charon log\n{log}",
            self.fs.status(),
            self.fs.log()
        )
    }

    /// Pings both ways through the tunnel (bounded waits).
    pub fn ping_both_ways(&self) {
        self.ping(true, &self.fs_end.inner, &self.sw_end.inner);
        self.ping(false, &self.sw_end.inner, &self.fs_end.inner);
    }

    /// Waits (bounded) for a ping from `src` to `dst` to pass, from
    /// ferroswan's namespace or strongSwan's.
    #[track_caller]
    pub fn ping(&self, from_ferroswan: bool, src: &str, dst: &str) {
        let ns = if from_ferroswan {
            self.fs_ns()
        } else {
            self.sw_ns()
        };
        if let Err(e) = wait_ping(ns, src, dst) {
            panic!("{e}\n{}", self.diag());
        }
    }

    /// Waits (bounded) for `cond`; panics with both daemons' state.
    #[track_caller]
    pub fn wait(&self, timeout: Duration, what: &str, cond: impl FnMut() -> bool) {
        if let Err(e) = wait_until(timeout, what, cond) {
            panic!("{e}\n{}", self.diag());
        }
    }

    /// A 256 KiB TCP transfer from ferroswan's side to a server on
    /// strongSwan's inner address and back; the bytes must arrive intact.
    pub fn tcp_transfer(&self) {
        self.tcp_transfer_of(256 * 1024);
    }

    /// A TCP transfer of `len` bytes there and back; the bytes must arrive
    /// intact. Returns how long it took.
    pub fn tcp_transfer_of(&self, len: u32) -> Duration {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let server: SocketAddr = format!("{}:5001", self.sw_end.inner)
            .parse()
            .expect("address");
        let t0 = std::time::Instant::now();
        let back = tcp_echo_to(self.fs_ns(), self.sw_ns(), server, &data);
        let took = t0.elapsed();
        assert!(
            back == data,
            "TCP bytes differ ({} of {} came back)\n{}",
            back.len(),
            data.len(),
            self.diag()
        );
        took
    }

    /// ferroswan's IKE SA from `ipsec auto --status --json`.
    pub fn fs_ike_state(&self) -> serde_json::Value {
        let o = self.fs.ipsec(&["auto", "--status", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON status");
        doc["states"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["kind"] == "IKE").cloned())
            .unwrap_or_else(|| panic!("no IKE SA in the JSON status\n{}", self.diag()))
    }

    /// Waits (bounded) for `cond` on ferroswan's `ipsec auto --status`.
    #[track_caller]
    pub fn wait_fs(&self, what: &str, cond: impl Fn(&str) -> bool) {
        self.wait(Duration::from_secs(30), what, || cond(&self.fs.status()));
    }

    /// Waits (bounded) for `cond` on `swanctl --list-sas`.
    #[track_caller]
    pub fn wait_sw(&self, what: &str, cond: impl Fn(&str) -> bool) {
        self.wait(Duration::from_secs(30), what, || {
            cond(&self.sw().list_sas())
        });
    }

    /// `swanctl ARGS` on charon; panics with both logs on failure.
    #[track_caller]
    pub fn swanctl(&self, args: &[&str]) -> String {
        self.sw()
            .swanctl(args)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.diag()))
    }
}

/// Starts charon with `conn`; a private key goes into its
/// swanctl/private folder (where swanctl loads keys from) and is loaded.
fn start_charon(ns: &Netns, conn: &CharonConn, secrets: &str, key: Option<&[u8]>) -> Charon {
    let sw = Charon::start_with_secrets(ns, std::slice::from_ref(conn), secrets)
        .unwrap_or_else(|e| panic!("starting charon: {e}"));
    if let Some(key) = key {
        let swanctl = sw.dir().join("swanctl");
        std::fs::write(swanctl.join("private/strongswan.pem"), key).expect("private key");
        let conf = swanctl.join("swanctl.conf");
        if let Err(e) = sw.swanctl(&[
            "--load-creds",
            "--noprompt",
            "--file",
            &conf.to_string_lossy(),
        ]) {
            panic!("{e}\n{}", sw.log());
        }
    }
    sw
}

fn namespaces(net: &Net, fs_is_west: bool) -> (&Netns, &Netns) {
    let (w, e) = match net {
        Net::Pair(p) => (&p.west, &p.east),
        Net::Nat(t) => (&t.west, &t.east),
    };
    if fs_is_west {
        (w, e)
    } else {
        (e, w)
    }
}

/// `swanctl --list-sas` shows exactly one IKE SA and one Child SA.
pub fn sw_one_sa_each(list: &str) -> bool {
    list.matches("ESTABLISHED").count() == 1 && list.matches("INSTALLED").count() == 1
}

/// The number of a `newest IKE SA: #N` / `newest IPsec SA: #N` field.
pub fn newest(status: &str, what: &str) -> Option<u64> {
    let rest = status.split(&format!("newest {what} SA: #")).nth(1)?;
    let n: String = rest.chars().take_while(char::is_ascii_digit).collect();
    n.parse().ok().filter(|n| *n != 0)
}
