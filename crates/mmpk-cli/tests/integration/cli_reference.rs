//! Keeps `docs/cli.md` (the command-line reference) and the binary in
//! step: every command with a section there exists (`mmpk CMD --help`
//! succeeds), every command of the binary has a section, every option a
//! command lists in its help is named in its section, and every option a
//! section names is accepted (hidden old spellings included).
//!
//! The document lives in the repository, not in the published package: run
//! from a package, these tests say so and pass.

use std::collections::BTreeSet;

use crate::{mmpk, stderr};

fn reference() -> Option<String> {
    mmpk_test_support::fixtures::doc(env!("CARGO_MANIFEST_DIR"), "cli.md")
}

/// The sections of the reference: `### `mmpk NAME`` headings, each with
/// its text up to the next heading.
fn sections(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            out.extend(current.take());
            if let Some(rest) = line.strip_prefix("### `mmpk ") {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                current = Some((name, String::new()));
            }
            continue;
        }
        if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out.extend(current);
    out
}

/// The first word of each line of a help text's `heading:` block.
fn help_block(help: &str, heading: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == heading {
            inside = true;
            continue;
        }
        if inside {
            if !line.starts_with(' ') {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            }
            out.extend(line.split_whitespace().next().map(str::to_string));
        }
    }
    out
}

/// The long options (`--name`) in `text`.
fn long_options(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("--") {
        let name: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let before = text[..i].chars().last();
        if name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            out.insert(format!("--{name}"));
        }
    }
    out
}

/// The long options `mmpk CMD --help` lists (without `--help`/`--version`).
fn options_of(cmd: &str) -> BTreeSet<String> {
    let o = mmpk(&[cmd, "--help"]);
    assert!(o.status.success(), "mmpk {cmd} --help: {}", stderr(&o));
    let help = String::from_utf8(o.stdout).unwrap();
    let mut opts = BTreeSet::new();
    let mut inside = false;
    for line in help.lines() {
        if line.trim_end() == "Options:" {
            inside = true;
            continue;
        }
        if inside && line.starts_with(' ') {
            // "  -o, --output <OUT>  ..." or "      --all  ..."
            let t = line.trim_start();
            let t = t.strip_prefix("-").map_or(t, |r| {
                if r.starts_with('-') {
                    t
                } else {
                    r.split_once(", ").map_or(t, |(_, x)| x)
                }
            });
            if let Some(name) = t.strip_prefix("--") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                opts.insert(format!("--{name}"));
            }
        } else if inside && !line.trim().is_empty() {
            inside = false;
        }
    }
    opts.remove("--help");
    opts.remove("--version");
    opts
}

#[test]
fn every_command_is_documented_and_every_documented_command_exists() {
    let Some(text) = reference() else { return };
    let documented = sections(&text);
    let names: BTreeSet<String> = documented.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names.len(), documented.len(), "a command documented twice");
    assert!(names.len() >= 16, "{names:?}");

    let o = mmpk(&["--help"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let help = String::from_utf8(o.stdout).unwrap();
    let commands: BTreeSet<String> = help_block(&help, "Commands:")
        .into_iter()
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 16, "{help}");

    let undocumented: Vec<_> = commands.difference(&names).collect();
    assert!(
        undocumented.is_empty(),
        "commands of the binary missing from docs/cli.md: {undocumented:?}"
    );
    for name in &names {
        let o = mmpk(&[name, "--help"]);
        assert!(
            o.status.success(),
            "docs/cli.md documents `mmpk {name}`, but `mmpk {name} --help` fails: {}",
            stderr(&o)
        );
    }
}

#[test]
fn every_option_is_documented_and_every_documented_option_exists() {
    let Some(text) = reference() else { return };
    for (name, body) in sections(&text) {
        let accepted = options_of(&name);
        let named = long_options(&body);
        let missing: Vec<_> = accepted.difference(&named).collect();
        assert!(
            missing.is_empty(),
            "`mmpk {name}` accepts {missing:?}, which its section of docs/cli.md does not name"
        );
        // An option named but not listed may be a hidden old spelling:
        // the parser must accept it (as a flag, or with a value).
        let unknown: Vec<_> = named
            .difference(&accepted)
            .filter(|opt| {
                let flag = mmpk(&[&name, opt, "--help"]);
                let valued = mmpk(&[&name, &format!("{opt}=x"), "--help"]);
                !flag.status.success() && !valued.status.success()
            })
            .collect();
        assert!(
            unknown.is_empty(),
            "docs/cli.md names {unknown:?} in the section of `mmpk {name}`, which it does not accept"
        );
    }
}

/// The codes of the reference's exit-code table (`| N | ...` rows under
/// `## Exit codes`).
fn documented_exit_codes(text: &str) -> BTreeSet<u8> {
    let mut inside = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("## ") {
            inside = line.trim() == "## Exit codes";
            continue;
        }
        if inside {
            if let Some(code) = line
                .strip_prefix("| ")
                .and_then(|r| r.split(' ').next())
                .and_then(|c| c.parse().ok())
            {
                out.insert(code);
            }
        }
    }
    out
}

#[test]
fn the_exit_code_table_is_the_binarys() {
    let Some(text) = reference() else { return };
    let documented = documented_exit_codes(&text);
    let o = mmpk(&["--help"]);
    let help = String::from_utf8(o.stdout).unwrap();
    // `mmpk --help` lists the codes as "  N  meaning" under "Exit codes".
    let start = help
        .find("Exit codes")
        .expect("mmpk --help lists the exit codes");
    let listed: BTreeSet<u8> = help[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        documented, listed,
        "docs/cli.md's exit codes vs mmpk --help"
    );
    assert!(documented.contains(&0) && documented.contains(&1) && documented.len() >= 3);
    // The codes the tool really uses for three of them.
    assert_eq!(mmpk(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(
        mmpk(&["ls", "/nonexistent/x.mmpk"])
            .status
            .code()
            .map(|c| documented.contains(&(c as u8))),
        Some(true)
    );
}

#[test]
fn the_reference_parsers_read_what_they_should() {
    let text = "# T\n### `mmpk ls`\nuse `--all`, not ---x or a-- b\n## Other\n\
                ### `mmpk pickle-json`\n`--raw`\n";
    let s = sections(text);
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].0, "ls");
    assert_eq!(s[1].0, "pickle-json");
    assert_eq!(long_options(&s[0].1), BTreeSet::from(["--all".to_string()]));
    let help = "Usage: x\n\nCommands:\n  ls    lists\n  help  Print\n\nOptions:\n  -h\n";
    assert_eq!(help_block(help, "Commands:"), ["ls", "help"]);
    let table = "## Exit codes\n\n| code | meaning |\n|---|---|\n| 0 | ok |\n| 3 | io |\n## Next\n| 9 | no |\n";
    assert_eq!(documented_exit_codes(table), BTreeSet::from([0, 3]));
    let opts = options_of("pickle-encode");
    assert!(
        opts.contains("--protocol") && opts.contains("--output"),
        "{opts:?}"
    );
}
