//! The shim's devices: the console (through the serial driver) and a
//! clock that can wake it (the timer server's alarm).
//!
//! The shim is one thread, always in `Recv` on its fault endpoint, so it
//! must never wait on a server. A notification of its own is bound to
//! its thread: a receive on the endpoint then also ends when the
//! notification is signalled, with the badges that signalled it ORed
//! together (`NOTIFICATION_LABEL`). The serial driver signals it with
//! [`INPUT_BIT`] when input arrives (`notify_input`), the timer server
//! with [`ALARM_BIT`] when the deadline the shim armed passes
//! (`set_alarm`); the shim then takes the input with `try_read` and
//! wakes whichever blocked calls can go on.
//!
//! The servers are found by asking, not from constants: each endpoint
//! capability the description granted (a channel the shim calls, with
//! `grant = true` so the notification can travel) is asked the timer's
//! `now` and the driver's `stats`; a server of another interface answers
//! `WrongInterface`.

use septum_idl::CallError;
use septum_interfaces::serial::SerialClient;
use septum_interfaces::timer::{TimerClient, TimerError};
use septum_user::abi::object::{object_type as ty, rights};
use septum_user::ipc::Ipc;
use septum_user::println;

use crate::console::SerialConsole;
use crate::sys::{CNODE, DEPTH, SELF_TCB, Sys};

/// The badge the serial driver's signal carries.
pub const INPUT_BIT: u64 = 1;
/// The badge the timer's alarm carries.
pub const ALARM_BIT: u64 = 2;

/// The timer server's alarm, as the shim uses it.
pub struct Alarm {
    client: TimerClient,
    ntfn: u64,
    /// The shim-clock deadline the alarm is armed for, if any.
    pub armed: Option<u64>,
}

impl Alarm {
    fn connect(ipc: &mut Ipc, client: TimerClient, ntfn: u64) -> Option<Alarm> {
        let mut a = Alarm {
            client,
            ntfn,
            armed: None,
        };
        match a.client.alarm_notification(ipc, a.ntfn) {
            Ok(()) => Some(a),
            Err(e) => {
                println!("[shim] the timer refused an alarm: {e:?}");
                None
            }
        }
    }

    /// Signal in `ns` nanoseconds (replacing the alarm set before).
    /// False if the timer cannot.
    pub fn set(&mut self, ipc: &mut Ipc, ns: u64) -> bool {
        match self.client.set_alarm(ipc, ns) {
            Ok(_) => true,
            Err(CallError::ServerRestarted { generation }) => {
                println!("[shim] the timer restarted (generation {generation})");
                self.client.reconnect(generation);
                let _ = self.client.alarm_notification(ipc, self.ntfn);
                self.client.set_alarm(ipc, ns).is_ok()
            }
            Err(CallError::Method(TimerError::Unavailable)) | Err(_) => false,
        }
    }
}

/// What the description gave the shim: a serial console and an alarm,
/// each if there was a server for it.
pub struct Devices {
    pub console: Option<SerialConsole>,
    pub alarm: Option<Alarm>,
}

/// A copy of `ntfn` that signals with `badge`.
fn badged(sys: &mut Sys, ntfn: u64, badge: u64) -> Option<u64> {
    let s = sys.slot().ok()?;
    match sys.ipc.cnode_mint(
        CNODE,
        (s, DEPTH),
        CNODE,
        (ntfn, DEPTH),
        rights::WRITE,
        badge,
    ) {
        Ok(()) => Some(s),
        Err(_) => {
            sys.release(s);
            None
        }
    }
}

/// Find the servers among the granted endpoints and connect to them.
pub fn discover(sys: &mut Sys) -> Devices {
    let mut devs = Devices {
        console: None,
        alarm: None,
    };
    let endpoints: alloc::vec::Vec<u64> = sys.endpoints().to_vec();
    if endpoints.is_empty() {
        return devs;
    }
    let ntfn = match sys.make(ty::NOTIFICATION, 0) {
        Ok(n) => n,
        Err(e) => {
            println!("[shim] cannot make its notification: {}", e.name());
            return devs;
        }
    };
    if let Err(e) = sys.ipc.tcb_bind_notification(SELF_TCB, ntfn) {
        println!("[shim] cannot bind its notification: {}", e.name());
        return devs;
    }
    for ep in endpoints {
        let mut timer = TimerClient::new(ep);
        if devs.alarm.is_none() && timer.now(&mut sys.ipc).is_ok() {
            if let Some(n) = badged(sys, ntfn, ALARM_BIT) {
                devs.alarm = Alarm::connect(&mut sys.ipc, timer, n);
            }
            continue;
        }
        let mut serial = SerialClient::new(ep);
        if devs.console.is_none()
            && serial.stats(&mut sys.ipc).is_ok()
            && let Some(n) = badged(sys, ntfn, INPUT_BIT)
        {
            devs.console = SerialConsole::connect(&mut sys.ipc, ep, n);
        }
    }
    devs
}
