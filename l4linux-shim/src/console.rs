//! The guest's console device, behind a trait so the system calls and the
//! line discipline (`tty.rs`) do not care which it is:
//!
//! - [`SerialConsole`]: a client of the user-level serial driver
//!   (`servers/serial`, `idl/serial.idl`), with input. The shim's one
//!   thread never waits on the driver for input: it gives the driver a
//!   notification bound to its own thread (`notify_input`), so its
//!   receive on the fault endpoint also ends when input arrives, and then
//!   takes what is there with `try_read`, which never waits. The driver
//!   runs raw: echo, line editing and CR/LF are the line discipline's.
//! - [`DebugConsole`]: the kernel's debug console, when the description
//!   gives the shim no serial channel. Output only (reading gives
//!   end-of-file); the kernel frames each line with the shim's thread
//!   name (`guest: ...`), so no process can print a line that passes for
//!   another domain's.

use alloc::vec::Vec;
use septum_idl::CallError;
use septum_interfaces::serial::{SerialClient, SerialError};
use septum_user::ipc::Ipc;
use septum_user::println;

pub trait Console {
    /// Write bytes to the device as they are.
    fn write(&mut self, ipc: &mut Ipc, bytes: &[u8]);
    /// Input the device has now, without waiting: up to `buf.len()`
    /// bytes, 0 if none has come.
    fn input(&mut self, _ipc: &mut Ipc, _buf: &mut [u8]) -> usize {
        0
    }
    /// Whether input can come at all (a debug console has none: reading
    /// it gives end-of-file).
    fn has_input(&self) -> bool {
        false
    }
    /// A program ended: write out what it left unfinished.
    fn flush(&mut self, _ipc: &mut Ipc) {}
}

/// The kernel's debug console. It keeps a process's partial line until
/// its end (or until a program exits), so the kernel frames whole lines.
#[derive(Default)]
pub struct DebugConsole {
    line: Vec<u8>,
}

impl DebugConsole {
    fn emit(bytes: &[u8]) {
        for chunk in bytes.chunks(septum_user::abi::syscall::DEBUG_WRITE_MAX) {
            let _ = septum_user::syscall::debug_write(chunk);
        }
    }
}

impl Console for DebugConsole {
    fn write(&mut self, _ipc: &mut Ipc, bytes: &[u8]) {
        self.line.extend_from_slice(bytes);
        if let Some(end) = self.line.iter().rposition(|&b| b == b'\n') {
            Self::emit(&self.line[..=end]);
            self.line.drain(..=end);
        }
        if self.line.len() >= 4096 {
            Self::emit(&self.line);
            self.line.clear();
        }
    }

    fn flush(&mut self, _ipc: &mut Ipc) {
        if !self.line.is_empty() {
            self.line.push(b'\n');
            Self::emit(&self.line);
            self.line.clear();
        }
    }
}

/// The serial driver's client. `ntfn` is a copy of the notification
/// bound to the shim's thread, badged with [`crate::dev::INPUT_BIT`],
/// that the driver signals when input arrives.
pub struct SerialConsole {
    client: SerialClient,
    ntfn: u64,
}

impl SerialConsole {
    /// Take over the driver's input: own it, raw mode, be signalled.
    /// `None` (with the reason logged) if the driver refuses.
    pub fn connect(ipc: &mut Ipc, endpoint: u64, ntfn: u64) -> Option<SerialConsole> {
        let mut c = SerialConsole {
            client: SerialClient::new(endpoint),
            ntfn,
        };
        match c.setup(ipc) {
            Ok(()) => Some(c),
            Err(e) => {
                println!("[shim] the serial driver refused the console: {e:?}");
                None
            }
        }
    }

    fn setup(&mut self, ipc: &mut Ipc) -> Result<(), CallError<SerialError>> {
        self.client.acquire_input(ipc).map_err(drop_kind)?;
        self.client.set_cooked(ipc, false).map_err(drop_kind)?;
        self.client.notify_input(ipc, self.ntfn)
    }

    /// After a call failed because the driver restarted: accept its new
    /// generation and set its console up again (its state went with it).
    fn recover<T>(&mut self, ipc: &mut Ipc, r: Result<T, CallError<SerialError>>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(CallError::ServerRestarted { generation }) => {
                println!("[shim] the serial driver restarted (generation {generation})");
                self.client.reconnect(generation);
                if let Err(e) = self.setup(ipc) {
                    println!("[shim] the restarted serial driver refused the console: {e:?}");
                }
                None
            }
            Err(_) => None,
        }
    }
}

/// A method error of another kind, as the console's (the methods that
/// cannot fail say `NoError`).
fn drop_kind(e: CallError<septum_idl::NoError>) -> CallError<SerialError> {
    match e {
        CallError::Method(n) => match n {},
        CallError::ServerRestarted { generation } => CallError::ServerRestarted { generation },
        CallError::Kernel(k) => CallError::Kernel(k),
        _ => CallError::Malformed,
    }
}

impl Console for SerialConsole {
    fn write(&mut self, ipc: &mut Ipc, bytes: &[u8]) {
        for chunk in bytes.chunks(512) {
            let mut data = heapless::Vec::<u8, 512>::new();
            // Cannot fail: a chunk is at most 512 bytes.
            let _ = data.extend_from_slice(chunk);
            let r = self.client.write(ipc, &data);
            if self.recover(ipc, r).is_none() {
                // Once more, to a driver set up again; then give up on
                // this chunk rather than hold every process.
                let r = self.client.write(ipc, &data);
                let _ = self.recover(ipc, r);
            }
        }
    }

    fn input(&mut self, ipc: &mut Ipc, buf: &mut [u8]) -> usize {
        let max = buf.len().min(512) as u16;
        let r = self.client.try_read(ipc, max);
        let Some(input) = self.recover(ipc, r) else {
            return 0;
        };
        if input.dropped > 0 {
            println!("[shim] the UART lost input {} times", input.dropped);
        }
        let n = input.data.len().min(buf.len());
        buf[..n].copy_from_slice(&input.data[..n]);
        n
    }

    fn has_input(&self) -> bool {
        true
    }
}
