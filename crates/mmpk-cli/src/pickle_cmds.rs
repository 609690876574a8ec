//! Commands on any pickle file: `dis`, `pickle-json`, `pickle-encode`.

use std::io::{Read, Write};

use clap::ArgMatches;
use pickle_ops::decode::{self, StrEncoding};
use pickle_ops::{dis as pdis, encode, json, resolve};

use crate::Failure;

fn read_input(path: &str) -> Result<Vec<u8>, Failure> {
    if path == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| crate::ui::fail("<stdin>", &e))?;
        return Ok(v);
    }
    std::fs::read(path).map_err(|e| crate::ui::fail(path, &e))
}

fn write_stdout(data: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)
        .and_then(|_| out.flush())
        .map_err(|e| Failure::io(format!("<stdout>: {e}")))
}

/// `mmpk dis FILE`
pub fn dis(m: &ArgMatches) -> Result<(), Failure> {
    let path = m.get_one::<String>("file").expect("required");
    let data = read_input(path)?;
    let (text, result) = pdis::dis_to_string(&data, &pdis::DisOptions::default());
    write_stdout(text.as_bytes())?;
    result.map_err(|e| Failure::input(format!("{path}: {e}")))
}

/// `mmpk pickle-json [--raw] [--encoding E] FILE`
pub fn pickle_json(m: &ArgMatches) -> Result<(), Failure> {
    let path = m.get_one::<String>("file").expect("required");
    let encoding: StrEncoding = m
        .get_one::<String>("encoding")
        .expect("default")
        .parse()
        .map_err(Failure::input)?;
    let data = read_input(path)?;
    let mut opts = decode::DecodeOptions::default();
    opts.encoding = encoding;
    let mut p = decode::decode(&data, &opts).map_err(|e| Failure::input(format!("{path}: {e}")))?;
    if !m.get_flag("raw") {
        resolve::resolve(&mut p, opts.max_compare_work).map_err(|kind| {
            Failure::input(format!(
                "{path}: {}",
                decode::DecodeError {
                    offset: data.len(),
                    kind
                }
            ))
        })?;
        // Rule 3: numpy arrays (out-of-band buffers are not given here).
        mmpk_format::numpy::resolve_numpy(&mut p, &[]);
    }
    let mut s = json::pickle_to_json(&p, &json::JsonOptions::default())
        .map_err(|e| Failure::input(format!("{path}: {e}")))?;
    s.push('\n');
    write_stdout(s.as_bytes())
}

/// `mmpk pickle-encode --protocol P [-o OUT] JSON`
pub fn pickle_encode(m: &ArgMatches) -> Result<(), Failure> {
    let path = m.get_one::<String>("json").expect("required");
    let proto = *m.get_one::<u8>("protocol").expect("required");
    let text = read_input(path)?;
    let text =
        std::str::from_utf8(&text).map_err(|_| Failure::input(format!("{path}: not UTF-8")))?;
    let p = json::from_json_str(text).map_err(|e| Failure::input(format!("{path}: {e}")))?;
    let bytes = encode::encode(&p, proto).map_err(|e| Failure::input(format!("{path}: {e}")))?;
    match m.get_one::<String>("output") {
        Some(out) if out != "-" => {
            crate::outfile::write(out, &bytes).map_err(|e| crate::ui::fail(out, &e))
        }
        _ => write_stdout(&bytes),
    }
}
