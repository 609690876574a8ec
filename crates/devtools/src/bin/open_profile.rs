//! Times opening an existing file (development aid).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: open_profile FILE")?;
    for _ in 0..5 {
        let t = std::time::Instant::now();
        // SAFETY: nobody changes the file meanwhile.
        let d = unsafe { mmpk::Dict::open_read_only(&path)? };
        println!("open: {:?} ({} keys)", t.elapsed(), d.len()?);
    }
    Ok(())
}
