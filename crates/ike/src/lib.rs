//! ferroswan crate `ike`.
