//! ferroswan crate `dataplane`.
