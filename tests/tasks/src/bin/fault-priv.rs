//! Executes `hlt`, a privileged instruction, in ring 3. The kernel must stop
//! the thread with a general protection fault and go on.
#![no_std]
#![no_main]

use septum_user::println;

septum_user::entry!(main);

fn main() {
    println!("executing hlt in ring 3");
    // SAFETY: `hlt` has no memory effects; in ring 3 it raises #GP.
    unsafe { core::arch::asm!("hlt") };
    println!("FAILED, hlt returned in ring 3");
}
