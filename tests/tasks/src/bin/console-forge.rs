//! A thread tries to pass its console output off as the kernel's log and as
//! the harness's verdicts. The kernel must frame every line it writes with
//! its name (`forger: `), show its carriage return as `?`, and end its open
//! line before anyone else's output; the harness must not count the verdict
//! lines it forged. The scenario `console-forge` checks the console.
//!
//! The root thread (named `console-forge` by the kernel) drops to priority
//! 100 and starts `forger` at 200, then the two take turns through two
//! notifications, so the console order is fixed:
//!
//! 1. forger: a fake kernel line, a fake `ok` and a fake `FAILED` verdict
//!    (counted, it would fail the run), then `\r[INFO] x` with no newline;
//! 2. root: `continued ` and `line\n` in two writes, one line: the first
//!    write ends the forger's open line;
//! 3. forger: `partial` with no newline, then it exits; the kernel's
//!    `task 'forger' exited` line ends the partial line;
//! 4. root: one verdict, `framed_writes_accepted`: every write returned
//!    its full length, control bytes included.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use septum_test_tasks::ktest::{self, SELF_TCB};
use septum_user::abi::Error;
use septum_user::println;
use septum_user::syscall::{debug_write, signal, thread_exit, wait};

septum_user::entry!(main);

/// What the forger writes, in order; the last one is written after the
/// root's turn.
const FORGED: [&[u8]; 5] = [
    b"[INFO]  Septum forged\n",
    b"septum-test: forged ok\n",
    b"septum-test: forged FAILED the harness counted a verdict line a thread forged\n",
    b"\r[INFO] x",
    b"partial",
];

/// The root's two writes that make one line.
const CONTINUED: [&[u8]; 2] = [b"continued ", b"line\n"];

const ROOT_PRIO: u64 = 100;
const FORGER_PRIO: u64 = 200;
/// "Not written yet", and what a refused write is recorded as.
const NONE: u64 = u64::MAX;

/// What each of the forger's writes returned.
static FORGER_WROTE: [AtomicU64; 5] = [const { AtomicU64::new(NONE) }; 5];
/// The notification the forger signals when its turn ends.
static TO_ROOT: AtomicU64 = AtomicU64::new(0);
/// The notification the root signals when the forger's second turn starts.
static TO_FORGER: AtomicU64 = AtomicU64::new(0);

fn write(bytes: &[u8]) -> u64 {
    debug_write(bytes).unwrap_or(NONE)
}

extern "C" fn forger(_: u64, _buffer: u64) -> ! {
    let (to_root, to_forger) = (TO_ROOT.load(SeqCst), TO_FORGER.load(SeqCst));
    for (i, bytes) in FORGED[..4].iter().enumerate() {
        FORGER_WROTE[i].store(write(bytes), SeqCst);
    }
    let _ = signal(to_root);
    let _ = wait(to_forger);
    FORGER_WROTE[4].store(write(FORGED[4]), SeqCst);
    // The root has the lower priority: it runs once this thread is gone.
    let _ = signal(to_root);
    thread_exit()
}

fn main() {
    let mut c = match ktest::session() {
        Ok(c) => c,
        Err(e) => {
            println!(
                "septum-test: framed_writes_accepted FAILED setup: {}",
                e.name()
            );
            return;
        }
    };
    let setup = (|| -> Result<(), Error> {
        let to_root = c.notification()?;
        let to_forger = c.notification()?;
        TO_ROOT.store(to_root, SeqCst);
        TO_FORGER.store(to_forger, SeqCst);
        c.ipc.tcb_set_priority(SELF_TCB, SELF_TCB, ROOT_PRIO)?;
        c.spawn("forger", forger, 0, FORGER_PRIO)?;
        wait(to_root)?;
        Ok(())
    })();
    if let Err(e) = setup {
        println!(
            "septum-test: framed_writes_accepted FAILED starting the forger: {}",
            e.name()
        );
        return;
    }
    let continued = CONTINUED.map(write);
    let forger_done = signal(TO_FORGER.load(SeqCst)).and_then(|()| wait(TO_ROOT.load(SeqCst)));

    let mut bad = None;
    for (i, bytes) in FORGED.iter().enumerate() {
        let got = FORGER_WROTE[i].load(SeqCst);
        if got != bytes.len() as u64 {
            bad = Some(("forger", i, got, bytes.len()));
        }
    }
    for (i, bytes) in CONTINUED.iter().enumerate() {
        if continued[i] != bytes.len() as u64 {
            bad = Some(("root", i, continued[i], bytes.len()));
        }
    }
    match (forger_done, bad) {
        (Err(e), _) => println!(
            "septum-test: framed_writes_accepted FAILED waiting for the forger: {}",
            e.name()
        ),
        (Ok(_), Some((who, i, got, want))) => println!(
            "septum-test: framed_writes_accepted FAILED {who}'s write {i} returned {got:#x}, want {want}"
        ),
        (Ok(_), None) => println!("septum-test: framed_writes_accepted ok"),
    }
}
