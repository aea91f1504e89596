//! ferroswan crate `pluto`.
