//! The reply objects a server receives with.
//!
//! Each `Recv` binds the caller to one reply object, and that object stays
//! busy until the request is answered. [`crate::next_request`] takes a free
//! one from this pool for every receive; the [`crate::ReplyToken`] it hands
//! out holds the object and puts it back once it has answered (or dropped
//! the request). So a server can keep up to as many callers waiting as it
//! gave the pool reply objects, at most [`CAPACITY`].
//!
//! Guarantees: the pool never holds more than [`CAPACITY`] cptrs and no
//! operation panics; it is one pool per task, shared by every server loop
//! in it (under a spin lock).

use heapless::Vec;
use spin::Mutex;

/// Most reply objects the pool holds.
pub const CAPACITY: usize = 64;

static POOL: Mutex<Vec<u64, CAPACITY>> = Mutex::new(Vec::new());

/// Replace the pool's contents with `reply_cptrs` (capabilities to unbound
/// reply objects). Those beyond the first [`CAPACITY`] are ignored.
pub fn init(reply_cptrs: &[u64]) {
    let mut pool = POOL.lock();
    pool.clear();
    for &r in reply_cptrs.iter().take(CAPACITY) {
        // Cannot fail: at most CAPACITY are pushed into an empty pool.
        let _ = pool.push(r);
    }
}

/// Take a free reply object, if any.
pub fn take() -> Option<u64> {
    POOL.lock().pop()
}

/// Return a reply object that is no longer bound to a caller. Ignored if
/// the pool is full (it was never taken from this pool).
pub fn give(reply: u64) {
    let _ = POOL.lock().push(reply);
}

/// How many reply objects are free.
pub fn available() -> usize {
    POOL.lock().len()
}
