//! ferroswan crate `dataplane`.

pub mod xfrm;
