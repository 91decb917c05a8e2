//! Fault messages: what a thread's fault handler receives, and how its
//! reply resumes the thread.
//!
//! The message's label is the fault [`Kind`]; its words are [`WORDS`] long
//! in the order of the `W_*` indices (words 0–3 arrive in the message
//! registers, the rest in the IPC buffer). The handler answers through the
//! reply object it received the fault with: label [`RESUME`] resumes the
//! thread unchanged; label [`RESUME_WITH_REGS`] first sets the registers
//! from the reply's words (`W_RAX`..=`W_RFLAGS`, word 18 the FS base and
//! word 19 the GS base); [`RESUME_SYSCALL_RESULT`] sets RAX and
//! [`RESUME_AT`] sets RIP from word 0. A non-canonical RIP, FS or GS base is refused — the reply
//! returns `InvalidAddress` to the handler — and the thread
//! stays stopped. Returned RFLAGS always have IF set and IOPL, NT, RF, VM
//! clear. After a `syscall`, RIP already points past the instruction and
//! RCX/R11 hold what the instruction put there.

/// Fault kinds (the message label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Kind {
    /// A page fault: `W_ADDR` is CR2, `W_ERROR` the error code.
    PageFault = 1,
    /// Any other CPU exception: `W_VECTOR`, `W_ERROR`.
    Exception = 2,
    /// A `syscall` whose number is not Septum's (`W_RAX` holds it).
    UnknownSyscall = 3,
    /// Any `syscall` of a thread in syscall-fault mode.
    Syscall = 4,
}

impl Kind {
    /// Decode a label.
    pub fn from_label(l: u64) -> Option<Kind> {
        match l {
            1 => Some(Kind::PageFault),
            2 => Some(Kind::Exception),
            3 => Some(Kind::UnknownSyscall),
            4 => Some(Kind::Syscall),
            _ => None,
        }
    }
}

pub const W_RAX: usize = 0;
pub const W_RBX: usize = 1;
pub const W_RCX: usize = 2;
pub const W_RDX: usize = 3;
pub const W_RSI: usize = 4;
pub const W_RDI: usize = 5;
pub const W_RBP: usize = 6;
pub const W_R8: usize = 7;
pub const W_R9: usize = 8;
pub const W_R10: usize = 9;
pub const W_R11: usize = 10;
pub const W_R12: usize = 11;
pub const W_R13: usize = 12;
pub const W_R14: usize = 13;
pub const W_R15: usize = 14;
pub const W_RIP: usize = 15;
pub const W_RSP: usize = 16;
pub const W_RFLAGS: usize = 17;
/// Fault address (CR2) in a fault message; FS base in a reply.
pub const W_ADDR: usize = 18;
/// Error code in a fault message; GS base in a reply.
pub const W_ERROR: usize = 19;
/// Vector in a fault message (0x100 for a fault raised by `syscall`).
pub const W_VECTOR: usize = 20;
/// Words in a fault message.
pub const WORDS: usize = 21;
/// FS base in a [`RESUME_WITH_REGS`] reply.
pub const W_FS_BASE: usize = 18;
/// GS base in a [`RESUME_WITH_REGS`] reply.
pub const W_GS_BASE: usize = 19;

/// Reply label: resume unchanged.
pub const RESUME: u64 = 0;
/// Reply label: set registers from the words, then resume.
pub const RESUME_WITH_REGS: u64 = 1;
/// Reply label: word 0 is the result of the `syscall` the thread made
/// (its new RAX); resume after the instruction. The short answer to a
/// guest process's system call, taken by the fault fast path.
pub const RESUME_SYSCALL_RESULT: u64 = 2;
/// Reply label: word 0 is the new RIP (refused, as any RIP, unless
/// canonical); resume there. The short answer to an exception the handler
/// emulated or skipped.
pub const RESUME_AT: u64 = 3;
