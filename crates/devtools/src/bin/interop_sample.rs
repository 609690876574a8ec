//! Writes a sample file for checking with Python:
//! `cargo run -p mmpk-devtools --bin interop_sample -- OUT.mmpk [v1]`, then
//! `python -W error -c "import pickle; print(pickle.load(open('OUT.mmpk','rb')))"`.

use mmpk::pickle_ops::Value;
use mmpk::{Layout, OpenOptions, Pickle};
use ndarray::{arr0, arr2, Array};
use num_complex::Complex;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: interop_sample OUT [v1]")?;
    let layout = match args.next().as_deref() {
        Some("v1") => Layout::Mmappickle1,
        _ => Layout::V2,
    };
    let _ = std::fs::remove_file(&path);
    // SAFETY: nobody else uses this file while we write it.
    let d = unsafe {
        OpenOptions::new()
            .create_new(true)
            .layout(layout)
            .open(&path)?
    };
    d.insert_array("f8", &arr2(&[[1.0f64, 2.0], [3.0, 4.0]]))?;
    d.insert_array(
        "fortran",
        &Array::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as i16).reversed_axes(),
    )?;
    d.insert_array("c8", &ndarray::arr1(&[Complex::new(1.0f32, -1.0)]))?;
    d.insert_array("f2", &ndarray::arr1(&[half::f16::from_f32(0.5)]))?;
    d.insert_array("b1", &ndarray::arr1(&[true, false]))?;
    d.insert_array("zero_d", &arr0(7u64))?;
    d.insert_bytes("be", ">i4", &[2], &[0, 0, 0, 1, 0, 0, 0, 2])?;
    d.reserve::<u8>("reserved", &[3, 4])?;
    d.insert_masked(
        "masked",
        &ndarray::arr1(&[1.5f32, 2.5]),
        Some(&ndarray::arr1(&[false, true])),
    )?;
    let mut p = Pickle::new();
    let s = p.push(Value::str("shared"));
    let l = p.push(Value::List(vec![s, s]));
    p.set_root(l);
    d.insert_pickle("list", &p)?;
    d.insert_array("gone", &ndarray::arr1(&[1u8]))?;
    d.remove("gone")?;
    d.insert_array("f8", &arr2(&[[5.0f64, 6.0]]))?; // replaced
    println!("{:?}", d.keys()?);
    Ok(())
}
