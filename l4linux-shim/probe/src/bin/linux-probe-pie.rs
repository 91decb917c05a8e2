//! The guest's test program as a static-PIE: it applies its own
//! `R_X86_64_RELATIVE` relocations before any Rust runs that could use
//! them, as glibc's and musl's static-PIE start code do.
#![no_std]
#![no_main]

#[path = "../probe.rs"]
mod probe;

core::arch::global_asm!(
    ".globl _start",
    "_start:",
    "mov rdi, rsp",
    "lea rsi, [rip + __ehdr_start]",
    "lea rdx, [rip + _DYNAMIC]",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym start,
);

const DT_NULL: u64 = 0;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const R_X86_64_RELATIVE: u64 = 8;

extern "C" fn start(sp: *const u64, base: u64, dynamic: *const u64) -> ! {
    // SAFETY: the loader mapped the whole image, `_DYNAMIC` included,
    // at `base`; the entries and the relocation table are read as words
    // and each RELATIVE slot lies in the image's writable data.
    unsafe {
        let (mut rela, mut size) = (0u64, 0u64);
        let mut d = dynamic;
        while d.read_volatile() != DT_NULL {
            match d.read_volatile() {
                DT_RELA => rela = d.add(1).read_volatile(),
                DT_RELASZ => size = d.add(1).read_volatile(),
                _ => {}
            }
            d = d.add(2);
        }
        let mut r = (base + rela) as *const u64;
        let end = (base + rela + size) as *const u64;
        while r < end {
            let (offset, info, addend) = (
                r.read_volatile(),
                r.add(1).read_volatile(),
                r.add(2).read_volatile(),
            );
            if info & 0xffff_ffff == R_X86_64_RELATIVE {
                ((base + offset) as *mut u64).write_volatile(base.wrapping_add(addend));
            }
            r = r.add(3);
        }
    }
    probe::run(sp, true)
}
