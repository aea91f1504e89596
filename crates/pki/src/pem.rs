//! PEM decoding (RFC 7468): the labelled base64 blocks of certificates, keys and CRLs.

use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{PkiError, Result};

/// One PEM block: its label (e.g. `CERTIFICATE`) and decoded contents.
pub struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`.
    pub label: String,
    /// The decoded DER, zeroized on drop (it may be a private key).
    pub der: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PemBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PemBlock({}, {} bytes)", self.label, self.der.len())
    }
}

/// Whether `data` looks like PEM text rather than DER.
pub fn is_pem(data: &[u8]) -> bool {
    data.windows(11).any(|w| w == b"-----BEGIN ")
}

/// Decodes every PEM block in `text`. Headers (`Proc-Type:` etc.) are rejected
/// because encrypted legacy PEM keys are not supported.
pub fn decode_all(text: &[u8]) -> Result<Vec<PemBlock>> {
    let text = std::str::from_utf8(text).map_err(|e| PkiError::parse("PEM", e))?;
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let line = line.trim();
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut b64 = Zeroizing::new(String::new());
        let mut closed = false;
        for l in lines.by_ref() {
            let l = l.trim();
            if l == end {
                closed = true;
                break;
            }
            if l.contains(':') {
                return Err(PkiError::Unsupported {
                    what: "PEM block",
                    detail: format!("{label} with headers (legacy encrypted PEM)"),
                });
            }
            b64.push_str(l);
        }
        if !closed {
            return Err(PkiError::parse("PEM", format!("missing \"{end}\"")));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| PkiError::parse("PEM", e))?;
        blocks.push(PemBlock {
            label: label.to_string(),
            der: Zeroizing::new(der),
        });
    }
    Ok(blocks)
}

/// Returns the DER objects of `data`: the blocks with one of `labels` when it
/// is PEM, or `data` itself when it is DER.
pub fn der_objects(data: &[u8], labels: &[&str]) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    if is_pem(data) {
        Ok(decode_all(data)?
            .into_iter()
            .filter(|b| labels.contains(&b.label.as_str()))
            .map(|b| b.der)
            .collect())
    } else {
        Ok(vec![Zeroizing::new(data.to_vec())])
    }
}

/// Encodes DER as a PEM block with `label`.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let bytes = b64.as_bytes();
    for chunk in bytes.chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let der = (0u8..200).collect::<Vec<_>>();
        let pem = encode("CERTIFICATE", &der);
        let blocks = decode_all(pem.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].label, "CERTIFICATE");
        assert_eq!(blocks[0].der.as_slice(), der.as_slice());
        assert!(decode_all(b"-----BEGIN X-----\nAAAA\n").is_err());
    }
}
