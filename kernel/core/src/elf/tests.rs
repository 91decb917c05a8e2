use super::*;
use proptest::prelude::*;
use std::format;
use std::string::ToString;
use std::vec;
use std::vec::Vec;

const PT_NOTE: u32 = 4;
const PT_GNU_STACK: u32 = 0x6474_e551;
const R: u32 = PF_R;
const RX: u32 = PF_R | PF_X;
const RW: u32 = PF_R | PF_W;

/// A program header as the tests write it.
#[derive(Clone, Copy, Debug)]
struct Ph {
    p_type: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    file_size: u64,
    mem_size: u64,
}

fn load(flags: u32, offset: u64, vaddr: u64, file_size: u64, mem_size: u64) -> Ph {
    Ph {
        p_type: PT_LOAD,
        flags,
        offset,
        vaddr,
        file_size,
        mem_size,
    }
}

fn other(p_type: u32) -> Ph {
    Ph {
        p_type,
        flags: RW,
        offset: 0,
        vaddr: 0,
        file_size: 0,
        mem_size: 0,
    }
}

fn put(b: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if b.len() < at + bytes.len() {
        b.resize(at + bytes.len(), 0);
    }
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

fn put_u16(b: &mut Vec<u8>, at: usize, v: u16) {
    put(b, at, &v.to_le_bytes());
}

fn put_u32(b: &mut Vec<u8>, at: usize, v: u32) {
    put(b, at, &v.to_le_bytes());
}

fn put_u64(b: &mut Vec<u8>, at: usize, v: u64) {
    put(b, at, &v.to_le_bytes());
}

/// Offset of program header `index`'s field at `field` in images from [`image`].
fn ph_at(index: usize, field: usize) -> usize {
    EHDR_SIZE + index * PHDR_SIZE + field
}

/// An ELF file with the program headers `phs` right after the ELF header, and
/// file bytes (a recognisable pattern) behind every header's file range that
/// fits in a small file.
fn image(entry: u64, phs: &[Ph]) -> Vec<u8> {
    let mut b = vec![0u8; EHDR_SIZE];
    // File bytes first, so that a segment placed over the headers (as real
    // first segments are) cannot overwrite them.
    for ph in phs {
        let end = ph.offset.saturating_add(ph.file_size);
        if ph.p_type == PT_LOAD && end <= 0x1_0000 {
            let bytes: Vec<u8> = (ph.offset..end).map(pattern).collect();
            put(&mut b, ph.offset as usize, &bytes);
        }
    }
    put(&mut b, 0, &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    put_u16(&mut b, 16, ET_EXEC);
    put_u16(&mut b, 18, EM_X86_64);
    put_u32(&mut b, 20, 1);
    put_u64(&mut b, 24, entry);
    put_u64(&mut b, 32, EHDR_SIZE as u64); // e_phoff
    put_u64(&mut b, 40, 0); // e_shoff
    put_u32(&mut b, 48, 0); // e_flags
    put_u16(&mut b, 52, EHDR_SIZE as u16);
    put_u16(&mut b, 54, PHDR_SIZE as u16);
    put_u16(&mut b, 56, phs.len() as u16);
    put_u16(&mut b, 58, 64); // e_shentsize
    for (i, ph) in phs.iter().enumerate() {
        put_u32(&mut b, ph_at(i, 0), ph.p_type);
        put_u32(&mut b, ph_at(i, 4), ph.flags);
        put_u64(&mut b, ph_at(i, 8), ph.offset);
        put_u64(&mut b, ph_at(i, 16), ph.vaddr);
        put_u64(&mut b, ph_at(i, 24), ph.vaddr); // p_paddr
        put_u64(&mut b, ph_at(i, 32), ph.file_size);
        put_u64(&mut b, ph_at(i, 40), ph.mem_size);
        put_u64(&mut b, ph_at(i, 48), 0x1000);
    }
    b
}

fn pattern(at: u64) -> u8 {
    (at.wrapping_mul(7) ^ 0x5a) as u8
}

const TEXT: u64 = 0x40_0100;
const RODATA: u64 = 0x40_1140;
const DATA: u64 = 0x40_2160;
const ENTRY: u64 = TEXT + 0x10;

/// Text (RX), read-only data (R), data with bss (RW), and a PT_GNU_STACK
/// header the loader ignores.
fn good_headers() -> Vec<Ph> {
    vec![
        load(RX, 0x200, TEXT, 0x40, 0x40),
        load(R, 0x240, RODATA, 0x20, 0x20),
        load(RW, 0x260, DATA, 0x10, 0x1000),
        other(PT_GNU_STACK),
    ]
}

fn good() -> Vec<u8> {
    image(ENTRY, &good_headers())
}

/// `good()` with header `index` replaced and the file bytes unchanged.
fn good_with(index: usize, ph: Ph) -> Vec<u8> {
    let mut b = good();
    put_u32(&mut b, ph_at(index, 0), ph.p_type);
    put_u32(&mut b, ph_at(index, 4), ph.flags);
    put_u64(&mut b, ph_at(index, 8), ph.offset);
    put_u64(&mut b, ph_at(index, 16), ph.vaddr);
    put_u64(&mut b, ph_at(index, 32), ph.file_size);
    put_u64(&mut b, ph_at(index, 40), ph.mem_size);
    b
}

fn parse_err(bytes: &[u8]) -> Error {
    match Elf::parse(bytes) {
        Ok(_) => panic!("parse accepted a bad file"),
        Err(e) => {
            assert!(!e.to_string().is_empty());
            e
        }
    }
}

#[test]
fn good_executable() {
    let bytes = good();
    assert_eq!(bytes.len(), 0x270);
    let elf = Elf::parse(&bytes).unwrap();
    assert_eq!(elf.entry(), ENTRY);
    let segs: Vec<Segment<'_>> = elf.segments().collect();
    assert_eq!(segs.len(), 3);

    let text = segs[0];
    assert_eq!((text.index, text.vaddr, text.mem_size), (0, TEXT, 0x40));
    assert_eq!(text.data, &bytes[0x200..0x240]);
    assert_eq!(
        text.perms,
        Perms {
            read: true,
            write: false,
            execute: true
        }
    );

    let rodata = segs[1];
    assert_eq!(
        (rodata.index, rodata.vaddr, rodata.mem_size),
        (1, RODATA, 0x20)
    );
    assert_eq!(rodata.data, &bytes[0x240..0x260]);
    assert_eq!(
        rodata.perms,
        Perms {
            read: true,
            write: false,
            execute: false
        }
    );

    let data = segs[2];
    assert_eq!((data.index, data.vaddr, data.mem_size), (2, DATA, 0x1000));
    assert_eq!(data.data, &bytes[0x260..0x270]);
    assert!(
        data.data.len() < data.mem_size as usize,
        "bss follows the file bytes"
    );
    assert_eq!(
        data.perms,
        Perms {
            read: true,
            write: true,
            execute: false
        }
    );
}

#[test]
fn segments_keep_header_indices_and_skip_empty_loads() {
    let mut phs = good_headers();
    phs.insert(0, other(PT_NOTE));
    // An empty PT_LOAD is never mapped, so its address needs no page of its own.
    phs.insert(2, load(RW, 0, TEXT, 0, 0));
    let bytes = image(ENTRY, &phs);
    let elf = Elf::parse(&bytes).unwrap();
    let indices: Vec<usize> = elf.segments().map(|s| s.index).collect();
    assert_eq!(indices, [1, 3, 4]);
}

#[test]
fn upper_half_and_unaligned_segments_are_accepted() {
    let base = 0xffff_8000_0000_0000;
    let bytes = image(
        base + 4,
        &[
            load(RX, 0x100, base, 0x10, 0x10),
            load(R, 0x110, base + 0x1fff, 1, 1),
        ],
    );
    let elf = Elf::parse(&bytes).unwrap();
    assert_eq!(elf.segments().count(), 2);
    // The highest page a segment can end in: vaddr + mem_size still fits in 64 bits.
    let top = 0xffff_ffff_ffff_f000;
    let bytes = image(top, &[load(RX, 0x100, top, 0x10, 0xfff)]);
    assert!(Elf::parse(&bytes).is_ok());
}

/// A segment's pages put together (each page zeroed, its file part copied
/// in) are the segment's memory image: its file bytes, then zeros.
fn assemble(seg: &Segment<'_>) -> Vec<u8> {
    let mut mem = Vec::new();
    for p in seg.pages() {
        assert_eq!(p.vaddr % PAGE_SIZE, 0);
        let mut page = vec![0u8; PAGE_SIZE as usize];
        page[p.offset..p.offset + p.data.len()].copy_from_slice(p.data);
        mem.extend_from_slice(&page);
    }
    let skip = (seg.vaddr - seg.first_page()) as usize;
    mem[skip..skip + seg.mem_size as usize].to_vec()
}

#[test]
fn segment_pages_carry_the_file_bytes_then_zero_fill() {
    // File bytes over two pages, then bss into a third and a fourth.
    let vaddr = 0x40_0f00;
    let bytes = image(vaddr, &[load(RX, 0x100, vaddr, 0x1200, 0x3000)]);
    let elf = Elf::parse(&bytes).unwrap();
    let seg = elf.segments().next().unwrap();
    let pages: Vec<SegmentPage<'_>> = seg.pages().collect();
    let at = |from: usize, to: usize| &bytes[from..to];
    assert_eq!(
        pages,
        [
            SegmentPage {
                vaddr: 0x40_0000,
                offset: 0xf00,
                data: at(0x100, 0x200)
            },
            SegmentPage {
                vaddr: 0x40_1000,
                offset: 0,
                data: at(0x200, 0x1200)
            },
            SegmentPage {
                vaddr: 0x40_2000,
                offset: 0,
                data: at(0x1200, 0x1300)
            },
            SegmentPage {
                vaddr: 0x40_3000,
                offset: 0,
                data: &[]
            },
        ]
    );
    assert_eq!(seg.page_count(), 4);
    assert_eq!((seg.first_page(), seg.last_page()), (0x40_0000, 0x40_3000));
}

#[test]
fn a_segment_in_the_last_page_of_the_address_space_has_one_page() {
    let top = 0xffff_ffff_ffff_f000;
    let bytes = image(top + 0x10, &[load(RX, 0x100, top + 0x10, 0x10, 0xfe0)]);
    let seg = Elf::parse(&bytes).unwrap().segments().next().unwrap();
    assert_eq!(seg.page_count(), 1);
    assert_eq!((seg.first_page(), seg.last_page()), (top, top));
    let mut expect = bytes[0x100..0x110].to_vec();
    expect.resize(0xfe0, 0);
    assert_eq!(assemble(&seg), expect);
}

#[test]
fn entry_bounds() {
    let mut phs = good_headers();
    let at_last_byte = image(TEXT + 0x3f, &phs);
    assert!(Elf::parse(&at_last_byte).is_ok());
    let past_end = image(TEXT + 0x40, &phs);
    assert_eq!(
        parse_err(&past_end),
        Error::EntryNotExecutable { entry: TEXT + 0x40 }
    );
    let before = image(TEXT - 1, &phs);
    assert_eq!(
        parse_err(&before),
        Error::EntryNotExecutable { entry: TEXT - 1 }
    );
    let in_rodata = image(RODATA, &phs);
    assert_eq!(
        parse_err(&in_rodata),
        Error::EntryNotExecutable { entry: RODATA }
    );
    // In the bss of a non-executable segment.
    let in_bss = image(DATA + 0x800, &phs);
    assert_eq!(
        parse_err(&in_bss),
        Error::EntryNotExecutable {
            entry: DATA + 0x800
        }
    );
    // Inside an executable but empty PT_LOAD.
    phs.push(load(RX, 0, 0x50_0000, 0, 0));
    let in_empty = image(0x50_0000, &phs);
    assert_eq!(
        parse_err(&in_empty),
        Error::EntryNotExecutable { entry: 0x50_0000 }
    );
}

#[test]
fn too_short() {
    let bytes = good();
    assert_eq!(parse_err(&[]), Error::TooShort { len: 0 });
    assert_eq!(parse_err(&bytes[..63]), Error::TooShort { len: 63 });
}

#[test]
fn bad_magic() {
    let mut bytes = good();
    bytes[1] = b'X';
    assert_eq!(
        parse_err(&bytes),
        Error::BadMagic {
            found: [0x7f, b'X', b'L', b'F']
        }
    );
}

#[test]
fn not_elf64() {
    let mut bytes = good();
    bytes[4] = 1;
    assert_eq!(parse_err(&bytes), Error::NotElf64 { class: 1 });
}

#[test]
fn not_little_endian() {
    let mut bytes = good();
    bytes[5] = 2;
    assert_eq!(parse_err(&bytes), Error::NotLittleEndian { data: 2 });
}

#[test]
fn bad_version() {
    let mut bytes = good();
    bytes[6] = 0;
    assert_eq!(
        parse_err(&bytes),
        Error::BadVersion {
            ident: 0,
            version: 1
        }
    );
    let mut bytes = good();
    put_u32(&mut bytes, 20, 2);
    assert_eq!(
        parse_err(&bytes),
        Error::BadVersion {
            ident: 1,
            version: 2
        }
    );
}

#[test]
fn not_executable() {
    let mut bytes = good();
    put_u16(&mut bytes, 16, ET_DYN);
    let e = parse_err(&bytes);
    assert_eq!(e, Error::NotExecutable { e_type: 3 });
    let msg = e.to_string();
    assert!(msg.contains("ET_DYN") && msg.contains("non-PIE") && msg.contains("statically linked"));
    put_u16(&mut bytes, 16, 1);
    assert_eq!(parse_err(&bytes), Error::NotExecutable { e_type: 1 });
}

#[test]
fn wrong_machine() {
    let mut bytes = good();
    put_u16(&mut bytes, 18, 3);
    assert_eq!(parse_err(&bytes), Error::WrongMachine { machine: 3 });
}

#[test]
fn bad_phentsize() {
    let mut bytes = good();
    put_u16(&mut bytes, 54, 64);
    assert_eq!(parse_err(&bytes), Error::BadPhEntSize { size: 64 });
}

#[test]
fn too_many_program_headers() {
    let mut bytes = good();
    put_u16(&mut bytes, 56, 65);
    assert_eq!(
        parse_err(&bytes),
        Error::TooManyProgramHeaders { count: 65 }
    );
    // PN_XNUM, the extended count that lives in a section header: not read.
    put_u16(&mut bytes, 56, 0xffff);
    assert_eq!(
        parse_err(&bytes),
        Error::TooManyProgramHeaders { count: 0xffff }
    );
}

#[test]
fn sixty_four_program_headers_are_fine() {
    let mut phs = good_headers();
    phs.resize(64, other(PT_NOTE));
    let bytes = image(ENTRY, &phs);
    assert_eq!(Elf::parse(&bytes).unwrap().segments().count(), 3);
}

#[test]
fn program_headers_out_of_bounds() {
    let bytes = good();
    let len = bytes.len();
    for phoff in [
        len as u64 - 10,
        len as u64,
        u64::MAX,
        u64::MAX - 100,
        1 << 63,
    ] {
        let mut bad = bytes.clone();
        put_u64(&mut bad, 32, phoff);
        assert_eq!(
            parse_err(&bad),
            Error::ProgramHeadersOutOfBounds {
                offset: phoff,
                count: 4,
                len
            },
            "e_phoff {phoff:#x}"
        );
    }
    // The table itself cut short by one byte.
    let table_end = EHDR_SIZE + 4 * PHDR_SIZE;
    assert_eq!(
        parse_err(&bytes[..table_end - 1]),
        Error::ProgramHeadersOutOfBounds {
            offset: 64,
            count: 4,
            len: table_end - 1
        }
    );
}

#[test]
fn dynamic_executables_are_refused() {
    for p_type in [PT_INTERP, PT_DYNAMIC] {
        let bytes = good_with(3, other(p_type));
        let e = parse_err(&bytes);
        assert_eq!(e, Error::Dynamic { index: 3, p_type });
        let msg = e.to_string();
        assert!(msg.contains("program header 3"), "{msg}");
        assert!(msg.contains(if p_type == PT_INTERP {
            "PT_INTERP"
        } else {
            "PT_DYNAMIC"
        }));
    }
}

#[test]
fn file_size_exceeds_mem_size() {
    let bytes = good_with(1, load(R, 0x240, RODATA, 0x21, 0x20));
    assert_eq!(
        parse_err(&bytes),
        Error::FileSizeExceedsMemSize {
            index: 1,
            file_size: 0x21,
            mem_size: 0x20
        }
    );
}

#[test]
fn segment_outside_file() {
    let len = good().len();
    let cases = [
        (0x260, 0x11),
        (0x270, 1),
        (0x1_0000, 0),
        (u64::MAX, 2),
        (u64::MAX - 1, 2),
    ];
    for (offset, file_size) in cases {
        let bytes = good_with(2, load(RW, offset, DATA, file_size, 0x1000));
        assert_eq!(bytes.len(), len);
        assert_eq!(
            parse_err(&bytes),
            Error::SegmentOutsideFile {
                index: 2,
                offset,
                file_size,
                len
            },
            "offset {offset:#x} size {file_size:#x}"
        );
    }
    // Ending exactly at the end of the file is fine.
    assert!(Elf::parse(&good_with(2, load(RW, 0x268, DATA, 8, 0x1000))).is_ok());
}

#[test]
fn segment_address_overflow() {
    let cases = [
        (0xffff_ffff_ffff_f000, 0x1000),
        (0xffff_ffff_ffff_ffff, 1),
        (1, u64::MAX),
    ];
    for (vaddr, mem_size) in cases {
        let bytes = good_with(2, load(RW, 0x260, vaddr, mem_size.min(0x10), mem_size));
        assert_eq!(
            parse_err(&bytes),
            Error::SegmentAddressOverflow {
                index: 2,
                vaddr,
                mem_size
            },
            "vaddr {vaddr:#x} size {mem_size:#x}"
        );
    }
}

#[test]
fn non_canonical_segment() {
    let cases = [
        (0x7fff_ffff_f000, 0x1001),                // crosses into the hole
        (0x8000_0000_0000, 0x10),                  // starts in the hole
        (0xffff_7fff_ffff_fff0, 0x20),             // ends just past the hole, starts in it
        (0x7fff_ffff_f000, 0xffff_0000_0000_2000), // jumps the hole entirely
    ];
    for (vaddr, mem_size) in cases {
        let bytes = good_with(2, load(RW, 0x260, vaddr, 0x10, mem_size));
        assert_eq!(
            parse_err(&bytes),
            Error::NonCanonicalSegment {
                index: 2,
                vaddr,
                mem_size
            },
            "vaddr {vaddr:#x} size {mem_size:#x}"
        );
    }
    // The last lower-half page is fine.
    assert!(
        Elf::parse(&good_with(
            2,
            load(RW, 0x260, 0x7fff_ffff_f000, 0x10, 0x1000)
        ))
        .is_ok()
    );
}

#[test]
fn writable_and_executable() {
    let bytes = good_with(0, load(RX | PF_W, 0x200, TEXT, 0x40, 0x40));
    assert_eq!(
        parse_err(&bytes),
        Error::WritableAndExecutable {
            index: 0,
            vaddr: TEXT
        }
    );
    // Write + execute without read is just as bad.
    let bytes = good_with(0, load(PF_W | PF_X, 0x200, TEXT, 0x40, 0x40));
    assert_eq!(
        parse_err(&bytes),
        Error::WritableAndExecutable {
            index: 0,
            vaddr: TEXT
        }
    );
}

#[test]
fn segments_sharing_a_page() {
    // Disjoint bytes, but in the text's page.
    let bytes = good_with(1, load(R, 0x240, TEXT + 0x700, 0x20, 0x20));
    assert_eq!(
        parse_err(&bytes),
        Error::SegmentsOverlap {
            first: 0,
            second: 1,
            page: 0x40_0000
        }
    );
    // The bss of data reaching into the page after it.
    let mut phs = good_headers();
    phs[3] = load(R, 0, 0x40_3100, 0, 1);
    let bytes = image(ENTRY, &phs);
    assert_eq!(
        parse_err(&bytes),
        Error::SegmentsOverlap {
            first: 2,
            second: 3,
            page: 0x40_3000
        }
    );
    // A later segment covering several earlier ones.
    let mut phs = good_headers();
    phs[3] = load(R, 0, 0x3f_f000, 0, 0x10_0000);
    let bytes = image(ENTRY, &phs);
    assert_eq!(
        parse_err(&bytes),
        Error::SegmentsOverlap {
            first: 0,
            second: 3,
            page: 0x40_0000
        }
    );
    // Touching pages but no shared one is fine.
    let bytes = good_with(1, load(R, 0x240, 0x40_1000, 0x20, 0x20));
    assert!(Elf::parse(&bytes).is_ok());
}

#[test]
fn no_load_segment() {
    assert_eq!(parse_err(&image(ENTRY, &[])), Error::NoLoadSegment);
    assert_eq!(
        parse_err(&image(ENTRY, &[other(PT_NOTE)])),
        Error::NoLoadSegment
    );
    let empty_load = load(RX, 0, TEXT, 0, 0);
    assert_eq!(
        parse_err(&image(ENTRY, &[empty_load])),
        Error::NoLoadSegment
    );
}

#[test]
fn every_message_names_the_values() {
    let cases: [(Error, &[&str]); 20] = [
        (Error::TooShort { len: 7 }, &["7", "64"]),
        (Error::BadMagic { found: *b"MZ\0\0" }, &["4d", "5a"]),
        (Error::NotElf64 { class: 1 }, &["EI_CLASS", "1"]),
        (Error::NotLittleEndian { data: 2 }, &["EI_DATA", "2"]),
        (
            Error::BadVersion {
                ident: 1,
                version: 9,
            },
            &["e_version", "9"],
        ),
        (
            Error::NotExecutable { e_type: 77 },
            &["e_type", "77", "ET_EXEC"],
        ),
        (
            Error::WrongMachine { machine: 40 },
            &["e_machine", "40", "62"],
        ),
        (
            Error::BadPhEntSize { size: 32 },
            &["e_phentsize", "32", "56"],
        ),
        (Error::TooManyProgramHeaders { count: 99 }, &["99", "64"]),
        (
            Error::ProgramHeadersOutOfBounds {
                offset: 0xabc,
                count: 3,
                len: 0x100,
            },
            &["0xabc", "3", "0x100"],
        ),
        (
            Error::Dynamic {
                index: 5,
                p_type: PT_DYNAMIC,
            },
            &["5", "PT_DYNAMIC"],
        ),
        (
            Error::FileSizeExceedsMemSize {
                index: 2,
                file_size: 0x30,
                mem_size: 0x20,
            },
            &["header 2", "0x30", "0x20"],
        ),
        (
            Error::SegmentOutsideFile {
                index: 4,
                offset: 0x999,
                file_size: 0x10,
                len: 0x80,
            },
            &["header 4", "0x999", "0x10", "0x80"],
        ),
        (
            Error::SegmentAddressOverflow {
                index: 1,
                vaddr: 0xfff0,
                mem_size: u64::MAX,
            },
            &["header 1", "0xfff0", "0xffffffffffffffff"],
        ),
        (
            Error::NonCanonicalSegment {
                index: 6,
                vaddr: 0x8000_0000_0000,
                mem_size: 0x10,
            },
            &["header 6", "0x800000000000", "0x10"],
        ),
        (
            Error::WritableAndExecutable {
                index: 3,
                vaddr: 0x1234,
            },
            &["header 3", "0x1234"],
        ),
        (
            Error::SegmentsOverlap {
                first: 1,
                second: 2,
                page: 0x40_0000,
            },
            &["1", "2", "0x400000"],
        ),
        (Error::NoLoadSegment, &["PT_LOAD"]),
        (
            Error::EntryNotExecutable { entry: 0x40_1140 },
            &["0x401140"],
        ),
        (
            Error::NotExecutable { e_type: ET_DYN },
            &["ET_DYN", "non-PIE"],
        ),
    ];
    for (e, parts) in cases {
        let msg = e.to_string();
        for part in parts {
            assert!(msg.contains(part), "{e:?}: {msg:?} lacks {part:?}");
        }
    }
}

#[test]
fn every_truncation_is_refused_cleanly() {
    let bytes = good();
    for len in 0..bytes.len() {
        assert!(Elf::parse(&bytes[..len]).is_err(), "truncated to {len}");
    }
}

/// What a successful parse promises, checked from the outside.
fn check_guarantees(bytes: &[u8], elf: &Elf<'_>) {
    let segs: Vec<Segment<'_>> = elf.segments().collect();
    assert!(!segs.is_empty());
    let base = bytes.as_ptr() as usize;
    for (i, s) in segs.iter().enumerate() {
        let at = s.data.as_ptr() as usize - base;
        assert!(at + s.data.len() <= bytes.len());
        assert!(s.mem_size > 0 && s.data.len() as u64 <= s.mem_size);
        let end = s
            .vaddr
            .checked_add(s.mem_size)
            .expect("vaddr + mem_size fits");
        assert!(is_canonical(s.vaddr) && is_canonical(end - 1));
        assert_eq!(s.vaddr >> 47, (end - 1) >> 47);
        assert!(!(s.perms.write && s.perms.execute));
        for t in &segs[..i] {
            let t_last = (t.vaddr + t.mem_size - 1) >> 12;
            assert!(s.vaddr >> 12 > t_last || (end - 1) >> 12 < t.vaddr >> 12);
        }
    }
    let entry = elf.entry();
    assert!(
        segs.iter()
            .any(|s| s.perms.execute && entry >= s.vaddr && entry - s.vaddr < s.mem_size)
    );
}

fn check(bytes: &[u8]) {
    match Elf::parse(bytes) {
        Ok(elf) => check_guarantees(bytes, &elf),
        Err(e) => assert!(!format!("{e}").is_empty()),
    }
}

/// Mostly a value on some check's boundary, picked by the low bits of a
/// random word, else the word itself. Flat strategies built from this are
/// much faster to generate in debug builds than nested unions.
fn interesting(word: u64) -> u64 {
    match word % 16 {
        0..=3 => (word >> 4) % 0x400,
        4 => 0,
        5 => TEXT,
        6 => RODATA,
        7 => DATA,
        8 => 0x7fff_ffff_f000,
        9 => 0x8000_0000_0000,
        10 => 0xffff_8000_0000_0000,
        11 => 0xffff_ffff_ffff_f000,
        12 => u64::MAX,
        _ => word,
    }
}

/// A program header that is mostly plausible (small sizes, file bytes in the
/// file, nearby addresses), so that many combinations get past the
/// single-header checks to the overlap and entry checks; one field in eight is
/// a boundary value instead. Built from plain words: nested strategies are
/// slow to generate in debug builds.
fn arb_ph() -> impl Strategy<Value = Ph> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c, d)| {
        let p_type = match a % 64 {
            0..=51 => PT_LOAD,
            52..=55 => PT_NOTE,
            56..=59 => PT_GNU_STACK,
            60 => PT_INTERP,
            61 => PT_DYNAMIC,
            _ => (a >> 8) as u32 % 8,
        };
        let mut flags = (a >> 5) as u32 % 8;
        if flags & (PF_W | PF_X) == PF_W | PF_X && (a >> 10) % 4 != 0 {
            flags &= !PF_X;
        }
        let offset = if b.is_multiple_of(8) {
            interesting(b >> 3)
        } else {
            (b >> 3) % 0x300
        };
        let file_size = if c.is_multiple_of(8) {
            interesting(c >> 3)
        } else {
            (c >> 3) % 0x100
        };
        let mem_size = if d.is_multiple_of(8) {
            interesting(d >> 3)
        } else {
            file_size.saturating_add((d >> 3) % 0x2000)
        };
        let bases = [
            TEXT,
            TEXT,
            0x7fff_ffff_0000,
            0xffff_8000_0000_0000,
            0xffff_ffff_fff0_0000,
        ];
        let base = bases
            .get((a >> 13) as usize % 6)
            .copied()
            .unwrap_or_else(|| interesting(b));
        let vaddr = base
            .wrapping_add((d >> 20) % 16 * 0x1000)
            .wrapping_add((c >> 40) % 0x1000);
        Ph {
            p_type,
            flags,
            offset,
            vaddr,
            file_size,
            mem_size,
        }
    })
}

/// Mostly an address inside one of `phs`, else a boundary value.
fn pick_entry(phs: &[Ph], word: u64, which: prop::sample::Index) -> u64 {
    if phs.is_empty() || word.is_multiple_of(4) {
        return interesting(word >> 2);
    }
    phs[which.index(phs.len())]
        .vaddr
        .wrapping_add((word >> 2) % 0x80)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6_000))]

    #[test]
    fn pages_rebuild_any_segment(
        vaddr in 0x1000u64..0x10_0000,
        file_size in 0u64..0x2100,
        bss in 1u64..0x3000,
    ) {
        let bytes = image(vaddr, &[load(RX, 0x100, vaddr, file_size, file_size + bss)]);
        let seg = Elf::parse(&bytes).unwrap().segments().next().unwrap();
        let mut expect = seg.data.to_vec();
        expect.resize((file_size + bss) as usize, 0);
        prop_assert_eq!(assemble(&seg), expect);
        prop_assert_eq!(seg.page_count(), seg.pages().count() as u64);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check(&bytes);
    }

    #[test]
    fn random_header_tail_never_panics(tail in prop::collection::vec(any::<u8>(), 0..400)) {
        // A valid ELF header in front gets the random bytes past the first checks.
        let mut bytes = good()[..EHDR_SIZE].to_vec();
        bytes.extend_from_slice(&tail);
        check(&bytes);
    }

    #[test]
    fn mutated_good_file_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = good();
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        check(&bytes);
    }

    #[test]
    fn random_program_headers_never_panic(
        phs in prop::collection::vec(arb_ph(), 0..5),
        word in any::<u64>(),
        which in any::<prop::sample::Index>(),
    ) {
        check(&image(pick_entry(&phs, word, which), &phs));
    }
}

/// `good()` with a symbol table: section headers for a null section, a
/// `.symtab` and its string table, appended after the file bytes.
fn with_symbols(syms: &[(&str, u64, u64, u8)]) -> Vec<u8> {
    let mut b = good();
    let strtab_at = b.len();
    let mut strtab = vec![0u8];
    let mut names = Vec::new();
    for (name, ..) in syms {
        names.push(strtab.len() as u32);
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
    }
    put(&mut b, strtab_at, &strtab);
    let symtab_at = b.len().next_multiple_of(8);
    for (i, &(_, value, size, kind)) in syms.iter().enumerate() {
        let at = symtab_at + (i + 1) * SYM_SIZE; // entry 0 is the null symbol
        put_u32(&mut b, at, names[i]);
        put(&mut b, at + 4, &[0x10 | kind, 0]);
        put_u16(&mut b, at + 6, 1);
        put_u64(&mut b, at + 8, value);
        put_u64(&mut b, at + 16, size);
    }
    let symtab_len = (syms.len() + 1) * SYM_SIZE;
    put(&mut b, symtab_at + symtab_len - 1, &[0]);
    let sh = (symtab_at + symtab_len).next_multiple_of(8);
    // Section 1: .symtab, linked to section 2.
    put_u32(&mut b, sh + SHDR_SIZE + 4, SHT_SYMTAB);
    put_u64(&mut b, sh + SHDR_SIZE + 24, symtab_at as u64);
    put_u64(&mut b, sh + SHDR_SIZE + 32, symtab_len as u64);
    put_u32(&mut b, sh + SHDR_SIZE + 40, 2);
    // Section 2: its string table.
    put_u32(&mut b, sh + 2 * SHDR_SIZE + 4, 3);
    put_u64(&mut b, sh + 2 * SHDR_SIZE + 24, strtab_at as u64);
    put_u64(&mut b, sh + 2 * SHDR_SIZE + 32, strtab.len() as u64);
    put(&mut b, sh + 3 * SHDR_SIZE - 1, &[0]);
    put_u64(&mut b, 40, sh as u64);
    put_u16(&mut b, 60, 3);
    b
}

#[test]
fn symbol_names_the_function_holding_an_address() {
    let b = with_symbols(&[
        ("first", TEXT, 0x10, STT_FUNC),
        ("second", TEXT + 0x10, 0x20, STT_FUNC),
        ("a_datum", TEXT + 0x18, 0x4, 1),
    ]);
    let elf = Elf::parse(&b).unwrap();
    let s = |addr| elf.symbol(addr).map(|s| (s.name, s.offset));
    assert_eq!(s(TEXT), Some(("first", 0)));
    assert_eq!(s(TEXT + 0xf), Some(("first", 0xf)));
    assert_eq!(s(TEXT + 0x1c), Some(("second", 0xc)));
    assert_eq!(s(TEXT + 0x30), None, "past every function's end");
    assert_eq!(s(TEXT - 1), None, "below every function");
}

#[test]
fn symbol_is_none_without_a_symbol_table() {
    let b = good();
    assert_eq!(Elf::parse(&b).unwrap().symbol(TEXT), None);
}

proptest! {
    /// Damaged section headers, symbols or names never panic the lookup.
    #[test]
    fn symbol_lookup_never_panics(flips in proptest::collection::vec((0usize..0x800, any::<u8>()), 1..16), addr in any::<u64>()) {
        let mut b = with_symbols(&[("f", TEXT, 0x10, STT_FUNC), ("g", TEXT + 0x10, 0, STT_FUNC)]);
        let n = b.len();
        for (at, v) in flips {
            b[at % n] ^= v;
        }
        if let Ok(elf) = Elf::parse(&b) {
            let _ = elf.symbol(addr);
        }
    }
}
