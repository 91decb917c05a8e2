//! Scenario files: one whole-system test each, in `tests/scenarios/<name>.toml`.
//!
//! A scenario names the binaries to pack into the boot image, the machine and
//! kernel command line to boot with, what the console must and must not show,
//! and which verdict the kernel must report through `isa-debug-exit`. Parsing
//! rejects unknown fields (a misspelt `expcet` would otherwise silently check
//! nothing) and every error names the file. See `docs/testing.md`.

use serde::Deserialize;
use std::fmt;

/// Default for `timeout_secs`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 20;
/// Default for `append`: every scenario must end, so the kernel shuts QEMU down
/// when nothing is left to run.
pub const DEFAULT_APPEND: &str = "exit_on_idle";
/// Default for `root`.
pub const DEFAULT_ROOT: &str = "root-task";
/// Default for `memory`: the machine's RAM, as QEMU's `-m` takes it.
pub const DEFAULT_MEMORY: &str = "256M";

/// The QEMU machine type a scenario boots.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Machine {
    /// The modern chipset (PCIe, AHCI).
    #[default]
    Q35,
    /// The i440FX PC.
    Pc,
    /// QEMU's minimal virtio-mmio machine without PCI or firmware.
    Microvm,
    /// The same with its ACPI tables turned off (`acpi=off`): the kernel
    /// finds no RSDP and falls back to the legacy IOAPIC.
    #[serde(rename = "microvm-noacpi")]
    MicrovmNoAcpi,
}

impl Machine {
    /// The name QEMU's `-machine` takes.
    pub fn qemu_name(self) -> &'static str {
        match self {
            Machine::Q35 => "q35",
            Machine::Pc => "pc",
            Machine::Microvm => "microvm",
            Machine::MicrovmNoAcpi => "microvm,acpi=off",
        }
    }

    /// Parse a name as given on the command line.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "q35" => Some(Machine::Q35),
            "pc" => Some(Machine::Pc),
            "microvm" => Some(Machine::Microvm),
            "microvm-noacpi" => Some(Machine::MicrovmNoAcpi),
            _ => None,
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.qemu_name())
    }
}

/// The result the kernel must report through `isa-debug-exit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// `septum_abi::qemu_exit::PASS` written, QEMU status 33.
    Pass,
    /// `septum_abi::qemu_exit::FAIL` written, QEMU status 65.
    Fail,
}

/// A deliberate defect put into the packed image before booting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Corruption {
    /// Flip byte 0 (the magic).
    Magic,
    /// Flip one byte of the root task's payload without resealing.
    Checksum,
    /// Cut the image to half its length.
    Truncate,
    /// Zero the root task's first four bytes (its ELF magic), then reseal, so
    /// the image checks but the root task's ELF does not.
    RootElf,
    /// Flip one byte of the compiled system description's payload, then
    /// reseal the image, so the kernel accepts the image and the root
    /// task's checked decoder must refuse the description.
    System,
}

/// One scenario, as written in its file, with defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario checks, in a sentence.
    pub description: String,
    /// Machine type.
    #[serde(default)]
    pub machine: Machine,
    /// Binary packed as the root-task entry (a file in the machine target's
    /// release directory); the entry gets the binary's name.
    #[serde(default = "default_root")]
    pub root: String,
    /// Other binaries packed as task entries, each named after its binary.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// A system description (path from the workspace root) to boot: its
    /// compiled form and every program it names are packed beside the
    /// root task, as `cargo xtask build` packs them.
    #[serde(default)]
    pub system: Option<String>,
    /// A directory (path from the workspace root) whose files are merged
    /// into the guest's filesystem at `/`, as `cargo xtask run
    /// --guest-files DIR` does: the shim is rebuilt with them for this
    /// scenario only. Needs `system`.
    #[serde(default)]
    pub guest_files: Option<String>,
    /// Kernel command line.
    #[serde(default = "default_append")]
    pub append: String,
    /// The machine's RAM for QEMU's `-m`: a whole number of `M` or `G`.
    #[serde(default = "default_memory")]
    pub memory: String,
    /// Run QEMU under `-icount` (see `qemu::ICOUNT`), as `cargo xtask bench`
    /// does, so the guest TSC counts executed instructions.
    #[serde(default)]
    pub icount: bool,
    /// Seconds before QEMU is killed and the scenario fails with "timeout".
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Damage done to the packed image before booting.
    #[serde(default)]
    pub corrupt: Option<Corruption>,
    /// Substrings that must appear in the console output, in this order.
    #[serde(default)]
    pub expect: Vec<String>,
    /// Substrings that must not appear anywhere in the console output.
    #[serde(default = "default_reject")]
    pub reject: Vec<String>,
    /// The exit the kernel must report.
    pub verdict: Verdict,
    /// How many distinct on-target test cases must report (`septum-test:` lines).
    #[serde(default)]
    pub tests: usize,
    /// What to type into the serial port, and when.
    #[serde(default)]
    pub input: Vec<Input>,
    /// A file of gdb commands (path from the workspace root): boot stopped
    /// with QEMU's GDB stub and run them in gdb without a terminal, after
    /// the setup `cargo xtask gdb` does (symbols, `break-in`).
    #[serde(default)]
    pub gdb: Option<String>,
    /// Substrings gdb's output must show, in this order (needs `gdb`).
    #[serde(default)]
    pub gdb_expect: Vec<String>,
    /// Substrings gdb's output must not show (needs `gdb`).
    #[serde(default)]
    pub gdb_reject: Vec<String>,
}

/// One step of typing into the serial port: once the console shows
/// `after` (searched after the previous step's match), send `text` or
/// `pattern` bytes of the test pattern ([`pattern`]).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Console text to wait for.
    pub after: String,
    /// Text to type.
    #[serde(default)]
    pub text: Option<String>,
    /// How many bytes of the test pattern to paste.
    #[serde(default)]
    pub pattern: Option<usize>,
}

impl Input {
    /// The bytes this step sends.
    pub fn bytes(&self) -> Vec<u8> {
        match (&self.text, self.pattern) {
            (Some(t), _) => t.as_bytes().to_vec(),
            (None, Some(n)) => pattern(n),
            (None, None) => Vec::new(),
        }
    }
}

/// Byte `i` of the paste pattern: printable ASCII with a `\n` ending every
/// 64th byte. A guest that checks a paste computes the same bytes
/// (`tests/tasks/src/bin/serial-paste.rs`): keep the two in step.
pub fn pattern_byte(i: usize) -> u8 {
    if i % 64 == 63 {
        b'\n'
    } else {
        b'!' + ((i * 7 + i / 64 * 13) % 94) as u8
    }
}

/// The first `n` bytes of the paste pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(pattern_byte).collect()
}

/// The largest paste a scenario may ask for.
pub const MAX_PATTERN: usize = 16 << 20;

fn default_root() -> String {
    DEFAULT_ROOT.to_string()
}

fn default_append() -> String {
    DEFAULT_APPEND.to_string()
}

fn default_memory() -> String {
    DEFAULT_MEMORY.to_string()
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

fn default_reject() -> Vec<String> {
    vec!["PANIC".to_string()]
}

/// Parse and check the text of a scenario file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Scenario, String> {
    let scenario: Scenario =
        toml::from_str(text).map_err(|e| format!("{file}: {}", e.to_string().trim_end()))?;
    check(file, &scenario)?;
    Ok(scenario)
}

/// The checks serde cannot express.
fn check(file: &str, s: &Scenario) -> Result<(), String> {
    let bad = |what: String| Err(format!("{file}: {what}"));
    if s.description.trim().is_empty() {
        return bad("`description` is empty; say in a sentence what the scenario checks".into());
    }
    if !is_memory_size(&s.memory) {
        return bad(format!(
            "`memory` {:?} must be a whole number of megabytes or gigabytes, like \"64M\" or \"1G\"",
            s.memory
        ));
    }
    if s.guest_files.is_some() && s.system.is_none() {
        return bad(
            "`guest_files` needs `system`: the guest kernel it adds files to is a \
                    domain of a system description"
                .into(),
        );
    }
    if s.timeout_secs == 0 {
        return bad("`timeout_secs` is 0; give the run at least one second".into());
    }
    for name in std::iter::once(&s.root).chain(&s.tasks) {
        if !is_binary_name(name) {
            return bad(format!(
                "binary name {name:?} must be 1 to {} characters of letters, digits, '-' and '_'",
                septum_kcore::bootimage::NAME_LEN
            ));
        }
    }
    if let Some(dup) = s
        .tasks
        .iter()
        .enumerate()
        .find_map(|(i, t)| (t == &s.root || s.tasks[..i].contains(t)).then_some(t))
    {
        return bad(format!(
            "binary {dup:?} is packed twice; name each binary once"
        ));
    }
    for (i, step) in s.input.iter().enumerate() {
        let n = i + 1;
        if step.text.is_some() == step.pattern.is_some() {
            return bad(format!(
                "input step {n}: give either `text` or `pattern` (a byte count), not both or neither"
            ));
        }
        if step.after.is_empty() {
            return bad(format!(
                "input step {n}: `after` is empty; name the console text to wait for"
            ));
        }
        if step.text.as_deref().is_some_and(|t| t.contains('\u{1}')) {
            return bad(format!(
                "input step {n}: Ctrl-A (\\u0001) is QEMU's console escape and would not reach the guest"
            ));
        }
        if step.pattern.is_some_and(|p| p == 0 || p > MAX_PATTERN) {
            return bad(format!(
                "input step {n}: `pattern` must be 1 to {MAX_PATTERN} bytes"
            ));
        }
    }
    if let Some(e) = s
        .expect
        .iter()
        .chain(&s.reject)
        .chain(&s.gdb_expect)
        .chain(&s.gdb_reject)
        .find(|e| e.is_empty())
    {
        return bad(format!(
            "empty string {e:?} in `expect` or `reject` would match anything"
        ));
    }
    if s.gdb.is_none() && !(s.gdb_expect.is_empty() && s.gdb_reject.is_empty()) {
        return bad(
            "`gdb_expect` and `gdb_reject` check gdb's output: give `gdb` a command file".into(),
        );
    }
    Ok(())
}

/// Whether `size` is a RAM size QEMU's `-m` takes and a scenario may ask
/// for: `<n>M` or `<n>G` with `n` a positive decimal without leading zeros.
fn is_memory_size(size: &str) -> bool {
    let Some(n) = size.strip_suffix('M').or_else(|| size.strip_suffix('G')) else {
        return false;
    };
    !n.is_empty() && !n.starts_with('0') && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `name` can name a binary and a boot-image entry.
fn is_binary_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= septum_kcore::bootimage::NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_file_gets_defaults() {
        let s = parse("t.toml", "description = \"d\"\nverdict = \"pass\"\n").unwrap();
        assert_eq!(
            s,
            Scenario {
                description: "d".into(),
                machine: Machine::Q35,
                root: "root-task".into(),
                tasks: vec![],
                system: None,
                guest_files: None,
                append: "exit_on_idle".into(),
                memory: "256M".into(),
                icount: false,
                timeout_secs: 20,
                corrupt: None,
                expect: vec![],
                reject: vec!["PANIC".into()],
                verdict: Verdict::Pass,
                tests: 0,
                input: vec![],
                gdb: None,
                gdb_expect: vec![],
                gdb_reject: vec![],
            }
        );
    }

    #[test]
    fn full_file() {
        let text = r#"
description = "everything set"
machine = "microvm"
root = "fault-nx"
tasks = ["a", "b_2"]
append = "exit_on_idle loglevel=3"
memory = "64M"
icount = true
timeout_secs = 5
corrupt = "root-elf"
expect = ["one", "two"]
reject = []
verdict = "fail"
tests = 3
"#;
        let s = parse("t.toml", text).unwrap();
        assert_eq!(s.machine, Machine::Microvm);
        assert_eq!(s.root, "fault-nx");
        assert_eq!(s.tasks, ["a", "b_2"]);
        assert_eq!(s.append, "exit_on_idle loglevel=3");
        assert_eq!(s.memory, "64M");
        assert!(s.icount);
        assert_eq!(s.timeout_secs, 5);
        assert_eq!(s.corrupt, Some(Corruption::RootElf));
        assert_eq!(s.expect, ["one", "two"]);
        assert!(
            s.reject.is_empty(),
            "an explicit empty reject list stays empty"
        );
        assert_eq!(s.verdict, Verdict::Fail);
        assert_eq!(s.tests, 3);
    }

    #[test]
    fn gdb_fields() {
        let text = "description = \"d\"\nverdict = \"pass\"\ngdb = \"tests/gdb/x.gdb\"\n\
                    gdb_expect = [\"Breakpoint 1,\"]\ngdb_reject = [\"Breakpoint 2,\"]\n";
        let s = parse("t.toml", text).unwrap();
        assert_eq!(s.gdb.as_deref(), Some("tests/gdb/x.gdb"));
        assert_eq!(s.gdb_expect, ["Breakpoint 1,"]);
        assert_eq!(s.gdb_reject, ["Breakpoint 2,"]);
        let e = parse(
            "t.toml",
            "description = \"d\"\nverdict = \"pass\"\ngdb_expect = [\"x\"]\n",
        )
        .unwrap_err();
        assert!(e.contains("give `gdb` a command file"), "{e}");
    }

    #[test]
    fn every_corruption_parses() {
        for (word, want) in [
            ("magic", Corruption::Magic),
            ("checksum", Corruption::Checksum),
            ("truncate", Corruption::Truncate),
            ("root-elf", Corruption::RootElf),
        ] {
            let text = format!("description = \"d\"\nverdict = \"fail\"\ncorrupt = \"{word}\"\n");
            assert_eq!(parse("t.toml", &text).unwrap().corrupt, Some(want));
        }
    }

    #[test]
    fn memory_sizes() {
        for good in ["64M", "256M", "1G", "2048M"] {
            let text = format!("description = \"d\"\nverdict = \"pass\"\nmemory = \"{good}\"\n");
            assert_eq!(parse("t.toml", &text).unwrap().memory, good);
        }
        for bad in [
            "", "64", "64m", "64 M", "064M", "0M", "M", "1.5G", "64MiB", "-1M", "9999999M",
        ] {
            let text = format!("description = \"d\"\nverdict = \"pass\"\nmemory = \"{bad}\"\n");
            let err = parse("x.toml", &text).unwrap_err();
            assert!(err.contains("`memory`"), "{bad:?}: {err}");
        }
        let err = parse(
            "x.toml",
            "description = \"d\"\nverdict = \"pass\"\nmemory = 64\n",
        )
        .unwrap_err();
        assert!(err.contains("memory"), "{err}");
    }

    #[test]
    fn icount_option() {
        let base = "description = \"d\"\nverdict = \"pass\"\n";
        assert!(!parse("t.toml", base).unwrap().icount, "off unless asked");
        let s = parse("t.toml", &format!("{base}icount = true\n")).unwrap();
        assert!(s.icount);
        let s = parse("t.toml", &format!("{base}icount = false\n")).unwrap();
        assert!(!s.icount);
        let err = parse("x.toml", &format!("{base}icount = \"yes\"\n")).unwrap_err();
        assert!(err.contains("icount"), "{err}");
    }

    #[test]
    fn unknown_field_is_named() {
        let err = parse(
            "x.toml",
            "description = \"d\"\nverdict = \"pass\"\nexpcet = [\"a\"]\n",
        )
        .unwrap_err();
        assert!(err.starts_with("x.toml: "), "{err}");
        assert!(err.contains("expcet"), "{err}");
        assert!(err.contains("line 3"), "{err}");
    }

    #[test]
    fn missing_verdict_is_named() {
        let err = parse("x.toml", "description = \"d\"\n").unwrap_err();
        assert!(err.contains("verdict"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, needle) in [
            ("machine = \"isapc\"", "isapc"),
            ("verdict2 = 1", "verdict2"),
            ("corrupt = \"elf\"", "elf"),
            ("timeout_secs = -1", "timeout_secs"),
        ] {
            let text = format!("description = \"d\"\nverdict = \"pass\"\n{text}\n");
            let err = parse("x.toml", &text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn semantic_checks() {
        for (text, needle) in [
            ("description = \" \"\nverdict = \"pass\"", "description"),
            (
                "description = \"d\"\nverdict = \"pass\"\ntimeout_secs = 0",
                "timeout_secs",
            ),
            (
                "description = \"d\"\nverdict = \"pass\"\nroot = \"a b\"",
                "\"a b\"",
            ),
            (
                "description = \"d\"\nverdict = \"pass\"\nroot = \"\"",
                "\"\"",
            ),
            (
                "description = \"d\"\nverdict = \"pass\"\ntasks = [\"x\", \"x\"]",
                "twice",
            ),
            (
                "description = \"d\"\nverdict = \"pass\"\ntasks = [\"root-task\"]",
                "twice",
            ),
            (
                "description = \"d\"\nverdict = \"pass\"\nexpect = [\"\"]",
                "match anything",
            ),
        ] {
            let err = parse("x.toml", text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let long = "a".repeat(septum_kcore::bootimage::NAME_LEN + 1);
        let text = format!("description = \"d\"\nverdict = \"pass\"\nroot = \"{long}\"");
        assert!(parse("x.toml", &text).is_err());
    }

    #[test]
    fn every_scenario_file_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/scenarios");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                if let Err(e) = parse(&path.display().to_string(), &text) {
                    panic!("{e}");
                }
                n += 1;
            }
        }
        assert!(n > 0, "no scenario files in {}", dir.display());
    }

    #[test]
    fn input_steps() {
        let base = "description = \"d\"\nverdict = \"pass\"\n";
        let text = format!(
            "{base}[[input]]\nafter = \"ready\"\ntext = \"hi\\n\"\n[[input]]\nafter = \"more\"\npattern = 100\n"
        );
        let s = parse("t.toml", &text).unwrap();
        assert_eq!(s.input.len(), 2);
        assert_eq!(s.input[0].bytes(), b"hi\n");
        assert_eq!(s.input[1].bytes(), pattern(100));
        for (step, needle) in [
            ("after = \"a\"", "either"),
            ("after = \"a\"\ntext = \"x\"\npattern = 3", "either"),
            ("after = \"\"\ntext = \"x\"", "`after` is empty"),
            ("after = \"a\"\ntext = \"\\u0001x\"", "Ctrl-A"),
            ("after = \"a\"\npattern = 0", "`pattern`"),
            ("after = \"a\"\ntxt = \"x\"", "txt"),
        ] {
            let err = parse("x.toml", &format!("{base}[[input]]\n{step}\n")).unwrap_err();
            assert!(err.contains(needle), "{step}: {err}");
        }
    }

    #[test]
    fn the_pattern_is_printable_lines_of_64() {
        let p = pattern(64 * 1024);
        assert!(p.iter().all(|&b| b == b'\n' || (b'!'..=b'~').contains(&b)));
        assert!(
            p.chunks(64)
                .all(|l| l[63] == b'\n' && !l[..63].contains(&b'\n'))
        );
        // Not one line repeated: a lost or doubled line changes the checksum.
        assert_ne!(p[..64], p[64..128]);
    }

    #[test]
    fn machine_names_round_trip() {
        for m in [Machine::Q35, Machine::Pc, Machine::Microvm] {
            assert_eq!(Machine::from_name(m.qemu_name()), Some(m));
        }
        assert_eq!(Machine::from_name("Q35"), None);
    }
}
