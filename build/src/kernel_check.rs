//! Checks on the linked kernel ELF before it is ever booted.
//!
//! QEMU's PVH loader copies `PT_LOAD` segments to their addresses and jumps to
//! the `XEN_ELFNOTE_PHYS32_ENTRY` note's address; it applies no relocations.
//! So the kernel must be a fixed-position executable with nothing left for a
//! dynamic loader, must live only in its PML4 slots 257–271 (the rest of the
//! upper half belongs to a future guest kernel, see DESIGN.md), must carry the
//! PVH note, and must keep W^X from the first instruction. A link that breaks
//! any of these fails here with the reason, not later as a silent triple fault.

use object::Endianness;
use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use septum_abi::layout::{KERNEL_SPACE_END, KERNEL_SPACE_START};

/// `XEN_ELFNOTE_PHYS32_ENTRY`: the note QEMU's PVH boot looks for.
pub const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

/// What the checks learnt about a good kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelInfo {
    /// The 32-bit physical entry point from the PVH note.
    pub pvh_entry: u64,
    /// Number of `PT_LOAD` segments.
    pub loads: usize,
}

/// Check a kernel ELF; the error lists every problem found, one per entry.
pub fn check_kernel(data: &[u8]) -> Result<KernelInfo, Vec<String>> {
    if !looks_like_elf(data) || data.len() < 5 {
        return Err(vec!["not an ELF file (no \\x7fELF magic)".into()]);
    }
    if data[4] != elf::ELFCLASS64.0 {
        return Err(vec![format!("not a 64-bit ELF (class byte {})", data[4])]);
    }
    let header = FileHeader64::<Endianness>::parse(data)
        .map_err(|e| vec![format!("bad ELF header: {e}")])?;
    let endian = header
        .endian()
        .map_err(|e| vec![format!("bad ELF header: {e}")])?;
    let mut problems = Vec::new();

    if header.e_machine(endian) != elf::EM_X86_64 {
        problems.push(format!(
            "machine {:#x} is not x86_64",
            header.e_machine(endian).0
        ));
    }
    if header.e_type(endian) != elf::ET_EXEC {
        problems.push(format!(
            "ELF type {} is not ET_EXEC (2): link with -C link-arg=--no-pie so no loader is needed",
            header.e_type(endian).0
        ));
    }

    let phdrs = header
        .program_headers(endian, data)
        .map_err(|e| vec![format!("bad program headers: {e}")])?;
    let mut pvh_entry = None;
    let mut loads = 0;
    for (i, ph) in phdrs.iter().enumerate() {
        let p_type = ph.p_type(endian);
        if p_type == elf::PT_DYNAMIC {
            problems.push(format!(
                "segment {i} is PT_DYNAMIC: the kernel must need no dynamic loader"
            ));
        } else if p_type == elf::PT_INTERP {
            problems.push(format!(
                "segment {i} is PT_INTERP: the kernel must need no interpreter"
            ));
        } else if p_type == elf::PT_LOAD {
            loads += 1;
            check_load(i, ph, endian, &mut problems);
        } else if p_type == elf::PT_NOTE && pvh_entry.is_none() {
            pvh_entry = find_pvh_entry(i, ph, endian, data, &mut problems);
        }
    }
    if loads == 0 {
        problems.push("no PT_LOAD segment: nothing would be loaded".into());
    }
    if pvh_entry.is_none() {
        problems.push(format!(
            "no PT_NOTE holds a \"Xen\" note of type {XEN_ELFNOTE_PHYS32_ENTRY} \
             (XEN_ELFNOTE_PHYS32_ENTRY), so QEMU cannot boot it with PVH; put the note in \
             an output section of its own (`.note.* : {{ KEEP(*(.note.*)) }}`) so the linker \
             emits a PT_NOTE segment"
        ));
    }

    check_sections(header, endian, data, &mut problems);

    match (problems.is_empty(), pvh_entry) {
        (true, Some(pvh_entry)) => Ok(KernelInfo { pvh_entry, loads }),
        _ => Err(problems),
    }
}

fn check_load(
    i: usize,
    ph: &elf::ProgramHeader64<Endianness>,
    endian: Endianness,
    problems: &mut Vec<String>,
) {
    let start = ph.p_vaddr(endian);
    let size = ph.p_memsz(endian);
    match start.checked_add(size) {
        Some(end) if start >= KERNEL_SPACE_START && end <= KERNEL_SPACE_END => {}
        _ => problems.push(format!(
            "PT_LOAD segment {i} at [{start:#x}, +{size:#x}) lies outside the kernel's PML4 \
             slots 257-271 [{KERNEL_SPACE_START:#x}, {KERNEL_SPACE_END:#x}); fix the linker \
             script's base address"
        )),
    }
    let flags = ph.p_flags(endian).0;
    if flags & elf::PF_W.0 != 0 && flags & elf::PF_X.0 != 0 {
        problems.push(format!(
            "PT_LOAD segment {i} at {start:#x} is both writable and executable (W^X): give \
             code and data separate segments in the linker script"
        ));
    }
}

fn find_pvh_entry(
    i: usize,
    ph: &elf::ProgramHeader64<Endianness>,
    endian: Endianness,
    data: &[u8],
    problems: &mut Vec<String>,
) -> Option<u64> {
    let mut notes = match ph.notes(endian, data) {
        Ok(Some(notes)) => notes,
        Ok(None) => return None,
        Err(e) => {
            problems.push(format!("PT_NOTE segment {i} is malformed: {e}"));
            return None;
        }
    };
    loop {
        match notes.next() {
            Ok(Some(note)) => {
                if note.name() == b"Xen" && note.n_type(endian).0 == XEN_ELFNOTE_PHYS32_ENTRY {
                    let desc = note.desc();
                    let entry = match desc.len() {
                        4 => u64::from(u32::from_le_bytes(desc.try_into().ok()?)),
                        8 => u64::from_le_bytes(desc.try_into().ok()?),
                        n => {
                            problems.push(format!(
                                "the PVH entry note has a {n}-byte address; expected 4 or 8"
                            ));
                            return None;
                        }
                    };
                    return Some(entry);
                }
            }
            Ok(None) => return None,
            Err(e) => {
                problems.push(format!("PT_NOTE segment {i} is malformed: {e}"));
                return None;
            }
        }
    }
}

fn check_sections(
    header: &FileHeader64<Endianness>,
    endian: Endianness,
    data: &[u8],
    problems: &mut Vec<String>,
) {
    let sections = match header.sections(endian, data) {
        Ok(s) => s,
        Err(e) => {
            problems.push(format!("bad section headers: {e}"));
            return;
        }
    };
    for sh in sections.iter() {
        let name = sections.section_name(endian, sh).unwrap_or(b"?");
        let name = String::from_utf8_lossy(name);
        let kind = sh.sh_type(endian);
        let alloc = sh.sh_flags(endian).0 & elf::SHF_ALLOC.0 != 0;
        if kind == elf::SHT_DYNAMIC || name == ".dynamic" {
            problems.push(format!(
                "section {name} is dynamic-linking data; link with --no-pie"
            ));
        } else if alloc && [elf::SHT_REL, elf::SHT_RELA, elf::SHT_RELR].contains(&kind) {
            problems.push(format!(
                "section {name} holds relocations that would be loaded but never applied; \
                 link with -C link-arg=--no-pie"
            ));
        }
    }
}

/// Whether `data` could be an ELF at all (used to give a clearer error for a
/// missing or empty build output).
pub fn looks_like_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: u64 = KERNEL_SPACE_START;

    struct Seg {
        p_type: u32,
        flags: u32,
        vaddr: u64,
        memsz: u64,
        bytes: Vec<u8>,
    }

    struct Sec {
        name: &'static str,
        sh_type: u32,
        flags: u64,
    }

    fn put16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn put64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    fn note(name: &[u8], n_type: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend((name.len() as u32 + 1).to_le_bytes());
        v.extend((desc.len() as u32).to_le_bytes());
        v.extend(n_type.to_le_bytes());
        v.extend(name);
        v.push(0);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v.extend(desc);
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
        v
    }

    fn pvh_note() -> Seg {
        Seg {
            p_type: elf::PT_NOTE.0,
            flags: elf::PF_R.0,
            vaddr: BASE + 0x3000,
            memsz: 0,
            bytes: note(b"Xen", 18, &0x0010_0000u32.to_le_bytes()),
        }
    }

    fn load(vaddr: u64, flags: u32) -> Seg {
        Seg {
            p_type: elf::PT_LOAD.0,
            flags,
            vaddr,
            memsz: 0x1000,
            bytes: vec![0x90; 16],
        }
    }

    fn good_segments() -> Vec<Seg> {
        vec![
            load(BASE, elf::PF_R.0 | elf::PF_X.0),
            load(BASE + 0x1000, elf::PF_R.0 | elf::PF_W.0),
            pvh_note(),
        ]
    }

    /// A little ELF64 file: header, program headers, segment bytes, a
    /// section-name table, section headers.
    fn build(e_type: u16, segs: &[Seg], secs: &[Sec]) -> Vec<u8> {
        let phoff = 64;
        let mut out = vec![0u8; phoff + segs.len() * 56];
        let mut offsets = Vec::new();
        for s in segs {
            while !out.len().is_multiple_of(8) {
                out.push(0);
            }
            offsets.push(out.len());
            out.extend(&s.bytes);
        }
        let mut strtab = vec![0u8];
        let mut name_at = Vec::new();
        for s in secs.iter().map(|s| s.name).chain([".shstrtab"]) {
            name_at.push(strtab.len());
            strtab.extend(s.as_bytes());
            strtab.push(0);
        }
        let strtab_off = out.len();
        out.extend(&strtab);
        while !out.len().is_multiple_of(8) {
            out.push(0);
        }
        let shoff = out.len();
        let shnum = secs.len() + 2;
        out.resize(shoff + shnum * 64, 0);

        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2;
        out[5] = 1;
        out[6] = 1;
        put16(&mut out, 16, e_type);
        put16(&mut out, 18, 62);
        put32(&mut out, 20, 1);
        put64(&mut out, 24, BASE);
        put64(&mut out, 32, phoff as u64);
        put64(&mut out, 40, shoff as u64);
        put16(&mut out, 52, 64);
        put16(&mut out, 54, 56);
        put16(&mut out, 56, segs.len() as u16);
        put16(&mut out, 58, 64);
        put16(&mut out, 60, shnum as u16);
        put16(&mut out, 62, (shnum - 1) as u16);
        for (i, s) in segs.iter().enumerate() {
            let p = phoff + i * 56;
            put32(&mut out, p, s.p_type);
            put32(&mut out, p + 4, s.flags);
            put64(&mut out, p + 8, offsets[i] as u64);
            put64(&mut out, p + 16, s.vaddr);
            put64(&mut out, p + 24, s.vaddr);
            put64(&mut out, p + 32, s.bytes.len() as u64);
            put64(&mut out, p + 40, s.memsz.max(s.bytes.len() as u64));
            put64(
                &mut out,
                p + 48,
                if s.p_type == elf::PT_NOTE.0 {
                    4
                } else {
                    0x1000
                },
            );
        }
        let all = secs
            .iter()
            .map(|s| (s.sh_type, s.flags))
            .chain([(elf::SHT_STRTAB.0, 0)]);
        for (i, (sh_type, flags)) in all.enumerate() {
            let h = shoff + (i + 1) * 64;
            put32(&mut out, h, name_at[i] as u32);
            put32(&mut out, h + 4, sh_type);
            put64(&mut out, h + 8, flags);
            if sh_type == elf::SHT_STRTAB.0 {
                put64(&mut out, h + 24, strtab_off as u64);
                put64(&mut out, h + 32, strtab.len() as u64);
            }
            put64(&mut out, h + 48, 1);
        }
        out
    }

    fn problems(data: &[u8]) -> Vec<String> {
        check_kernel(data).unwrap_err()
    }

    fn has(problems: &[String], needle: &str) -> bool {
        problems.iter().any(|p| p.contains(needle))
    }

    #[test]
    fn good_kernel_passes() {
        let data = build(2, &good_segments(), &[]);
        assert_eq!(
            check_kernel(&data),
            Ok(KernelInfo {
                pvh_entry: 0x10_0000,
                loads: 2
            })
        );
        assert!(looks_like_elf(&data));
        let data = build(
            2,
            &good_segments(),
            &[Sec {
                name: ".rela.debug",
                sh_type: elf::SHT_RELA.0,
                flags: 0,
            }],
        );
        assert!(
            check_kernel(&data).is_ok(),
            "unloaded relocations are harmless"
        );
    }

    #[test]
    fn not_elf_or_not_64() {
        assert!(has(&problems(b"MZ\x90\0\0\0"), "not an ELF"));
        assert!(!looks_like_elf(b""));
        let mut data = build(2, &good_segments(), &[]);
        data[4] = 1;
        assert!(has(&problems(&data), "not a 64-bit ELF"));
    }

    #[test]
    fn must_be_exec() {
        let p = problems(&build(3, &good_segments(), &[]));
        assert!(has(&p, "ELF type 3 is not ET_EXEC"), "{p:?}");
    }

    #[test]
    fn no_dynamic_or_interp() {
        let mut segs = good_segments();
        segs.push(Seg {
            p_type: elf::PT_DYNAMIC.0,
            flags: 6,
            vaddr: BASE + 0x2000,
            memsz: 0,
            bytes: vec![0; 16],
        });
        segs.push(Seg {
            p_type: elf::PT_INTERP.0,
            flags: 4,
            vaddr: BASE + 0x2100,
            memsz: 0,
            bytes: b"/lib/ld\0".to_vec(),
        });
        let p = problems(&build(2, &segs, &[]));
        assert!(has(&p, "PT_DYNAMIC"), "{p:?}");
        assert!(has(&p, "PT_INTERP"), "{p:?}");
    }

    #[test]
    fn no_loaded_relocations_or_dynamic_section() {
        let secs = [
            Sec {
                name: ".rela.dyn",
                sh_type: elf::SHT_RELA.0,
                flags: elf::SHF_ALLOC.0,
            },
            Sec {
                name: ".rel.x",
                sh_type: elf::SHT_REL.0,
                flags: elf::SHF_ALLOC.0,
            },
            Sec {
                name: ".dynamic",
                sh_type: elf::SHT_PROGBITS.0,
                flags: elf::SHF_ALLOC.0,
            },
        ];
        let p = problems(&build(2, &good_segments(), &secs));
        assert!(has(&p, ".rela.dyn holds relocations"), "{p:?}");
        assert!(has(&p, ".rel.x holds relocations"), "{p:?}");
        assert!(has(&p, ".dynamic is dynamic-linking"), "{p:?}");
    }

    #[test]
    fn loads_stay_in_kernel_slots() {
        for vaddr in [
            0x10_0000,
            KERNEL_SPACE_START - 0x1000,
            KERNEL_SPACE_END,
            0xffff_ffff_8000_0000,
        ] {
            let mut segs = good_segments();
            segs.push(load(vaddr, elf::PF_R.0));
            let p = problems(&build(2, &segs, &[]));
            assert!(
                has(&p, "outside the kernel's PML4 slots"),
                "{vaddr:#x}: {p:?}"
            );
        }
        let mut segs = good_segments();
        let mut last = load(KERNEL_SPACE_END - 0x1000, elf::PF_R.0);
        assert!(
            check_kernel(&build(
                2,
                &{
                    let mut s = good_segments();
                    s.push(load(KERNEL_SPACE_END - 0x1000, elf::PF_R.0));
                    s
                },
                &[]
            ))
            .is_ok(),
            "the last page of slot 271 is inside"
        );
        last.memsz = 0x1001;
        segs.push(last);
        assert!(
            has(&problems(&build(2, &segs, &[])), "outside"),
            "one byte past slot 271"
        );
    }

    #[test]
    fn needs_pvh_note() {
        let mut segs = good_segments();
        segs.pop();
        assert!(has(
            &problems(&build(2, &segs, &[])),
            "XEN_ELFNOTE_PHYS32_ENTRY"
        ));

        for bad in [
            note(b"Xen", 17, &[0; 4]),
            note(b"GNU", 18, &[0; 4]),
            note(b"Xe", 18, &[0; 4]),
        ] {
            let mut segs = good_segments();
            segs.last_mut().unwrap().bytes = bad;
            assert!(has(
                &problems(&build(2, &segs, &[])),
                "XEN_ELFNOTE_PHYS32_ENTRY"
            ));
        }

        let mut segs = good_segments();
        let mut bytes = note(b"GNU", 3, &[1; 8]);
        bytes.extend(note(b"Xen", 18, &0xffff_8080_0010_0000u64.to_le_bytes()));
        segs.last_mut().unwrap().bytes = bytes;
        let info = check_kernel(&build(2, &segs, &[])).unwrap();
        assert_eq!(
            info.pvh_entry, 0xffff_8080_0010_0000,
            "found after another note, 8-byte form"
        );
    }

    #[test]
    fn write_xor_execute() {
        let mut segs = good_segments();
        segs.push(load(BASE + 0x4000, elf::PF_R.0 | elf::PF_W.0 | elf::PF_X.0));
        let p = problems(&build(2, &segs, &[]));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(has(&p, "both writable and executable"), "{p:?}");
    }

    #[test]
    fn every_problem_is_reported() {
        let segs = [load(0x1000, 7)];
        let p = problems(&build(3, &segs, &[]));
        assert_eq!(p.len(), 4, "type, range, W^X, note: {p:?}");
    }
}
