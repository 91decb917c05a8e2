//! A fault as one line, symbolized from the faulting program's ELF: what
//! the root task's supervisor logs for a domain, and the vmm for a guest
//! kernel. Nothing a fault message says can make this panic: an unknown
//! kind or vector, or an address outside every function, is said as such.

use crate::elf::Elf;
use core::fmt::{self, Write};
use septum_abi::fault::{Kind, W_ADDR, W_ERROR, W_RAX, W_RIP, W_VECTOR};

/// The words of a fault message this needs.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// The message's label (a [`Kind`], or anything).
    pub label: u64,
    pub rip: u64,
    pub addr: u64,
    pub error: u64,
    pub vector: u64,
    pub rax: u64,
}

impl Fault {
    /// The fault a message with `label` and `words` (in the order of
    /// `septum_abi::fault`'s `W_*` indices) reports; a word the message
    /// lacks reads as 0.
    pub fn from_words(label: u64, words: &[u64]) -> Fault {
        let word = |i: usize| words.get(i).copied().unwrap_or(0);
        Fault {
            label,
            rip: word(W_RIP),
            addr: word(W_ADDR),
            error: word(W_ERROR),
            vector: word(W_VECTOR),
            rax: word(W_RAX),
        }
    }
}

/// Write `who: kind at rip (function+offset)`, and for a page fault the
/// address and access, to `out`; a panic of the user runtime (its `ud2`
/// in `septum_task_panicked`) is said as a panic.
pub fn describe(out: &mut dyn Write, who: &str, f: &Fault, elf: Option<&Elf<'_>>) -> fmt::Result {
    let mut kind: heapless::String<64> = heapless::String::new();
    // A kind longer than the line is cut; the line is still written.
    let _ = match Kind::from_label(f.label) {
        Some(Kind::PageFault) => kind.write_str("page fault"),
        Some(Kind::Exception) => match exception_name(f.vector) {
            Some(name) => kind.write_str(name),
            None => write!(kind, "exception {}", f.vector),
        },
        Some(Kind::UnknownSyscall) => write!(kind, "unknown system call {:#x}", f.rax),
        Some(Kind::Syscall) => kind.write_str("system call"),
        None => write!(kind, "fault of unknown kind {}", f.label),
    };
    let kind = kind.as_str();
    let symbol = elf.and_then(|e| e.symbol(f.rip));
    let access = if f.error & 0x10 != 0 {
        "executing"
    } else if f.error & 0x2 != 0 {
        "writing"
    } else {
        "reading"
    };
    let (rip, addr) = (f.rip, f.addr);
    let page = matches!(Kind::from_label(f.label), Some(Kind::PageFault));
    if symbol
        .as_ref()
        .is_some_and(|s| s.name == "septum_task_panicked")
        && !page
    {
        return write!(out, "{who}: panicked (its last line says where)");
    }
    match (symbol, page) {
        (Some(s), true) => write!(
            out,
            "{who}: {kind} at {rip:#x} ({:#}+{:#x}), {access} {addr:#x}",
            rustc_demangle::demangle(s.name),
            s.offset
        ),
        (Some(s), false) => write!(
            out,
            "{who}: {kind} at {rip:#x} ({:#}+{:#x})",
            rustc_demangle::demangle(s.name),
            s.offset
        ),
        (None, true) => write!(
            out,
            "{who}: {kind} at {rip:#x} (no function there), {access} {addr:#x}"
        ),
        (None, false) => write!(out, "{who}: {kind} at {rip:#x} (no function there)"),
    }
}

/// The name of CPU exception `vector`, for the vectors a task can raise.
pub fn exception_name(vector: u64) -> Option<&'static str> {
    Some(match vector {
        0 => "divide error",
        1 => "debug exception",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        16 => "x87 floating-point error",
        17 => "alignment check",
        19 => "SIMD floating-point error",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S(std::string::String);
    impl Write for S {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.push_str(s);
            Ok(())
        }
    }

    #[test]
    fn an_unknown_kind_and_vector_are_said_as_such() {
        let mut s = S(std::string::String::new());
        let f = Fault {
            label: 99,
            rip: 0x1234,
            addr: 0,
            error: 0,
            vector: 0,
            rax: 0,
        };
        describe(&mut s, "g", &f, None).unwrap();
        assert_eq!(
            s.0,
            "g: fault of unknown kind 99 at 0x1234 (no function there)"
        );
        let mut s = S(std::string::String::new());
        let f = Fault {
            label: Kind::Exception as u64,
            vector: 200,
            ..f
        };
        describe(&mut s, "g", &f, None).unwrap();
        assert_eq!(s.0, "g: exception 200 at 0x1234 (no function there)");
    }

    #[test]
    fn words_are_read_by_their_fault_message_index_and_missing_ones_are_zero() {
        let mut words = [0u64; septum_abi::fault::WORDS];
        for (i, w) in words.iter_mut().enumerate() {
            *w = 100 + i as u64;
        }
        let f = Fault::from_words(7, &words);
        assert_eq!(
            (f.label, f.rip, f.addr, f.error, f.vector, f.rax),
            (7, 115, 118, 119, 120, 100)
        );
        let f = Fault::from_words(1, &words[..W_ADDR]);
        assert_eq!((f.rip, f.addr, f.error, f.vector), (115, 0, 0, 0));
    }
}
