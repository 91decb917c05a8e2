//! The root task: the first and most trusted user task.
//!
//! Today it greets and exits. With the kernel-core issue it receives all
//! free memory as untyped capabilities; with the system-description issue
//! it builds every protection domain, channel and grant the description
//! names, and then supervises them.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    println!("root-task: hello from ring 3");
}
