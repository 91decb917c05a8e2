//! The client's reading of replies (status mapping, generations), the
//! server's checking of requests, and `Shared` bounds.

mod common;

use common::{Mode, Shape};
use septum_idl::wire::{self, ReplyHeader, RequestHeader};
use septum_idl::{
    CallError, Client, IDL_LABEL, InterfaceId, NoError, PAYLOAD_CAPACITY, Region, Request, Shared,
    Status, WireError, interpret_reply,
};
use septum_user::ipc::Message;

const IFACE: InterfaceId = InterfaceId {
    name: "Test",
    ordinal: 0x0101,
    version: 3,
};

fn reply<T: serde::Serialize>(status: Status, generation: u32, value: Option<&T>) -> Message {
    let mut msg = Message::new(0, &[]);
    wire::encode_reply(status, generation, value, &mut msg).unwrap();
    msg
}

fn bare(status: Status, generation: u32) -> Message {
    reply::<()>(status, generation, None)
}

#[test]
fn status_codes_are_the_contracts() {
    for (i, s) in Status::ALL.into_iter().enumerate() {
        assert_eq!(usize::from(s.code()), i);
        assert_eq!(Status::from_code(s.code()), Some(s));
    }
    assert_eq!(Status::from_code(8), None);
    assert_eq!(Status::from_code(u16::MAX), None);
}

#[test]
fn payload_less_statuses_map_one_to_one() {
    let cases = [
        (Status::Malformed, Some(CallError::Malformed)),
        (Status::UnknownMethod, Some(CallError::UnknownMethod)),
        (Status::WrongInterface, Some(CallError::WrongInterface)),
        (Status::Dropped, Some(CallError::Dropped)),
        (Status::BadCapability, Some(CallError::BadCapability)),
        (Status::Ok, None),
        (Status::MethodError, None),
        (Status::VersionMismatch, None),
    ];
    for (s, want) in cases {
        assert_eq!(CallError::<Mode>::from_status(s), want, "{s:?}");
        let mut generation = None;
        let got = interpret_reply::<u32, Mode>(&bare(s, 1), &mut generation);
        match want {
            Some(e) => assert_eq!(got, Err(e)),
            // These need a payload; an empty one does not decode.
            None => assert_eq!(got, Err(CallError::BadReply), "{s:?}"),
        }
    }
}

#[test]
fn replies_with_payload_decode_by_status() {
    let mut g = None;
    assert_eq!(
        interpret_reply::<u32, Mode>(&reply(Status::Ok, 1, Some(&7u32)), &mut g),
        Ok(7)
    );
    assert_eq!(
        interpret_reply::<u32, Mode>(&reply(Status::MethodError, 1, Some(&Mode::Shout)), &mut g),
        Err(CallError::Method(Mode::Shout))
    );
    assert_eq!(
        interpret_reply::<u32, Mode>(&reply(Status::VersionMismatch, 1, Some(&9u16)), &mut g),
        Err(CallError::VersionMismatch { server: 9 })
    );
    // `()` results need no payload.
    assert_eq!(
        interpret_reply::<(), NoError>(&bare(Status::Ok, 1), &mut g),
        Ok(())
    );
}

#[test]
fn undecodable_replies_are_bad_replies() {
    let mut g = None;
    // Payload of the wrong type / with bytes left over.
    assert_eq!(
        interpret_reply::<bool, Mode>(&reply(Status::Ok, 1, Some(&7u32)), &mut g),
        Err(CallError::BadReply)
    );
    assert_eq!(
        interpret_reply::<u8, Mode>(&reply(Status::Ok, 1, Some(&(1u8, 2u8))), &mut g),
        Err(CallError::BadReply)
    );
    // NoError has no values: a MethodError can never decode.
    assert_eq!(
        interpret_reply::<u8, NoError>(&reply(Status::MethodError, 1, Some(&0u8)), &mut g),
        Err(CallError::BadReply)
    );
    // An error out of the enum's range.
    assert_eq!(
        interpret_reply::<u8, Mode>(&reply(Status::MethodError, 1, Some(&9u8)), &mut g),
        Err(CallError::BadReply)
    );
    // Wrong label, unknown status, length past the words, empty message.
    let mut m = reply(Status::Ok, 1, Some(&7u32));
    m.label = IDL_LABEL + 1;
    assert_eq!(
        interpret_reply::<u32, Mode>(&m, &mut g),
        Err(CallError::BadReply)
    );
    let m = Message::new(IDL_LABEL, &[9]);
    assert_eq!(
        interpret_reply::<(), Mode>(&m, &mut g),
        Err(CallError::BadReply)
    );
    let m = Message::new(IDL_LABEL, &[1 << 16 | 9 << 48, 0]);
    assert_eq!(
        interpret_reply::<(), Mode>(&m, &mut g),
        Err(CallError::BadReply)
    );
    let m = Message::new(IDL_LABEL, &[]);
    assert_eq!(
        interpret_reply::<(), Mode>(&m, &mut g),
        Err(CallError::BadReply)
    );
    let mut m = bare(Status::Ok, 1);
    m.len = 1000;
    assert_eq!(
        interpret_reply::<(), Mode>(&m, &mut g),
        Err(CallError::BadReply)
    );
}

#[test]
fn first_reply_fixes_the_generation_and_a_change_is_a_restart() {
    let mut g = None;
    assert_eq!(
        interpret_reply::<u32, Mode>(&reply(Status::Ok, 5, Some(&1u32)), &mut g),
        Ok(1)
    );
    assert_eq!(g, Some(5));
    // Any status carries the generation, and a status reply sets it too.
    let mut g2 = None;
    assert_eq!(
        interpret_reply::<u32, Mode>(&bare(Status::Dropped, 8), &mut g2),
        Err(CallError::Dropped)
    );
    assert_eq!(g2, Some(8));

    // A different generation: reported, not decoded (this payload is not a
    // u32), and the record stays until the client reconnects.
    let restarted = reply(Status::Ok, 6, Some(&Shape::Empty));
    for _ in 0..2 {
        assert_eq!(
            interpret_reply::<u32, Mode>(&restarted, &mut g),
            Err(CallError::ServerRestarted { generation: 6 })
        );
        assert_eq!(g, Some(5));
    }
    let mut client = Client::new(42, IFACE);
    assert_eq!(client.generation(), None);
    assert_eq!(client.endpoint(), 42);
    client.reconnect(6);
    assert_eq!(client.generation(), Some(6));
    g = client.generation();
    assert_eq!(
        interpret_reply::<Shape, Mode>(&restarted, &mut g),
        Ok(Shape::Empty)
    );
    // A reply that does not decode as a header leaves the record alone.
    let mut g3 = None;
    let _ = interpret_reply::<(), Mode>(&Message::new(IDL_LABEL, &[9]), &mut g3);
    assert_eq!(g3, None);
}

fn request<T: serde::Serialize>(ordinal: u16, version: u16, method: u16, args: &T) -> Message {
    let iface = InterfaceId {
        name: "Other",
        ordinal,
        version,
    };
    let mut msg = Message::new(0, &[]);
    wire::encode_request(&iface, method, args, 0, &mut msg).unwrap();
    msg
}

#[test]
fn requests_are_checked_against_the_interface() {
    let msg = request(IFACE.ordinal, IFACE.version, 2, &(Mode::Shout, 7u64));
    let mut with_caps = msg;
    with_caps.caps = 2;
    let req = Request::from_message(0xbad9e, &with_caps, &IFACE).unwrap();
    assert_eq!((req.method, req.badge, req.caps), (2, 0xbad9e, 2));
    assert_eq!(req.args::<(Mode, u64)>(), Ok((Mode::Shout, 7)));
    assert_eq!(req.args::<(Mode, u64, u8)>(), Err(WireError::Malformed));
    assert_eq!(req.args::<Mode>(), Err(WireError::Malformed));

    let wrong = |m: &Message| Request::from_message(0, m, &IFACE).err();
    assert_eq!(
        wrong(&request(0x0102, IFACE.version, 0, &())),
        Some(Status::WrongInterface)
    );
    assert_eq!(
        wrong(&request(IFACE.ordinal, 2, 0, &())),
        Some(Status::VersionMismatch)
    );
    // The interface is checked before the version.
    assert_eq!(
        wrong(&request(0x0102, 2, 0, &())),
        Some(Status::WrongInterface)
    );
    let mut m = msg;
    m.label = 7;
    assert_eq!(wrong(&m), Some(Status::Malformed));
    let mut m = msg;
    m.len -= 1;
    assert_eq!(wrong(&m), Some(Status::Malformed));
    let mut m = msg;
    m.len += 1;
    assert_eq!(wrong(&m), Some(Status::Malformed));
    let header = RequestHeader {
        ordinal: IFACE.ordinal,
        version: IFACE.version,
        method: 0,
        len: PAYLOAD_CAPACITY as u16 + 1,
    };
    let mut m = Message::new(IDL_LABEL, &[header.encode()]);
    m.len = 69;
    assert_eq!(wrong(&m), Some(Status::Malformed));
}

#[test]
fn reply_header_rejects_unknown_status() {
    let h = ReplyHeader {
        status: Status::BadCapability,
        generation: u32::MAX,
        len: 0,
    };
    assert_eq!(ReplyHeader::from_word(h.encode()), Ok(h));
    assert_eq!(
        ReplyHeader::from_word(h.encode() + 1),
        Err(WireError::BadHeader)
    );
}

/// A window over leaked host memory (tests only).
fn window(size: usize) -> Shared {
    let mem: &'static mut [u8] = Box::leak(vec![0u8; size.max(1)].into_boxed_slice());
    let base = mem.as_mut_ptr().expose_provenance() as u64;
    // SAFETY: the leaked allocation is at least `size` bytes, lives for
    // the rest of the test process and is used only through this value.
    unsafe { Shared::new(base, size) }
}

fn r(offset: u32, len: u32) -> Region {
    Region { offset, len }
}

#[test]
fn shared_copies_only_regions_inside_the_window() {
    let mut s = window(4096);
    assert_eq!(s.size(), 4096);
    let mut buf = [0u8; 4096];
    s.write(r(100, 4), b"abcd").unwrap();
    assert_eq!(s.read(r(100, 4), &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"abcd");
    assert_eq!(s.read(r(102, 1), &mut buf), Ok(1));
    assert_eq!(buf[0], b'c');
    assert_eq!(s.read(r(0, 4096), &mut buf), Ok(4096));
    assert_eq!(s.read(r(4095, 1), &mut buf), Ok(1));
    // The region must fit the buffer, and a write must fill its region.
    assert_eq!(s.read(r(0, 8), &mut buf[..4]), Err(WireError::TooLarge));
    assert_eq!(s.write(r(0, 8), b"abcd"), Err(WireError::TooLarge));
    // Zero length: fine anywhere up to the end, never beyond it.
    assert_eq!(s.read(r(0, 0), &mut buf), Ok(0));
    assert_eq!(s.read(r(4096, 0), &mut buf), Ok(0));
    assert_eq!(s.write(r(4096, 0), b""), Ok(()));
    assert_eq!(s.read(r(4097, 0), &mut buf), Err(WireError::Malformed));
    // Past the end, by one and by far; offset + len beyond u32.
    assert_eq!(s.read(r(4095, 2), &mut buf), Err(WireError::Malformed));
    assert_eq!(s.read(r(0, 4097), &mut buf), Err(WireError::Malformed));
    assert_eq!(s.write(r(4096, 1), b"x"), Err(WireError::Malformed));
    assert_eq!(
        s.read(r(u32::MAX, u32::MAX), &mut buf),
        Err(WireError::Malformed)
    );
    assert_eq!(s.read(r(1, u32::MAX), &mut buf), Err(WireError::Malformed));
    assert_eq!(s.write(r(u32::MAX, 1), b"x"), Err(WireError::Malformed));
}

#[test]
fn an_empty_window_has_only_empty_regions() {
    let mut s = window(0);
    let mut buf = [0u8; 4];
    assert_eq!(s.read(r(0, 0), &mut buf), Ok(0));
    assert_eq!(s.write(r(0, 0), b""), Ok(()));
    assert_eq!(s.read(r(0, 1), &mut buf), Err(WireError::Malformed));
    assert_eq!(s.read(r(1, 0), &mut buf), Err(WireError::Malformed));
}

#[test]
fn reply_pool_holds_at_most_its_capacity() {
    // The only test in this binary that touches the pool.
    let many: Vec<u64> = (0..100).collect();
    septum_idl::reply_pool::init(&many);
    assert_eq!(
        septum_idl::reply_pool::available(),
        septum_idl::reply_pool::CAPACITY
    );
    septum_idl::reply_pool::give(1000);
    assert_eq!(
        septum_idl::reply_pool::available(),
        septum_idl::reply_pool::CAPACITY
    );
    assert_eq!(septum_idl::reply_pool::take(), Some(63));
    septum_idl::reply_pool::give(7);
    assert_eq!(septum_idl::reply_pool::take(), Some(7));
    septum_idl::reply_pool::init(&[]);
    assert_eq!(septum_idl::reply_pool::available(), 0);
    assert_eq!(septum_idl::reply_pool::take(), None);
}
