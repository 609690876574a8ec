//! Masked arrays: numpy's `numpy.ma.MaskedArray`, data and mask both
//! memory-mapped.
//!
//! What it teaches:
//! - `Dict::insert_masked` stores data and a boolean mask (`true` = masked,
//!   numpy's convention); Python's `pickle.load` gives back a
//!   `numpy.ma.MaskedArray`;
//! - `Dict::masked` returns both parts as mapped arrays; `Masked::mask_kind`
//!   says whether the mask is per element or "nothing masked" (the 0-d
//!   `False` mask mmappickle 1.0 writes);
//! - computing with the mask: a masked mean, as `numpy.ma.mean` gives it.
//!
//! ```text
//! cargo run -p mmpk --example masked -- [FILE]
//! ```
//!
//! Without FILE it works in a temporary directory.

use std::error::Error;

use mmpk::ndarray::{array, Array1, Zip};
use mmpk::{Dict, MaskKind};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(p) => p.into(),
        None => dir.path().join("masked.mmpk"),
    };
    let _ = std::fs::remove_file(&path);
    // SAFETY: a file of this program's own.
    let dict = unsafe { Dict::create(&path)? };

    // Temperatures with two failed readings (-999) masked out.
    let data = array![[21.5f64, 22.0, -999.0], [23.5, -999.0, 24.5]];
    let mask = data.mapv(|x| x == -999.0);
    dict.insert_masked("temperature", &data, Some(&mask))?;
    // A masked array with nothing masked (mask `None`).
    dict.insert_masked(
        "pressure",
        &array![1013.0f32, 1009.5],
        None::<&Array1<bool>>,
    )?;

    let t = dict.masked("temperature")?;
    assert_eq!(t.mask_kind(), MaskKind::Elementwise);
    let values = t.data().view::<f64>()?; // zero-copy
    let mask = t.mask_owned()?; // the mask, broadcast to the data's shape
    let (mut sum, mut n) = (0.0, 0usize);
    Zip::from(&values).and(&mask).for_each(|&v, &m| {
        if !m {
            sum += v;
            n += 1;
        }
    });
    let mean = sum / n as f64;
    println!(
        "temperature: {n} of {} valid, masked mean {mean:.3}",
        values.len()
    );
    assert!((mean - 22.875).abs() < 1e-12);

    let p = dict.masked("pressure")?;
    println!(
        "pressure: mask kind {:?}, data {}",
        p.mask_kind(),
        p.data().view::<f32>()?
    );
    assert_eq!(p.mask_kind(), MaskKind::Nomask);
    assert!(!p.mask_owned()?.iter().any(|&m| m));
    println!(
        "in Python: pickle.load(open({:?}, 'rb'))['temperature'].mean() == {mean}",
        path
    );
    Ok(())
}
