use super::*;
use proptest::prelude::*;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn input<'a>(kind: EntryKind, name: &'a str, data: &'a [u8]) -> Input<'a> {
    Input { kind, name, data }
}

fn pack_vec(inputs: &[Input<'_>]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; packed_size(inputs)];
    let len = pack(inputs, &mut out)?;
    assert_eq!(len, out.len());
    Ok(out)
}

/// Offset of entry `index`'s field at `field`.
fn entry_at(index: usize, field: usize) -> usize {
    HEADER_SIZE + index * ENTRY_SIZE + field
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Payloads of four entries: the root task, a task spanning two pages, an
/// empty task and a system description.
struct Payloads {
    root: Vec<u8>,
    serial: Vec<u8>,
    system: Vec<u8>,
}

fn payloads() -> Payloads {
    Payloads {
        root: bytes(100, 1),
        serial: bytes(5000, 2),
        system: bytes(33, 3),
    }
}

fn inputs(p: &Payloads) -> [Input<'_>; 4] {
    [
        input(EntryKind::RootTask, "root", &p.root),
        input(EntryKind::Task, "serial", &p.serial),
        input(EntryKind::Task, "empty", &[]),
        input(EntryKind::SystemDescription, "system", &p.system),
    ]
}

fn good() -> Vec<u8> {
    pack_vec(&inputs(&payloads())).unwrap()
}

/// `f` applied to a good image, resealed so only what `f` changed is wrong.
fn corrupt(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut image = good();
    f(&mut image);
    reseal(&mut image);
    image
}

fn parse_err(image: &[u8]) -> Error {
    match BootImage::parse(image) {
        Ok(_) => panic!("parse accepted a bad image"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn round_trip() {
    let p = payloads();
    let ins = inputs(&p);
    let image = pack_vec(&ins).unwrap();
    let parsed = BootImage::parse(&image).unwrap();
    assert_eq!(parsed.len(), 4);
    assert!(!parsed.is_empty());
    assert_eq!(parsed.total_size(), image.len());
    for (i, (entry, input)) in parsed.entries().zip(ins.iter()).enumerate() {
        assert_eq!(entry.kind, input.kind, "entry {i}");
        assert_eq!(entry.name, input.name, "entry {i}");
        assert_eq!(entry.data, input.data, "entry {i}");
        assert_eq!(entry.offset % PAYLOAD_ALIGN, 0, "entry {i}");
        assert!(entry.offset >= HEADER_SIZE + 4 * ENTRY_SIZE, "entry {i}");
        assert_eq!(
            &image[entry.offset..entry.offset + entry.data.len()],
            entry.data
        );
        assert_eq!(parsed.entry(i), Some(entry));
    }
    assert_eq!(parsed.entries().count(), 4);
    assert_eq!(parsed.entry(4), None);
    assert_eq!(parsed.entry(usize::MAX), None);
    // Payloads follow each other in order, each on the next page boundary.
    let offsets: Vec<usize> = parsed.entries().map(|e| e.offset).collect();
    assert_eq!(offsets, [0x1000, 0x2000, 0x4000, 0x4000]);
    assert_eq!(image.len(), 0x4000 + 33);

    let root = parsed.root_task().unwrap();
    assert_eq!(
        (root.kind, root.name, root.data),
        (EntryKind::RootTask, "root", &p.root[..])
    );
    let serial = parsed.find("serial").unwrap();
    assert_eq!(serial.data, &p.serial[..]);
    assert_eq!(
        parsed.find("system").unwrap().kind,
        EntryKind::SystemDescription
    );
    assert_eq!(parsed.find("empty").unwrap().data, &[] as &[u8]);
    assert!(parsed.find("nope").is_none());
    assert!(parsed.find("").is_none());
    assert!(parsed.find("ser").is_none());
}

#[test]
fn names_at_the_limits_round_trip() {
    let long = "n".repeat(NAME_LEN);
    let utf8 = "tâche-ü";
    let ins = [
        input(EntryKind::Task, &long, b"x"),
        input(EntryKind::RootTask, utf8, b"y"),
    ];
    let image = pack_vec(&ins).unwrap();
    let parsed = BootImage::parse(&image).unwrap();
    assert_eq!(parsed.find(&long).unwrap().data, b"x");
    assert_eq!(parsed.root_task().unwrap().name, utf8);
}

#[test]
fn module_longer_than_the_image_is_fine() {
    let mut module = good();
    let len = module.len();
    module.extend_from_slice(&[0xee; 100]);
    let parsed = BootImage::parse(&module).unwrap();
    assert_eq!(parsed.total_size(), len);
    // So is a buffer bigger than needed when packing.
    let p = payloads();
    let mut out = vec![0xffu8; len + 5000];
    assert_eq!(pack(&inputs(&p), &mut out), Ok(len));
    assert_eq!(&out[..len], &good()[..]);
}

#[test]
fn kind_codes_round_trip() {
    for kind in [
        EntryKind::RootTask,
        EntryKind::Task,
        EntryKind::SystemDescription,
    ] {
        assert_eq!(EntryKind::from_code(kind.code()), Some(kind));
    }
    assert_eq!(EntryKind::from_code(0), None);
    assert_eq!(EntryKind::from_code(4), None);
}

#[test]
fn too_short() {
    assert_eq!(parse_err(&[]), Error::TooShort { len: 0 });
    assert_eq!(
        parse_err(&good()[..HEADER_SIZE - 1]),
        Error::TooShort { len: 63 }
    );
}

#[test]
fn bad_magic() {
    let image = corrupt(|b| b[7] = b'X');
    assert_eq!(
        parse_err(&image),
        Error::BadMagic {
            found: *b"SEPTUMBX"
        }
    );
}

#[test]
fn unsupported_version() {
    let image = corrupt(|b| set_u32(b, 8, 2));
    assert_eq!(parse_err(&image), Error::UnsupportedVersion { found: 2 });
}

#[test]
fn bad_layout() {
    let image = corrupt(|b| set_u32(b, 12, 32));
    assert_eq!(
        parse_err(&image),
        Error::BadLayout {
            header_size: 32,
            entry_size: 64
        }
    );
    let image = corrupt(|b| set_u32(b, 16, 65));
    assert_eq!(
        parse_err(&image),
        Error::BadLayout {
            header_size: 64,
            entry_size: 65
        }
    );
}

#[test]
fn too_many_entries() {
    let image = corrupt(|b| set_u32(b, 20, MAX_ENTRIES as u32 + 1));
    assert_eq!(parse_err(&image), Error::TooManyEntries { count: 257 });
    let image = corrupt(|b| set_u32(b, 20, u32::MAX));
    assert_eq!(parse_err(&image), Error::TooManyEntries { count: u32::MAX });
}

#[test]
fn truncated() {
    let image = good();
    let len = image.len();
    assert_eq!(
        parse_err(&image[..len - 1]),
        Error::Truncated {
            total_size: len as u64,
            len: len - 1
        }
    );
    let image = corrupt(|b| set_u64(b, 24, u64::MAX));
    assert_eq!(
        parse_err(&image),
        Error::Truncated {
            total_size: u64::MAX,
            len
        }
    );
}

#[test]
fn table_out_of_bounds() {
    // The image ends inside its own entry table.
    let image = corrupt(|b| set_u64(b, 24, 200));
    assert_eq!(parse_err(&image), Error::TableOutOfBounds { count: 4 });
    // Or is too short for a header at all while the module is long.
    let image = corrupt(|b| set_u64(b, 24, 10));
    assert_eq!(parse_err(&image), Error::TableOutOfBounds { count: 4 });
    // The table outgrows a small image.
    let ins = [input(EntryKind::RootTask, "root", b"r")];
    let mut image = pack_vec(&ins).unwrap();
    assert_eq!(image.len(), PAYLOAD_ALIGN + 1);
    set_u32(&mut image, 20, 65);
    reseal(&mut image);
    assert_eq!(parse_err(&image), Error::TableOutOfBounds { count: 65 });
}

#[test]
fn checksum_mismatch() {
    let mut image = good();
    let stored = get_u64(&image, 32);
    image[0x2000 + 17] ^= 0x40;
    let e = parse_err(&image);
    let Error::ChecksumMismatch {
        stored: s,
        computed,
    } = e
    else {
        panic!("expected a checksum mismatch, got {e:?}");
    };
    assert_eq!(s, stored);
    assert_ne!(computed, stored);
    reseal(&mut image);
    assert!(
        BootImage::parse(&image).is_ok(),
        "resealing makes the flipped byte a valid payload"
    );
    // The checksum field itself is covered too.
    let mut image = good();
    image[32] ^= 1;
    assert!(matches!(parse_err(&image), Error::ChecksumMismatch { .. }));
}

#[test]
fn reserved_not_zero() {
    for at in [40, 63] {
        let image = corrupt(|b| b[at] = 1);
        assert_eq!(parse_err(&image), Error::ReservedNotZero, "byte {at}");
    }
}

#[test]
fn bad_kind() {
    let image = corrupt(|b| set_u32(b, entry_at(1, 0), 0));
    assert_eq!(parse_err(&image), Error::BadKind { index: 1, kind: 0 });
    let image = corrupt(|b| set_u32(b, entry_at(3, 0), 4));
    assert_eq!(parse_err(&image), Error::BadKind { index: 3, kind: 4 });
}

#[test]
fn bad_flags() {
    let image = corrupt(|b| set_u32(b, entry_at(2, 4), 0x80));
    assert_eq!(
        parse_err(&image),
        Error::BadFlags {
            index: 2,
            flags: 0x80
        }
    );
}

#[test]
fn bad_name() {
    let name = entry_at(1, 24);
    let image = corrupt(|b| b[name..name + NAME_LEN].fill(0));
    assert_eq!(parse_err(&image), Error::BadName { index: 1 });
    let image = corrupt(|b| b[name] = 0);
    assert_eq!(
        parse_err(&image),
        Error::BadName { index: 1 },
        "leading NUL"
    );
    let image = corrupt(|b| b[name + 1] = 0xff);
    assert_eq!(parse_err(&image), Error::BadName { index: 1 }, "not UTF-8");
    // Bytes after the terminating NUL: "x\0y" is not a name.
    let image = corrupt(|b| {
        b[name..name + NAME_LEN].fill(0);
        b[name] = b'x';
        b[name + 2] = b'y';
    });
    assert_eq!(
        parse_err(&image),
        Error::BadName { index: 1 },
        "junk after NUL"
    );
    // A multi-byte character cut by the end of the field.
    let image = corrupt(|b| {
        b[name..name + NAME_LEN].fill(b'a');
        b[name + NAME_LEN - 1] = 0xc3;
    });
    assert_eq!(
        parse_err(&image),
        Error::BadName { index: 1 },
        "cut character"
    );
}

#[test]
fn misaligned() {
    let image = corrupt(|b| set_u64(b, entry_at(1, 8), 0x2008));
    assert_eq!(
        parse_err(&image),
        Error::Misaligned {
            index: 1,
            offset: 0x2008
        }
    );
}

#[test]
fn payload_out_of_bounds() {
    let len = good().len() as u64;
    let cases = [
        (0, 0, 100),           // over the header and table
        (3, 0x4000, 34),       // one byte past the end
        (3, 0x5000, 0),        // empty, but past the end
        (1, 0x2000, u64::MAX), // end overflows
        (0, !0xfff, 1),        // far away
    ];
    for (index, offset, size) in cases {
        let image = corrupt(|b| {
            set_u64(b, entry_at(index, 8), offset);
            set_u64(b, entry_at(index, 16), size);
        });
        assert_eq!(
            parse_err(&image),
            Error::PayloadOutOfBounds {
                index,
                offset,
                size
            },
            "entry {index} at {offset:#x} size {size:#x} in {len:#x} bytes"
        );
    }
    // The system description already ends exactly at the image end; an empty
    // payload may sit right there too.
    let image = corrupt(|b| set_u64(b, entry_at(2, 8), 0x4000));
    assert!(BootImage::parse(&image).is_ok());
}

#[test]
fn overlap() {
    let image = corrupt(|b| set_u64(b, entry_at(1, 8), 0x1000));
    assert_eq!(
        parse_err(&image),
        Error::Overlap {
            first: 0,
            second: 1
        }
    );
    // The root's payload grown into the next one.
    let image = corrupt(|b| set_u64(b, entry_at(0, 16), 0x1001));
    assert_eq!(
        parse_err(&image),
        Error::Overlap {
            first: 0,
            second: 1
        }
    );
    // The system description moved onto the serial task's second page.
    let image = corrupt(|b| set_u64(b, entry_at(3, 8), 0x3000));
    assert_eq!(
        parse_err(&image),
        Error::Overlap {
            first: 1,
            second: 3
        }
    );
    // Empty payloads overlap nothing, wherever they sit.
    let image = corrupt(|b| set_u64(b, entry_at(2, 8), 0x2000));
    assert!(BootImage::parse(&image).is_ok());
}

#[test]
fn root_task_count() {
    let image = corrupt(|b| set_u32(b, entry_at(0, 0), EntryKind::Task.code()));
    assert_eq!(parse_err(&image), Error::NoRootTask);
    let image = corrupt(|b| set_u32(b, entry_at(2, 0), EntryKind::RootTask.code()));
    assert_eq!(parse_err(&image), Error::SecondRootTask { index: 2 });
}

#[test]
fn pack_refuses_bad_names() {
    let long = "n".repeat(NAME_LEN + 1);
    for (name, index) in [("", 0), (long.as_str(), 1), ("a\0b", 1), ("\0", 0)] {
        let mut ins = vec![
            input(EntryKind::RootTask, "root", b"r"),
            input(EntryKind::Task, "t", b"t"),
        ];
        ins[index].name = name;
        let mut out = vec![0u8; packed_size(&ins)];
        assert_eq!(
            pack(&ins, &mut out),
            Err(Error::BadName { index }),
            "name {name:?}"
        );
    }
}

#[test]
fn pack_refuses_root_task_counts() {
    let none = [
        input(EntryKind::Task, "a", b"a"),
        input(EntryKind::SystemDescription, "s", b""),
    ];
    assert_eq!(pack_vec(&none), Err(Error::NoRootTask));
    assert_eq!(pack_vec(&[]), Err(Error::NoRootTask));
    let two = [
        input(EntryKind::RootTask, "a", b"a"),
        input(EntryKind::Task, "b", b"b"),
        input(EntryKind::RootTask, "c", b"c"),
    ];
    assert_eq!(pack_vec(&two), Err(Error::SecondRootTask { index: 2 }));
}

#[test]
fn pack_refuses_a_small_buffer() {
    let p = payloads();
    let ins = inputs(&p);
    let needed = packed_size(&ins);
    for len in [0, HEADER_SIZE, needed - 1] {
        let mut out = vec![0u8; len];
        assert_eq!(pack(&ins, &mut out), Err(Error::BufferTooSmall { needed }));
    }
}

#[test]
fn pack_refuses_too_many_entries() {
    let mut ins = vec![input(EntryKind::Task, "t", b""); MAX_ENTRIES + 1];
    ins[0].kind = EntryKind::RootTask;
    let mut out = vec![0u8; packed_size(&ins)];
    assert_eq!(
        pack(&ins, &mut out),
        Err(Error::TooManyEntries { count: 257 })
    );
    // The largest allowed table packs and parses.
    ins.pop();
    let image = pack_vec(&ins).unwrap();
    assert_eq!(BootImage::parse(&image).unwrap().len(), MAX_ENTRIES);
}

#[test]
fn reseal_handles_short_and_lying_images() {
    let mut short = vec![0u8; 10];
    reseal(&mut short);
    assert_eq!(short, [0u8; 10]);
    let mut image = good();
    set_u64(&mut image, 24, u64::MAX);
    reseal(&mut image);
    set_u64(&mut image, 24, 3);
    reseal(&mut image);
}

#[test]
fn every_message_is_specific() {
    let cases: [(Error, &[&str]); 18] = [
        (Error::TooShort { len: 12 }, &["12", "64"]),
        (
            Error::BadMagic {
                found: *b"ELFELFEL",
            },
            &["45", "SEPTUMBI"],
        ),
        (Error::UnsupportedVersion { found: 7 }, &["7", "1"]),
        (
            Error::BadLayout {
                header_size: 1,
                entry_size: 2,
            },
            &["1", "2", "64"],
        ),
        (Error::TooManyEntries { count: 999 }, &["999", "256"]),
        (
            Error::Truncated {
                total_size: 5000,
                len: 4000,
            },
            &["5000", "4000"],
        ),
        (Error::TableOutOfBounds { count: 77 }, &["77"]),
        (
            Error::ChecksumMismatch {
                stored: 0xabc,
                computed: 0xdef,
            },
            &["abc", "def"],
        ),
        (Error::ReservedNotZero, &["reserved"]),
        (Error::BadKind { index: 3, kind: 9 }, &["entry 3", "9"]),
        (
            Error::BadFlags {
                index: 4,
                flags: 0x10,
            },
            &["entry 4", "0x10"],
        ),
        (Error::BadName { index: 5 }, &["entry 5", "name"]),
        (
            Error::Misaligned {
                index: 6,
                offset: 0x1234,
            },
            &["entry 6", "0x1234"],
        ),
        (
            Error::PayloadOutOfBounds {
                index: 7,
                offset: 0x5000,
                size: 0x99,
            },
            &["entry 7", "0x5000", "0x99"],
        ),
        (
            Error::Overlap {
                first: 1,
                second: 8,
            },
            &["1", "8"],
        ),
        (Error::NoRootTask, &["root"]),
        (Error::SecondRootTask { index: 9 }, &["entry 9", "root"]),
        (Error::BufferTooSmall { needed: 4242 }, &["4242"]),
    ];
    for (e, parts) in cases {
        let msg = e.to_string();
        assert!(!msg.is_empty());
        for part in parts {
            assert!(msg.contains(part), "{e:?}: {msg:?} lacks {part:?}");
        }
    }
}

/// What a successful parse promises, checked from the outside.
fn check_guarantees(module: &[u8], image: &BootImage<'_>) {
    let total = image.total_size();
    assert!(total <= module.len());
    let table_end = HEADER_SIZE + image.len() * ENTRY_SIZE;
    let base = module.as_ptr() as usize;
    let mut roots = 0;
    let entries: Vec<Entry<'_>> = image.entries().collect();
    assert_eq!(entries.len(), image.len());
    for (i, e) in entries.iter().enumerate() {
        let at = e.data.as_ptr() as usize - base;
        assert_eq!(at, e.offset);
        assert!(
            e.offset >= table_end && e.offset + e.data.len() <= total,
            "entry {i}"
        );
        assert_eq!(e.offset % PAYLOAD_ALIGN, 0);
        assert!(!e.name.is_empty() && e.name.len() <= NAME_LEN);
        roots += usize::from(e.kind == EntryKind::RootTask);
        for o in &entries[..i] {
            let disjoint = e.data.is_empty()
                || o.data.is_empty()
                || e.offset >= o.offset + o.data.len()
                || o.offset >= e.offset + e.data.len();
            assert!(disjoint);
        }
    }
    assert_eq!(roots, 1);
    assert!(image.root_task().is_some());
}

fn check(module: &[u8]) {
    match BootImage::parse(module) {
        Ok(image) => check_guarantees(module, &image),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// A small valid image for the property tests: the checksum makes every case
/// read all of it, so it is kept to two pages of payload.
fn small() -> Vec<u8> {
    let ins = [
        input(EntryKind::Task, "task", b"task bytes"),
        input(EntryKind::SystemDescription, "sys", b""),
        input(EntryKind::RootTask, "root", b"root task bytes"),
    ];
    let image = pack_vec(&ins).unwrap();
    assert_eq!(image.len(), 0x2000 + 15);
    image
}

/// Offset and width of every header and entry field of `small()`: a mutation
/// there gets furthest.
fn fields() -> Vec<(usize, usize)> {
    let mut at = vec![
        (8, 4),
        (12, 4),
        (16, 4),
        (20, 4),
        (24, 8),
        (32, 8),
        (40, 8),
        (56, 8),
    ];
    for i in 0..3 {
        at.extend(
            [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (56, 8)].map(|(f, w)| (entry_at(i, f), w)),
        );
    }
    at
}

#[derive(Clone, Debug)]
enum Edit {
    /// Set one byte anywhere.
    Byte(prop::sample::Index, u8),
    /// Write a value into a field (as many bytes as fit there).
    Field(prop::sample::Index, u64),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let value = prop_oneof![
        0..4u64,
        Just(64),
        Just(0x1000),
        Just(0x2000),
        Just(0x2000 + 15),
        Just(0x2010),
        Just(u64::MAX),
        any::<u64>(),
    ];
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, v)| Edit::Byte(i, v)),
        (any::<prop::sample::Index>(), value).prop_map(|(i, v)| Edit::Field(i, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5_000))]

    #[test]
    fn random_bytes_never_panic(module in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&module);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..600),
        count in 0..6u32,
        reseal_it in any::<bool>(),
    ) {
        let mut module = small()[..HEADER_SIZE].to_vec();
        module.extend_from_slice(&tail);
        set_u32(&mut module, 20, count);
        let len = module.len() as u64;
        set_u64(&mut module, 24, len);
        if reseal_it {
            reseal(&mut module);
        }
        check(&module);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12_000))]

    #[test]
    fn mutated_images_never_panic(
        edits in prop::collection::vec(arb_edit(), 1..4),
        reseal_it in prop::bool::weighted(0.8),
        cut in prop::option::weighted(0.2, any::<prop::sample::Index>()),
    ) {
        let mut module = small();
        let fields = fields();
        for edit in edits {
            match edit {
                Edit::Byte(at, v) => {
                    let at = at.index(module.len());
                    module[at] = v;
                }
                Edit::Field(at, v) => {
                    let (at, width) = fields[at.index(fields.len())];
                    module[at..at + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
            }
        }
        if reseal_it {
            reseal(&mut module);
        }
        if let Some(cut) = cut {
            module.truncate(cut.index(module.len() + 1));
        }
        check(&module);
    }
}
