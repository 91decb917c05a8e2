//! The 16550 driver on COM1, in the slots the default description gives
//! it (`cargo xtask describe` prints the same): 2 its thread, 5 the
//! notification its IRQ signals, 8 the `serial` endpoint it serves, 9 the
//! IRQ 4 handler, 10 COM1's ports (installed), 11.. its reply objects.
#![no_std]
#![no_main]

septum_user::entry!(main);

fn main() {
    septum_serial::server::run(septum_serial::server::Config::COM1)
}
