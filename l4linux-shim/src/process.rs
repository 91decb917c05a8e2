//! A Linux process: its address space (a PML4, page tables and frames the
//! shim made from the process's own untyped), its memory areas, its
//! thread and its file descriptors.
//!
//! Pages are made when first touched: a page fault, or the shim itself
//! reaching a user pointer, finds the area that covers the address and
//! fills a fresh frame (zeroes, or the ELF file's bytes). Every user
//! pointer is checked against the areas and their protection: a pointer
//! that names nothing the process may touch gets EFAULT, and the shim
//! never touches memory through the process's own mapping.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use septum_user::abi::object::object_type as ty;

use crate::arena::{Arena, PAGE};
use crate::fd::Fd;
use crate::fd::MAX_FDS;
use crate::linux::{PROT_EXEC, PROT_READ, PROT_WRITE, Rlimit, errno::*};
use crate::mem::{CHUNK_BITS, MAX_CHUNKS, Memory};
use crate::signal::{SigAction, SigInfo, StackT};
use crate::sys::Sys;
use septum_user::println;

pub const PAGE_U64: u64 = PAGE as u64;
/// One past the highest address a process may map (the top page of the
/// lower half is never mapped: `septum_abi::layout::USER_LOWER_TOP_PAGE`).
pub const USER_TOP: u64 = 0x7fff_ffff_f000;
/// The top of the initial stack, and how far it may grow down.
pub const STACK_TOP: u64 = 0x7fff_ffff_e000;
pub const STACK_MAX: u64 = 8 << 20;
/// Where `mmap` without an address starts looking, downwards: as far
/// below the top as Linux puts its `mmap_base` with address
/// randomization on (the stack's 8 MiB limit, its 1 MiB guard gap and
/// the 16 GiB its random offset may take), the random offsets zero. A
/// process may then ask for up to that much past a mapped buffer and
/// find the range user memory, as on Linux (getrandom's count of
/// INT_MAX, for one).
pub const MMAP_TOP: u64 = USER_TOP - STACK_MAX - (1 << 20) - (16 << 30);
/// Most memory areas a process may have.
pub const MAX_VMAS: usize = 4096;
/// Where a static-PIE is loaded (Linux's `ELF_ET_DYN_BASE` without
/// randomization).
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// A copy between the shim and process memory that stopped early: the
/// bytes moved before the first page that failed, and its error. Linux
/// answers a short read or write with the count moved, or the error
/// when nothing was ([`Short::count`]).
#[derive(Clone, Copy, Debug)]
pub struct Short {
    pub done: usize,
    pub err: i64,
}

impl Short {
    /// A transfer's answer after this short copy: the count moved (plus
    /// `before`, what earlier steps moved), or the error if nothing was.
    pub fn count(self, before: u64) -> Result<u64, i64> {
        let n = before + self.done as u64;
        if n > 0 { Ok(n) } else { Err(self.err) }
    }
}

/// How many resources `prlimit64` knows (Linux's `RLIM_NLIMITS`).
pub const RLIM_NLIMITS: usize = 16;
pub const RLIMIT_STACK: usize = 3;
pub const RLIMIT_NOFILE: usize = 7;
pub const RLIM_INFINITY: u64 = u64::MAX;

/// A new process's limits: the stack's 8 MiB (no hard limit), as many
/// descriptors as the shim holds ([`MAX_FDS`], soft and hard), and no
/// limit on the others.
fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let mut r = [Rlimit {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    }; RLIM_NLIMITS];
    r[RLIMIT_STACK].cur = STACK_MAX;
    r[RLIMIT_NOFILE] = Rlimit {
        cur: MAX_FDS as u64,
        max: MAX_FDS as u64,
    };
    r
}

/// What backs an area's pages.
#[derive(Clone, Copy, Debug)]
pub enum Backing {
    /// Zero-filled on first touch.
    Anon,
    /// A file written at run time, copied into the area's pages when it
    /// was made ([`Process::fill`]); zero past them, as `Anon`. Those
    /// pages cannot be made again (the file may have changed or gone),
    /// so `MADV_DONTNEED` keeps them where Linux would read the file
    /// again.
    Filled,
    /// An ELF segment: `data` is its file bytes, mapped at `vaddr`; the
    /// rest of the area is zeroes (bss).
    File { data: &'static [u8], vaddr: u64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: u64,
    pub backing: Backing,
}

/// One page of the process: the frame mapped in the process (its slot
/// also names its place in the shim's arena) and the copy mapped there
/// (0 until the shim first reaches the page).
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub frame: u64,
    pub copy: u64,
    /// Attributes it is mapped with in the process (`None`: unmapped,
    /// e.g. `PROT_NONE`).
    pub attrs: Option<u64>,
}

/// What job control needs of a process (`jobs.rs`): its pid, its
/// parent, its process group and session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobId {
    pub pid: u64,
    pub ppid: u64,
    pub pgid: u64,
    pub sid: u64,
}

impl JobId {
    pub fn of(p: &Process) -> Self {
        JobId {
            pid: p.pid,
            ppid: p.ppid,
            pgid: p.pgid,
            sid: p.sid,
        }
    }
}

/// A `wait4` that is waiting for a child.
#[derive(Clone, Copy, Debug)]
pub struct Waiting {
    /// Which child: -1 any, else that pid (unless `group` says).
    pub pid: i64,
    /// Those of this process group instead (wait4's 0 and < -1,
    /// waitid's P_PGID).
    pub group: Option<u64>,
    /// Where the answer goes: wait4's status, waitid's siginfo.
    pub status: u64,
    pub rusage: u64,
    /// What it waits for (`WEXITED`, `WSTOPPED`, `WCONTINUED`; wait4
    /// always has `WEXITED`), and `WNOHANG`, `WNOWAIT`.
    pub options: u64,
    /// waitid (a siginfo and 0) rather than wait4 (a status and the pid).
    pub waitid: bool,
    /// The reply object its call is bound to.
    pub reply: u64,
}

impl Waiting {
    /// Whether it waits for child `pid` of process group `group`.
    pub fn selects(&self, pid: u64, group: u64) -> bool {
        match self.group {
            Some(g) => group == g,
            None => self.pid == -1 || pid == self.pid as u64,
        }
    }
}

pub const WNOHANG: u64 = 1;
/// WUNTRACED for wait4.
pub const WSTOPPED: u64 = 2;
pub const WEXITED: u64 = 4;
pub const WCONTINUED: u64 = 8;
pub const WNOWAIT: u64 = 0x0100_0000;
/// The wait status of a child continued by SIGCONT.
pub const CONTINUED_STATUS: u32 = 0xffff;

/// A read or write on a pipe that is waiting for data, room, or the
/// other end to close (`crate::pipe`).
#[derive(Clone, Copy, Debug)]
pub struct PipeWait {
    pub id: usize,
    pub write: bool,
    pub buf: u64,
    pub len: u64,
    /// The reply object its call is bound to.
    pub reply: u64,
}

impl Process {
    /// Take (with `WNOWAIT`, only look at) what `w` waits for: an exited
    /// child, or one stopped or continued: its pid and wait status.
    /// `group_of` gives a live child's process group.
    pub fn reap(&mut self, w: &Waiting, group_of: &dyn Fn(u64) -> u64) -> Option<(u64, u32)> {
        let keep = w.options & WNOWAIT != 0;
        if w.options & WEXITED != 0
            && let Some(i) = self.zombies.iter().position(|&(z, _, g)| w.selects(z, g))
        {
            let (z, st, _) = if keep {
                self.zombies[i]
            } else {
                self.zombies.remove(i)
            };
            return Some((z, st));
        }
        let i = self.changes.iter().position(|&(c, st)| {
            w.selects(c, group_of(c))
                && ((st == CONTINUED_STATUS && w.options & WCONTINUED != 0)
                    || (st != CONTINUED_STATUS && w.options & WSTOPPED != 0))
        })?;
        Some(if keep {
            self.changes[i]
        } else {
            self.changes.remove(i)
        })
    }

    /// Whether `w` has a child to wait for at all.
    pub fn has_child(&self, w: &Waiting, group_of: &dyn Fn(u64) -> u64) -> bool {
        self.children.iter().any(|&c| w.selects(c, group_of(c)))
            || self.zombies.iter().any(|&(z, _, g)| w.selects(z, g))
    }

    /// A copy of page `src` (an arena slot) at `va`, mapped with `attrs`:
    /// what fork gives the child for each page of its parent.
    pub fn copy_page(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        va: u64,
        attrs: Option<u64>,
        src: u64,
    ) -> Result<(), i64> {
        let vma = Vma {
            start: va,
            end: va + PAGE_U64,
            prot: 0,
            backing: Backing::Anon,
        };
        // Made unmapped (prot 0), filled, then mapped as the parent's is.
        self.new_page(sys, arena, va, vma)?;
        let page = self.arena_page(sys, arena, va)?;
        let mut buf = [0u8; PAGE];
        if !arena.read(src, 0, &mut buf) || !arena.write(page, 0, &buf) {
            return Err(ENOMEM);
        }
        if let Some(a) = attrs {
            sys.ipc
                .frame_map(page, self.pml4, va, a)
                .map_err(|_| ENOMEM)?;
            if let Some(p) = self.pages.get_mut(&va) {
                p.attrs = Some(a);
            }
        }
        Ok(())
    }
}

pub struct Process {
    pub pid: u64,
    pub ppid: u64,
    /// What its objects are made from, and the slots they occupy
    /// (`crate::mem`): revoking its chunks takes the whole process away.
    pub mem: Memory,
    pub cnode: u64,
    pub pml4: u64,
    pub tcb: u64,
    /// The shim's endpoint, badged with the pid: its fault endpoint.
    pub fault_ep: u64,
    tables: BTreeSet<(u8, u64)>,
    pub pages: BTreeMap<u64, Page>,
    pub vmas: Vec<Vma>,
    pub brk_start: u64,
    pub brk: u64,
    pub mmap_next: u64,
    pub fds: Vec<Option<Fd>>,
    pub cwd: usize,
    pub umask: u64,
    /// Its resource limits (prlimit64), by resource: kept and reported as
    /// set; RLIMIT_NOFILE bounds its descriptors ([`Process::fd_limit`]).
    pub rlimits: [Rlimit; RLIM_NLIMITS],
    pub exe: String,
    /// Its arguments, each ending with a NUL (`/proc/<pid>/cmdline`).
    pub cmdline: Vec<u8>,
    pub comm: [u8; 16],
    pub tid_address: u64,
    /// The FS and GS bases it set (arch_prctl), as the kernel holds them.
    pub fs_base: u64,
    pub gs_base: u64,
    /// Its process group and session (`setpgid`, `setsid`).
    pub pgid: u64,
    pub sid: u64,
    /// Set by `prctl(PR_SET_CHILD_SUBREAPER)`: orphans among its
    /// descendants become its children rather than init's (`jobs.rs`).
    pub subreaper: bool,
    /// Blocked signals, pending ones and what each pending one carries,
    /// the action of each signal, its alternate stack (`crate::signal`).
    pub sigmask: u64,
    pub pending: u64,
    pub siginfo: Vec<SigInfo>,
    pub sigactions: [SigAction; 64],
    pub altstack: StackT,
    /// The mask to restore once a handler has run, set by rt_sigsuspend.
    pub saved_mask: Option<u64>,
    /// A pause or rt_sigsuspend it is blocked in: the reply object.
    pub sig_wait: Option<u64>,
    /// Set by exit and exit_group: the status it ends with.
    pub exit: Option<u64>,
    /// Set by a successful execve: the thread that made the call is gone,
    /// so the call gets no answer (the new thread is already running).
    pub replaced: bool,
    /// The status `wait4` reports once it has exited: `code << 8`, or
    /// the signal that killed it.
    pub wait_status: u32,
    /// Children alive, and those exited but not yet waited for.
    pub children: Vec<u64>,
    /// (pid, wait status, process group) of each.
    pub zombies: Vec<(u64, u32, u64)>,
    /// Children stopped or continued and not yet reported by a wait: the
    /// wait status (`sig << 8 | 0x7f`, or [`CONTINUED_STATUS`]), one a child.
    pub changes: Vec<(u64, u32)>,
    /// The signal that stopped it, while it is stopped (its thread is
    /// suspended; SIGCONT resumes it).
    pub stopped: Option<u32>,
    /// A stop signal its own call's answer comes with: `settle` answers,
    /// then stops it.
    pub stop_after_answer: Option<u32>,
    /// A `wait4` it is blocked in, if any (not answered until a child
    /// exits: the shim keeps the reply object of that call).
    pub waiting: Option<Waiting>,
    /// Set by a call that blocks: the shim keeps its reply object and
    /// receives the next fault with another.
    pub blocks: bool,
    /// A pipe read or write it is blocked in, if any.
    pub pipe_wait: Option<PipeWait>,
    /// A read of the terminal, poll, select or sleep it is blocked in.
    pub io_wait: Option<crate::blocked::IoWait>,
}

/// Memory attributes for a protection: writable, else executable, else
/// read-only. The kernel maps nothing both writable and executable (W^X);
/// an area that asks for both starts writable and is flipped on an
/// instruction fetch ([`Process::fault`]).
pub fn attrs_for(prot: u64) -> u64 {
    if prot & PROT_WRITE != 0 {
        1
    } else if prot & PROT_EXEC != 0 {
        2
    } else {
        0
    }
}

impl Process {
    pub fn new(pid: u64, ppid: u64, cnode: u64, pml4: u64, tcb: u64, ep: u64) -> Self {
        Process {
            pid,
            ppid,
            mem: Memory::default(),
            cnode,
            pml4,
            tcb,
            fault_ep: ep,
            tables: BTreeSet::new(),
            pages: BTreeMap::new(),
            vmas: Vec::new(),
            brk_start: 0,
            brk: 0,
            mmap_next: MMAP_TOP,
            fds: Vec::new(),
            cwd: 0,
            umask: 0o022,
            rlimits: default_rlimits(),
            exe: String::new(),
            cmdline: Vec::new(),
            comm: [0; 16],
            tid_address: 0,
            fs_base: 0,
            gs_base: 0,
            pgid: pid,
            sid: pid,
            subreaper: false,
            sigmask: 0,
            pending: 0,
            siginfo: Vec::new(),
            sigactions: [SigAction::default(); 64],
            // As Linux keeps it for a process that never set one: no
            // stack (reported as SS_DISABLE) and no flags.
            altstack: StackT::default(),
            saved_mask: None,
            sig_wait: None,
            exit: None,
            replaced: false,
            wait_status: 0,
            children: Vec::new(),
            zombies: Vec::new(),
            changes: Vec::new(),
            stopped: None,
            stop_after_answer: None,
            waiting: None,
            blocks: false,
            pipe_wait: None,
            io_wait: None,
        }
    }

    /// One past the highest descriptor it may have: its RLIMIT_NOFILE
    /// (never above [`MAX_FDS`]).
    pub fn fd_limit(&self) -> usize {
        self.rlimits[RLIMIT_NOFILE].cur.min(MAX_FDS as u64) as usize
    }

    /// The area that covers `va`: the areas are kept sorted by start and
    /// never overlap, so a binary search finds it.
    pub fn vma(&self, va: u64) -> Option<&Vma> {
        let i = self.vmas.partition_point(|v| v.start <= va);
        let v = self.vmas.get(i.checked_sub(1)?)?;
        (va < v.end).then_some(v)
    }

    /// Whether any area overlaps `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas.iter().any(|v| v.start < end && start < v.end)
    }

    /// Add an area: ENOMEM past [`MAX_VMAS`] (Linux's
    /// `vm.max_map_count` does the same), so no process can grow the
    /// shim's heap without bound.
    pub fn add_vma(&mut self, v: Vma) -> Result<(), i64> {
        if self.vmas.len() >= MAX_VMAS {
            return Err(ENOMEM);
        }
        self.vmas.push(v);
        self.vmas.sort_by_key(|v| v.start);
        Ok(())
    }

    /// Cut `[start, end)` out of the areas (splitting those it crosses).
    pub fn remove_range(&mut self, start: u64, end: u64) {
        let mut out = Vec::new();
        for v in self.vmas.drain(..) {
            if v.end <= start || end <= v.start {
                out.push(v);
                continue;
            }
            if v.start < start {
                out.push(Vma { end: start, ..v });
            }
            if end < v.end {
                out.push(Vma { start: end, ..v });
            }
        }
        self.vmas = out;
    }

    /// Whether cutting `[start, end)` out of the areas (`keep` false) or
    /// changing its protection (`keep` true) leaves at most [`MAX_VMAS`]
    /// areas: an area the range splits becomes two or three.
    pub fn fits_after(&self, start: u64, end: u64, keep: bool) -> bool {
        let mut n = self.vmas.len();
        for v in self.vmas.iter().filter(|v| v.start < end && start < v.end) {
            let pieces =
                usize::from(keep) + usize::from(v.start < start) + usize::from(end < v.end);
            n = n + pieces - 1;
        }
        n <= MAX_VMAS
    }

    /// Set the protection of `[start, end)`, splitting areas.
    pub fn protect_range(&mut self, start: u64, end: u64, prot: u64) {
        let mut out = Vec::new();
        for v in self.vmas.drain(..) {
            if v.end <= start || end <= v.start {
                out.push(v);
                continue;
            }
            if v.start < start {
                out.push(Vma { end: start, ..v });
            }
            out.push(Vma {
                start: v.start.max(start),
                end: v.end.min(end),
                prot,
                ..v
            });
            if end < v.end {
                out.push(Vma { start: end, ..v });
            }
        }
        out.sort_by_key(|v| v.start);
        self.vmas = out;
    }

    /// Make the page tables for `va` in the process's space.
    fn tables_for(&mut self, sys: &mut Sys, va: u64) -> Result<(), i64> {
        if self.tables.contains(&(1, va >> 21)) {
            // Tables are made from the top down: the lowest is there, so
            // are the others.
            return Ok(());
        }
        for level in (1..=3u8).rev() {
            let key = (level, va >> (12 + 9 * u64::from(level)));
            if self.tables.contains(&key) {
                continue;
            }
            let t = self.mem.make(sys, ty::PAGE_TABLE, u64::from(level))?;
            sys.ipc
                .page_table_map(t, self.pml4, va)
                .map_err(|_| ENOMEM)?;
            self.tables.insert(key);
        }
        Ok(())
    }

    /// A fresh page at `va` (page-aligned, not present), filled from its
    /// area and mapped with `attrs`. A zero page is only mapped in the
    /// process (a new frame is zero); the shim reaches it through the
    /// arena only when it must write it (file bytes, a reused frame).
    fn new_page(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        va: u64,
        vma: Vma,
    ) -> Result<Page, i64> {
        self.tables_for(sys, va)?;
        let f = self.mem.frame(sys)?;
        let mut page = Page {
            frame: f.slot,
            copy: f.copy,
            attrs: None,
        };
        let file = match vma.backing {
            Backing::File { data, vaddr } => Some((data, vaddr)),
            Backing::Anon | Backing::Filled => None,
        };
        if (f.dirty || file.is_some())
            && let Err(e) = self.reach(sys, arena, &mut page)
        {
            self.mem.unused(page.frame, page.copy);
            return Err(e);
        }
        if f.dirty {
            arena.write(page.frame, 0, &[0; PAGE]);
        }
        if let Some((data, vaddr)) = file {
            // The part of this page the segment's file bytes cover.
            let lo = va.max(vaddr);
            let hi = (va + PAGE_U64).min(vaddr.saturating_add(data.len() as u64));
            if lo < hi {
                let from = (lo - vaddr) as usize;
                let bytes = &data[from..from + (hi - lo) as usize];
                arena.write(page.frame, (lo - va) as usize, bytes);
            }
        }
        let attrs =
            (vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0).then(|| attrs_for(vma.prot));
        if let Some(a) = attrs {
            if sys.ipc.frame_map(page.frame, self.pml4, va, a).is_err() {
                self.mem.unused(page.frame, page.copy);
                return Err(ENOMEM);
            }
            page.attrs = Some(a);
        }
        self.pages.insert(va, page);
        Ok(page)
    }

    /// Make the pages of `[va, va + len)` present now (an area must cover
    /// them), each part of the range filled by `read(offset from va,
    /// bytes)`: how a file written at run time is run or mapped. Its pages
    /// may change or go while it is mapped, so no area can be backed by
    /// them the way the archive's bytes back one ([`Backing::File`]).
    pub fn fill(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        va: u64,
        len: u64,
        read: &mut dyn FnMut(u64, &mut [u8]),
    ) -> Result<(), i64> {
        let end = va.checked_add(len).ok_or(ENOMEM)?;
        let mut buf = [0u8; PAGE];
        let mut page_va = va & !(PAGE_U64 - 1);
        while page_va < end {
            let vma = *self.vma(page_va).ok_or(EFAULT)?;
            if !self.pages.contains_key(&page_va) {
                self.new_page(sys, arena, page_va, vma)?;
            }
            let slot = self.arena_page(sys, arena, page_va)?;
            let lo = page_va.max(va);
            let hi = (page_va + PAGE_U64).min(end);
            let out = &mut buf[..(hi - lo) as usize];
            out.fill(0);
            read(lo - va, out);
            if !arena.write(slot, (lo - page_va) as usize, out) {
                return Err(EFAULT);
            }
            page_va += PAGE_U64;
        }
        Ok(())
    }

    /// Map `page`'s frame in the shim's arena (through a copy of its
    /// capability) if it is not there yet.
    fn reach(&mut self, sys: &mut Sys, arena: &mut Arena, page: &mut Page) -> Result<(), i64> {
        if page.copy != 0 {
            return Ok(());
        }
        let copy = sys.copy(page.frame).map_err(|_| ENOMEM)?;
        if sys
            .map_own(copy, Arena::address(page.frame), 1, false)
            .is_err()
        {
            sys.delete(copy);
            return Err(ENOMEM);
        }
        self.mem.own(copy);
        arena.mapped(page.frame);
        page.copy = copy;
        Ok(())
    }

    /// The arena slot of the present page at `va` (page-aligned),
    /// mapped in the arena if it was not yet.
    pub fn arena_page(&mut self, sys: &mut Sys, arena: &mut Arena, va: u64) -> Result<u64, i64> {
        let mut page = *self.pages.get(&va).ok_or(EFAULT)?;
        if page.copy == 0 {
            self.reach(sys, arena, &mut page)?;
            self.pages.insert(va, page);
        }
        Ok(page.frame)
    }

    /// Map (or remap) `page` at `va` with `attrs`.
    fn remap(&mut self, sys: &mut Sys, va: u64, attrs: Option<u64>) -> Result<(), i64> {
        let Some(page) = self.pages.get_mut(&va) else {
            return Ok(());
        };
        if page.attrs == attrs {
            return Ok(());
        }
        if page.attrs.is_some() {
            let _ = sys.ipc.frame_unmap(page.frame);
        }
        page.attrs = None;
        if let Some(a) = attrs {
            sys.ipc
                .frame_map(page.frame, self.pml4, va, a)
                .map_err(|_| ENOMEM)?;
            page.attrs = Some(a);
        }
        Ok(())
    }

    /// A page fault at `addr` with the CPU's error code: true if it was
    /// resolved (map a page, or flip a W+X page), false for SIGSEGV.
    pub fn fault(&mut self, sys: &mut Sys, arena: &mut Arena, addr: u64, error: u64) -> bool {
        let (write, fetch) = (error & 2 != 0, error & 16 != 0);
        let va = addr & !(PAGE_U64 - 1);
        let Some(&vma) = self.vma(addr) else {
            return false;
        };
        let allowed = if write {
            vma.prot & PROT_WRITE != 0
        } else if fetch {
            vma.prot & PROT_EXEC != 0
        } else {
            vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0
        };
        if !allowed {
            return false;
        }
        match self.pages.get(&va) {
            None => match self.new_page(sys, arena, va, vma) {
                Ok(_) => true,
                Err(_) => {
                    println!(
                        "[shim] pid {} ({}): out of memory: {} KiB held (at most {} KiB), {} chunks free",
                        self.pid,
                        self.exe,
                        self.mem.chunks() << (CHUNK_BITS - 10),
                        MAX_CHUNKS << (CHUNK_BITS - 10),
                        sys.free_chunks.len()
                    );
                    false
                }
            },
            Some(p) => {
                let want = if fetch {
                    2
                } else if write {
                    1
                } else {
                    attrs_for(vma.prot)
                };
                if p.attrs == Some(want) {
                    // Present with these rights and still faulting:
                    // nothing the shim can give.
                    return false;
                }
                self.remap(sys, va, Some(want)).is_ok()
            }
        }
    }

    /// Drop the pages in `[start, end)`: unmap them from the process
    /// and keep their frames for its next pages (`crate::mem`).
    pub fn drop_pages(&mut self, sys: &mut Sys, start: u64, end: u64) {
        let vas: Vec<u64> = self.pages.range(start..end).map(|(&va, _)| va).collect();
        for va in vas {
            if let Some(p) = self.pages.remove(&va) {
                if p.attrs.is_some() {
                    let _ = sys.ipc.frame_unmap(p.frame);
                }
                self.mem.unused(p.frame, p.copy);
            }
        }
    }

    /// Apply the areas' protection to the present pages of `[start, end)`.
    pub fn reprotect(&mut self, sys: &mut Sys, start: u64, end: u64) -> Result<(), i64> {
        let vas: Vec<u64> = self.pages.range(start..end).map(|(&va, _)| va).collect();
        for va in vas {
            let prot = self.vma(va).map_or(0, |v| v.prot);
            let attrs = (prot != 0).then(|| attrs_for(prot));
            self.remap(sys, va, attrs)?;
        }
        Ok(())
    }

    /// The arena slot of the page holding `va`, made present if an area
    /// allows the access (`write`), else EFAULT.
    fn user_page(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        va: u64,
        write: bool,
    ) -> Result<u64, i64> {
        let page_va = va & !(PAGE_U64 - 1);
        let vma = *self.vma(va).ok_or(EFAULT)?;
        let ok = if write {
            vma.prot & PROT_WRITE != 0
        } else {
            vma.prot & (PROT_READ | PROT_WRITE) != 0
        };
        if !ok {
            return Err(EFAULT);
        }
        if !self.pages.contains_key(&page_va) {
            self.new_page(sys, arena, page_va, vma)?;
        }
        self.arena_page(sys, arena, page_va)
    }

    /// Check that `[addr, addr + len)` is process memory at all.
    pub fn range_ok(addr: u64, len: u64) -> bool {
        addr.checked_add(len).is_some_and(|end| end <= USER_TOP)
    }

    /// Walk `[addr, addr + len)` page by page, faulting each page in as
    /// `user_page` does (for writing if `write`), and hand `step` the
    /// page's arena slot, the offset in it and the range of the copy it
    /// covers; `step` says whether the arena access worked. A range that
    /// is not process memory at all moves nothing; otherwise the walk
    /// stops at the first page that fails, and `Short` says how far it
    /// got.
    fn each_page(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        addr: u64,
        len: usize,
        write: bool,
        mut step: impl FnMut(&mut Arena, u64, usize, core::ops::Range<usize>) -> bool,
    ) -> Result<(), Short> {
        if !Self::range_ok(addr, len as u64) {
            return Err(Short {
                done: 0,
                err: EFAULT,
            });
        }
        let mut done = 0usize;
        while done < len {
            let va = addr + done as u64;
            let off = (va % PAGE_U64) as usize;
            let n = (PAGE - off).min(len - done);
            let slot = self
                .user_page(sys, arena, va, write)
                .map_err(|err| Short { done, err })?;
            if !step(arena, slot, off, done..done + n) {
                return Err(Short { done, err: EFAULT });
            }
            done += n;
        }
        Ok(())
    }

    /// Copy process memory at `addr` into `out`, up to the first page the
    /// process may not read.
    pub fn copy_in_part(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        addr: u64,
        out: &mut [u8],
    ) -> Result<(), Short> {
        let len = out.len();
        self.each_page(sys, arena, addr, len, false, |arena, slot, off, r| {
            arena.read(slot, off, &mut out[r])
        })
    }

    /// Copy `data` into process memory at `addr`.
    pub fn copy_out(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        addr: u64,
        data: &[u8],
    ) -> Result<(), i64> {
        self.copy_out_part(sys, arena, addr, data)
            .map_err(|s| s.err)
    }

    /// Copy `data` into process memory at `addr` up to the first page the
    /// process may not write.
    pub fn copy_out_part(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        addr: u64,
        data: &[u8],
    ) -> Result<(), Short> {
        self.each_page(sys, arena, addr, data.len(), true, |arena, slot, off, r| {
            arena.write(slot, off, &data[r])
        })
    }

    /// A NUL-terminated string at `addr`, at most `max` bytes before the
    /// NUL (ENAMETOOLONG past that).
    pub fn read_cstr(
        &mut self,
        sys: &mut Sys,
        arena: &mut Arena,
        addr: u64,
        max: usize,
    ) -> Result<Vec<u8>, i64> {
        let mut s = Vec::new();
        let mut va = addr;
        loop {
            if !Self::range_ok(va, 1) {
                return Err(EFAULT);
            }
            let off = (va % PAGE_U64) as usize;
            let slot = self.user_page(sys, arena, va, false)?;
            let mut chunk = [0u8; PAGE];
            let n = PAGE - off;
            if !arena.read(slot, off, &mut chunk[..n]) {
                return Err(EFAULT);
            }
            if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
                s.extend_from_slice(&chunk[..z]);
                return if s.len() > max {
                    Err(ENAMETOOLONG)
                } else {
                    Ok(s)
                };
            }
            s.extend_from_slice(&chunk[..n]);
            if s.len() > max {
                return Err(ENAMETOOLONG);
            }
            va += n as u64;
        }
    }
}
