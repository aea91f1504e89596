//! The Notify payload (RFC 7296 3.10) and the notify message types of
//! RFC 7296 and of the extensions ferroswan implements.

use super::reader::Reader;
use super::sa::ProtocolId;
use super::{put_u16, WireError, WireResult};

/// A notify message type (IANA "IKEv2 Notify Message Types").
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyType(pub u16);

macro_rules! notify_types {
    ($($name:ident = $v:expr,)*) => {
        impl NotifyType {
            $(
                #[doc = concat!("`", stringify!($name), "` (", stringify!($v), ").")]
                pub const $name: NotifyType = NotifyType($v);
            )*

            /// The IANA name, or None for an unknown type.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($v => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

notify_types! {
    // RFC 7296 error types.
    UNSUPPORTED_CRITICAL_PAYLOAD = 1,
    INVALID_IKE_SPI = 4,
    INVALID_MAJOR_VERSION = 5,
    INVALID_SYNTAX = 7,
    INVALID_MESSAGE_ID = 9,
    INVALID_SPI = 11,
    NO_PROPOSAL_CHOSEN = 14,
    INVALID_KE_PAYLOAD = 17,
    AUTHENTICATION_FAILED = 24,
    SINGLE_PAIR_REQUIRED = 34,
    NO_ADDITIONAL_SAS = 35,
    INTERNAL_ADDRESS_FAILURE = 36,
    FAILED_CP_REQUIRED = 37,
    TS_UNACCEPTABLE = 38,
    INVALID_SELECTORS = 39,
    TEMPORARY_FAILURE = 43,
    CHILD_SA_NOT_FOUND = 44,
    // RFC 9370.
    STATE_NOT_FOUND = 47,
    // RFC 7296 status types.
    INITIAL_CONTACT = 16384,
    SET_WINDOW_SIZE = 16385,
    ADDITIONAL_TS_POSSIBLE = 16386,
    IPCOMP_SUPPORTED = 16387,
    NAT_DETECTION_SOURCE_IP = 16388,
    NAT_DETECTION_DESTINATION_IP = 16389,
    COOKIE = 16390,
    USE_TRANSPORT_MODE = 16391,
    HTTP_CERT_LOOKUP_SUPPORTED = 16392,
    REKEY_SA = 16393,
    ESP_TFC_PADDING_NOT_SUPPORTED = 16394,
    NON_FIRST_FRAGMENTS_ALSO = 16395,
    // RFC 4555 (MOBIKE).
    MOBIKE_SUPPORTED = 16396,
    ADDITIONAL_IP4_ADDRESS = 16397,
    ADDITIONAL_IP6_ADDRESS = 16398,
    NO_ADDITIONAL_ADDRESSES = 16399,
    UPDATE_SA_ADDRESSES = 16400,
    COOKIE2 = 16401,
    NO_NATS_ALLOWED = 16402,
    // RFC 4478, RFC 4739, RFC 5685.
    AUTH_LIFETIME = 16403,
    MULTIPLE_AUTH_SUPPORTED = 16404,
    ANOTHER_AUTH_FOLLOWS = 16405,
    REDIRECT_SUPPORTED = 16406,
    REDIRECT = 16407,
    REDIRECTED_FROM = 16408,
    // RFC 5998, RFC 6023.
    EAP_ONLY_AUTHENTICATION = 16417,
    CHILDLESS_IKEV2_SUPPORTED = 16418,
    // RFC 6290, RFC 6311.
    QUICK_CRASH_DETECTION = 16419,
    IKEV2_MESSAGE_ID_SYNC_SUPPORTED = 16420,
    // RFC 7383, RFC 7427.
    IKEV2_FRAGMENTATION_SUPPORTED = 16430,
    SIGNATURE_HASH_ALGORITHMS = 16431,
    // RFC 8784 (PPK).
    USE_PPK = 16435,
    PPK_IDENTITY = 16436,
    NO_PPK_AUTH = 16437,
    // RFC 9242, RFC 8983, RFC 9370, RFC 9347.
    INTERMEDIATE_EXCHANGE_SUPPORTED = 16438,
    IP4_ALLOWED = 16439,
    IP6_ALLOWED = 16440,
    ADDITIONAL_KEY_EXCHANGE = 16441,
    USE_AGGFRAG = 16442,
}

impl NotifyType {
    /// Error types are below 16384 (RFC 7296 3.10.1).
    pub fn is_error(self) -> bool {
        self.0 < 16384
    }
}

impl std::fmt::Debug for NotifyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "NotifyType({})", self.0),
        }
    }
}

impl std::fmt::Display for NotifyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Protocol of the SA the notify is about; `None` (0) when none.
    pub protocol: Option<ProtocolId>,
    /// SPI of that SA, empty when none.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub kind: NotifyType,
    /// Notification data.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notify without SPI.
    pub fn new(kind: NotifyType, data: Vec<u8>) -> Self {
        Notify {
            protocol: None,
            spi: Vec::new(),
            kind,
            data,
        }
    }

    /// Decodes the payload body.
    pub fn decode(body: &[u8]) -> WireResult<Self> {
        let mut r = Reader::new(body, "Notify payload");
        let proto = r.u8()?;
        let spi_size = r.u8()?;
        let kind = NotifyType(r.u16()?);
        let spi = r.take(spi_size as usize)?.to_vec();
        let data = r.rest().to_vec();
        let protocol = if proto == 0 {
            None
        } else {
            Some(ProtocolId::from_u8(proto))
        };
        Ok(Notify {
            protocol,
            spi,
            kind,
            data,
        })
    }

    /// Encodes the payload body.
    pub fn encode(&self, out: &mut Vec<u8>) -> WireResult<()> {
        out.push(self.protocol.map(ProtocolId::to_u8).unwrap_or(0));
        let spi_len = u8::try_from(self.spi.len())
            .map_err(|_| WireError::TooLong("Notify SPI", self.spi.len()))?;
        out.push(spi_len);
        put_u16(out, self.kind.0);
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
