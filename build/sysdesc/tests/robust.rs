//! Nothing a file or an image holds makes the reader panic.
//!
//! The checker is fed the demo description (build/systems/demo.toml) damaged in the ways files
//! get damaged (bytes changed, cut short, words swapped, lines repeated);
//! the decoder is fed the compiled demo description damaged the same
//! way, with the checksum both left wrong and recomputed, so that the
//! structural checks behind it are reached too.

use proptest::prelude::*;
use septum_sysdesc::check::{KnownInterface, Options, check};
use septum_sysdesc::image::{self, System};
use septum_sysdesc::model;

fn demo_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../systems/demo.toml");
    std::fs::read_to_string(path).expect("build/systems/demo.toml")
}

fn options() -> Options {
    Options {
        interfaces: vec![
            KnownInterface {
                name: "Echo".into(),
                ordinal: 0x0101,
                version: 1,
            },
            KnownInterface {
                name: "Serial".into(),
                ordinal: 0x0501,
                version: 1,
            },
        ],
        ..Options::default()
    }
}

fn default_image() -> Vec<u8> {
    let report = check(&demo_text(), &options());
    report
        .system
        .expect("the default description checks")
        .encode()
        .unwrap()
}

/// One way to damage bytes.
#[derive(Clone, Debug)]
enum Damage {
    /// Set the byte at this fraction of the length.
    Set(f64, u8),
    /// Cut the bytes at this fraction.
    Truncate(f64),
    /// Swap two whitespace-separated words (by fraction of the word count).
    SwapWords(f64, f64),
    /// Repeat a line.
    RepeatLine(f64),
    /// Delete a run of bytes.
    Delete(f64, usize),
    /// Insert a byte.
    Insert(f64, u8),
    /// Replace a word with one of [`EXTREMES`].
    Extreme(f64, usize),
}

/// Values at the edges of what the fields take.
const EXTREMES: [&str; 12] = [
    "0",
    "-1",
    "18446744073709551615",
    "9223372036854775807",
    "\"0ms\"",
    "\"18446744073s\"",
    "\"16777215TiB\"",
    "\"0B\"",
    "0xffff_ffff_ffff_f000",
    "0x7fff_ffff_f000",
    "\"restart-group\"",
    "[]",
];

fn damage() -> impl Strategy<Value = Damage> {
    let frac = 0.0..1.0f64;
    prop_oneof![
        4 => (frac.clone(), any::<u8>()).prop_map(|(f, b)| Damage::Set(f, b)),
        1 => frac.clone().prop_map(Damage::Truncate),
        3 => (frac.clone(), frac.clone()).prop_map(|(a, b)| Damage::SwapWords(a, b)),
        1 => frac.clone().prop_map(Damage::RepeatLine),
        2 => (frac.clone(), 1usize..16).prop_map(|(f, n)| Damage::Delete(f, n)),
        2 => (frac.clone(), any::<u8>()).prop_map(|(f, b)| Damage::Insert(f, b)),
        4 => (frac, 0..EXTREMES.len()).prop_map(|(f, i)| Damage::Extreme(f, i)),
    ]
}

fn at(f: f64, len: usize) -> usize {
    ((f * len as f64) as usize).min(len.saturating_sub(1))
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    match *d {
        Damage::Set(f, b) => {
            let i = at(f, bytes.len());
            bytes[i] = b;
        }
        Damage::Truncate(f) => bytes.truncate(at(f, bytes.len())),
        Damage::SwapWords(a, b) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut words: Vec<&str> = text.split(' ').collect();
            let (i, j) = (at(a, words.len()), at(b, words.len()));
            words.swap(i, j);
            *bytes = words.join(" ").into_bytes();
        }
        Damage::RepeatLine(f) => {
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut lines: Vec<&str> = text.lines().collect();
            if !lines.is_empty() {
                let i = at(f, lines.len());
                lines.insert(i, lines[i]);
            }
            *bytes = lines.join("\n").into_bytes();
        }
        Damage::Delete(f, n) => {
            let i = at(f, bytes.len());
            let end = (i + n).min(bytes.len());
            bytes.drain(i..end);
        }
        Damage::Insert(f, b) => {
            let i = at(f, bytes.len());
            bytes.insert(i, b);
        }
        Damage::Extreme(f, which) => {
            // Replace the value after the n-th `=`.
            let text = String::from_utf8_lossy(bytes).into_owned();
            let mut parts: Vec<String> = text.split(" = ").map(str::to_string).collect();
            if parts.len() > 1 {
                let i = 1 + at(f, parts.len() - 1);
                let rest = &parts[i];
                let end = rest.find(['\n', ',', '}']).unwrap_or(rest.len());
                parts[i] = format!("{}{}", EXTREMES[which], &rest[end..]);
            }
            *bytes = parts.join(" = ").into_bytes();
        }
    }
}

/// Read every table of an accepted image to the end.
fn walk(s: &System<'_>) -> usize {
    let mut n = s.partitions.iter().count() + s.windows.iter().count();
    for d in s.domains.iter() {
        n += d.caps.iter().count() + d.maps.iter().count();
    }
    for c in s.channels.iter() {
        n += c.senders.iter().count();
    }
    n += s.regions.iter().count();
    for g in s.guests.iter() {
        n += g.irqs.iter().count() + g.io_ports.iter().count() + g.device_memory.iter().count();
    }
    n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn damaged_descriptions_never_panic(damages in prop::collection::vec(damage(), 1..6)) {
        let mut bytes = demo_text().into_bytes();
        for d in &damages {
            apply(&mut bytes, d);
        }
        let text = String::from_utf8_lossy(&bytes);
        let report = check(&text, &options());
        // Rendering every diagnostic must not panic either.
        let _ = report.render("damaged.toml", &text, false);
        if let Some(system) = report.system {
            prop_assert!(!report.diagnostics.iter().any(|d| d.is_error()));
            let image = system.encode().unwrap();
            let decoded = System::decode(&image);
            prop_assert!(decoded.is_ok(), "{:?}", decoded.err());
            if let Ok(decoded) = decoded {
                prop_assert_eq!(model::System::from_image(&decoded), system);
            }
        } else {
            prop_assert!(report.diagnostics.iter().any(|d| d.is_error()));
        }
    }

    #[test]
    fn damaged_images_are_refused_with_a_reason(
        damages in prop::collection::vec(damage(), 1..4),
        reseal in any::<bool>(),
    ) {
        let good = default_image();
        let mut bytes = good.clone();
        for d in &damages {
            apply(&mut bytes, d);
        }
        if reseal {
            image::reseal(&mut bytes);
        }
        match System::decode(&bytes) {
            Err(e) => prop_assert!(!e.to_string().is_empty()),
            Ok(s) => {
                // Without a new checksum, only an undamaged image passes.
                prop_assert!(reseal || bytes == good, "a damaged image passed its checksum");
                let _ = walk(&s);
                let _ = model::System::from_image(&s);
            }
        }
    }

    #[test]
    fn random_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..512), magic in any::<bool>()) {
        let mut bytes = bytes;
        if magic && bytes.len() >= image::HEADER_SIZE {
            bytes[..8].copy_from_slice(&image::MAGIC);
            bytes[8..12].copy_from_slice(&image::FORMAT_VERSION.to_le_bytes());
            image::reseal(&mut bytes);
        }
        if let Ok(s) = System::decode(&bytes) {
            let _ = walk(&s);
        }
    }
}

#[test]
fn each_header_check_says_what_is_wrong() {
    let good = default_image();
    let refuse = |bytes: &[u8]| System::decode(bytes).unwrap_err().to_string();

    assert!(refuse(&good[..10]).contains("shorter than its 24-byte header"));
    let mut b = good.clone();
    b[0] ^= 0xff;
    assert!(refuse(&b).contains("bad magic"));
    let mut b = good.clone();
    b[8] = 9;
    assert!(refuse(&b).contains("format 9, this code reads format 1"));
    let mut b = good.clone();
    b.push(0);
    assert!(refuse(&b).contains("follow"));
    let mut b = good.clone();
    let last = b.len() - 1;
    b[last] ^= 1;
    assert!(refuse(&b).contains("checksum mismatch"));
    b.push(0);
    image::reseal(&mut b);
    assert!(refuse(&b).contains("bytes left"), "{}", refuse(&b));
}

#[test]
fn inconsistent_images_are_refused() {
    // A model that breaks a rule the root task relies on, encoded as it is:
    // the decoder names the rule.
    let mut sys = check(&demo_text(), &options()).system.unwrap();
    sys.domains[0].partition = 7;
    let err = System::decode(&sys.encode().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "domains[0]: names a partition that does not exist"
    );

    let mut sys = check(&demo_text(), &options()).system.unwrap();
    sys.domains[1].maps[0].vaddr = 0x1000;
    let err = System::decode(&sys.encode().unwrap()).unwrap_err();
    assert!(
        err.to_string().contains(
            "domains[1]: its mappings overlap, are out of order or reach into the program window"
        ),
        "{err}"
    );

    let mut sys = check(&demo_text(), &options()).system.unwrap();
    sys.windows[1].start_ns = 1;
    let err = System::decode(&sys.encode().unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "windows[1]: starts before the previous window ends"
    );

    let mut sys = check(&demo_text(), &options()).system.unwrap();
    sys.domains[0].caps[4].object = image::Object::Notification { channel: 0 };
    let err = System::decode(&sys.encode().unwrap()).unwrap_err();
    assert!(err.to_string().contains("of another kind"), "{err}");
}
