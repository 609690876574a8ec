//! Small deterministic generators for seeded tests, so that a failure
//! reproduces from its seed.

/// SplitMix64.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// An index below `n` (`n > 0`): [`SplitMix64::below`] for lengths.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// xorshift64*.
pub struct XorShift64Star(pub u64);

impl XorShift64Star {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_the_published_ones() {
        // SplitMix64 from seed 0: the reference implementation's first output.
        assert_eq!(SplitMix64(0).next(), 0xe220_a839_7b1d_cdaf);
        let mut a = SplitMix64(7);
        let mut b = SplitMix64(7);
        assert_eq!(a.index(10), (b.next() % 10) as usize);
        let mut x = XorShift64Star(1);
        assert_ne!(x.next(), x.next());
    }
}
