//! The 16550 driver on COM1 as one terminal for several clients
//! (`build/systems/two-guests.toml`): each line of a client's output
//! starts with its badge (`2| `), and Ctrl-] then a digit gives the input
//! to that client (`docs/serial.md`, "Several clients on one terminal").
//! Its slots are the `serial` program's (`src/bin/serial.rs`).
#![no_std]
#![no_main]

septum_user::entry!(main);

fn main() {
    septum_serial::server::run(septum_serial::server::Config {
        mux: true,
        ..septum_serial::server::Config::COM1
    })
}
