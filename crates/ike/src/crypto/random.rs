//! The injectable random source.

use aws_lc_rs::digest;

/// A source of random bytes. The engine takes one by `&mut dyn Random`, so
/// tests can make every nonce, SPI, IV and private key deterministic.
pub trait Random {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<R: Random + ?Sized> Random for &mut R {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

impl<R: Random + ?Sized> Random for Box<R> {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

/// The operating system's CSPRNG through AWS-LC.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        if aws_lc_rs::rand::fill(buf).is_err() {
            // AWS-LC's RAND_bytes aborts the process itself rather than
            // fail; should that ever change, continuing with predictable
            // bytes would be worse than stopping.
            std::process::abort();
        }
    }
}

/// A deterministic generator for tests and reproducible simulations:
/// block n is SHA-256(seed || n). Never use it for real keys.
#[derive(Debug, Clone)]
pub struct TestRandom {
    seed: [u8; 32],
    counter: u64,
    buffer: [u8; 32],
    used: usize,
}

impl TestRandom {
    /// A generator whose output is a function of `seed` only.
    pub fn new(seed: u64) -> Self {
        Self::from_seed_bytes(&seed.to_be_bytes())
    }

    /// A generator seeded with arbitrary bytes.
    pub fn from_seed_bytes(seed: &[u8]) -> Self {
        let d = digest::digest(&digest::SHA256, seed);
        let mut s = [0u8; 32];
        s.copy_from_slice(d.as_ref());
        TestRandom {
            seed: s,
            counter: 0,
            buffer: [0; 32],
            used: 32,
        }
    }

    fn refill(&mut self) {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&self.seed);
        ctx.update(&self.counter.to_be_bytes());
        self.counter = self.counter.wrapping_add(1);
        self.buffer.copy_from_slice(ctx.finish().as_ref());
        self.used = 0;
    }
}

impl Random for TestRandom {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf.iter_mut() {
            if self.used >= self.buffer.len() {
                self.refill();
            }
            if let Some(v) = self.buffer.get(self.used) {
                *b = *v;
            }
            self.used += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_random_is_deterministic_and_seed_dependent() {
        let mut a = TestRandom::new(7);
        let mut b = TestRandom::new(7);
        let mut c = TestRandom::new(8);
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill(&mut x);
        b.fill(&mut y[..33]);
        b.fill(&mut y[33..]);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x[..32], x[32..64]);
    }

    #[test]
    fn system_random_fills() {
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        SystemRandom.fill(&mut a);
        SystemRandom.fill(&mut b);
        assert_ne!(a, b);
    }
}
