//! Making a process from a static ELF: its Septum objects, its memory
//! areas, and the initial stack Linux's `execve` builds (argc, argv,
//! envp, the auxiliary vector, the strings and AT_RANDOM's bytes), then
//! taking it apart again when it exits.
//!
//! ```text
//!  STACK_TOP ->  +-----------------------------+
//!                | "x86_64", 16 random bytes,  |
//!                | execfn, argv and envp text  |
//!                +-----------------------------+ (16-byte aligned)
//!                | auxv pairs ... AT_NULL, 0   |
//!                | envp[0..n], NULL            |
//!                | argv[0..n], NULL            |
//!  rsp at entry->| argc                        |
//!                +-----------------------------+
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use septum_user::abi::fault as fk;
use septum_user::abi::object::{object_type as ty, rights};

use crate::Shim;
use crate::elf::{self, ET_DYN};
use crate::fd::{Fd, FdKind};
use crate::fs::Kind;
use crate::linux::{PROT_EXEC, PROT_READ, PROT_WRITE, errno::*};
use crate::process::{Backing, PAGE_U64, PIE_BASE, Process, STACK_MAX, STACK_TOP, Vma};
use crate::sys::{ASID_POOL, CNODE, DEPTH, SELF_TCB};

/// Priority of process threads: below the shim's, so the shim answers
/// a fault before the next process runs.
const PROCESS_PRIORITY: u64 = 80;

const AT_NULL: u64 = 0;
const AT_PHDR: u64 = 3;
const AT_PHENT: u64 = 4;
const AT_PHNUM: u64 = 5;
const AT_PAGESZ: u64 = 6;
const AT_BASE: u64 = 7;
const AT_FLAGS: u64 = 8;
const AT_ENTRY: u64 = 9;
const AT_UID: u64 = 11;
const AT_EUID: u64 = 12;
const AT_GID: u64 = 13;
const AT_EGID: u64 = 14;
const AT_PLATFORM: u64 = 15;
const AT_HWCAP: u64 = 16;
const AT_CLKTCK: u64 = 17;
const AT_SECURE: u64 = 23;
const AT_RANDOM: u64 = 25;
const AT_EXECFN: u64 = 31;

fn page_down(x: u64) -> u64 {
    x & !(PAGE_U64 - 1)
}
fn page_up(x: u64) -> u64 {
    x.div_ceil(PAGE_U64) * PAGE_U64
}

/// How many `#!` interpreters `execve` follows before ELOOP: a script
/// may name a script, five deep (Linux's `exec_binprm`).
const MAX_INTERPRETERS: usize = 5;

/// What `execve` runs once `#!` lines are followed: the static ELF (its
/// path, node and headers) and the arguments it gets, `head` then the
/// caller's `argv[skip..]`.
struct Program {
    path: Vec<u8>,
    node: usize,
    image: elf::Elf,
    head: Vec<Vec<u8>>,
    skip: usize,
}

/// The interpreter and its optional argument that a `#!` line at the
/// start of a file names, from `buf`, the file's first 256 bytes (zero
/// past its end), read as Linux's `binfmt_script` reads them: the line
/// ends at a newline or, without one, at the buffer's last byte, as long
/// as the name itself is not cut there; spaces and tabs before the name
/// and at the line's end are dropped; the name ends at a space, tab or
/// NUL, and the rest of the line is one argument (to a NUL in it).
/// `None`: not a script, or no name (ENOEXEC).
pub fn shebang(buf: &[u8; 256]) -> Option<(&[u8], Option<&[u8]>)> {
    if buf[..2] != *b"#!" {
        return None;
    }
    let blank = |c: u8| c == b' ' || c == b'\t';
    let stop = |c: u8| blank(c) || c == 0;
    let last = buf.len() - 1;
    let mut end = match buf.iter().position(|&c| c == b'\n') {
        Some(e) => e,
        None => {
            let first = (2..=last).find(|&i| !blank(buf[i]))?;
            // No newline: the name must end before the buffer does.
            (first..=last).find(|&i| stop(buf[i]))?;
            last
        }
    };
    while blank(buf[end - 1]) {
        end -= 1;
    }
    let name = (2..end).find(|&i| !blank(buf[i]))?;
    let sep = (name..=end).find(|&i| stop(buf[i]));
    let arg = sep
        .filter(|&s| buf[s] != 0)
        .and_then(|s| (s..=end).find(|&i| !blank(buf[i])))
        .map(|a| {
            let to = buf[a..end]
                .iter()
                .position(|&c| c == 0)
                .map_or(end, |z| a + z);
            &buf[a..to]
        });
    Some((&buf[name..sep.unwrap_or(end).min(end)], arg))
}

impl Shim {
    /// The file `execve` opens at `path` (from directory `cwd`): its
    /// node, or the lookup's error, or EACCES if it is not a regular file
    /// anyone may run. Its format is looked at later ([`Self::executable`]).
    pub fn exec_file(&self, cwd: usize, path: &[u8]) -> Result<usize, i64> {
        let node = self.fs.lookup(cwd, path, true)?;
        let n = self.fs.node(node);
        if !matches!(n.kind, Kind::File(_)) || n.mode & 0o111 == 0 {
            return Err(EACCES);
        }
        Ok(node)
    }

    /// What `execve` of `path` (from directory `cwd`) runs, or its errno:
    /// each file on the way must be a regular file with an execute bit
    /// (EACCES); a `#!` script runs its interpreter with the script's path
    /// in place of `argv[0]` and the line's argument before it, a script
    /// may name another, and past [`MAX_INTERPRETERS`] it is ELOOP; the
    /// last must be a static ELF (ENOEXEC). A file written at run time is
    /// read through its pages, a packed one in place.
    fn executable(&self, cwd: usize, path: &[u8]) -> Result<Program, i64> {
        let mut path = path.to_vec();
        let mut head: Vec<Vec<u8>> = Vec::new();
        let mut skip = 0;
        for depth in 0.. {
            let node = self.exec_file(cwd, &path)?;
            if depth > MAX_INTERPRETERS {
                return Err(ELOOP);
            }
            let mut buf = [0u8; 256];
            self.fs.read(node, 0, &mut buf);
            let Some((interp, arg)) = shebang(&buf) else {
                let read = |at: u64, out: &mut [u8]| self.fs.read(node, at, out) == out.len();
                let image = elf::parse(self.fs.size(node), &read)?;
                return Ok(Program {
                    path,
                    node,
                    image,
                    head,
                    skip,
                });
            };
            // The arguments so far less their first, after the
            // interpreter, its argument and this file's path.
            if head.is_empty() {
                skip = 1;
            } else {
                head.remove(0);
            }
            let mut next = alloc::vec![interp.to_vec()];
            next.extend(arg.map(<[u8]>::to_vec));
            next.push(core::mem::replace(&mut path, interp.to_vec()));
            next.append(&mut head);
            head = next;
        }
        Err(ELOOP)
    }

    /// A new process `pid` running `path`, started; not yet in the table.
    fn build(
        &mut self,
        pid: u64,
        cwd: usize,
        path: &[u8],
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) -> Result<Process, i64> {
        let prog = self.executable(cwd, path)?;
        let skip = prog.skip.min(argv.len());
        let args: Vec<Vec<u8>> = prog.head.iter().chain(&argv[skip..]).cloned().collect();
        let mut p = self.make_process(pid).map_err(|_| ENOMEM)?;
        p.exe = self.exe_path(cwd, &prog.path, prog.node);
        p.cmdline = args
            .iter()
            .flat_map(|a| a.iter().copied().chain([0]))
            .collect();
        p.cwd = cwd;
        let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        let n = name.len().min(15);
        p.comm[..n].copy_from_slice(&name[..n]);
        match self.load(&mut p, prog.node, &prog.image, path, &args, envp) {
            Ok(()) => Ok(p),
            Err(e) => {
                self.destroy(p);
                Err(e)
            }
        }
    }

    /// Copy `len` bytes of file `node` from `offset` into `p`'s memory at
    /// `va` now ([`Process::fill`]): a file written at run time, run or
    /// mapped.
    pub fn fill(
        &mut self,
        p: &mut Process,
        node: usize,
        offset: u64,
        va: u64,
        len: u64,
    ) -> Result<(), i64> {
        let fs = &self.fs;
        p.fill(&mut self.sys, &mut self.arena, va, len, &mut |at, out| {
            fs.read(node, offset + at, out);
        })
    }

    /// `execve` from process `p`: a new address space and thread running
    /// `path`, which take `p`'s place (pid, parent, working directory,
    /// umask, signal mask and the descriptors not marked close-on-exec);
    /// the old ones are taken apart. On an error `p` goes on as it was.
    /// The old thread waited for an answer it will never get: the caller
    /// must not reply ([`Process::replaced`]).
    pub fn exec(
        &mut self,
        p: &mut Process,
        path: &[u8],
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) -> Result<(), i64> {
        let mut new = self.build(p.pid, p.cwd, path, argv, envp)?;
        new.ppid = p.ppid;
        new.umask = p.umask;
        new.rlimits = p.rlimits;
        // Its group, session, children, mask and pending signals stay; handlers
        // go back to SIG_DFL (ignored signals stay ignored); no alternate stack.
        new.pgid = p.pgid;
        new.sid = p.sid;
        new.subreaper = p.subreaper;
        new.children = core::mem::take(&mut p.children);
        new.zombies = core::mem::take(&mut p.zombies);
        new.changes = core::mem::take(&mut p.changes);
        new.sigmask = p.sigmask;
        new.pending = p.pending;
        new.siginfo = core::mem::take(&mut p.siginfo);
        for (n, o) in new.sigactions.iter_mut().zip(&p.sigactions) {
            if o.handler == crate::signal::SIG_IGN {
                n.handler = crate::signal::SIG_IGN;
            }
        }
        new.fds = p
            .fds
            .iter()
            .map(|f| f.as_ref().filter(|f| !f.cloexec).cloned())
            .collect();
        let old = core::mem::replace(p, new);
        self.destroy(old);
        p.replaced = true;
        Ok(())
    }

    /// fork, vfork and clone of a process: a new process whose memory is
    /// a copy of `p`'s (every present page copied now; copy-on-write is
    /// a later step), with its areas, descriptors, working directory,
    /// signal state and registers, returning 0 where `p` gets the child's
    /// pid. The registers are the call's (`Shim::regs`).
    pub fn fork(
        &mut self,
        p: &mut Process,
        flags: u64,
        stack: u64,
        parent_tid: u64,
        child_tid: u64,
        tls: u64,
    ) -> Result<u64, i64> {
        let pid = self.next_pid;
        let mut c = self.make_process(pid).map_err(|_| ENOMEM)?;
        self.next_pid += 1;
        c.ppid = p.pid;
        c.vmas = p.vmas.clone();
        c.brk_start = p.brk_start;
        c.brk = p.brk;
        c.mmap_next = p.mmap_next;
        c.fds = p.fds.clone();
        c.cwd = p.cwd;
        c.umask = p.umask;
        c.rlimits = p.rlimits;
        c.exe = p.exe.clone();
        c.cmdline = p.cmdline.clone();
        c.comm = p.comm;
        c.pgid = p.pgid;
        c.sid = p.sid;
        c.sigmask = p.sigmask;
        c.sigactions = p.sigactions;
        c.altstack = p.altstack;
        c.fs_base = if flags & 0x80000 != 0 { tls } else { p.fs_base };
        c.gs_base = p.gs_base;
        let r = (|| {
            let pages: Vec<(u64, Option<u64>)> =
                p.pages.iter().map(|(&va, page)| (va, page.attrs)).collect();
            for (va, attrs) in pages {
                let src = p.arena_page(&mut self.sys, &mut self.arena, va)?;
                c.copy_page(&mut self.sys, &mut self.arena, va, attrs, src)?;
            }
            if flags & 0x0100_0000 != 0 {
                // CLONE_CHILD_SETTID
                c.copy_out(
                    &mut self.sys,
                    &mut self.arena,
                    child_tid,
                    &(pid as u32).to_le_bytes(),
                )?;
            }
            if flags & 0x0020_0000 != 0 {
                c.tid_address = child_tid;
            }
            let mut r = self.regs;
            r[fk::W_RAX] = 0;
            if stack != 0 {
                r[fk::W_RSP] = stack;
            }
            let ipc = &mut self.sys.ipc;
            ipc.tcb_write_registers(c.tcb, &r).map_err(|_| ENOMEM)?;
            ipc.tcb_set_tls(c.tcb, c.fs_base, c.gs_base)
                .map_err(|_| ENOMEM)?;
            Ok(())
        })();
        if let Err(e) = r {
            self.destroy(c);
            return Err(e);
        }
        if flags & 0x0010_0000 != 0 {
            // CLONE_PARENT_SETTID
            if let Err(e) = self.put(p, parent_tid, &(pid as u32)) {
                self.destroy(c);
                return Err(e);
            }
        }
        if self.sys.ipc.tcb_resume(c.tcb).is_err() {
            self.destroy(c);
            return Err(ENOMEM);
        }
        p.children.push(pid);
        self.insert(c);
        Ok(pid)
    }

    /// Put a new process in the table: in a free entry, but never the
    /// one of the process whose call is being handled (it is out of the
    /// table meanwhile, and goes back there).
    fn insert(&mut self, p: Process) {
        let p = Some(alloc::boxed::Box::new(p));
        let busy = self.busy;
        match self
            .procs
            .iter_mut()
            .enumerate()
            .find(|(i, s)| s.is_none() && Some(*i) != busy)
        {
            Some((_, free)) => *free = p,
            None => self.procs.push(p),
        }
    }

    /// Start `path` as a new process with `argv` and `envp`.
    pub fn spawn(&mut self, path: &[u8], argv: &[Vec<u8>], envp: &[Vec<u8>]) -> Result<u64, i64> {
        self.executable(0, path)?;
        let pid = self.next_pid;
        self.next_pid += 1;
        match self.build(pid, 0, path, argv, envp) {
            Ok(mut p) => {
                // Started by the shim itself: no parent to tell.
                p.ppid = 0;
                self.insert(p);
                Ok(pid)
            }
            Err(e) => Err(e),
        }
    }

    /// The Septum objects of a new process, made from its first chunk
    /// of the shim's process memory (`crate::mem`): an empty CNode (its
    /// thread makes no Septum calls: every `syscall` is a fault), a PML4
    /// with an ASID from the shim's pool, and a thread in syscall-fault
    /// mode whose fault endpoint is the shim's, badged with the pid.
    fn make_process(&mut self, pid: u64) -> Result<Process, septum_user::abi::Error> {
        use septum_user::abi::Error::NotEnoughMemory;
        let ep_slot = self.sys.slot()?;
        let mut p = Process::new(pid, 1, 0, 0, 0, ep_slot);
        let r = (|| {
            self.sys.ipc.cnode_mint(
                CNODE,
                (ep_slot, DEPTH),
                CNODE,
                (self.ep, DEPTH),
                rights::WRITE | rights::GRANT_REPLY,
                pid,
            )?;
            let sys = &mut self.sys;
            p.cnode = p.mem.make(sys, ty::CNODE, 1).map_err(|_| NotEnoughMemory)?;
            p.pml4 = p
                .mem
                .make(sys, ty::PAGE_TABLE, 4)
                .map_err(|_| NotEnoughMemory)?;
            sys.ipc.asid_assign(ASID_POOL, p.pml4)?;
            p.tcb = p.mem.make(sys, ty::TCB, 0).map_err(|_| NotEnoughMemory)?;
            let ipc = &mut self.sys.ipc;
            ipc.tcb_configure(p.tcb, p.cnode, p.pml4, 0, 0, ep_slot)?;
            ipc.tcb_set_syscall_faults(p.tcb, true)?;
            ipc.tcb_set_mcp(p.tcb, SELF_TCB, PROCESS_PRIORITY)?;
            ipc.tcb_set_priority(p.tcb, SELF_TCB, PROCESS_PRIORITY)?;
            let mut name = heapless_name(pid);
            name.truncate(31);
            ipc.tcb_set_name(p.tcb, &name)
        })();
        match r {
            Ok(()) => Ok(p),
            Err(e) => {
                self.destroy(p);
                Err(e)
            }
        }
    }

    /// Set up `p`'s memory from `image` and its stack, and start it.
    fn load(
        &mut self,
        p: &mut Process,
        node: usize,
        image: &elf::Elf,
        path: &[u8],
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) -> Result<(), i64> {
        let bias = if image.etype == ET_DYN {
            let lowest = image.loads.iter().map(|l| l.vaddr).min().unwrap_or(0);
            PIE_BASE.checked_sub(page_down(lowest)).ok_or(ENOEXEC)?
        } else {
            0
        };
        let mut top = 0u64;
        let packed = self.fs.packed(node);
        for l in &image.loads {
            let mut prot = 0;
            if l.flags & 4 != 0 {
                prot |= PROT_READ;
            }
            if l.flags & 2 != 0 {
                prot |= PROT_WRITE;
            }
            if l.flags & 1 != 0 {
                prot |= PROT_EXEC;
            }
            let vaddr = l.vaddr.checked_add(bias).ok_or(ENOEXEC)?;
            let start = page_down(vaddr);
            let end = page_up(vaddr + l.memsz);
            if end > STACK_TOP - STACK_MAX || p.overlaps(start, end) {
                return Err(ENOEXEC);
            }
            // The archive's bytes back the area as they are touched; a
            // file written at run time is copied in now.
            let backing = match packed {
                Some(d) => Backing::File {
                    data: &d[l.offset as usize..(l.offset + l.filesz) as usize],
                    vaddr,
                },
                None => Backing::Filled,
            };
            p.add_vma(Vma {
                start,
                end,
                prot,
                backing,
            })?;
            if packed.is_none() {
                self.fill(p, node, l.offset, vaddr, l.filesz)?;
            }
            top = top.max(end);
        }
        p.brk_start = top;
        p.brk = top;
        p.add_vma(Vma {
            start: STACK_TOP - STACK_MAX,
            end: STACK_TOP,
            prot: PROT_READ | PROT_WRITE,
            backing: Backing::Anon,
        })?;
        // The console opened once for all three, as init's are.
        let console = Fd::new(FdKind::Console, 2, false);
        for _ in 0..3 {
            p.fds.push(Some(console.dup(false)));
        }

        // The strings at the top, then the vectors below them.
        let mut strings: Vec<u8> = Vec::new();
        let at = |s: &[u8], strings: &mut Vec<u8>| {
            strings.extend_from_slice(s);
            strings.push(0);
            strings.len() as u64
        };
        let platform = at(b"x86_64", &mut strings);
        let execfn = at(path, &mut strings);
        let argv_ends: Vec<u64> = argv.iter().map(|a| at(a, &mut strings)).collect();
        let envp_ends: Vec<u64> = envp.iter().map(|e| at(e, &mut strings)).collect();
        let mut random = [0u8; 16];
        self.random(&mut random);
        strings.extend_from_slice(&random);
        let random_end = strings.len() as u64;
        let base = (STACK_TOP - strings.len() as u64) & !15;
        // A string ending at offset `end` (after its NUL) of length `len`.
        let addr = |end: u64, len: usize| base + end - len as u64 - 1;
        let phdr = image.phdr_vaddr + bias;
        let auxv: [(u64, u64); 17] = [
            (AT_PHDR, phdr),
            (AT_PHENT, 56),
            (AT_PHNUM, image.phnum),
            (AT_PAGESZ, PAGE_U64),
            (AT_BASE, 0),
            (AT_FLAGS, 0),
            (AT_ENTRY, image.entry + bias),
            (AT_UID, 0),
            (AT_EUID, 0),
            (AT_GID, 0),
            (AT_EGID, 0),
            (AT_PLATFORM, addr(platform, 6)),
            (AT_HWCAP, 0),
            (AT_CLKTCK, 100),
            (AT_SECURE, 0),
            (AT_RANDOM, base + random_end - 16),
            (AT_EXECFN, addr(execfn, path.len())),
        ];
        let mut words: Vec<u64> = Vec::new();
        words.push(argv.len() as u64);
        for (a, &end) in argv.iter().zip(&argv_ends) {
            words.push(addr(end, a.len()));
        }
        words.push(0);
        for (e, &end) in envp.iter().zip(&envp_ends) {
            words.push(addr(end, e.len()));
        }
        words.push(0);
        for (k, v) in auxv {
            words.push(k);
            words.push(v);
        }
        words.push(AT_NULL);
        words.push(0);
        let rsp = (base - words.len() as u64 * 8) & !15;
        let mut block: Vec<u8> = Vec::new();
        for w in &words {
            block.extend_from_slice(&w.to_le_bytes());
        }
        p.copy_out(&mut self.sys, &mut self.arena, base, &strings)?;
        p.copy_out(&mut self.sys, &mut self.arena, rsp, &block)?;

        let mut r = [0u64; 18];
        r[fk::W_RIP] = image.entry + bias;
        r[fk::W_RSP] = rsp;
        r[fk::W_RFLAGS] = 0x202;
        let ipc = &mut self.sys.ipc;
        ipc.tcb_write_registers(p.tcb, &r).map_err(|_| ENOMEM)?;
        ipc.tcb_resume(p.tcb).map_err(|_| ENOMEM)?;
        Ok(())
    }

    /// Take `p` apart: stop its thread, revoke its chunks (its thread,
    /// address space, page tables and frames go, and with the frames their
    /// copies in the shim's arena), free every slot it used and give the
    /// chunks back to the pool.
    pub fn destroy(&mut self, mut p: Process) {
        if let Some(w) = &p.io_wait {
            // Killed while blocked: its call's reply object goes back.
            self.io_blocked -= 1;
            self.spare_replies.push(w.reply);
        }
        for page in p.pages.values() {
            self.arena.unmapped(page.frame);
        }
        if p.tcb != 0 {
            let _ = self.sys.ipc.tcb_suspend(p.tcb);
        }
        p.mem.release(&mut self.sys, &mut self.arena);
        self.sys.delete(p.fault_ep);
    }
}

/// A process thread's name for the kernel's logs: `pid<N>`.
fn heapless_name(pid: u64) -> String {
    let mut s = String::from("pid");
    let mut digits = [0u8; 20];
    let mut n = pid;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    s.push_str(core::str::from_utf8(&digits[i..]).unwrap_or("?"));
    s
}

impl Shim {
    /// The absolute path of the program `path` (from `cwd`) named `node`:
    /// its directory's path and its own name.
    fn exe_path(&self, cwd: usize, path: &[u8], node: usize) -> String {
        let (dir, _, _) = match self.fs.parent_and_name(cwd, path) {
            Ok((dir, Some(_), t)) => (dir, (), t),
            _ => return String::from("?"),
        };
        // A link (/bin/ls -> busybox) names the file it leads to.
        match self
            .fs
            .child(dir, crate::fs::split_last(path).map_or(b"", |x| x.1))
        {
            Some(n) if n == node => self.fs.name_of(dir, node),
            _ => self.fs.name_of(self.fs.node(node).parent, node),
        }
    }
}
