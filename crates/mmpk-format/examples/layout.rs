//! The file layout without files: build an mmpk file in memory with
//! `mmpk_format::write`, then read it back with the scanner and the array
//! reader. This is what `mmpk` does over a memory map, and what a tool in
//! another setting (a network store, an embedded device) can build on.
//!
//! What it teaches:
//! - a file is a header, one `FRAME` per entry, and a terminator; an array
//!   value is written around raw bytes the caller provides
//!   (`write_array_head`, the bytes, `write_array_tail_dtype`), so they can
//!   be copied, streamed or reserved in place;
//! - alignment fillers put an array's raw bytes at a multiple of 64;
//! - `scan` indexes the entries by hopping frames (no value decoded) and
//!   reports a torn tail; `read_array` checks dtype, shape and length and
//!   gives the raw bytes' span: where a reader maps them from;
//! - generic values are CPython's protocol-4 pickles with a renumbered memo
//!   (`generic::encode_value`, `generic::decode_entry_value`).
//!
//! ```text
//! cargo run -p mmpk-format --example layout -- [OUT.mmpk]
//! ```
//!
//! With OUT it also writes the file, which Python's `pickle.load` reads:
//! `python3 -c "import pickle; print(pickle.load(open('OUT.mmpk', 'rb')))"`.

use std::error::Error;

use mmpk_format::array::{read_array, Encoding};
use mmpk_format::dtype::Dtype;
use mmpk_format::entry::FRAME_HEAD_LEN;
use mmpk_format::filler::{filler_len, DEFAULT_ALIGN};
use mmpk_format::generic::{decode_entry_value, encode_value};
use mmpk_format::header::TERMINATOR;
use mmpk_format::scan::{scan, EntryKind};
use mmpk_format::write::{
    write_array_head, write_array_tail_dtype, write_entry, write_filler, write_header,
};
use pickle_ops::decode::DecodeOptions;
use pickle_ops::json::from_json_str;

fn main() -> Result<(), Box<dyn Error>> {
    let mut file = write_header(1).to_vec();

    // An array entry: a filler first, so the raw bytes land 64-aligned.
    let (key, dtype, shape) = ("weights", Dtype::parse("<f8")?, [2u64, 3]);
    let raw: Vec<u8> = (0..6)
        .flat_map(|i| (i as f64 * 0.5).to_le_bytes())
        .collect();
    let prefix = Encoding::V2.prefix_len(); // bytes before BINBYTES8
    let pad = filler_len(file.len() as u64, key.len(), prefix, DEFAULT_ALIGN)?;
    write_filler(&mut file, pad)?;
    let mut value = Vec::new();
    write_array_head(&mut value, Encoding::V2, raw.len() as u64);
    value.extend_from_slice(&raw); // or stream them, or leave zeros to fill in place
    write_array_tail_dtype(&mut value, Encoding::V2, &dtype, &shape)?;
    write_entry(&mut file, key, &value, 0, true)?;

    // A generic value: {'units': 'm', 'scale': 2}, its memo from 0.
    let meta =
        from_json_str(r#"{"dict":[[{"str":"units"},{"str":"m"}],[{"str":"scale"},{"int":"2"}]]}"#)?;
    let g = encode_value(&meta, 0)?;
    g.write_entry(&mut file, "meta", true)?;
    file.extend_from_slice(&TERMINATOR);
    println!(
        "{} bytes: header, filler, 'weights', 'meta', terminator",
        file.len()
    );

    // Read it back.
    let s = scan(&file)?;
    assert!(s.is_clean());
    for e in &s.entries {
        let what = match e.kind {
            EntryKind::Filler => "filler",
            EntryKind::Live => "live",
            EntryKind::Deleted => "deleted",
        };
        println!(
            "  at {:>4}: {what:7} key {:?}, value {} bytes",
            e.entry.offset,
            e.entry.key,
            e.entry.value_span().len()
        );
    }
    let live = s.live_index();
    let w = &s.entries[live["weights"]].entry;
    let a = read_array(&file, w.value_span())?;
    assert_eq!(a.data.start % DEFAULT_ALIGN as usize, 0);
    let info = a.info("weights", w.offset as u64, 0);
    println!(
        "weights: {} {:?}, raw bytes at {} ({}-aligned), {} rows of {} bytes",
        info.dtype.str(),
        info.shape,
        info.data_offset,
        DEFAULT_ALIGN,
        info.rows().unwrap_or(0),
        info.row_bytes()
    );
    assert_eq!(&file[a.data.clone()], &raw[..]);
    let m = &s.entries[live["meta"]].entry;
    let p = decode_entry_value(&file, m, &DecodeOptions::default())?;
    println!(
        "meta: a {} (frame head {} bytes)",
        p.value(p.root()).kind_name(),
        FRAME_HEAD_LEN
    );

    if let Some(out) = std::env::args().nth(1) {
        std::fs::write(&out, &file)?;
        println!("wrote {out}");
    }
    Ok(())
}
