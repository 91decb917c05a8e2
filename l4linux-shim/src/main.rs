//! l4linux-shim: the paravirtualized guest kernel. It runs as one Septum
//! domain (one thread, its own address space and partition) and runs
//! unmodified static Linux x86_64 programs as its processes: each is an
//! address space and a thread the shim makes from its memory quota, in
//! syscall-fault mode, whose fault endpoint is the shim's, badged with
//! the process id. So every `syscall` a process makes and every page
//! fault it takes arrives here as a fault message, and the shim answers
//! with Linux's result in RAX (`RESUME_SYSCALL_RESULT`), or by mapping the
//! page and resuming the faulting instruction (`RESUME`), or by running
//! its signal handler or ending it (SIGSEGV and friends).
//!
//! `docs/guest.md` describes the design, the picture of a system call's
//! way through the kernel, what is supported and what comes next. Step
//! 1 runs the programs `/etc/septum-init` lists, one after another, from
//! the RAM filesystem the build packs in (Debian's busybox-static and the
//! guest's test programs).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

#[allow(unsafe_code)]
mod arena;
mod blocked;
mod console;
mod dev;
mod elf;
mod exec;
mod fd;
mod fs;
#[allow(unsafe_code)]
mod heap;
mod jobs;
mod linux;
mod mem;
mod pipe;
mod proc;
mod process;
mod signal;
mod sys;
mod syscall;
mod tty;

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use bytemuck::{Pod, Zeroable};
use septum_user::abi::fault::{self as fk, Kind};
use septum_user::abi::ipc::NOTIFICATION_LABEL;
use septum_user::abi::object::object_type as ty;
use septum_user::ipc::{self, Ipc, Message, Short};
use septum_user::println;

use arena::Arena;
use console::Console;
use process::Process;
use sys::Sys;

septum_user::entry!(main);

/// The guest's root filesystem, a cpio (newc) archive (`build.rs`).
static ROOTFS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rootfs.cpio"));

/// The file pool: pages of file data the RAM filesystem may hold (4 MiB
/// of the shim's heap; past it a write gets ENOSPC).
pub const FILE_POOL_PAGES: usize = 1024;

/// The guest kernel's state.
pub struct Shim {
    pub sys: Sys,
    pub arena: Arena,
    pub fs: fs::Fs,
    pub console: Box<dyn Console>,
    /// The processes, boxed so that taking one out for a call moves a
    /// pointer; a short table searched by pid (at most one per ASID).
    pub procs: Vec<Option<Box<Process>>>,
    pub next_pid: u64,
    /// The endpoint every process's faults arrive on, and the reply
    /// object the shim answers them with.
    pub ep: u64,
    pub reply: u64,
    /// Calls already logged as ENOSYS.
    pub enosys_logged: BTreeSet<u64>,
    /// The 18 registers of the call being handled, read only for the
    /// calls that need them all (fork and clone copy them to the child).
    pub regs: [u64; 18],
    /// Reply objects not bound to a blocked call, for the next receive.
    pub spare_replies: Vec<u64>,
    /// The table entry of the process whose call is being handled, and its
    /// pid and process group.
    pub busy: Option<usize>,
    /// The table entry of the process handled last: tried first when
    /// looking a pid up.
    pub hint: usize,
    pub busy_id: Option<process::JobId>,
    /// Signals posted to that process while it is out of the table.
    pub busy_signals: Vec<signal::SigInfo>,
    /// Registers the call being handled resumes with (rt_sigreturn, a
    /// fault's handler), instead of a short answer.
    pub resume_regs: Option<[u64; 18]>,
    /// Some process was killed and waits in the table to be taken apart
    /// (`Shim::reap`).
    pub dying: bool,
    /// Children stopped or continued meanwhile: (parent, child, wait
    /// status), for their parents (`Shim::reap`).
    pub child_events: Vec<(u64, u64, u32)>,
    /// The pipes, by id (`pipe.rs`).
    pub pipes: Vec<Option<pipe::Pipe>>,
    /// How many processes are blocked in a pipe read or write.
    pub pipe_blocked: usize,
    /// The console's terminal and line discipline.
    pub tty: tty::Tty,
    /// The timer's alarm, if the description gave the shim a timer.
    pub alarm: Option<dev::Alarm>,
    /// How many processes are blocked on the terminal or on time
    /// (`blocked.rs`).
    pub io_blocked: usize,
    no_timer_logged: bool,
    /// `/proc`'s inode (`proc.rs`).
    pub proc_dir: Option<usize>,
    tsc_hz: u64,
    tsc0: u64,
    rng: u64,
    /// MXCSR_MASK as the CPU's FXSAVE reports it, once a process's FPU
    /// area has shown it (0 until then): which MXCSR bits a signal frame
    /// may set (`signal::frame_ok`).
    pub mxcsr_mask: u32,
}

fn rdtsc() -> u64 {
    // `rdtsc` is a plain instruction (the kernel leaves CR4.TSD clear);
    // core::arch's intrinsic is safe to call on x86_64.
    #[allow(unsafe_code)]
    // SAFETY: `_rdtsc` only reads the time-stamp counter.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

impl Shim {
    pub fn copy_in(&mut self, p: &mut Process, addr: u64, out: &mut [u8]) -> Result<(), i64> {
        p.copy_in_part(&mut self.sys, &mut self.arena, addr, out)
            .map_err(|s| s.err)
    }

    pub fn copy_out(&mut self, p: &mut Process, addr: u64, data: &[u8]) -> Result<(), i64> {
        p.copy_out(&mut self.sys, &mut self.arena, addr, data)
    }

    /// `copy_in` up to the first page `p` may not read.
    pub fn copy_in_part(
        &mut self,
        p: &mut Process,
        addr: u64,
        out: &mut [u8],
    ) -> Result<(), process::Short> {
        p.copy_in_part(&mut self.sys, &mut self.arena, addr, out)
    }

    /// `copy_out` up to the first page `p` may not write.
    pub fn copy_out_part(
        &mut self,
        p: &mut Process,
        addr: u64,
        data: &[u8],
    ) -> Result<(), process::Short> {
        p.copy_out_part(&mut self.sys, &mut self.arena, addr, data)
    }

    /// A `T` from process memory.
    pub fn get<T: Pod + Zeroable>(&mut self, p: &mut Process, addr: u64) -> Result<T, i64> {
        let mut v = T::zeroed();
        self.copy_in(p, addr, bytemuck::bytes_of_mut(&mut v))?;
        Ok(v)
    }

    /// `v` into process memory.
    pub fn put<T: Pod>(&mut self, p: &mut Process, addr: u64, v: &T) -> Result<(), i64> {
        self.copy_out(p, addr, bytemuck::bytes_of(v))
    }

    pub fn cstr(&mut self, p: &mut Process, addr: u64, max: usize) -> Result<Vec<u8>, i64> {
        p.read_cstr(&mut self.sys, &mut self.arena, addr, max)
    }

    /// Set the filesystem's clock to now, before a call that may make or
    /// change inodes.
    pub fn stamp(&mut self) {
        let ns = self.nanos();
        self.fs.now = linux::Timespec {
            tv_sec: (syscall::EPOCH_AT_BOOT + ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        };
    }

    /// Free the filesystem's orphans: inodes with no name left that no
    /// descriptor names and no process has as its working directory
    /// (`p`, the caller, is out of the table).
    pub fn fs_sweep(&mut self, p: &Process) {
        let mut in_use = BTreeSet::new();
        let procs = self.procs.iter().flatten().map(|q| &**q);
        for q in procs.chain(core::iter::once(p)) {
            in_use.insert(q.cwd);
            for f in q.fds.iter().flatten() {
                if let fd::FdKind::File { node } | fd::FdKind::Dir { node } = f.file.borrow().kind {
                    in_use.insert(node);
                }
            }
        }
        self.fs.sweep(&in_use);
    }

    /// Nanoseconds since the shim started.
    pub fn nanos(&self) -> u64 {
        let d = u128::from(rdtsc().wrapping_sub(self.tsc0));
        (d * 1_000_000_000 / u128::from(self.tsc_hz.max(1))) as u64
    }

    /// Bytes from a xorshift generator seeded from the TSC: unpredictable
    /// enough for AT_RANDOM's stack canary in step 1, not cryptographic.
    pub fn random(&mut self, out: &mut [u8]) {
        for b in out {
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            *b = (self.rng >> 24) as u8;
        }
    }

    /// Answer one fault message of process `pid` (label and words): the
    /// reply to send, or `None` if the process is gone.
    fn handle(&mut self, pid: u64, label: u64, regs: &[u64; 4]) -> Option<Short> {
        let Some(at) = self.find(pid) else {
            println!("[shim] a fault from {pid:#x}, which is no process of mine");
            return None;
        };
        let mut p = self.procs[at].take()?;
        self.hint = at;
        self.busy = Some(at);
        self.busy_id = Some(process::JobId::of(&p));
        let reply = self.answer(&mut p, label, regs);
        self.busy = None;
        self.busy_id = None;
        if !self.busy_signals.is_empty() {
            for info in core::mem::take(&mut self.busy_signals) {
                p.queue(info);
            }
        }
        let mut reply = if self.plain(&p, &reply) {
            // The common case: answered, nothing pending that it could
            // take now, nothing blocked, stopped or ended.
            self.procs[at] = Some(p);
            reply
        } else {
            self.settle(at, p, reply)
        };
        if self.pipe_blocked > 0 {
            // The call may have written, read or closed a pipe end (or
            // exited): blocked pipe calls may go on.
            self.wake_pipes();
        }
        if self.io_blocked > 0 {
            // And so may a poll, or a read of the terminal it set.
            self.wake_io();
        }
        if self.dying || !self.child_events.is_empty() {
            // Answer this call first: taking apart a process killed meanwhile
            // (or telling a parent of a stop) may signal this one (SIGCHLD),
            // which must find it answered, not stopped in its fault.
            if let Some(m) = reply.take() {
                let m = Message::new(m.label, &m.words[..m.len]);
                if let Err(e) = self.sys.ipc.reply(self.reply, &m) {
                    println!("[shim] answering pid {pid} failed: {}", e.name());
                }
            }
            self.reap();
        }
        reply
    }

    /// Handle one fault of `p`: the answer, if it gets one now.
    fn answer(&mut self, p: &mut Process, label: u64, regs: &[u64; 4]) -> Option<Short> {
        // Words 0-3 came in registers; the rest are read from the IPC
        // buffer, only those the fault's kind needs.
        let ipc = &self.sys.ipc;
        let w = |i: usize| {
            if i < 4 { regs[i] } else { ipc.buffer_word(i) }
        };
        match Kind::from_label(label) {
            Some(Kind::Syscall | Kind::UnknownSyscall) => {
                let args = [
                    w(fk::W_RDI),
                    w(fk::W_RSI),
                    w(fk::W_RDX),
                    w(fk::W_R10),
                    w(fk::W_R8),
                    w(fk::W_R9),
                ];
                let nr = w(fk::W_RAX);
                if syscall::needs_registers(nr) {
                    for (i, r) in self.regs.iter_mut().enumerate() {
                        *r = w(i);
                    }
                }
                let r = self.syscall(p, nr, &args);
                let rax = match r {
                    Ok(v) => v,
                    Err(e) => (-e) as u64,
                };
                Some(Short {
                    label: fk::RESUME_SYSCALL_RESULT,
                    len: 1,
                    words: [rax, 0, 0, 0],
                })
            }
            Some(Kind::PageFault) => {
                let (addr, error, rip) = (w(fk::W_ADDR), w(fk::W_ERROR), w(fk::W_RIP));
                if p.fault(&mut self.sys, &mut self.arena, addr, error) {
                    return Some(Short::default());
                }
                // An area there that does not allow it: SEGV_ACCERR; none: MAPERR.
                let code = if p.vma(addr).is_some() {
                    signal::SEGV_ACCERR
                } else {
                    signal::SEGV_MAPERR
                };
                let info = signal::SigInfo::fault(signal::SIGSEGV, code, addr);
                if let Some(r) = self.fault_signal(p, signal::SIGSEGV, info, (error, 14, addr)) {
                    self.resume_regs = Some(r);
                    return Some(Short::default());
                }
                println!(
                    "[shim] pid {} ({}): SIGSEGV: {} {:#x} at rip {:#x}; killed",
                    p.pid,
                    p.exe,
                    if error & 2 != 0 { "writing" } else { "reading" },
                    addr,
                    rip
                );
                None
            }
            Some(Kind::Exception) => {
                let (vector, error, rip) = (w(fk::W_VECTOR), w(fk::W_ERROR), w(fk::W_RIP));
                // The signal, its si_code (FPE_INTDIV, TRAP_BRKPT,
                // ILL_ILLOPN, BUS_ADRALN, SI_KERNEL) and si_addr (none
                // for SI_KERNEL).
                let (sig, code, name) = match vector {
                    0 | 16 | 19 => (signal::SIGFPE, 1, "SIGFPE"),
                    1 | 3 => (signal::SIGTRAP, 1, "SIGTRAP"),
                    6 => (signal::SIGILL, 2, "SIGILL"),
                    17 => (signal::SIGBUS, 1, "SIGBUS"),
                    // A stack-segment fault (a non-canonical stack
                    // pointer on hardware that tells it from a #GP).
                    12 => (signal::SIGBUS, signal::SI_KERNEL, "SIGBUS"),
                    _ => (signal::SIGSEGV, signal::SI_KERNEL, "SIGSEGV"),
                };
                let addr = if code == signal::SI_KERNEL { 0 } else { rip };
                let info = signal::SigInfo::fault(sig, code, addr);
                if let Some(r) = self.fault_signal(p, sig, info, (error, vector, 0)) {
                    self.resume_regs = Some(r);
                    return Some(Short::default());
                }
                println!(
                    "[shim] pid {} ({}): {name}: exception {} at rip {:#x}; killed",
                    p.pid, p.exe, vector, rip
                );
                None
            }
            None => {
                println!(
                    "[shim] pid {}: a message of unknown kind {:#x}",
                    p.pid, label
                );
                None
            }
        }
    }

    /// The table entry of the process with `pid`: the one last handled
    /// is tried first (a process making calls in a row), then the rest.
    fn find(&self, pid: u64) -> Option<usize> {
        if let Some(Some(p)) = self.procs.get(self.hint)
            && p.pid == pid
        {
            return Some(self.hint);
        }
        self.procs
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.pid == pid))
    }

    /// Whether `settle` has nothing to do for `p` but put it back and
    /// send `reply`: the call was answered with a short answer, it did
    /// not block, exit, replace its image or stop, and no signal it
    /// could take now is pending (one word's test: pending and not
    /// blocked).
    fn plain(&self, p: &Process, reply: &Option<Short>) -> bool {
        reply.is_some()
            && self.resume_regs.is_none()
            && !p.replaced
            && !p.blocks
            && p.exit.is_none()
            && p.stop_after_answer.is_none()
            && p.deliverable().is_none()
    }

    /// Put `p` back in entry `at` after a fault, or take it apart if it
    /// exited; `reply` is the answer, sent only if the call did not block.
    fn settle(&mut self, at: usize, mut p: Box<Process>, reply: Option<Short>) -> Option<Short> {
        if p.replaced {
            // A new image: signals still pending wait for its first call.
            p.replaced = false;
            self.resume_regs = None;
            self.procs[at] = Some(p);
            return None;
        }
        let mut regs = self.resume_regs.take();
        if p.exit.is_none()
            && !p.blocks
            && let Some(ans) = &reply
        {
            // A signal that is deliverable now runs its handler on the way
            // back (or ends the process).
            regs = self.signal_on_answer(&mut p, ans, regs);
        }
        if p.exit.is_some() {
            self.finish(p);
            return None;
        }
        if p.blocks {
            // Not answered now: the call keeps this reply object, and the
            // next fault is received with another.
            p.blocks = false;
            if let Some(w) = p.waiting.as_mut() {
                w.reply = self.reply;
            }
            if let Some(w) = p.pipe_wait.as_mut() {
                w.reply = self.reply;
            }
            if let Some(w) = p.io_wait.as_mut() {
                w.reply = self.reply;
            }
            if let Some(w) = p.sig_wait.as_mut() {
                *w = self.reply;
            }
            self.reply = match self.spare_replies.pop() {
                Some(r) => r,
                None => match self.sys.make(ty::REPLY, 0) {
                    Ok(r) => r,
                    Err(e) => {
                        println!("[shim] out of reply objects: {}", e.name());
                        self.reply
                    }
                },
            };
            if p.deliverable().is_some() {
                // A signal came while it was answered: interrupt the call.
                self.kick(&mut p);
            }
            self.procs[at] = Some(p);
            return None;
        }
        if let Some(sig) = p.stop_after_answer.take() {
            // Answer, then stop: it stops after its call.
            let m = match (regs, &reply) {
                (Some(r), _) => Message::new(fk::RESUME_WITH_REGS, &r),
                (None, Some(m)) => Message::new(m.label, &m.words[..m.len]),
                (None, None) => Message::new(fk::RESUME, &[]),
            };
            if let Err(e) = self.sys.ipc.reply(self.reply, &m) {
                println!("[shim] answering pid {} failed: {}", p.pid, e.name());
            }
            self.stop_now(&mut p, sig);
            self.procs[at] = Some(p);
            return None;
        }
        if let Some(r) = regs {
            let m = Message::new(fk::RESUME_WITH_REGS, &r);
            if let Err(e) = self.sys.ipc.reply(self.reply, &m) {
                println!("[shim] resuming pid {} failed: {}", p.pid, e.name());
            }
            self.procs[at] = Some(p);
            return None;
        }
        self.procs[at] = Some(p);
        reply
    }

    /// The process with `pid`, taken out of the table (put it back!).
    fn take(&mut self, pid: u64) -> Option<(usize, Box<Process>)> {
        let at = self.find(pid)?;
        Some((at, self.procs[at].take()?))
    }

    /// `p` has exited: take it apart and tell its parent (SIGCHLD),
    /// answering the parent's `wait4` if it waits for it. A session
    /// leader's exit hangs its terminal up, its children go to their
    /// reaper, and groups its exit orphans are told if stopped (`jobs.rs`).
    fn finish(&mut self, mut p: Box<Process>) {
        self.console.flush(&mut self.sys.ipc);
        // On a terminal only the session's end is logged: the log shares
        // the screen with the shell.
        if !self.console.has_input() || (p.ppid == 0 && p.pid == p.sid) {
            println!(
                "[shim] pid {} ({}) exited with status {}",
                p.pid,
                p.exe,
                p.exit.unwrap_or(0)
            );
        }
        let me = process::JobId::of(&p);
        let (pid, ppid, status, pgid) = (p.pid, p.ppid, p.wait_status, p.pgid);
        let children = p.children.clone();
        let parent = self.find(ppid).and_then(|at| self.procs[at].as_deref());
        let parent = parent.map(process::JobId::of);
        self.reparent(&mut p);
        self.destroy(*p);
        if let Some((at, mut parent)) = self.take(ppid) {
            parent.children.retain(|&c| c != pid);
            let chld = parent.action(signal::SIGCHLD);
            // SIGCHLD ignored or SA_NOCLDWAIT: no zombie, as on Linux.
            let no_zombie =
                chld.handler == signal::SIG_IGN || chld.flags & signal::SA_NOCLDWAIT != 0;
            if !no_zombie {
                parent.zombies.push((pid, status, pgid));
            }
            parent.changes.retain(|&(c, _)| c != pid);
            parent.queue(signal::SigInfo::child(pid, status));
            self.wake_waiter(&mut parent);
            if parent.exit.is_none() && parent.deliverable().is_some() {
                self.kick(&mut parent);
            }
            self.procs[at] = Some(parent);
        }
        // Signals last, the table whole again: they may end processes.
        self.hang_up(me, true);
        self.hang_up_orphans(me, parent, &children);
    }

    /// Serve faults until no process is left. Faults are received and
    /// answered with register-only messages (the kernel's fault fast path
    /// both ways): words 0–3 of a fault arrive in registers, the rest are
    /// read from the IPC buffer, and every answer fits in four words.
    fn serve(&mut self) {
        let mut reply: Option<Short> = None;
        // The process last handled is usually still there: no scan.
        let live = |s: &Self| {
            s.procs.get(s.hint).is_some_and(Option::is_some) || s.procs.iter().any(Option::is_some)
        };
        while live(self) {
            let got = match reply.take() {
                Some(m) => ipc::reply_recv_short(self.ep, self.reply, &m),
                None => ipc::recv_short(self.ep, self.reply),
            };
            match got {
                // The bound notification: input, or the alarm
                // (`blocked.rs`); no caller waits for an answer.
                Ok(r) if r.msg.label == NOTIFICATION_LABEL => self.notified(r.badge),
                Ok(r) => reply = self.handle(r.badge, r.msg.label, &r.msg.words),
                Err(e) => {
                    println!("[shim] receiving a fault failed: {}", e.name());
                    return;
                }
            }
        }
    }
}

/// A line split at spaces, except inside double quotes (which go).
fn words(line: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut word: Option<Vec<u8>> = None;
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => {
                quoted = !quoted;
                word.get_or_insert_with(Vec::new);
            }
            b' ' if !quoted => out.extend(word.take()),
            _ => word.get_or_insert_with(Vec::new).push(b),
        }
    }
    out.extend(word);
    out
}

/// What init runs, one after another: each line of `/etc/septum-init`
/// is a path and its arguments, split at spaces (double quotes keep
/// spaces in an argument). On a terminal (`terminal`: the serial
/// console) the lines that start with `tty:` are run, each as a session
/// whose controlling terminal is the console (an interactive shell);
/// otherwise the others (the programs the scenario checks, on the debug
/// console).
fn init_commands(fs: &fs::Fs, terminal: bool) -> Vec<Vec<Vec<u8>>> {
    let Ok(node) = fs.lookup(0, b"/etc/septum-init", true) else {
        return Vec::new();
    };
    let Some(text) = fs.packed(node) else {
        return Vec::new();
    };
    let tty_lines = text
        .split(|&b| b == b'\n')
        .filter_map(|l| l.strip_prefix(b"tty:"));
    let lines: Vec<&[u8]> = if terminal {
        tty_lines.collect()
    } else {
        text.split(|&b| b == b'\n')
            .filter(|l| !l.starts_with(b"tty:"))
            .collect()
    };
    lines
        .into_iter()
        .filter(|l| l.first() != Some(&b'#'))
        .map(words)
        .filter(|argv| !argv.is_empty())
        .collect()
}

fn main() {
    #[allow(unsafe_code)]
    // SAFETY: the root task maps this thread's IPC buffer at
    // USER_IPC_BUFFER; this is the only `Ipc` the shim makes.
    let ipc = unsafe { Ipc::new(septum_user::abi::layout::USER_IPC_BUFFER) };
    let mut sys = match Sys::discover(ipc) {
        Ok(s) => s,
        Err(e) => {
            println!("[shim] cannot start: {}: {}", e.0, e.1.name());
            return;
        }
    };
    match sys.map_heap() {
        Ok(bytes) => heap::init(bytes),
        Err(e) => {
            println!("[shim] cannot map its heap: {}", e.name());
            return;
        }
    }
    // The arena's page tables, for every slot there is: made once, so a
    // process's pages never need the shim's own memory, and every
    // program gives back exactly the slots it took.
    if let Err(e) = sys.arena_tables() {
        println!("[shim] cannot make the arena's page tables: {}", e.name());
        return;
    }
    // Reply objects for calls that block (wait4), made now so the slot
    // accounting below sees them from the start.
    let mut spare_replies = Vec::new();
    for _ in 0..4 {
        match sys.make(ty::REPLY, 0) {
            Ok(r) => spare_replies.push(r),
            Err(e) => {
                println!("[shim] cannot make its reply objects: {}", e.name());
                return;
            }
        }
    }
    if let Err(e) = sys.make_chunks(mem::CHUNK_BITS) {
        println!("[shim] cannot cut its process memory: {}", e.name());
        return;
    }
    let (ep, reply) = match (sys.make(ty::ENDPOINT, 0), sys.make(ty::REPLY, 0)) {
        (Ok(e), Ok(r)) => (e, r),
        _ => {
            println!("[shim] cannot make its fault endpoint");
            return;
        }
    };
    let fs = fs::Fs::from_cpio(ROOTFS, FILE_POOL_PAGES);
    let devs = dev::discover(&mut sys);
    let console: Box<dyn Console> = match devs.console {
        Some(c) => Box::new(c),
        None => Box::new(console::DebugConsole::default()),
    };
    let tsc_hz = septum_user::start_tsc_hz();
    let t = rdtsc();
    let mut shim = Shim {
        sys,
        arena: Arena::default(),
        fs,
        console,
        procs: Vec::new(),
        next_pid: 1,
        ep,
        reply,
        enosys_logged: BTreeSet::new(),
        regs: [0; 18],
        spare_replies,
        busy: None,
        hint: 0,
        busy_id: None,
        busy_signals: Vec::new(),
        resume_regs: None,
        dying: false,
        child_events: Vec::new(),
        pipes: Vec::new(),
        pipe_blocked: 0,
        tty: tty::Tty::new(),
        alarm: devs.alarm,
        io_blocked: 0,
        no_timer_logged: false,
        proc_dir: None,
        tsc_hz: if tsc_hz == 0 { 1_000_000_000 } else { tsc_hz },
        tsc0: t,
        rng: t | 1,
        mxcsr_mask: 0,
    };
    println!(
        "[shim] l4linux-shim: root filesystem of {} bytes, {} files; {} system calls in the table",
        ROOTFS.len(),
        shim.fs.count(),
        syscall::TABLE
            .iter()
            .filter(|e| e.handler.is_some())
            .count()
    );
    shim.init_proc();
    let terminal = shim.console.has_input();
    let commands = init_commands(&shim.fs, terminal);
    if commands.is_empty() {
        println!("[shim] /etc/septum-init lists nothing to run (was the root filesystem packed?)");
    }
    // Every program must give back exactly the slots and the memory it
    // took. Reply objects made for blocked calls stay in the shim's pool
    // for the next (at most one per process, so bounded by the ASIDs):
    // they are the shim's, not a program's.
    let accounted = |shim: &Shim| shim.sys.slots_in_use() - shim.spare_replies.len() as u64;
    let baseline = accounted(&shim);
    let chunks = shim.sys.chunks.len();
    let mut leaked = false;
    let env_terminal: [&[u8]; 4] = [
        b"HOME=/root",
        b"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
        b"TERM=vt102",
        b"PS1=\\w \\$ ",
    ];
    let env_debug: [&[u8]; 3] = [
        b"HOME=/",
        b"PATH=/bin:/sbin:/usr/bin:/usr/sbin",
        b"TERM=dumb",
    ];
    let envp: Vec<Vec<u8>> = if terminal {
        env_terminal.iter().map(|e| e.to_vec()).collect()
    } else {
        env_debug.iter().map(|e| e.to_vec()).collect()
    };
    let mut ran = 0;
    for argv in &commands {
        let path = argv[0].clone();
        match shim.spawn(&path, argv, &envp) {
            Ok(pid) => {
                ran += 1;
                println!(
                    "[shim] pid {pid}: {}",
                    core::str::from_utf8(&argv.join(&b' ')).unwrap_or("?")
                );
                if terminal {
                    // A session on the console: the terminal is its
                    // controlling terminal, its group the foreground.
                    shim.tty.sid = pid;
                    shim.tty.pgrp = pid;
                }
                shim.serve();
                let now = accounted(&shim);
                let free = shim.sys.free_chunks.len();
                if now != baseline || free != chunks {
                    println!(
                        "[shim] SLOTS OR MEMORY LEAKED after pid {pid}: {now} slots in use ({baseline} before), {} of {chunks} chunks held",
                        chunks - free
                    );
                    leaked = true;
                } else {
                    println!(
                        "[shim] after pid {pid}: {} processes made so far; slots and memory as at the start ({now} slots in use, {free} of {chunks} chunks free)",
                        shim.next_pid - 1
                    );
                }
            }
            Err(e) => println!(
                "[shim] cannot run {}: errno {e}",
                core::str::from_utf8(&path).unwrap_or("?")
            ),
        }
    }
    if !leaked {
        println!(
            "[shim] {ran} programs ran; each one's capability slots came back ({} in use after each)",
            baseline
        );
    }
    // Nothing made from any chunk is left: each retypes whole.
    let bits = shim.sys.chunk_bits;
    let all = shim.sys.chunks.clone();
    let whole = all
        .iter()
        .filter(|&&c| match shim.sys.make_from(c, ty::UNTYPED, bits) {
            Ok(s) => {
                shim.sys.delete(s);
                true
            }
            Err(_) => false,
        })
        .count();
    if whole == all.len() {
        println!(
            "[shim] and the process memory retypes whole again ({} chunks of {} KiB)",
            whole,
            (1u64 << bits) >> 10
        );
    } else {
        println!(
            "[shim] MEMORY LEAKED: {} of {} process chunks do not retype whole",
            all.len() - whole,
            all.len()
        );
    }
}
