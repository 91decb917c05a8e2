//! Booting the system in QEMU: interactively, or captured under a timeout.
//!
//! Every boot uses the same machine: `-cpu max` (SMEP, SMAP, NX under TCG),
//! 256 MiB unless a scenario asks for another size, one CPU, the kernel ELF through PVH (`-kernel`), the boot image as
//! the one module (`-initrd`), `-no-reboot` so a triple fault ends the run
//! instead of looping, and `isa-debug-exit` at port 0xf4 so the kernel can
//! report pass or fail as QEMU's exit status. q35, pc and microvm all take
//! this device as is (microvm has an ISA bus with its serial port on it).
//! Benchmarks, and scenarios that ask for it, add `-icount` (see [`ICOUNT`]).

use crate::judge::Outcome;
use crate::scenario::Machine;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// QEMU's `-icount` value for benchmark runs: each guest instruction takes
/// 2^0 virtual nanoseconds, so the guest TSC advances once per instruction,
/// and virtual time neither waits for nor sleeps with the host clock. `rdtsc`
/// deltas become exact, repeatable instruction counts.
pub const ICOUNT: &str = "shift=0,align=off,sleep=off";

/// What to boot.
#[derive(Clone, Copy, Debug)]
pub struct Boot<'a> {
    /// Machine type.
    pub machine: Machine,
    /// The kernel ELF.
    pub kernel: &'a Path,
    /// The boot image.
    pub image: &'a Path,
    /// The kernel command line.
    pub append: &'a str,
    /// The machine's RAM, as `-m` takes it (`scenario::DEFAULT_MEMORY`
    /// unless a scenario says otherwise).
    pub memory: &'a str,
    /// Count instructions instead of host time (`-icount`, see [`ICOUNT`]).
    pub icount: bool,
}

fn common_args(boot: &Boot<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str| args.push(a.into());
    push("-machine");
    push(boot.machine.qemu_name());
    for a in ["-cpu", "max", "-m", boot.memory, "-smp", "1"] {
        push(a);
    }
    args.push("-kernel".into());
    args.push(boot.kernel.into());
    args.push("-initrd".into());
    args.push(boot.image.into());
    args.push("-append".into());
    args.push(boot.append.into());
    args
}

/// The options every boot ends with: the exit device, and `-icount` if asked.
fn closing_args(boot: &Boot<'_>) -> Vec<OsString> {
    let device = format!(
        "isa-debug-exit,iobase={:#x},iosize=0x04",
        septum_abi::qemu_exit::PORT
    );
    let mut args: Vec<OsString> = vec!["-no-reboot".into(), "-device".into(), device.into()];
    if boot.icount {
        args.push("-icount".into());
        args.push(ICOUNT.into());
    }
    args
}

/// The console: one multiplexed stdio character device that the UART
/// (the user-level serial driver's) and the debug console at port 0xE9
/// (the kernel's log, and tasks' `DebugWrite` lines) share, so both appear
/// on one terminal, interleaved in the order they were written.
///
/// What is typed goes to the multiplexer's focused device, which is the
/// one attached last: so COM1 is made with `-device isa-serial` (port
/// 0x3f8, IRQ 4) after the debug console, not with `-serial`, which the
/// machine attaches first. Otherwise input would go to the debug console,
/// which drops it.
const CONSOLE: [&str; 8] = [
    "-chardev",
    "stdio,id=console,mux=on",
    "-serial",
    "none",
    "-device",
    "isa-debugcon,iobase=0xe9,chardev=console",
    "-device",
    "isa-serial,chardev=console",
];

/// Arguments for an interactive boot: the console and QEMU's monitor share
/// the terminal (Ctrl-A C switches, Ctrl-A X quits).
pub fn interactive_args(boot: &Boot<'_>) -> Vec<OsString> {
    let mut args = common_args(boot);
    for a in ["-display", "none"]
        .into_iter()
        .chain(CONSOLE)
        .chain(["-mon", "chardev=console"])
    {
        args.push(a.into());
    }
    args.extend(closing_args(boot));
    args
}

/// Arguments for a captured boot: the console alone on stdout, no monitor,
/// nothing read from stdin.
pub fn captured_args(boot: &Boot<'_>) -> Vec<OsString> {
    let mut args = common_args(boot);
    for a in ["-display", "none"]
        .into_iter()
        .chain(CONSOLE)
        .chain(["-monitor", "none"])
    {
        args.push(a.into());
    }
    args.extend(closing_args(boot));
    args
}

/// The command line as one printable string (for logs and error messages).
pub fn display(args: &[OsString]) -> String {
    std::iter::once(QEMU.to_string())
        .chain(args.iter().map(|a| {
            let a = a.to_string_lossy();
            if a.is_empty() || a.contains(' ') {
                format!("'{a}'")
            } else {
                a.into_owned()
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a captured run left behind.
#[derive(Debug)]
pub struct Captured {
    /// Everything the serial console printed (lossily decoded).
    pub console: String,
    /// QEMU's own messages.
    pub stderr: String,
    /// How the process ended.
    pub outcome: Outcome,
}

/// Bytes to type into the console (QEMU's stdin, which the multiplexer
/// hands to the UART) once the console has shown `after`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Typing {
    /// Console text to wait for, searched after the previous step's match.
    pub after: String,
    /// What to send.
    pub bytes: Vec<u8>,
}

/// Everything `from` gives until its end, read on a thread of its own.
pub fn drain(from: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    drain_into(from, Arc::new(Mutex::new(Vec::new())))
}

/// [`drain`], with what has come so far in `seen` as it comes (the typist
/// watches it for its cues).
fn drain_into(
    mut from: impl Read + Send + 'static,
    seen: Arc<Mutex<Vec<u8>>>,
) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        // A read error ends the capture early; what was read is still kept.
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            seen.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(&chunk[..n]);
        }
        std::mem::take(&mut *seen.lock().unwrap_or_else(|e| e.into_inner()))
    })
}

/// Type each step's bytes once the console shows its text. A write blocks
/// while QEMU does not read, and QEMU reads only what the UART's receive
/// FIFO has room for: a paste goes at the pace the driver takes it, and
/// nothing is dropped on the way. Stops when QEMU has ended (`finished`).
fn type_input(
    mut stdin: std::process::ChildStdin,
    steps: Vec<Typing>,
    seen: Arc<Mutex<Vec<u8>>>,
    finished: Arc<AtomicBool>,
) -> thread::JoinHandle<()> {
    use std::io::Write;
    thread::spawn(move || {
        let mut from = 0;
        for step in steps {
            loop {
                if finished.load(Ordering::Relaxed) {
                    return;
                }
                let found = {
                    let seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                    find(&seen[from.min(seen.len())..], step.after.as_bytes())
                        .map(|at| from + at + step.after.len())
                };
                if let Some(end) = found {
                    from = end;
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            if stdin
                .write_all(&step.bytes)
                .and_then(|()| stdin.flush())
                .is_err()
            {
                return; // QEMU is gone.
            }
        }
        // Keep stdin open until QEMU ends: an end of file is an event the
        // UART's character device would pass on.
        while !finished.load(Ordering::Relaxed) {
            thread::sleep(Duration::from_millis(20));
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Run QEMU with `args`, capturing its console, and kill it after `timeout`.
pub fn run_captured(args: &[OsString], timeout: Duration) -> io::Result<Captured> {
    run_captured_with_input(args, timeout, &[])
}

/// [`run_captured`], typing `input` into the console as it asks.
pub fn run_captured_with_input(
    args: &[OsString],
    timeout: Duration,
    input: &[Typing],
) -> io::Result<Captured> {
    let mut child = Command::new(QEMU)
        .args(args)
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let finished = Arc::new(AtomicBool::new(false));
    let stdout = drain_into(child.stdout.take().expect("stdout was piped"), seen.clone());
    let stderr = drain(child.stderr.take().expect("stderr was piped"));
    let typist = child
        .stdin
        .take()
        .map(|stdin| type_input(stdin, input.to_vec(), seen, finished.clone()));
    let outcome = wait_with_timeout(&mut child, timeout);
    finished.store(true, Ordering::Relaxed);
    if let Some(t) = typist {
        let _ = t.join();
    }
    let outcome = outcome?;
    let join = |h: thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok(Captured {
        console: join(stdout),
        stderr: join(stderr),
        outcome,
    })
}

/// Wait for `child` to end, killing it after `timeout`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> io::Result<Outcome> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(match status.code() {
                Some(code) => Outcome::Exited(code),
                None => Outcome::Signalled(signal_of(status)),
            });
        }
        if Instant::now() >= deadline {
            // It may exit between the check and the kill; either way it is gone.
            let _ = child.kill();
            child.wait()?;
            return Ok(Outcome::TimedOut(timeout.as_secs()));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(unix)]
fn signal_of(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(-1)
}

#[cfg(not(unix))]
fn signal_of(_: std::process::ExitStatus) -> i32 {
    -1
}

/// Replace this process with an interactive QEMU (returns only on failure).
#[cfg(unix)]
pub fn exec_interactive(args: &[OsString]) -> io::Error {
    use std::os::unix::process::CommandExt;
    Command::new(QEMU).args(args).exec()
}

/// Run an interactive QEMU and return its exit status.
#[cfg(not(unix))]
pub fn exec_interactive(args: &[OsString]) -> io::Error {
    match Command::new(QEMU).args(args).status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Boot<'static> {
        Boot {
            machine: Machine::Microvm,
            kernel: Path::new("/k"),
            image: Path::new("/i.img"),
            append: "exit_on_idle x=1",
            memory: "256M",
            icount: false,
        }
    }

    #[test]
    fn captured_command_line() {
        assert_eq!(
            display(&captured_args(&boot())),
            "qemu-system-x86_64 -machine microvm -cpu max -m 256M -smp 1 -kernel /k -initrd /i.img \
             -append 'exit_on_idle x=1' -display none -chardev stdio,id=console,mux=on -serial none -device isa-debugcon,iobase=0xe9,chardev=console -device isa-serial,chardev=console -monitor none -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04"
        );
    }

    #[test]
    fn benchmark_command_line() {
        let mut b = boot();
        b.machine = Machine::Q35;
        b.append = "exit_on_idle";
        b.icount = true;
        assert_eq!(
            display(&captured_args(&b)),
            "qemu-system-x86_64 -machine q35 -cpu max -m 256M -smp 1 -kernel /k -initrd /i.img \
             -append exit_on_idle -display none -chardev stdio,id=console,mux=on -serial none -device isa-debugcon,iobase=0xe9,chardev=console -device isa-serial,chardev=console -monitor none -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04 -icount shift=0,align=off,sleep=off"
        );
    }

    #[test]
    fn scenario_memory() {
        let mut b = boot();
        b.memory = "64M";
        let line = display(&captured_args(&b));
        assert!(line.contains(" -m 64M -smp 1 "), "{line}");
        assert!(!line.contains("256M"), "{line}");
    }

    #[test]
    fn interactive_command_line() {
        let mut b = boot();
        b.machine = Machine::Q35;
        b.append = "";
        assert_eq!(
            display(&interactive_args(&b)),
            "qemu-system-x86_64 -machine q35 -cpu max -m 256M -smp 1 -kernel /k -initrd /i.img \
             -append '' -display none -chardev stdio,id=console,mux=on -serial none -device isa-debugcon,iobase=0xe9,chardev=console -device isa-serial,chardev=console -mon chardev=console -no-reboot \
             -device isa-debug-exit,iobase=0xf4,iosize=0x04"
        );
    }
}
